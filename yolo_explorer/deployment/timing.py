"""The one timing path every runtime uses: the run-count check, the loop that times a run with the device
synchronised around it, torch's CPU threads for a run, and the result type with its statistics.

    check_counts(batch, iters, warmup, threads)
    with cpu_threads(threads) as used:
        times_ms = time_runs(run, device, warmup, iters, on_progress)
    result = LatencyResult(times_ms=tuple(times_ms), ...)

torch latency (`latency`), the per-layer profile (`profile`) and ONNX Runtime (`onnx_runtime`) all time through
`time_runs`, so their figures are taken the same way.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from .devices import device_name, synchronize

__all__ = ["LatencyResult", "check_counts", "cpu_threads", "latency_result", "speedups", "time_runs"]


def check_counts(batch: int, iters: int, warmup: int, threads: int | None = None) -> None:
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


@contextmanager
def cpu_threads(threads: int | None) -> Iterator[int]:
    """torch's CPU threads set to `threads` (process-wide) for the duration; yields the count in effect."""
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(old)


def time_runs(
    run: Callable[[], Any],
    device: torch.device,
    warmup: int,
    iters: int,
    on_progress: Callable[[int, int], None] | None = None,
    *,
    after_each: Callable[[bool], None] | None = None,
) -> list[float]:
    """Milliseconds of each of `iters` runs after `warmup` untimed ones, the device synchronised around each,
    under `torch.inference_mode`.

    Args:
        run: one run (a forward, an ONNX Runtime session's run).
        device: the device to synchronise.
        warmup, iters: untimed runs first, then timed ones.
        on_progress: called as on_progress(done, total) after every run, warm-up included.
        after_each: called after every run, outside its timing, with whether that run was a timed one (the
            per-layer profile runs its hooked forward there, alternating with the plain one).
    """
    times = []
    with torch.inference_mode():
        for i in range(warmup + iters):
            synchronize(device)
            start = time.perf_counter()
            run()
            synchronize(device)
            elapsed = time.perf_counter() - start
            if i >= warmup:
                times.append(elapsed * 1000.0)
            if after_each is not None:
                after_each(i >= warmup)
            if on_progress is not None:
                on_progress(i + 1, warmup + iters)
    return times


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


def latency_result(
    times_ms: Sequence[float], device: torch.device, *, batch: int, input_size: tuple[int, int], **fields: Any
) -> LatencyResult:
    """The one way a run's result is made (torch and ONNX Runtime alike): the timings, with the device's name and
    torch's version filled in; `fields` are the rest of `LatencyResult`'s (dtype, threads, warmup, mode...)."""
    return LatencyResult(
        times_ms=tuple(times_ms),
        batch=batch,
        input_size=tuple(input_size),
        device=str(device),
        device_name=device_name(device),
        torch=torch.__version__,
        **fields,
    )


def speedups(results: Sequence[LatencyResult]) -> list[float | None]:
    """Each result's speed-up over plain fp32 eager: the median of the last "fp32" run among `results` of
    the same model, input size, batch, device and thread count, over the result's median (None where
    there is no such run)."""

    def same(r: LatencyResult) -> tuple:
        return r.model, r.input_size, r.batch, r.device, r.threads

    baseline = {same(r): r.median_ms for r in results if r.mode == "fp32"}
    return [baseline[same(r)] / r.median_ms if same(r) in baseline else None for r in results]
