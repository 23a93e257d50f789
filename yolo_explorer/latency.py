"""Latency of the plain forward (no hooks) in the modes a tuned deployment uses: reduced precision,
channels_last, BatchNorm folded into the convolutions, cuDNN autotuning, CUDA graph replay and
torch.compile; a batch sweep with achieved TFLOP/s; and each mode's numerical error against the
full-precision result.

    mode = LatencyMode(dtype="bf16", channels_last=True, cuda_graph=True)
    result = measure_latency(model, size=640, device="cuda:0", mode=mode)
    result.median_ms, result.tflops, result.compile_s

The model passed in is never changed: a mode that needs another dtype, memory format or a compiled
graph runs on a private copy, so a model shared by many app sessions stays as it is.
"""

from __future__ import annotations

import copy
import functools
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from .blocks import fold_batchnorm
from .devices import (
    check_device,
    cudnn_benchmark,
    device_lock,
    device_name,
    dtype_from_name,
    queue_for,
    supported_dtypes,
    synchronize,
)
from .stats import model_stats, parse_size

__all__ = [
    "COMPILE_MODES",
    "CompileError",
    "LatencyMode",
    "LatencyResult",
    "batch_sweep",
    "calibrated_copy",
    "matmul_peak_tflops",
    "measure_latency",
    "mode_error",
    "speedups",
]

CompileMode = Literal["default", "reduce-overhead", "max-autotune"]
COMPILE_MODES: tuple[str, ...] = ("default", "reduce-overhead", "max-autotune")
# one compiled measurement at a time in this process: each starts by emptying dynamo's cache, which
# would otherwise throw away another run's compiled graph between its warm-up and its timed runs
_COMPILED_RUN = threading.Lock()


class CompileError(RuntimeError):
    """torch.compile could not compile the model here (no C++ compiler or Triton, an unsupported device...)."""


@dataclass(frozen=True)
class LatencyMode:
    """How the forward is run.

    Attributes:
        dtype: "fp32", "fp16" or "bf16".
        channels_last: NHWC memory format for the weights and the input (tensor cores and oneDNN prefer it).
        cuda_graph: capture the forward once as a CUDA graph and replay it (CUDA only): removes the
            per-kernel launch cost that dominates small batches.
        compile: a `torch.compile` mode, or None for eager. "reduce-overhead" also replays CUDA graphs.
        fold_bn: fold each BatchNorm into its convolution first (`blocks.fold_batchnorm`), as deployed
            models are run: one kernel fewer per block, the same outputs up to rounding.
        cudnn_benchmark: let cuDNN time its convolution algorithms for these shapes and keep the
            fastest (`torch.backends.cudnn.benchmark`), for this run only (CUDA only).
        freeze: compile with the weights as constants (inductor's `freezing`): it folds them ahead of
            time and picks their memory layout, e.g. oneDNN's blocked weights on a CPU.
    """

    dtype: str = "fp32"
    channels_last: bool = False
    cuda_graph: bool = False
    compile: CompileMode | None = None
    fold_bn: bool = False
    cudnn_benchmark: bool = False
    freeze: bool = False

    def __post_init__(self) -> None:
        dtype_from_name(self.dtype)
        if self.freeze and self.compile is None:
            raise ValueError("freezing the weights is a torch.compile option: choose a compile mode with it")
        if self.compile is not None and self.compile not in COMPILE_MODES:
            raise ValueError(f"compile must be one of {', '.join(COMPILE_MODES)} or None, got {self.compile!r}")
        if self.cuda_graph and self.compile is not None:
            raise ValueError(
                "choose a CUDA graph or torch.compile, not both (compile's reduce-overhead mode already replays graphs)"
            )

    @property
    def label(self) -> str:
        parts = [self.dtype]
        if self.channels_last:
            parts.append("channels_last")
        if self.fold_bn:
            parts.append("BN folded")
        if self.cudnn_benchmark:
            parts.append("cuDNN autotune")
        if self.cuda_graph:
            parts.append("CUDA graph")
        if self.compile:
            parts.append(f"compile {self.compile}" + (" (frozen weights)" if self.freeze else ""))
        return " + ".join(parts)

    def check(self, device: torch.device) -> None:
        """Raise ValueError, saying why, when `device` cannot run this mode."""
        if self.dtype not in supported_dtypes(device):
            raise ValueError(f"{device} cannot run {self.dtype}; it supports {', '.join(supported_dtypes(device))}")
        if self.cuda_graph and device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, not {device}")
        if self.compile == "reduce-overhead" and device.type != "cuda":
            raise ValueError("compile mode reduce-overhead replays CUDA graphs and needs a CUDA device; use default here")
        if self.cudnn_benchmark and device.type != "cuda":
            raise ValueError(f"cuDNN autotuning needs a CUDA device, not {device}")


