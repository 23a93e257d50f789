"""Latency of the plain forward (no hooks): warm-up, device synchronisation, N timed runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .devices import check_device, device_name, dtype_from_name, supported_dtypes, synchronize
from .stats import parse_size

__all__ = ["LatencyResult", "measure_latency"]


@dataclass(frozen=True)
class LatencyResult:
    """Timings of one latency run, in milliseconds per batch, and the environment they were taken in."""

    times_ms: tuple[float, ...]
    batch: int
    input_size: tuple[int, int]
    dtype: str
    device: str
    device_name: str
    torch: str
    threads: int
    warmup: int

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p90_ms(self) -> float:
        return float(np.percentile(self.times_ms, 90))

    @property
    def min_ms(self) -> float:
        return min(self.times_ms)

    @property
    def max_ms(self) -> float:
        return max(self.times_ms)

    @property
    def images_per_s(self) -> float:
        return self.batch * 1000.0 / self.median_ms

    @property
    def spread(self) -> float:
        """(p90 - min) / median: above ~0.2 the figures are noisy (a busy machine, a shared device)."""
        return (self.p90_ms - self.min_ms) / self.median_ms

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["times_ms"] = list(self.times_ms)
        d["input_size"] = list(self.input_size)
        for key in ("median_ms", "p90_ms", "min_ms", "max_ms", "images_per_s", "spread"):
            d[key] = getattr(self, key)
        d["iters"] = len(self.times_ms)
        return d


def measure_latency(
    model: nn.Module,
    *,
    size: int | str | Sequence[int] = 640,
    batch: int = 1,
    device: str = "cpu",
    dtype: str = "fp32",
    warmup: int = 3,
    iters: int = 20,
    on_progress: Callable[[int, int], None] | None = None,
) -> LatencyResult:
    """Time `iters` forward passes of a random batch after `warmup` untimed ones.

    The model must already be on `device` in `dtype` and in eval mode. Each run is bracketed by a
    device synchronisation so that the clock sees the finished work, under `torch.inference_mode`.
    A `Backbone`'s lock is held throughout, so no capture on the same model runs between the timings.

    Args:
        model: the model to time.
        size: input size, S or (H, W).
        batch: images per forward.
        device: where the model lives ("cpu", "cuda:0", "mps").
        dtype: "fp32", "fp16" or "bf16"; must be supported by the device.
        warmup: untimed runs first (allocator, kernel selection, caches).
        iters: timed runs.
        on_progress: called as on_progress(done, total) after every run, warm-up included.

    Raises:
        ValueError: a bad argument, an absent device, or a dtype the device cannot run.
    """
    h, w = parse_size(size)
    if not isinstance(batch, int) or not 1 <= batch <= 1024:
        raise ValueError(f"batch must be an integer from 1 to 1024, got {batch!r}")
    if not isinstance(iters, int) or not 1 <= iters <= 10_000:
        raise ValueError(f"iters must be an integer from 1 to 10000, got {iters!r}")
    if not isinstance(warmup, int) or not 0 <= warmup <= 1000:
        raise ValueError(f"warmup must be an integer from 0 to 1000, got {warmup!r}")
    dev = check_device(device)
    torch_dtype = dtype_from_name(dtype)
    if dtype not in supported_dtypes(dev):
        raise ValueError(f"{dev} cannot run {dtype}; it supports {', '.join(supported_dtypes(dev))}")
    param = next(model.parameters())
    if param.device != dev or param.dtype != torch_dtype:
        raise ValueError(f"the model is on {param.device} in {param.dtype}; move it to {dev} in {torch_dtype} first")

    in_channels = model.config.in_channels if hasattr(model, "config") else param.shape[1]
    x = torch.rand(batch, in_channels, h, w, device=dev, dtype=torch_dtype)
    total = warmup + iters
    times = []
    with getattr(model, "lock", None) or nullcontext(), torch.inference_mode():
        for i in range(total):
            synchronize(dev)
            start = time.perf_counter()
            model(x)
            synchronize(dev)
            elapsed = time.perf_counter() - start
            if i >= warmup:
                times.append(elapsed * 1000.0)
            if on_progress is not None:
                on_progress(i + 1, total)
    return LatencyResult(
        times_ms=tuple(times),
        batch=batch,
        input_size=(h, w),
        dtype=dtype,
        device=str(dev),
        device_name=device_name(dev),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        warmup=warmup,
    )
