"""Loading trained weights safely: the tutorial notebook's state_dicts, Ultralytics YOLO11 state_dicts
and checkpoints (`yolo11n.pt` as Ultralytics ships it), and our own, from `.pt`/`.pth` (pickle, read with
`torch.load(weights_only=True)`: a file that would run code is refused, never run) or `.safetensors`.

A pickled model (an Ultralytics checkpoint, `torch.save(model)`) names the classes of its modules. They are
never imported: each is replaced by an inert stand-in that only keeps what the pickle hands it, and the
tensors are read from the module tree (`_parameters`, `_buffers`, `_modules`) as `state_dict()` would.

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
import io
import math
import pickle
import re
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .backbone import build_backbone
from .blocks import build_block
from .config import YOLO11_SCALES, BackboneConfig, YOLO11Config, make_config
from .detector import Detector, build_detector, with_classes

__all__ = [
    "DEFAULT_MAX_WEIGHT_BYTES",
    "Checkpoint",
    "FolderFile",
    "WeightsError",
    "WeightsMismatchError",
    "WeightsReport",
    "checkpoint_classes",
    "checkpoint_task",
    "fitting_config",
    "load_weights",
    "match_state_dict",
    "read_checkpoint",
    "read_state_dict",
    "scan_folder",
    "task_note",
]

DEFAULT_MAX_WEIGHT_BYTES = 512 * 2**20  # YOLO11x's whole detection model in fp32 is about 230 MB
_WRAPPERS = ("state_dict", "model", "model_state_dict", "ema")  # keys that checkpoints nest a state_dict under
_ULTRALYTICS_KEY = re.compile(r"^model\.(\d+)\.(.+)$")
_TASK_BRANCH = re.compile(r"^(?:module\.)?(?:model\.)?23\.(?:cv4|proto)\.")  # Segment, Pose, OBB heads' own
_CLASS_LOGITS = re.compile(r"^(?:module\.)?(?:model\.)?23\.cv3\.0\.2\.weight$")  # Detect's last class conv, level 0
_SHOW = 8  # keys listed per kind of mismatch
_MAX_NAME = 60  # characters kept of a class name read from a file


class WeightsError(ValueError):
    """A weights file that cannot be read as a state_dict; the message says why and what to do."""


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


@dataclass(frozen=True)
class Checkpoint:
    """What a weights file holds that this project uses: the state_dict, and the class names a trained detector
    carries (Ultralytics keeps `model.names` in its checkpoints), cleaned to printable text of at most 60
    characters each; None when the file has none. Names are text from a file: escape them where they are drawn."""

    state: dict[str, torch.Tensor]
    names: tuple[str, ...] | None = None


def read_checkpoint(source: str | Path | bytes, *, max_bytes: int = DEFAULT_MAX_WEIGHT_BYTES) -> Checkpoint:
    """Read the state_dict, and the class names if any, of a `.pt`/`.pth` or `.safetensors` file or its bytes.

    The format is recognised from the content, not the name. Pickles go through
    `torch.load(weights_only=True)`, which refuses anything but tensors and plain containers; a pickled model
    (an Ultralytics checkpoint) is read through inert stand-ins for its classes, none of which is imported.
    Checkpoints that wrap the state_dict in a dict (under "state_dict", "model", ...) are unwrapped.

    Raises:
        WeightsError: empty, too large, not a checkpoint, holds code or objects, or holds no tensors.
    """
    data = _read_bytes(source, max_bytes)
    if _looks_like_safetensors(data):
        from safetensors.torch import load as load_safetensors

        try:
            obj = load_safetensors(data)
        except Exception as err:  # SafetensorError, and whatever else a damaged file provokes
            raise WeightsError(f"this .safetensors file is damaged: {err}") from None
        return Checkpoint(_flatten(obj))
    obj = _torch_load(data)
    if isinstance(obj, Checkpoint):  # a pickled model, read through stand-ins
        return obj
    names = _clean_names(obj.get("names")) if isinstance(obj, Mapping) else None
    return Checkpoint(_flatten(obj), names)


def read_state_dict(source: str | Path | bytes, *, max_bytes: int = DEFAULT_MAX_WEIGHT_BYTES) -> dict[str, torch.Tensor]:
    """Read a flat name -> tensor dict from a weights file or its bytes (see `read_checkpoint`).

    Raises:
        WeightsError: empty, too large, not a checkpoint, holds code or objects, or holds no tensors.
    """
    return read_checkpoint(source, max_bytes=max_bytes).state


def _clean_names(names: object) -> tuple[str, ...] | None:
    """Class names as Ultralytics keeps them ({0: "person", ...} or a list), as printable text; None if they are not
    names of classes 0..n-1."""
    if isinstance(names, Mapping):
        if set(names) != set(range(len(names))):
            return None
        names = [names[i] for i in range(len(names))]
    if not isinstance(names, Sequence) or isinstance(names, (str, bytes)) or not names:
        return None
    cleaned = []
    for index, name in enumerate(names):
        if not isinstance(name, str):
            return None
        # no control, format or private-use characters (a terminal escape, a direction override), one line
        text = "".join(c if unicodedata.category(c)[0] not in "CZ" or c == " " else " " for c in name)
        text = " ".join(text.split())[:_MAX_NAME]
        cleaned.append(text or f"class {index}")
    return tuple(cleaned)


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
    branches = [k for k in state if _TASK_BRANCH.match(k)] if isinstance(model, Detector) else []
    if branches and checkpoint_task(state) == "obb":
        raise WeightsMismatchError(
            "these are the weights of an oriented-box (OBB) model: its boxes turn by an angle (23.cv4) that this "
            'detector does not predict, so its boxes would be wrong; nothing was loaded. Pick "backbone only" to use '
            "its backbone.",
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
        backbone_only = backbone_only and all(int(k.split(".")[0]) > 10 for k in missing)
        hint = (
            'These are backbone weights (layers 0-10) without a neck and head: pick "backbone only" to use them.'
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
        checkpoint = Checkpoint(_flatten(source))
    else:
        checkpoint = read_checkpoint(source, max_bytes=max_bytes)
    state = checkpoint.state
    lock = getattr(model, "lock", None)
    classes = checkpoint_classes(state)
    if isinstance(model, Detector) and classes is not None and classes != model.num_classes:
        # the head follows the checkpoint: checked on a weightless detector of that class count first
        config = with_classes(model.config, classes)
        match_state_dict(build_detector(config=config, device="meta"), state)
        with lock if lock is not None else nullcontext():
            _replace_head(model, config)
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


def checkpoint_task(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """What a YOLO11 head beyond detection the weights hold: "segment" (mask coefficients and prototypes:
    23.cv4 and 23.proto), "pose" (keypoints: 23.cv4) or "obb" (one angle per box: 23.cv4 with one output);
    None for a plain Detect head or no head. Segment and Pose heads are a Detect head plus their branch."""
    keys = [k for k in state_dict if _TASK_BRANCH.match(k)]
    if not keys:
        return None
    if any(".proto." in k for k in keys):
        return "segment"
    last = next((v for k, v in state_dict.items() if re.search(r"23\.cv4\.0\.2\.weight$", k)), None)
    return "obb" if last is not None and last.shape[0] == 1 else "pose"


def task_note(task: str) -> str:
    """What loading a segmentation, pose or oriented-box model's weights leaves out, in words."""
    name, branch = {"segment": ("segmentation", "mask"), "pose": ("pose", "keypoint"), "obb": ("oriented-box", "angle")}[task]
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name} model, whose {branch} branch is not used here"


