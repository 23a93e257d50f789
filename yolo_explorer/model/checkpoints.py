"""Reading weights files safely: what a `.pt`/`.pth` (pickle, read with `torch.load(weights_only=True)`: a file
that would run code is refused, never run) or `.safetensors` file holds, as a `Checkpoint` (its tensors and the
class names a trained detector carries), and what its YOLO11 head says (class count, task).

A pickled model (an Ultralytics checkpoint, `torch.save(model)`) names the classes of its modules. They are
never imported: each is replaced by an inert stand-in that only keeps what the pickle hands it, and the
tensors are read from the module tree (`_parameters`, `_buffers`, `_modules`) as `state_dict()` would.

    checkpoint = read_checkpoint("yolo11n.pt")    # Checkpoint(state={"model.0.conv.weight": ...}, names=("person", ...))
    checkpoint_classes(checkpoint.state)          # 80

This module is the security boundary for files users bring; matching the tensors to a model and loading them
is `weights`'.
"""

from __future__ import annotations

import io
import pickle
import re
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "DEFAULT_MAX_WEIGHT_BYTES",
    "Checkpoint",
    "WeightsError",
    "checkpoint_classes",
    "checkpoint_task",
    "flatten_state",
    "read_bytes",
    "read_checkpoint",
    "read_state_dict",
    "task_note",
]

DEFAULT_MAX_WEIGHT_BYTES = 512 * 2**20  # YOLO11x's whole detection model in fp32 is about 230 MB
_WRAPPERS = ("state_dict", "model", "model_state_dict", "ema")  # keys that checkpoints nest a state_dict under
_HEAD = r"^(?:module\.)?(?:model\.)?\d+\."  # a top-level layer (the head: only Detect has these branches), any key layout
TASK_BRANCH = re.compile(_HEAD + r"(?:cv4|proto)\.")  # Segment, Pose, OBB heads' own branches
_TASK_LAST = re.compile(_HEAD + r"cv4\.0\.2\.weight$")  # the branch's last conv at level 0
_CLASS_LOGITS = re.compile(_HEAD + r"cv3\.0\.2\.weight$")  # Detect's last class conv, level 0
_MAX_NAME = 60  # characters kept of a class name read from a file
_SHOW = 8  # entries listed in a message
_MODEL_FILE = re.compile(r"^yolo[a-z0-9.-]{1,30}\.yaml$")


class WeightsError(ValueError):
    """A weights file that cannot be read as a state_dict; the message says why and what to do."""


@dataclass(frozen=True)
class Checkpoint:
    """What a weights file holds that this project uses: the state_dict, and the class names a trained detector
    carries (Ultralytics keeps `model.names` in its checkpoints), cleaned to printable text of at most 60
    characters each; None when the file has none. Names are text from a file: escape them where they are drawn."""

    state: dict[str, torch.Tensor]
    names: tuple[str, ...] | None = None
    table: dict[str, Any] | None = field(default=None, compare=False)  # an Ultralytics model's table (its `yaml`)

    @property
    def model_file(self) -> str | None:
        """The model table's file name as Ultralytics keeps it ("yolo26n.yaml"), when it looks like one."""
        name = Path(str((self.table or {}).get("yaml_file", ""))).name
        return name if _MODEL_FILE.match(name) else None


def read_checkpoint(source: str | Path | bytes, *, max_bytes: int = DEFAULT_MAX_WEIGHT_BYTES) -> Checkpoint:
    """Read the state_dict, and the class names if any, of a `.pt`/`.pth` or `.safetensors` file or its bytes.

    The format is recognised from the content, not the name. Pickles go through
    `torch.load(weights_only=True)`, which refuses anything but tensors and plain containers; a pickled model
    (an Ultralytics checkpoint) is read through inert stand-ins for its classes, none of which is imported.
    Checkpoints that wrap the state_dict in a dict (under "state_dict", "model", ...) are unwrapped.

    Raises:
        WeightsError: empty, too large, not a checkpoint, holds code or objects, or holds no tensors.
    """
    data = read_bytes(source, max_bytes)
    if _looks_like_safetensors(data):
        from safetensors.torch import load as load_safetensors

        try:
            obj = load_safetensors(data)
        except Exception as err:  # SafetensorError, and whatever else a damaged file provokes
            raise WeightsError(f"this .safetensors file is damaged: {err}") from None
        return Checkpoint(flatten_state(obj))
    obj = _torch_load(data)
    if isinstance(obj, Checkpoint):  # a pickled model, read through stand-ins
        return obj
    names = _clean_names(obj.get("names")) if isinstance(obj, Mapping) else None
    return Checkpoint(flatten_state(obj), names)


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


def checkpoint_task(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """What a YOLO11 head beyond detection the weights hold: "segment" (mask coefficients and prototypes:
    23.cv4 and 23.proto), "pose" (keypoints: 23.cv4) or "obb" (one angle per box: 23.cv4 with one output);
    None for a plain Detect head or no head. Segment and Pose heads are a Detect head plus their branch."""
    keys = [k for k in state_dict if TASK_BRANCH.match(k)]
    if not keys:
        return None
    if any(".proto." in k for k in keys):
        return "segment"
    last = next((v for k, v in state_dict.items() if _TASK_LAST.search(k)), None)
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


def read_bytes(source: str | Path | bytes, max_bytes: int) -> bytes:
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
    table = _plain(attributes.get("yaml"))
    return Checkpoint(state, _clean_names(attributes.get("names")), table if isinstance(table, dict) else None)


def _plain(value: object, depth: int = 0) -> object:
    """`value` as plain data (dicts, lists, text, numbers), or None: what a model's table may hold, bounded."""
    if depth > 8:
        return None
    if isinstance(value, Mapping) and len(value) <= 1000:
        return {str(k)[:100]: _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and len(value) <= 1000:
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, str):
        return value[:200]
    return value if isinstance(value, (bool, int, float)) or value is None else None


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


def flatten_state(obj: object) -> dict[str, torch.Tensor]:
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
