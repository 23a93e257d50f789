"""Matching trained weights to a model and loading them: the tutorial notebook's state_dicts, Ultralytics YOLO11
state_dicts and checkpoints (`yolo11n.pt` as Ultralytics ships it), and our own. Files are read (safely: no
pickled code runs) by `checkpoints`; `checkpoint_config` decides the config a checkpoint loads into.

    model = build_backbone("yolo11n")
    report = load_weights(model, "yolo11n_sd.pt")   # Ultralytics' `model.{i}.…` keys, layers 0-10
    detector = build_detector("yolo11n")
    report = load_weights(detector, "yolo11n.pt")  # Ultralytics' checkpoint as shipped; the head takes its class count

Loading is all or nothing: every key is checked (names, shapes, finite values) before the first
tensor is copied, and a mismatch raises `WeightsMismatchError` listing the missing, unexpected and
wrong-shaped keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .backbone import build_backbone
from .checkpoints import (
    DEFAULT_MAX_WEIGHT_BYTES,
    TASK_BRANCH,
    Checkpoint,
    WeightsError,
    checkpoint_classes,
    checkpoint_task,
    flatten_state,
    read_bytes,
    read_checkpoint,
)
from .config import ARCHITECTURES, BackboneConfig, FamilyConfig, family_table, make_config
from .detector import Detector, build_detector, with_classes
from .families import FAMILIES
from .table import ModelTable, TableError

__all__ = [
    "FolderFile",
    "foreign_model",
    "table_config",
    "table_name",
    "WeightsMismatchError",
    "WeightsReport",
    "checkpoint_config",
    "fitting_config",
    "load_weights",
    "match_state_dict",
    "scan_folder",
]

_ULTRALYTICS_KEY = re.compile(r"^model\.(\d+)\.(.+)$")
_LAYER_KEY = re.compile(r"^(?:module\.)?(?:model\.)?(\d+)\.")  # a top-level layer's index, in any key layout
_SHOW = 8  # keys listed per kind of mismatch


class WeightsMismatchError(WeightsError):
    """A state_dict that does not fit the model: the lists say which keys, nothing was loaded."""

    def __init__(self, message: str, missing: list[str], unexpected: list[str], wrong_shape: list[str]):
        super().__init__(message)
        self.missing, self.unexpected, self.wrong_shape = missing, unexpected, wrong_shape


@dataclass(frozen=True)
class WeightsReport:
    """What `load_weights` did: tensors loaded, the source's key layout, and keys it left out on purpose."""

    loaded: int
    layout: str  # "yolo-explorer", "ultralytics" or "module-prefixed", then ", BatchNorm folded" for fused weights
    ignored: int  # Ultralytics' neck and head tensors (layers 11 and up), a segmentation or pose head's own branch
    params: int
    task: str | None = None  # "segment" or "pose" for those models' weights (`checkpoint_task`)
    names: tuple[str, ...] | None = None  # the class names the checkpoint carries (`Checkpoint.names`)