def checkpoint_classes(state_dict: Mapping[str, torch.Tensor]) -> int | None:
    """The class count of a detection state_dict's head (its class logits' output channels), or None for
    weights without a YOLO11 head."""
    for key, value in state_dict.items():
        if _CLASS_LOGITS.match(key) and isinstance(value, torch.Tensor) and value.dim() == 4:
            return int(value.shape[0])
    return None


def _replace_head(model: Detector, config: BackboneConfig) -> None:
    """Give a detector a fresh head (on its device, in its dtype) for another class count, and that config."""
    reference = next(model.parameters())
    sources = model.sources[model.head_name]
    channels = tuple(model.layer_channels[s] for s in sources)
    head = build_block(config.layers()[-1], channels, strides=tuple(model.layer_strides[s] for s in sources))
    model.add_module(model.head_name, head.to(device=reference.device, dtype=reference.dtype).eval())
    model.layer_channels[model.head_name] = 4 + config.num_classes
    model.config = config
    model.class_names = None


def fitting_config(state_dict: Mapping[str, torch.Tensor]) -> BackboneConfig:
    """The architecture a state_dict was trained for: one of the YOLO11 scales (a whole Ultralytics detection
    model's state_dict included), or the tutorial at the width and depth its stem and first C3k2 imply.

    Every candidate is checked key for key by `match_state_dict` against a weightless model on the meta device.

    Raises:
        WeightsMismatchError: it fits none; the message names the closest candidate and what does not fit.
    """
    state = _flatten(state_dict)
    closest: tuple[int, BackboneConfig, WeightsMismatchError] | None = None
    for config in [make_config(f"yolo11{scale}") for scale in YOLO11_SCALES] + _tutorial_candidates(state):
        try:
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
        f"fits none of the architectures (YOLO11 n-x, or the tutorial at any width); the closest is {config.label}: {detail}",
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
            data = _read_bytes(file, max_bytes)
            digest = hashlib.sha256(data).hexdigest()[:16]
            checkpoint = read_checkpoint(data, max_bytes=max_bytes)
            state = checkpoint.state
            config = fitting_config(state)
            classes = checkpoint_classes(state) if isinstance(config, YOLO11Config) else None
            if classes is None:
                matched, _, _ = match_state_dict(build_backbone(config=config, device="meta"), state)
            else:  # a whole detection model: kept whole, for the detector (its backbone takes layers 0-10)
                whole = dataclasses.replace(config, detector=True, num_classes=classes)
                matched, _, _ = match_state_dict(build_detector(config=whole, device="meta"), state)
        except WeightsError as err:
            found.append(FolderFile(file.name, digest, None, None, str(err)))
        else:
            found.append(FolderFile(file.name, digest, config, matched, None, checkpoint.names))
    return found


