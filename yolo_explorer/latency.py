"""Latency of the plain forward (no hooks) in the modes a tuned deployment uses (`modes.LatencyMode`):
median and spread over timed runs, images/s and achieved TFLOP/s, a batch sweep, and each run's speed-up
over plain fp32 eager.

    mode = LatencyMode(dtype="bf16", channels_last=True, cuda_graph=True)
    result = measure_latency(model, size=640, device="cuda:0", mode=mode)
    result.median_ms, result.tflops, result.compile_s

The model passed in is never changed (`modes.prepared` runs a mode on a private copy when it needs one).
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .devices import check_device, device_name, synchronize
from .modes import LatencyMode, prepared
from .stats import model_stats, parse_size

__all__ = ["LatencyResult", "batch_sweep", "measure_latency", "speedups"]


@dataclass(frozen=True)
class LatencyResult:
    """Timings of one latency run, in milliseconds per batch, and the environment they were taken in.

    Attributes:
        mode: the mode's label ("fp32" is plain fp32 eager).
        model: the model's config label ("tutorial w=64", "YOLO11n"; "" when it has no config).
        flops: floating-point operations of one forward of the batch (from the engine's count; 0 when
            the model has no config).
        compile_s: seconds spent compiling or capturing before the first timed run (0 for eager; for ONNX
            Runtime, creating the session, which optimises the graph).
        waited_s: seconds this run queued for its device behind other users' forwards.
        runtime: "torch" or "onnxruntime".
        export_s: for ONNX Runtime, seconds spent exporting the model (and quantizing it), before all else.
    """

    times_ms: tuple[float, ...]
    batch: int
    input_size: tuple[int, int]
    dtype: str
    device: str
    device_name: str
    torch: str
    threads: int
    warmup: int
    mode: str = "fp32"
    model: str = ""
    flops: int = 0
    compile_s: float = 0.0
    waited_s: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    runtime: str = "torch"
    export_s: float = 0.0

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
    def tflops(self) -> float:
        """Achieved TFLOP/s at the median time."""
        return self.flops / (self.median_ms / 1000.0) / 1e12

    @property
    def spread(self) -> float:
        """(p90 - min) / median: above ~0.2 the figures are noisy (a busy machine, a shared device)."""
        return (self.p90_ms - self.min_ms) / self.median_ms

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["times_ms"] = list(self.times_ms)
        d["input_size"] = list(self.input_size)
        for key in ("median_ms", "p90_ms", "min_ms", "max_ms", "images_per_s", "tflops", "spread"):
            d[key] = getattr(self, key)
        d["iters"] = len(self.times_ms)
        return d


def measure_latency(
    model: nn.Module,
    *,
    size: int | str | Sequence[int] = 640,
    batch: int = 1,
    device: str = "cpu",
    dtype: str | None = None,
    mode: LatencyMode | None = None,
    warmup: int = 3,
    iters: int = 20,
    threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_wait: Callable[[], None] | None = None,
) -> LatencyResult:
    """Time `iters` forward passes of a random batch after `warmup` untimed ones.

    Each run is bracketed by a device synchronisation, under `torch.inference_mode`. The device's lock
    is held throughout (other users' forwards on the device wait; so does this run, and the result
    says for how long), and so is a `Backbone`'s own lock.

    Args:
        model: the model to time, in eval mode; it is not modified.
        size: input size, S or (H, W).
        batch: images per forward.
        device: where to run ("cpu", "cuda:0", "mps"); the model is copied there if it lives elsewhere.
        dtype: shorthand for `LatencyMode(dtype=...)` when `mode` is not given (default fp32).
        mode: precision, memory format, CUDA graph and compile settings.
        warmup: untimed runs after compiling or capturing (allocator, kernel selection, caches).
        iters: timed runs.
        threads: CPU threads for this run (torch's setting is process-wide: restored afterwards).
        on_progress: called as on_progress(done, total) after every run, warm-up included.
        on_wait: called once if the device is busy with another forward, before waiting for it.

    Raises:
        ValueError: a bad argument, an absent device, or a mode the device cannot run.
    """
    if mode is None:
        mode = LatencyMode(dtype=dtype or "fp32")
    elif dtype is not None and dtype != mode.dtype:
        raise ValueError(f"dtype {dtype!r} contradicts the mode's {mode.dtype!r}; give one")
    h, w = parse_size(size)
    _check_run(batch, iters, warmup, threads)
    dev = check_device(device)
    mode.check(dev)

    config = getattr(model, "config", None)
    flops = _flops_per_image(config, (h, w)) * batch if config is not None else 0
    in_channels = config.in_channels if config is not None else next(model.parameters()).shape[1]
    x = mode.input_like(torch.rand(batch, in_channels, h, w, device=dev))
    with prepared(model, mode, x, dev, on_wait=on_wait) as run, _num_threads(threads) as used_threads:
        times = _time_runs(run, dev, warmup, iters, on_progress)
    return LatencyResult(
        times_ms=tuple(times),
        batch=batch,
        input_size=(h, w),
        dtype=mode.dtype,
        device=str(dev),
        device_name=device_name(dev),
        torch=torch.__version__,
        threads=used_threads,
        warmup=warmup,
        mode=mode.label,
        model=config.label if config is not None else "",
        flops=flops,
        compile_s=run.compile_s,
        waited_s=run.waited_s,
        settings=asdict(mode),
    )


def _check_run(batch: int, iters: int, warmup: int, threads: int | None = None) -> None:
    """The checks every timed run makes of its counts (torch and ONNX Runtime, whole forward or per layer).

    Raises:
        ValueError: a count that is not an integer in its range.
    """
    if not isinstance(batch, int) or not 1 <= batch <= 1024:
        raise ValueError(f"batch must be an integer from 1 to 1024, got {batch!r}")
    if not isinstance(iters, int) or not 1 <= iters <= 10_000:
        raise ValueError(f"iters must be an integer from 1 to 10000, got {iters!r}")
    if not isinstance(warmup, int) or not 0 <= warmup <= 1000:
        raise ValueError(f"warmup must be an integer from 0 to 1000, got {warmup!r}")
    if threads is not None and (not isinstance(threads, int) or not 1 <= threads <= 1024):
        raise ValueError(f"threads must be a positive integer, got {threads!r}")


def _time_runs(
    run: Callable[[], Any], dev: torch.device, warmup: int, iters: int, on_progress: Callable[[int, int], None] | None
) -> list[float]:
    """Milliseconds of each of `iters` runs after `warmup` untimed ones, the device synchronised around each."""
    times = []
    with torch.inference_mode():
        for i in range(warmup + iters):
            synchronize(dev)
            start = time.perf_counter()
            run()
            synchronize(dev)
            elapsed = time.perf_counter() - start
            if i >= warmup:
                times.append(elapsed * 1000.0)
            if on_progress is not None:
                on_progress(i + 1, warmup + iters)
    return times


@contextmanager
def _num_threads(threads: int | None) -> Iterator[int]:
    """torch's CPU threads set to `threads` (process-wide) for the duration; yields the count in effect."""
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(old)


@functools.lru_cache(maxsize=64)
def _flops_per_image(config: Any, size: tuple[int, int]) -> int:
    """The engine's FLOP count of one image (a meta-device forward, done once per config and size: a batch
    sweep asks for it at every batch size)."""
    return model_stats(config, size).flops


def speedups(results: Sequence[LatencyResult]) -> list[float | None]:
    """Each result's speed-up over plain fp32 eager: the median of the last "fp32" run among `results` of
    the same model, input size, batch, device and thread count, over the result's median (None where
    there is no such run)."""

    def same(r: LatencyResult) -> tuple:
        return r.model, r.input_size, r.batch, r.device, r.threads

    baseline = {same(r): r.median_ms for r in results if r.mode == "fp32"}
    return [baseline[same(r)] / r.median_ms if same(r) in baseline else None for r in results]


def batch_sweep(
    model: nn.Module,
    batches: Sequence[int] = (1, 2, 4, 8, 16, 32),
    **kwargs: Any,
) -> list[LatencyResult]:
    """`measure_latency` at every batch size: images/s and achieved TFLOP/s as the batch grows.

    Args:
        model: the model to time.
        batches: batch sizes, in the order run.
        **kwargs: arguments of `measure_latency` (size, device, mode, iters...).
    """
    return [measure_latency(model, batch=b, **kwargs) for b in batches]
