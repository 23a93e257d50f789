"""Latency of the plain forward (no hooks) in the modes a tuned deployment uses (`modes.LatencyMode`):
median and spread over timed runs, images/s and achieved TFLOP/s, a batch sweep, and each run's speed-up
over plain fp32 eager.

    mode = LatencyMode(dtype="bf16", channels_last=True, cuda_graph=True)
    result = measure_latency(model, size=640, device="cuda:0", mode=mode)
    result.median_ms, result.tflops, result.compile_s

    request = LatencyRequest(runtime="torch", mode=mode, size=(640, 640), batches=(1, 8), device="cuda:0")
    results = measure(model, request)   # what the Latency page and `latency` call, torch or ONNX Runtime

Timing itself (the loop, the run-count check, the result type) is `timing`'s, shared with the per-layer profile
and ONNX Runtime. The model passed in is never changed (`modes.prepared` runs a mode on a private copy when it needs one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ..model.stats import model_stats, parse_size
from .devices import check_device
from .modes import MODE_OPTIONS, LatencyMode, prepared
from .onnx_models import ONNX_DTYPES, OnnxModel
from .onnx_runtime import measure_onnx_latency
from .timing import LatencyResult, check_counts, cpu_threads, latency_result, speedups, time_runs

__all__ = ["RUNTIMES", "LatencyRequest", "LatencyResult", "batch_sweep", "measure", "measure_latency", "speedups"]

RUNTIMES = ("torch", "onnxruntime")


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
    flops_per_image: int | None = None,
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
        flops_per_image: the engine's FLOP count of one image, when the caller has it (a batch sweep counts
            once); else counted here from the model's config.

    Raises:
        ValueError: a bad argument, an absent device, or a mode the device cannot run.
    """
    if mode is None:
        mode = LatencyMode(dtype=dtype or "fp32")
    elif dtype is not None and dtype != mode.dtype:
        raise ValueError(f"dtype {dtype!r} contradicts the mode's {mode.dtype!r}; give one")
    h, w = parse_size(size)
    check_counts(batch, iters, warmup, threads)
    dev = check_device(device)
    mode.check(dev)

    config = getattr(model, "config", None)
    if flops_per_image is None:
        flops_per_image = model_stats(config, (h, w)).flops if config is not None else 0
    in_channels = config.in_channels if config is not None else next(model.parameters()).shape[1]
    x = mode.input_like(torch.rand(batch, in_channels, h, w, device=dev))
    with prepared(model, mode, x, dev, on_wait=on_wait) as run, cpu_threads(threads) as used_threads:
        times = time_runs(run, dev, warmup, iters, on_progress)
    return latency_result(
        times,
        dev,
        batch=batch,
        input_size=(h, w),
        dtype=mode.dtype,
        threads=used_threads,
        warmup=warmup,
        mode=mode.label,
        model=config.label if config is not None else "",
        flops=flops_per_image * batch,
        compile_s=run.compile_s,
        waited_s=run.waited_s,
        settings=asdict(mode),
    )


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
    config = getattr(model, "config", None)
    if config is not None and "flops_per_image" not in kwargs:
        kwargs["flops_per_image"] = model_stats(config, parse_size(kwargs.get("size", 640))).flops  # counted once
    return [measure_latency(model, batch=b, **kwargs) for b in batches]


@dataclass(frozen=True, kw_only=True)
class LatencyRequest:
    """What a latency run asks for, as the Latency page and `latency` both state it.

    Attributes:
        runtime: "torch", or "onnxruntime" (the model exported to ONNX; `dtype` fp32 or int8).
        dtype: the precision timed; for torch, the mode's.
        mode: torch's mode (precision, memory format, graphs, compile); None is plain `dtype` eager. ONNX
            Runtime takes none (it optimises the graph itself).
        size: input size (H, W).
        batches: the batch sizes, one run each (more than one: a batch sweep).
        device, warmup, iters, threads: as `measure_latency`.
    """

    runtime: str = "torch"
    dtype: str = "fp32"
    mode: LatencyMode | None = None
    size: tuple[int, int] = (640, 640)
    batches: tuple[int, ...] = (1,)
    device: str = "cpu"
    warmup: int = 3
    iters: int = 20
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}")
        if not self.batches:
            raise ValueError("give at least one batch size")
        for batch in self.batches:
            check_counts(batch, self.iters, self.warmup, self.threads)
        if self.runtime == "onnxruntime":
            if self.dtype not in ONNX_DTYPES:
                raise ValueError(f"ONNX Runtime runs {' and '.join(ONNX_DTYPES)} here, not {self.dtype}")
            mode = self.mode or LatencyMode()
            torch_only = [o.flag for o in MODE_OPTIONS if getattr(mode, o.field)]
            torch_only += ["--compile"] * bool(mode.compile) + ["--freeze"] * mode.freeze
            if torch_only:
                raise ValueError(f"{', '.join(torch_only)}: torch modes; ONNX Runtime optimises the graph itself")
        elif self.dtype == "int8":
            raise ValueError(
                "int8 runs in ONNX Runtime (static quantization): add --runtime onnxruntime; torch runs fp32, fp16, bf16"
            )
        elif self.mode is not None and self.mode.dtype != self.dtype:
            raise ValueError(f"dtype {self.dtype!r} contradicts the mode's {self.mode.dtype!r}; give one")

    @property
    def torch_mode(self) -> LatencyMode:
        """The mode torch runs (ONNX Runtime runs none)."""
        return self.mode or LatencyMode(dtype=self.dtype)


def measure(
    model: nn.Module,
    request: LatencyRequest,
    *,
    onnx: OnnxModel | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
    on_wait: Callable[[], None] | None = None,
) -> list[LatencyResult]:
    """Time what `request` asks for, one result per batch size: what the Latency page and `latency` run.

    The FLOPs of one image are counted once, from the model's statistics, for every batch and either runtime.

    Args:
        model: the model (torch runs a private copy in the mode; for ONNX Runtime its config gives the FLOPs).
        request: the runtime, mode, size, batches and counts.
        onnx: for ONNX Runtime, the model exported at `request.size` (`onnx_models.deployable`).
        on_progress: called as on_progress(batch, done, total) after every run of each batch.
        on_wait: called when the device is busy with another forward, before waiting for it.

    Raises:
        ValueError: a bad request, an absent device, a mode the device cannot run, or an ONNX model missing or
            exported at another size.
    """
    size = parse_size(request.size)
    config = getattr(model, "config", None)
    flops = model_stats(config, size).flops if config is not None else 0
    if request.runtime == "onnxruntime" and (onnx is None or tuple(onnx.size) != size or onnx.dtype != request.dtype):
        raise ValueError(f"ONNX Runtime needs the model exported in {request.dtype} at {size[0]}x{size[1]}")
    results = []
    for batch in request.batches:
        progress = None if on_progress is None else (lambda done, total, b=batch: on_progress(b, done, total))
        common: dict[str, Any] = {"batch": batch, "device": request.device, "warmup": request.warmup, "iters": request.iters}
        common |= {"threads": request.threads, "on_progress": progress, "on_wait": on_wait}
        if request.runtime == "onnxruntime":
            results.append(measure_onnx_latency(onnx, flops=flops, **common))
        else:
            results.append(measure_latency(model, size=size, mode=request.torch_mode, flops_per_image=flops, **common))
    return results