def match_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str, int]:
    """Map a state_dict's keys onto the model's and check every name, shape and value.

    Accepted layouts: the model's own keys (which for the tutorial are the notebook's
    `YOLOv11Backbone` attribute names); the same with a `module.` prefix (DataParallel); and for
    YOLO11 configs Ultralytics' `model.{layer}.{path}`, of which layers 0-10 are taken and the rest
    (neck and head) ignored.

    Returns:
        (state_dict with the model's keys, layout name, number of ignored tensors)

    Raises:
        WeightsMismatchError: missing, unexpected or wrong-shaped keys (all listed), or a non-finite value.
    """
    own = model.state_dict()
    state, layout, ignored = dict(state_dict), "yolo-explorer", 0
    if state and all(k.startswith("module.") for k in state):
        state, layout = {k.removeprefix("module."): v for k, v in state.items()}, "module-prefixed"
    layers = {name for name, _ in model.named_children()}
    indexed = all(name.isdigit() for name in layers)  # layers named like Ultralytics' (YOLO11 configs)
    if indexed and any(_ULTRALYTICS_KEY.match(k) for k in state) and not set(state) & set(own):
        renamed = {}
        for key, value in state.items():
            m = _ULTRALYTICS_KEY.match(key)
            if m and m[1] in layers:
                renamed[f"{m[1]}.{m[2]}"] = value
            elif m and int(m[1]) >= len(layers):
                ignored += 1  # neck and head
            else:
                renamed[key] = value  # reported as unexpected below
        state, layout = renamed, "ultralytics"
    if indexed:  # a whole detector's neck and head under this model's own key names: not a backbone's part
        beyond = [k for k in state if k.split(".", 1)[0].isdigit() and int(k.split(".", 1)[0]) >= len(layers)]
        for key in beyond:
            del state[key]
        ignored += len(beyond)
    branches = [k for k in state if TASK_BRANCH.match(k)] if isinstance(model, Detector) else []
    if branches and checkpoint_task(state) == "obb":
        raise WeightsMismatchError(
            "these are the weights of an oriented-box (OBB) model: its boxes turn by an angle "
            f"({model.head_name}.cv4) that this detector does not predict, so its boxes would be wrong; nothing was "
            'loaded. Pick "backbone only" to use its backbone.',
            [],
            branches,
            [],
        )
    for key in branches:  # a segmentation or pose head: its Detect part is this detector's head
        del state[key]
    ignored += len(branches)

    state, unfused = _unfuse_batchnorm(model, state, own)
    if unfused:
        layout += ", BatchNorm folded"

    # a BatchNorm's batch counter only matters when training: absent is fine
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    wrong_shape = [
        f"{k}: file {tuple(v.shape)}, model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or wrong_shape:
        arch = getattr(getattr(model, "config", None), "label", type(model).__name__)
        backbone_only = isinstance(model, Detector) and missing and not unexpected and not wrong_shape
        cut = model.config.table.backbone_rows if backbone_only else 0
        backbone_only = backbone_only and all(int(k.split(".")[0]) >= cut for k in missing)
        hint = (
            f'These are backbone weights (layers 0-{cut - 1}) without a neck and head: pick "backbone only" to use them.'
            if backbone_only
            else "Pick the architecture (and width or scale) the weights were trained with."
        )
        raise WeightsMismatchError(
            f"these weights do not fit {arch}; nothing was loaded. "
            + "; ".join(
                _listing(what, keys)
                for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape))
                if keys
            )
            + f". {hint}",
            missing,
            unexpected,
            wrong_shape,
        )
    not_finite = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if not_finite:
        raise WeightsMismatchError(
            f"these weights hold NaN or infinite values; nothing was loaded. {_listing('not finite', not_finite)}", [], [], []
        )
    return {k: state[k] for k in own if k in state}, layout, ignored


def _unfuse_batchnorm(
    model: nn.Module, state: dict[str, torch.Tensor], own: Mapping[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], int]:
    """Weights saved with every BatchNorm folded into its convolution (Ultralytics' `fuse()`, which its
    predict runs, or our `fold_batchnorm`): "X.conv.bias" where the model has "X.bn". Each is given back as
    a BatchNorm that scales by exactly 1 and adds that bias (mean 0, variance 1, weight sqrt(1 + eps)), so
    the model computes what the folded one does. Returns the state and how many were given back."""
    out, count = dict(state), 0
    for name, module in model.named_modules():
        parent, _, leaf = name.rpartition(".")
        prefix = f"{parent}." if parent else ""
        bias_key, weight_key = f"{prefix}conv.bias", f"{prefix}conv.weight"
        folded = bias_key in out and weight_key in out and bias_key not in own and f"{name}.weight" not in out
        if leaf != "bn" or not isinstance(module, nn.BatchNorm2d) or not folded:
            continue
        bias = out.pop(bias_key)
        out[f"{name}.weight"] = torch.full_like(bias, math.sqrt(1 + module.eps))
        out[f"{name}.bias"] = bias
        out[f"{name}.running_mean"] = torch.zeros_like(bias)
        out[f"{name}.running_var"] = torch.ones_like(bias)
        count += 1
    return out, count


def load_weights(
    model: nn.Module,
    source: str | Path | bytes | Mapping[str, torch.Tensor] | Checkpoint,
    *,
    max_bytes: int = DEFAULT_MAX_WEIGHT_BYTES,
) -> WeightsReport:
    """Load trained weights into `model` in place, all or nothing. A detector also takes the checkpoint's class
    count (its head is rebuilt for it) and class names (`Detector.class_names`), when it has them.

    Args:
        model: a backbone built for the architecture the weights were trained with.
        source: a file path, the file's bytes, a state_dict, or a checkpoint read before.
        max_bytes: largest file accepted.

    Returns:
        What was loaded.

    Raises:
        WeightsError: the file cannot be read (see `read_state_dict`).
        WeightsMismatchError: the weights do not fit the model; the model is unchanged.
    """
    if isinstance(source, Checkpoint):
        checkpoint = source
    elif isinstance(source, Mapping):
        checkpoint = Checkpoint(flatten_state(source))
    else:
        checkpoint = read_checkpoint(source, max_bytes=max_bytes)
    state = checkpoint.state
    lock = getattr(model, "lock", None)
    config = checkpoint_config(model.config, state) if isinstance(model, Detector) else None
    if config is not None and config != model.config:
        # the head follows the checkpoint: checked on a weightless detector of that class count first
        match_state_dict(build_detector(config=config, device="meta"), state)
        with lock if lock is not None else nullcontext():
            model.replace_head(config)
    matched, layout, ignored = match_state_dict(model, state)
    with lock if lock is not None else nullcontext():
        model.load_state_dict(matched, strict=False)  # every key was checked above; counters may be absent
        if isinstance(model, Detector):
            names = checkpoint.names
            model.class_names = names if names is not None and len(names) == model.num_classes else None
    parameter_names = {name for name, _ in model.named_parameters()}
    params = sum(v.numel() for k, v in matched.items() if k in parameter_names)
    task = checkpoint_task(state)
    return WeightsReport(loaded=len(matched), layout=layout, ignored=ignored, params=params, task=task, names=checkpoint.names)


