"""The modes a tuned deployment runs a forward in, and the one path that sets a run up in a mode.

    mode = LatencyMode(dtype="bf16", channels_last=True, cuda_graph=True)
    with prepared(model, mode, x, device) as run:
        out = run()   # the device, and this process's other compiled runs, are held until the block ends

Both timing (`latency.measure_latency`) and the error against float64 (`accuracy.mode_error`) go through
`prepared`, so what they measure is the same forward. The model passed in is never changed: a mode that
needs another dtype, memory format or a compiled graph runs on a private copy.

Locks, outermost first (take them in this order, never the other way round):
1. `_COMPILED_RUN` (here): one compiled run at a time in a process; every compile empties dynamo's cache.
2. the device's lock (`devices.device_lock`): one forward at a time on a device, across the host's processes.
3. the model's own lock (`Backbone.lock`): captures and copies of a model shared by sessions.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ..model.blocks import fold_batchnorm
from .devices import cudnn_benchmark, device_lock, dtype_from_name, queue_for, supported_dtypes, synchronize

__all__ = ["COMPILE_MODES", "MODE_OPTIONS", "CompileError", "LatencyMode", "ModeOption", "Prepared", "prepared", "private_copy"]

CompileMode = Literal["default", "reduce-overhead", "max-autotune"]
COMPILE_MODES: tuple[str, ...] = ("default", "reduce-overhead", "max-autotune")
# lock 1 of 3: one compiled run at a time in this process. Each starts by emptying dynamo's cache, which
# would otherwise throw away another run's compiled graph between its warm-up and its timed runs.
_COMPILED_RUN = threading.Lock()


@dataclass(frozen=True)
class ModeOption:
    """One on/off option of `LatencyMode`, declared once for the command line, the pages and the mode's label.

    Attributes:
        field: the `LatencyMode` field it sets.
        flag: its command-line flag.
        label: its toggle on the Latency and Profile pages.
        help: what it does, in a sentence (the flag's help and the toggle's).
        tag: how the mode's label names it.
        cuda_only: only a CUDA device runs it.
        per_layer: a forward in this mode can still be timed layer by layer (not a CUDA graph: one replayed program).
    """

    field: str
    flag: str
    label: str
    help: str
    tag: str
    cuda_only: bool = False
    per_layer: bool = True


MODE_OPTIONS: tuple[ModeOption, ...] = (  # in the order the mode's label names them
    ModeOption(
        "channels_last",
        "--channels-last",
        "channels_last",
        "NHWC memory format for the weights and the input (tensor cores and oneDNN prefer it).",
        "channels_last",
    ),
    ModeOption(
        "fold_bn",
        "--fold-bn",
        "Fold BatchNorm",
        "Fold each BatchNorm into its convolution first, as deployed models are run: one kernel fewer per block, the "
        "same outputs up to rounding.",
        "BN folded",
    ),
    ModeOption(
        "cudnn_benchmark",
        "--cudnn-benchmark",
        "cuDNN autotune",
        "Let cuDNN time its convolution algorithms for these shapes and keep the fastest (torch.backends.cudnn.benchmark), "
        "for this run.",
        "cuDNN autotune",
        cuda_only=True,
    ),
    ModeOption(
        "cuda_graph",
        "--cuda-graph",
        "CUDA graph",
        "Record the forward once as a CUDA graph and replay it: no per-kernel launch cost.",
        "CUDA graph",
        cuda_only=True,
        per_layer=False,
    ),
)


class CompileError(RuntimeError):
    """torch.compile could not compile the model here (no C++ compiler or Triton, an unsupported device...)."""


@dataclass(frozen=True, kw_only=True)
class LatencyMode:
    """How the forward is run. Every field is given by name: `LatencyMode(dtype="bf16", channels_last=True)`.

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
        parts = [self.dtype, *(option.tag for option in MODE_OPTIONS if getattr(self, option.field))]
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

    def input_like(self, x: torch.Tensor) -> torch.Tensor:
        """`x` in this mode's dtype and memory format."""
        x = x.to(dtype_from_name(self.dtype))
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


@dataclass
class Prepared:
    """A forward set up in a mode: call it to run it once. `model` is the module it runs (a private copy
    when the mode needed one), `compile_s` the time spent compiling or capturing a graph, `waited_s` the
    time spent queueing for other users' compiles and forwards."""

    run: Callable[[], Any]
    model: nn.Module
    compile_s: float = 0.0
    waited_s: float = 0.0

    def __call__(self) -> Any:
        return self.run()


@contextmanager
def prepared(
    model: nn.Module,
    mode: LatencyMode,
    x: torch.Tensor,
    device: torch.device,
    *,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[Prepared]:
    """Set `model` up to run `x` in `mode` on `device`, and hold the device while the block runs.

    In order: a private copy when the mode changes the model (the caller's is never touched); for a
    compiled mode, the compile queue, then the compile itself (seconds to minutes, before queueing for
    the device, so that other users' forwards are not held up); cuDNN autotuning from the compile on (the
    graphs record the kernels it chooses); then the device's lock and, for a shared model, its own lock;
    for a CUDA graph, its capture. `x` must already be in the mode's dtype and memory format.

    Raises:
        CompileError: torch.compile failed on this machine.
    """
    runner, private = _runner_model(model, mode, device)
    model_lock = nullcontext() if private else getattr(model, "lock", None) or nullcontext()
    compiling = queue_for(_COMPILED_RUN, on_wait) if mode.compile else nullcontext({"waited_s": 0.0})
    with compiling as compile_wait, cudnn_benchmark(mode.cudnn_benchmark):
        if mode.compile:
            run, compile_s = _compile(runner, mode, x, device)
        else:
            run, compile_s = (lambda: runner(x)), 0.0
        with device_lock(device, on_wait) as wait, model_lock:
            if mode.cuda_graph:
                start = time.perf_counter()
                graph = _capture_graph(runner, x, device)
                compile_s = time.perf_counter() - start

                def run() -> Any:
                    graph.replay()
                    return graph.outputs

            yield Prepared(run, runner, compile_s, compile_wait["waited_s"] + wait["waited_s"])


def private_copy(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode, made under the model's lock (a capture in progress is not copied half-way)."""
    with getattr(model, "lock", None) or nullcontext():
        clone = copy.deepcopy(model)
    return clone.eval()


def _runner_model(model: nn.Module, mode: LatencyMode, dev: torch.device) -> tuple[nn.Module, bool]:
    """The model to run the mode with, and whether it is a private copy."""
    param = next(model.parameters())
    torch_dtype = dtype_from_name(mode.dtype)
    if not (
        mode.channels_last or mode.compile or mode.cuda_graph or mode.fold_bn or param.device != dev or param.dtype != torch_dtype
    ):
        return model, False
    clone = private_copy(model)
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
    compile therefore starts from an empty cache, and the compiled model is used for one run only; the
    caller holds `_COMPILED_RUN` until it is done, so no other run's reset throws its graph away.
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