def _read_bytes(source: str | Path | bytes, max_bytes: int) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise WeightsError(f"{path.name} is {size / 2**20:.0f} MiB; the limit is {max_bytes / 2**20:.0f} MiB")
            data = path.read_bytes()
        except OSError as err:
            raise WeightsError(f"cannot read {path}: {err.strerror or err}") from None
    if not data:
        raise WeightsError("the weights file is empty")
    if len(data) > max_bytes:
        raise WeightsError(f"the weights file is {len(data) / 2**20:.0f} MiB; the limit is {max_bytes / 2**20:.0f} MiB")
    return data


def _looks_like_safetensors(data: bytes) -> bool:
    # 8-byte little-endian header length, then a JSON header
    return len(data) > 9 and data[8:9] == b"{" and int.from_bytes(data[:8], "little") <= len(data) - 8


def _torch_load(data: bytes) -> object:
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        pickled_model = _pickled_model(data)
        if pickled_model is not None:
            return pickled_model
        # torch's message is long; keep the line that names what it refused
        text = str(err)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        refused = next((line for line in lines if "GLOBAL" in line), None)
        if refused is None:  # not a pickle of tensors at all
            marker = next((i for i, line in enumerate(lines) if "WeightsUnpickler error:" in line), None)
            after = lines[marker].split("WeightsUnpickler error:")[-1].strip() if marker is not None else ""
            detail = after or (lines[marker + 1] if marker is not None and marker + 1 < len(lines) else "unreadable pickle")
            raise WeightsError(f"not a PyTorch or safetensors weights file ({detail[:200]})") from None
        detail = refused.split("WeightsUnpickler error:")[-1].strip()
        # weights_only refuses globals it does not know: code, modules, custom classes
        raise WeightsError(
            f"refused: this checkpoint holds Python objects or code, and no model whose weights could be read "
            f"without running them ({detail[:200]}). Save the state_dict instead: "
            "torch.save(model.state_dict(), 'weights.pt')."
        ) from None
    except Exception as err:  # a damaged file makes torch.load raise almost anything (fuzzing found AssertionError)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsError(f"not a PyTorch or safetensors weights file ({first[:200]})") from None