def checkpoint_config(config: BackboneConfig, state_dict: Mapping[str, torch.Tensor]) -> BackboneConfig:
    """The config that weights load into, given the one chosen: a whole detector takes the class count of the
    checkpoint's own head (a model trained on 3 classes builds a 3-class head); anything else is unchanged.

    The one place that decides it: `load_weights`, the weights folder, the fetch check, the app's sidebar and the
    command line ask here."""
    classes = checkpoint_classes(state_dict)
    if getattr(config, "detector", False) and classes is not None and classes != config.num_classes:
        return with_classes(config, classes)
    return config


def table_config(checkpoint: Checkpoint) -> FamilyConfig | None:
    """The whole detector an Ultralytics checkpoint's own table describes (`Checkpoint.table`, read as plain data): a
    shipped family when the table is that family's (yolo26n.pt is YOLO26n), else the table itself (a P2 head, another
    scale); the class count of its head. None for a file without a table.

    Raises:
        TableError: the table names a module or layout this explorer does not build (the message names the row).
    """
    if checkpoint.table is None:
        return None
    name, scale = table_name(checkpoint)
    table = ModelTable.read(checkpoint.table, name=name)
    if scale is None or scale not in table.scale_letters:
        scale = table.scale or next(iter(table.scale_letters), "")
    classes = checkpoint_classes(checkpoint.state) or table.nc
    for family in FAMILIES:
        if table.architecture == family_table(family).architecture:
            return FamilyConfig(family, scale, detector=True, num_classes=classes)
    return FamilyConfig(name, scale, detector=True, num_classes=classes, table=table)


def table_name(checkpoint: Checkpoint) -> tuple[str, str | None]:
    """(table name, scale) from the file name Ultralytics keeps ("yolo26n.yaml" -> ("yolo26", "n"), as its
    `guess_model_scale` reads a name) and the scale it saved; ("model", None) when it has neither."""
    file = checkpoint.model_file or "model.yaml"
    stem = Path(file).stem
    scale = (checkpoint.table or {}).get("scale")
    match = re.match(r"^(yolo(?:e-)?v?\d+)([nslmx])(.*)$", stem)
    if match:
        return match[1] + match[3], scale if isinstance(scale, str) else match[2]
    return stem, scale if isinstance(scale, str) else None


def foreign_model(checkpoint: Checkpoint) -> str | None:
    """What an Ultralytics checkpoint whose table this explorer cannot build says it is, in one line: "Ultralytics'
    yolov8n-p6 (yolov8n-p6.yaml, 80 classes), which this explorer cannot build: row 14 ... unknown module 'C2' ...";
    None for a buildable table and for files without one."""
    try:
        table_config(checkpoint)
    except TableError as err:
        file = checkpoint.model_file or "its table"
        classes = (checkpoint.table or {}).get("nc")
        head = f", {classes} class" + ("es" if classes > 1 else "") if isinstance(classes, int) and classes > 0 else ""
        return f"Ultralytics' {Path(file).stem} ({file}{head}), which this explorer cannot build: {err}"
    return None


