"""Activation capture with forward hooks that live for one `with` block.

    with capture_activations(model, ["P3", "stage1_c3k2.cv1"]) as acts:
        model(x)
    acts["P3"]  # (B, C, H, W), detached

Safe on a model shared by many threads (the app caches one model for every browser session): the
model's lock is held for the whole block, and each hook records only the forward of the thread that
opened the capture, so a forward run by another thread without a capture can never leak into it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, Literal

import torch
from torch import nn

from ..deployment.devices import device_lock
from .tensors import map_tensors

__all__ = ["BatchNormStats", "capture_activations", "list_layers", "run_with_capture", "resolve_layer"]

BatchNormStats = Literal["running", "batch"]

# Containers whose forward is never called: a hook on them would never fire.
_NEVER_CALLED = (nn.ModuleList, nn.ModuleDict)


def list_layers(model: nn.Module) -> list[str]:
    """Every name `capture_activations` accepts, in forward order.

    The pyramid aliases of `model.feature_info` (P3, P4, P5) come first, then every module path
    ("stem", "stem.conv", ..., "sppf.cv2.act").
    """
    aliases = [info.name for info in getattr(model, "feature_info", ())]
    modules = [name for name, m in model.named_modules() if name and not isinstance(m, _NEVER_CALLED)]
    return aliases + modules


def resolve_layer(model: nn.Module, name: str) -> str:
    """Module path behind a layer name: a pyramid alias ("P3") maps to its layer, a path to itself.

    Raises:
        KeyError: the name is not a layer; the message says how to list the valid ones.
    """
    for info in getattr(model, "feature_info", ()):
        if info.name == name:
            return info.module
    modules = dict(model.named_modules())
    if name and name in modules and not isinstance(modules[name], _NEVER_CALLED):
        return name
    valid = list_layers(model)
    raise KeyError(f"{name!r} is not a layer; list_layers(model) gives the {len(valid)} valid names")


@contextmanager
def capture_activations(
    model: nn.Module,
    names: Sequence[str],
    *,
    to_cpu: bool = False,
    batch_norm: BatchNormStats = "running",
) -> Iterator[dict[str, Any]]:
    """Capture the outputs of the named layers during the forward passes run inside the block.

    Args:
        model: the model; a `Backbone`'s lock is held for the whole block.
        names: layer names from `list_layers(model)`; unknown names fail before anything is touched.
        to_cpu: move captured tensors to the CPU.
        batch_norm: "running" evaluates BatchNorm with its running statistics (eval mode, as deployed);
            "batch" normalises with the statistics of the current batch, as the tutorial's figures do,
            without updating the running statistics.

    Yields:
        A dict, filled during the forward: name -> detached output. A module that returns a tuple
        gives a tuple; a module called k times in one forward (SPPF's pool) gives a tuple of its k
        outputs.

    Raises:
        KeyError: a name is not a layer.
        ValueError: `batch_norm` is not "running" or "batch".
    """
    if batch_norm not in ("running", "batch"):
        raise ValueError(f"batch_norm must be 'running' or 'batch', got {batch_norm!r}")
    paths = {name: resolve_layer(model, name) for name in names}  # fails before any work
    modules = dict(model.named_modules()) if paths else {}
    owner = threading.get_ident()
    captured: dict[str, Any] = {}
    calls: dict[str, int] = {}

    def store(path: str, output: Any) -> None:
        value = map_tensors(lambda t: _detach(t, to_cpu), output)
        count = calls[path] = calls.get(path, 0) + 1
        for name, p in paths.items():
            if p != path:
                continue
            if count == 1:
                captured[name] = value
            elif count == 2:
                captured[name] = (captured[name], value)
            else:
                captured[name] = (*captured[name], value)

    def make_hook(path: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if threading.get_ident() == owner:
                store(path, output)

        return hook

    lock = getattr(model, "lock", None) or nullcontext()
    with lock:
        every = list(model.modules())
        modes = {m: m.training for m in every}
        bn_tracking = {m: m.track_running_stats for m in every if isinstance(m, nn.modules.batchnorm._BatchNorm)}
        handles = []
        try:
            for m in every:  # eval mode (set only where needed: a module's setattr is slow, and this is per forward)
                if m.training:
                    m.training = False
            if batch_norm == "batch":
                for bn in bn_tracking:  # batch statistics, running buffers left untouched
                    bn.training = True
                    bn.track_running_stats = False
            for path in dict.fromkeys(paths.values()):
                handles.append(modules[path].register_forward_hook(make_hook(path)))
            yield captured
        finally:
            for handle in handles:
                handle.remove()
            for bn, tracking in bn_tracking.items():
                if bn.track_running_stats != tracking:
                    bn.track_running_stats = tracking
            for m, training in modes.items():
                if m.training != training:
                    m.training = training


def run_with_capture(
    model: nn.Module,
    x: torch.Tensor,
    names: Sequence[str],
    *,
    to_cpu: bool = True,
    batch_norm: BatchNormStats = "running",
) -> tuple[tuple[torch.Tensor, ...], dict[str, Any]]:
    """One inference forward of `x` that returns the model's outputs and the named captures.

    The forward holds its device's lock (`devices.device_lock`): forwards on one device run one at a time.

    Returns:
        (outputs, captures): the forward's outputs (moved to the CPU when `to_cpu`), and name -> capture.
    """
    with (
        device_lock(x.device),
        capture_activations(model, names, to_cpu=to_cpu, batch_norm=batch_norm) as acts,
        torch.inference_mode(),
    ):
        outputs = model(x)
    outputs = map_tensors(lambda t: _detach(t, to_cpu), outputs)
    return outputs, acts


def _detach(value: Any, to_cpu: bool) -> Any:
    if not isinstance(value, torch.Tensor):
        return value
    value = value.detach()
    return value.cpu() if to_cpu else value