class _Inert:
    """Stands in for a class that a pickle names: takes what the pickle hands it, runs nothing."""

    def __init__(self, *args, **kwargs):
        self._inert_state = None

    def __setstate__(self, state):
        self._inert_state = state


_INERT_LOAD = threading.Lock()  # torch's extra safe globals are process-wide: one such load at a time
_MAX_MODULES = 100_000


def _pickled_model(data: bytes) -> Checkpoint | None:
    """The state_dict of a pickled module tree (an Ultralytics checkpoint's "ema" or "model", or a whole
    pickled model), every class it names replaced by an inert stand-in, and the class names it keeps (its
    `names`); None when there is no module tree with tensors."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(data))
        stand_ins = [(type(name.rsplit(".", 1)[-1], (_Inert,), {}), name) for name in names]
        with _INERT_LOAD, torch.serialization.safe_globals(stand_ins):
            obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:  # anything else the pickle needs (an unusual opcode on a stand-in): not a model here
        return None
    if isinstance(obj, Mapping):  # a checkpoint: Ultralytics loads "ema" first, then "model"
        obj = next((obj[k] for k in ("ema", "model") if isinstance(obj.get(k), _Inert)), None)
    if not isinstance(obj, _Inert):
        return None
    state = _module_tree_state(obj)
    if not state:
        return None
    attributes = obj._inert_state if isinstance(obj._inert_state, Mapping) else {}
    return Checkpoint(state, _clean_names(attributes.get("names")))


def _module_tree_state(root: _Inert) -> dict[str, torch.Tensor]:
    """What `nn.Module.state_dict()` returns, read from the pickled `__dict__`s of a module tree: parameters,
    then persistent buffers, then each child's under its name."""
    state: dict[str, torch.Tensor] = {}
    stack, seen = [("", root)], set()
    while stack and len(seen) < _MAX_MODULES:
        prefix, module = stack.pop()
        attributes = module._inert_state if isinstance(module, _Inert) else None
        if not isinstance(attributes, Mapping) or id(module) in seen:
            continue
        seen.add(id(module))
        transient = attributes.get("_non_persistent_buffers_set") or set()
        for group in ("_parameters", "_buffers"):
            tensors = attributes.get(group)
            for name, tensor in tensors.items() if isinstance(tensors, Mapping) else ():
                if isinstance(name, str) and isinstance(tensor, torch.Tensor) and name not in transient:
                    state[prefix + name] = tensor.detach()
        children = attributes.get("_modules")
        if isinstance(children, Mapping):
            stack += [(f"{prefix}{name}.", child) for name, child in reversed(children.items()) if isinstance(name, str)]
    return state


def _flatten(obj: object) -> dict[str, torch.Tensor]:
    """The state_dict in a checkpoint: unwrap known wrapper keys, keep tensors, refuse anything else."""
    for _ in range(4):  # checkpoints nest at most a few levels
        if isinstance(obj, Mapping) and not _all_tensors(obj):
            inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), Mapping)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError("the file holds no state_dict (a mapping of parameter names to tensors)")
    if not _all_tensors(obj):
        bad = [str(k) for k, v in obj.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))]
        raise WeightsError(f"the state_dict has entries that are not named tensors: {', '.join(bad[:_SHOW])}")
    return dict(obj)


def _all_tensors(obj: Mapping) -> bool:
    return all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _listing(what: str, keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW])
    more = f" and {len(keys) - _SHOW} more" if len(keys) > _SHOW else ""
    return f"{len(keys)} {what}: {shown}{more}"