@dataclass(frozen=True)
class LatencyResult:
    """Timings of one latency run, in milliseconds per batch, and the environment they were taken in.

    Attributes:
        mode: the mode's label ("fp32" is plain fp32 eager).
        model: the model's config label ("tutorial w=64", "YOLO11n"; "" when it has no config).
        flops: floating-point operations of one forward of the batch (from the engine's count; 0 when
            the model has no config).
        compile_s: seconds spent compiling or capturing before the first timed run (0 for eager).
        waited_s: seconds this run queued for its device behind other users' forwards.
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
    if not isinstance(batch, int) or not 1 <= batch <= 1024:
        raise ValueError(f"batch must be an integer from 1 to 1024, got {batch!r}")
    if not isinstance(iters, int) or not 1 <= iters <= 10_000:
        raise ValueError(f"iters must be an integer from 1 to 10000, got {iters!r}")
    if not isinstance(warmup, int) or not 0 <= warmup <= 1000:
        raise ValueError(f"warmup must be an integer from 0 to 1000, got {warmup!r}")
    if threads is not None and (not isinstance(threads, int) or not 1 <= threads <= 1024):
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    dev = check_device(device)
    mode.check(dev)

    config = getattr(model, "config", None)
    flops = _flops_per_image(config, (h, w)) * batch if config is not None else 0
    in_channels = config.in_channels if config is not None else next(model.parameters()).shape[1]
    x = torch.rand(batch, in_channels, h, w, device=dev, dtype=dtype_from_name(mode.dtype))
    if mode.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    runner, private = _runner_model(model, mode, dev)
    model_lock = nullcontext() if private else getattr(model, "lock", None) or nullcontext()
    compiling = queue_for(_COMPILED_RUN, on_wait) if mode.compile else nullcontext({"waited_s": 0.0})
    # cuDNN autotuning from compiling on: graphs record the kernels it chooses
    with compiling as compile_wait, cudnn_benchmark(mode.cudnn_benchmark):
        # compiling takes seconds to minutes: done before queueing for the device, so others are not held up
        run, compile_s = _compile(runner, mode, x, dev) if mode.compile else ((lambda: runner(x)), 0.0)
        with device_lock(dev, on_wait) as wait, model_lock, _num_threads(threads) as used_threads:
            if mode.cuda_graph:
                start = time.perf_counter()
                run = _capture_graph(runner, x, dev).replay
                compile_s = time.perf_counter() - start
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
        compile_s=compile_s,
        waited_s=compile_wait["waited_s"] + wait["waited_s"],
        settings=asdict(mode),
    )


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


def _runner_model(model: nn.Module, mode: LatencyMode, dev: torch.device) -> tuple[nn.Module, bool]:
    """The model to run the mode with, and whether it is a private copy.

    A mode that needs another device, dtype or memory format, or a compiled graph, gets a copy (made
    under the model's lock, so a capture in progress elsewhere is not copied half-way); the caller's
    model, possibly shared by many sessions, is never changed.
    """
    param = next(model.parameters())
    torch_dtype = dtype_from_name(mode.dtype)
    if not (
        mode.channels_last or mode.compile or mode.cuda_graph or mode.fold_bn or param.device != dev or param.dtype != torch_dtype
    ):
        return model, False
    clone = _copy(model)
    if mode.fold_bn:
        fold_batchnorm(clone)  # in the model's own precision, before any conversion
    clone = clone.to(device=dev, dtype=torch_dtype)
    if mode.channels_last:
        clone = clone.to(memory_format=torch.channels_last)
    return clone, True


def _compile(model: nn.Module, mode: LatencyMode, x: torch.Tensor, dev: torch.device) -> tuple[Callable[[], Any], float]:
    """torch.compile the model and run it until compiled (and, for reduce-overhead, its graph recorded).

    Dynamo keys its cache on the code of `forward`, shared by every model of a class: after 8 compiles
    (dtypes, batch sizes, widths) it would silently fall back to eager and the timings would lie. Every
    compile therefore starts from an empty cache, and the compiled model is used for one measurement
    only; the caller holds `_COMPILED_RUN` until it is done, so no other run's reset throws its graph away.
    """
    import torch._inductor.config as inductor  # heavy: imported on the first compile

    torch._dynamo.reset()
    start = time.perf_counter()
    compiled = torch.compile(model, mode=mode.compile, dynamic=False)
    # freezing is read outside inductor's per-compile options (they had no effect): set it around the
    # calls that compile (inductor's config patches hold for this thread only)
    try:
        with torch.inference_mode(), inductor.patch(freezing=mode.freeze):
            for _ in range(3):
                compiled(x)
        synchronize(dev)
    except torch.OutOfMemoryError:
        raise
    except Exception as err:  # inductor's errors have no common base; all mean the same to a user
        reason = next((line for line in str(err).splitlines() if line.strip()), type(err).__name__)
        raise CompileError(
            f"torch.compile ({mode.label}) failed on this machine: {reason[:300]}. Compiling needs a working C++ "
            "compiler for a CPU and Triton for a GPU; time the eager modes instead"
        ) from err
    return (lambda: compiled(x)), time.perf_counter() - start


def _capture_graph(model: nn.Module, x: torch.Tensor, dev: torch.device) -> torch.cuda.CUDAGraph:
    """Record one forward as a CUDA graph; replaying it reruns the same kernels on the same buffers."""
    stream = torch.cuda.Stream(dev)
    stream.wait_stream(torch.cuda.current_stream(dev))
    with torch.cuda.stream(stream), torch.inference_mode():
        for _ in range(3):  # warm up on a side stream, as graph capture requires
            model(x)
    torch.cuda.current_stream(dev).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.inference_mode():
        graph.outputs = model(x)  # keep the static outputs alive with the graph
    return graph


@functools.lru_cache(maxsize=64)
def _flops_per_image(config: Any, size: tuple[int, int]) -> int:
    """The engine's FLOP count of one image (a meta-device forward, done once per config and size: a batch
    sweep asks for it at every batch size)."""
    return model_stats(config, size).flops


def _copy(model: nn.Module) -> nn.Module:
    with getattr(model, "lock", None) or nullcontext():
        clone = copy.deepcopy(model)
    return clone.eval()


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


def mode_error(
    model: nn.Module,
    mode: LatencyMode,
    *,
    size: int | str | Sequence[int] = 640,
    device: str = "cpu",
    batch: int = 1,
    seed: int = 0,
) -> float:
    """Largest relative error (Frobenius norm) over the model's outputs of `mode` against a float64
    eager forward of the same input on the same device.

    With random weights in eval mode activations shrink about 3x per conv, so the deepest maps fall
    below fp16's range; pass a `calibrated_copy` for errors that mean what they would for trained weights.
    """
    dev = check_device(device)
    mode.check(dev)
    h, w = parse_size(size)
    config = getattr(model, "config", None)
    in_channels = config.in_channels if config is not None else next(model.parameters()).shape[1]
    generator = torch.Generator().manual_seed(seed)
    x64 = torch.rand(batch, in_channels, h, w, generator=generator, dtype=torch.float64).to(dev)
    reference_model = _copy(model).to(device=dev, dtype=torch.float64)
    with torch.inference_mode():
        reference = reference_model(x64)
    del reference_model
    x = x64.to(dtype_from_name(mode.dtype))
    if mode.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    runner, private = _runner_model(model, mode, dev)
    model_lock = nullcontext() if private else getattr(model, "lock", None) or nullcontext()
    with _COMPILED_RUN if mode.compile else nullcontext(), cudnn_benchmark(mode.cudnn_benchmark):
        run, _ = _compile(runner, mode, x, dev) if mode.compile else ((lambda: runner(x)), 0.0)
        with device_lock(dev), model_lock, torch.inference_mode():
            if mode.cuda_graph:
                graph = _capture_graph(runner, x, dev)
                graph.replay()
                out = graph.outputs
            else:
                out = run()
    errors = [
        (o.double() - r).norm().item() / max(r.norm().item(), 1e-300) for o, r in zip(_as_tuple(out), reference, strict=True)
    ]
    return max(errors)


def _as_tuple(value: Any) -> tuple[torch.Tensor, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def calibrated_copy(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """A copy whose BatchNorm running statistics are those of `x`: the activations then keep a unit
    scale through the network, as with trained weights, instead of shrinking at every layer."""
    clone = _copy(model)
    batchnorms = [m for m in clone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in batchnorms:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average: after one batch, exactly its statistics
    clone.train()
    with torch.no_grad():
        clone(x.to(next(clone.parameters())))
    originals = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn, original in zip(batchnorms, originals, strict=True):
        bn.momentum = original.momentum
    return clone.eval()


def matmul_peak_tflops(device: str = "cpu", dtype: str = "fp32", n: int | None = None) -> float:
    """Achieved TFLOP/s of a large square matmul: the practical peak to compare a model's rate with.

    Args:
        device: the device.
        dtype: "fp32", "fp16" or "bf16".
        n: matrix side (default 8192 on a GPU, 2048 on the CPU).
    """
    from torch.utils.benchmark import Timer

    dev = check_device(device)
    n = n or (8192 if dev.type == "cuda" else 2048)
    a = torch.rand(n, n, device=dev, dtype=dtype_from_name(dtype))
    b = torch.rand(n, n, device=dev, dtype=dtype_from_name(dtype))
    with device_lock(dev):
        measurement = Timer("a @ b", globals={"a": a, "b": b}).blocked_autorange(min_run_time=0.5)
    return 2 * n**3 / measurement.median / 1e12
