"""How much memory a forward needs, and whether the device has it, known before running it.

The estimate replays the forward on the meta device and follows every tensor it creates: bytes are
added when an operator returns a new tensor and subtracted when Python frees it, so the peak is the
peak of eager PyTorch's own allocate-and-free pattern (allocator rounding and library workspaces
aside, hence the margin in `check_fits`).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ..forward.tensors import leaves
from ..model.config import BackboneConfig
from ..model.detector import build_model
from ..model.stats import parse_size
from ..present.formatting import human_bytes
from .devices import check_device, dtype_from_name

__all__ = [
    "InsufficientMemoryError",
    "MemoryEstimate",
    "check_fits",
    "check_forward_fits",
    "estimate_forward_memory",
    "free_memory",
]

MARGIN = 1.25  # headroom over the estimate for allocator rounding and convolution workspaces


class InsufficientMemoryError(MemoryError):
    """The forward would not fit; the message gives the estimate, the free memory and what to change."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one forward needs: the weights, and the peak of the activations alive at once."""

    params_bytes: int
    peak_activation_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.params_bytes + self.peak_activation_bytes


class _LiveBytes(TorchDispatchMode):
    """Counts the bytes of the tensors alive during a forward, and their peak."""

    def __init__(self, start: int = 0):
        super().__init__()
        self.live = self.peak = start
        self._tracked: weakref.WeakSet = weakref.WeakSet()

    def _free(self, nbytes: int) -> None:
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in leaves(out):
            if isinstance(t, torch.Tensor) and not t._is_view() and t not in self._tracked:
                nbytes = t.untyped_storage().nbytes()
                self._tracked.add(t)
                self.live += nbytes
                self.peak = max(self.peak, self.live)
                weakref.finalize(t, self._free, nbytes)
        return out


def estimate_forward_memory(
    config: BackboneConfig,
    size: int | str | Sequence[int] = 640,
    *,
    batch: int = 1,
    dtype: str = "fp32",
) -> MemoryEstimate:
    """Memory one inference forward of `batch` images needs, from a forward on the meta device."""
    h, w = parse_size(size)
    torch_dtype = dtype_from_name(dtype)
    model = build_model(config, device="meta", dtype=torch_dtype)
    params_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    params_bytes += sum(b.numel() * b.element_size() for b in model.buffers())
    x = torch.empty(batch, config.in_channels, h, w, device="meta", dtype=torch_dtype)
    counter = _LiveBytes(start=x.untyped_storage().nbytes())
    with counter, torch.inference_mode():
        outputs = model(x)
        del outputs
    return MemoryEstimate(params_bytes, counter.peak)


def free_memory(device: str | torch.device) -> int | None:
    """Bytes free on the device now, or None where it cannot be known."""
    dev = check_device(device)
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free)
    if dev.type == "mps":
        return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(
    estimate: MemoryEstimate, device: str | torch.device, *, cap_bytes: int | None = None, what: str = "this forward"
) -> None:
    """Refuse at once a forward that would not fit the device's free memory or the cap (a server's
    `Environment.max_forward_bytes`; None: no cap).

    Raises:
        InsufficientMemoryError: with the estimate, the limit, and what to lower.
    """
    need = int(estimate.total_bytes * MARGIN)
    limits = []
    free = free_memory(device)
    if free is not None:
        limits.append((free, f"{device} has {human_bytes(free)} free"))
    if cap_bytes is not None:
        limits.append((cap_bytes, f"this server allows {human_bytes(cap_bytes)} per forward"))
    for limit, reason in limits:
        if need > limit:
            raise InsufficientMemoryError(
                f"{what} needs about {human_bytes(need)} ({human_bytes(estimate.params_bytes)} of weights, "
                f"{human_bytes(estimate.peak_activation_bytes)} of activations at the peak, plus margin) but {reason}. "
                f"Lower the width, the input size or the batch size."
            )


def check_forward_fits(
    config: BackboneConfig,
    size: int | str | Sequence[int],
    device: str | torch.device,
    *,
    batch: int = 1,
    dtype: str = "fp32",
    what: str | None = None,
    estimator: Callable[[BackboneConfig, tuple[int, int], int, str], MemoryEstimate] | None = None,
    cap_bytes: int | None = None,
) -> MemoryEstimate:
    """The one check made before every forward (pages, Compare's grids, the command line): estimate what a forward
    of `batch` images of `config` at `size` in `dtype` needs, and refuse it at once if it does not fit `device` or
    the server's cap. Returns the estimate.

    Args:
        estimator: how to estimate, as (config, (H, W), batch, dtype) -> MemoryEstimate; by default
            `estimate_forward_memory` (the app passes its cached copy of it).
        cap_bytes: the server's cap on one forward (`Environment.max_forward_bytes`); None: no cap.

    Raises:
        InsufficientMemoryError: with the estimate, the limit, and what to lower.
    """
    h, w = parse_size(size)
    if estimator is None:
        estimate = estimate_forward_memory(config, (h, w), batch=batch, dtype=dtype)
    else:
        estimate = estimator(config, (h, w), batch, dtype)
    check_fits(estimate, device, cap_bytes=cap_bytes, what=what or f"a batch of {batch} of {config.label} at {h}x{w}")
    return estimate