def fitting_config(state_dict: Mapping[str, torch.Tensor]) -> BackboneConfig:
    """The architecture a state_dict was trained for: one of the YOLO11 scales (a whole Ultralytics detection
    model's state_dict included), or the tutorial at the width and depth its stem and first C3k2 imply.

    Every candidate is checked key for key by `match_state_dict` against a weightless model on the meta device.

    Raises:
        WeightsMismatchError: it fits none; the message names the closest candidate and what does not fit.
    """
    state = flatten_state(state_dict)
    closest: tuple[int, BackboneConfig, WeightsMismatchError] | None = None
    # a family is a candidate when its table has as many layers as the state (its backbone's, or all of them)
    layers = {int(m[1]) for key in state if (m := _LAYER_KEY.match(key))}
    count = max(layers) + 1 if layers else None
    families = [
        config
        for config in (make_config(arch) for arch in ARCHITECTURES if arch != "tutorial")
        if count is None or count in (config.table.backbone_rows, len(config.table.rows))
    ]
    classes = checkpoint_classes(state)
    for config in _tutorial_candidates(state) + families:
        try:
            if classes is not None and isinstance(config, FamilyConfig):  # a whole detector: its head tells families apart
                whole = dataclasses.replace(config, detector=True, num_classes=classes)
                match_state_dict(build_detector(config=whole, device="meta"), state)
            else:
                match_state_dict(build_backbone(config=config, device="meta"), state)
        except WeightsMismatchError as err:
            problems = len(err.missing) + len(err.unexpected) + len(err.wrong_shape)
            if not problems:  # it fits, but holds NaN or infinite values
                raise
            if closest is None or problems < closest[0]:
                closest = (problems, config, err)
            continue
        return config
    assert closest is not None
    _, config, err = closest
    detail = "; ".join(
        _listing(what, keys)
        for what, keys in (("missing", err.missing), ("unexpected", err.unexpected), ("wrong shape", err.wrong_shape))
        if keys
    )
    raise WeightsMismatchError(
        f"fits none of the architectures (YOLOv8, YOLO11, YOLO12 and YOLO26 n-x, or the tutorial at any width); "
        f"the closest is {config.label}: {detail}",
        err.missing,
        err.unexpected,
        err.wrong_shape,
    )


def _tutorial_candidates(state: Mapping[str, torch.Tensor]) -> list[BackboneConfig]:
    """The tutorial configs a state_dict could be: width from its stem conv, depth from its first C3k2."""
    keys = {k.removeprefix("module."): v for k, v in state.items()}
    stem = keys.get("stem.conv.weight")
    if stem is None or stem.dim() != 4:
        return []
    blocks = {k.split(".")[2] for k in keys if k.startswith("stage1_c3k2.bottlenecks.")}
    try:
        return [make_config("tutorial", width=int(stem.shape[0]), depth=max(1, len(blocks)))]
    except ValueError:  # a width or depth the tutorial does not allow: reported as the YOLO11 mismatch
        return []


@dataclass(frozen=True)
class FolderFile:
    """One file of a weights folder: the architecture it fits and its tensors, or why it cannot be used."""

    name: str
    digest: str  # of the file's bytes ("" if unreadable)
    config: BackboneConfig | None
    state: dict[str, torch.Tensor] | None
    problem: str | None
    names: tuple[str, ...] | None = None  # the class names the checkpoint carries


def scan_folder(folder: str | Path, *, max_bytes: int = DEFAULT_MAX_WEIGHT_BYTES) -> list[FolderFile]:
    """Read every file of `folder` (hidden files, sub-folders and `.sha256` digests skipped), each as safely as an upload.

    A file that fits an architecture keeps only the tensors that architecture uses, renamed to the model's keys;
    a whole YOLO11 detection model keeps its neck and head (the detector uses them, a backbone ignores them).

    Raises:
        WeightsError: the folder cannot be read.
    """
    path = Path(folder)
    try:
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix != ".sha256")
    except OSError as err:
        raise WeightsError(f"cannot read the weights folder {path}: {err.strerror or err}") from None
    found = []
    for file in files:
        digest = ""
        try:
            data = read_bytes(file, max_bytes)
            digest = hashlib.sha256(data).hexdigest()[:16]
            checkpoint = read_checkpoint(data, max_bytes=max_bytes)
            state = checkpoint.state
            config = fitting_config(state)
            if isinstance(config, FamilyConfig) and checkpoint_classes(state) is not None:
                # a whole detection model: kept whole, for the detector (its backbone takes layers 0-10)
                whole = checkpoint_config(dataclasses.replace(config, detector=True), state)
                matched, _, _ = match_state_dict(build_detector(config=whole, device="meta"), state)
            else:
                matched, _, _ = match_state_dict(build_backbone(config=config, device="meta"), state)
        except WeightsError as err:
            found.append(FolderFile(file.name, digest, None, None, str(err)))
        else:
            found.append(FolderFile(file.name, digest, config, matched, None, checkpoint.names))
    return found


def _listing(what: str, keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW])
    more = f" and {len(keys) - _SHOW} more" if len(keys) > _SHOW else ""
    return f"{len(keys)} {what}: {shown}{more}"
