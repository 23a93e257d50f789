"""Where the time of a forward goes, layer by layer: each layer's median time, its share of the forward and
of the MACs, the rate it achieves and its arithmetic intensity, for a roofline against the device's
measured peaks (`peaks.device_peaks`).

    profile = profile_layers(model, size=640, mode=LatencyMode(dtype="bf16", channels_last=True))
    for layer in profile.layers:
        layer.name, layer.ms, layer.share, layer.gflops_per_s, layer.intensity

How: forward hooks on the top-level layers synchronise the device and read the clock before and after
each layer, on a private copy of the model. Plain forwards (no hooks) are timed in the same loop,
alternating with the hooked ones, so that `overhead` (the layers' sum over the plain forward) says what
the hooks and synchronisations cost. Eager modes only: a compiled forward or a CUDA graph runs as one
fused program with no layer boundaries left to time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ..model.stats import model_stats, parse_size
from .devices import check_device, device_name, dtype_from_name, synchronize
from .modes import LatencyMode, prepared, private_copy
from .timing import check_counts, cpu_threads, time_runs

__all__ = ["LayerProfile", "Profile", "profile_layers"]


@dataclass(frozen=True)
class LayerProfile:
    """One top-level layer for the whole batch.

    Attributes:
        ms: median milliseconds of the layer over the timed runs.
        share: its part of the sum of all layers' medians.
        macs, flops: its work (the engine's count; FLOPs = 2 x MACs).
        macs_share: its part of the model's MACs.
        bytes: the least memory traffic it needs: its weights (and BatchNorm statistics), its input and its
            output, each read or written once, in the mode's dtype.
    """

    name: str
    block: str
    ms: float
    share: float
    macs: int
    flops: int
    macs_share: float
    bytes: int

    @property
    def gflops_per_s(self) -> float:
        return self.flops / (self.ms / 1000.0) / 1e9 if self.ms > 0 else 0.0

    @property
    def intensity(self) -> float:
        """FLOPs per byte moved: above the device's ridge a layer can be compute-bound, below it memory-bound."""
        return self.flops / self.bytes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"gflops_per_s": self.gflops_per_s, "intensity": self.intensity}


@dataclass(frozen=True)
class Profile:
    """Every layer's time, in the statistics' order, and the plain forward's time in the same run."""

    layers: tuple[LayerProfile, ...]
    forward_ms: float  # median of the plain forwards (no hooks), timed alternately with the hooked ones
    batch: int
    input_size: tuple[int, int]
    dtype: str
    mode: str
    model: str
    device: str
    device_name: str
    runs: int
    method: str = "forward hooks that synchronise the device around every layer"

    @property
    def total_ms(self) -> float:
        return sum(layer.ms for layer in self.layers)

    @property
    def overhead(self) -> float:
        """The layers' sum over the plain forward: what timing each layer apart adds (1.0: nothing)."""
        return self.total_ms / self.forward_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": [layer.to_dict() for layer in self.layers],
            "total_ms": self.total_ms,
            "forward_ms": self.forward_ms,
            "overhead": self.overhead,
            "batch": self.batch,
            "input_size": list(self.input_size),
            "dtype": self.dtype,
            "mode": self.mode,
            "model": self.model,
            "device": self.device,
            "device_name": self.device_name,
            "runs": self.runs,
            "method": self.method,
        }


def profile_layers(
    model: nn.Module,
    *,
    size: int | str | Sequence[int] = 640,
    batch: int = 1,
    device: str = "cpu",
    mode: LatencyMode | None = None,
    warmup: int = 3,
    iters: int = 20,
    threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_wait: Callable[[], None] | None = None,
) -> Profile:
    """Time every top-level layer of a backbone over `iters` forwards, after `warmup` untimed ones.

    Args:
        model: a backbone (its `config` gives the statistics); it is not modified.
        size, batch, device, warmup, iters, threads, on_progress, on_wait: as `latency.measure_latency`.
        mode: an eager mode (precision, channels_last, folded BatchNorm, cuDNN autotuning).

    Raises:
        ValueError: a compiled mode or a CUDA graph (they cannot be split per layer), a bad argument, an
            absent device, or a mode the device cannot run.
    """
    mode = mode or LatencyMode()
    if mode.compile or mode.cuda_graph:
        raise ValueError(
            f"{mode.label} runs the forward as one compiled program (fused kernels, no layer boundaries): it cannot "
            "be timed layer by layer. Profile its eager mode, and time the compiled one whole (Latency, or `latency`)"
        )
    h, w = parse_size(size)
    check_counts(batch, iters, warmup, threads)
    dev = check_device(device)
    mode.check(dev)
    config = model.config
    stats = model_stats(config, (h, w), mode.dtype)
    x = mode.input_like(torch.rand(batch, config.in_channels, h, w, device=dev))

    # a private copy even for plain fp32: the hooks never touch a model that other sessions share
    with prepared(private_copy(model), mode, x, dev, on_wait=on_wait) as run, cpu_threads(threads):
        layers = list(run.model.named_children())
        if [name for name, _ in layers] != [s.name for s in stats.layers]:
            raise ValueError("profile_layers needs a backbone whose top-level layers are its statistics' layers")
        per_layer: dict[str, list[float]] = {name: [] for name, _ in layers}

        def hooked(timed: bool) -> None:  # after each plain forward: one with a clock around every layer
            with _layer_clocks(layers, dev) as clocks:
                run()
            if timed:
                for name, seconds in clocks.items():
                    per_layer[name].append(seconds * 1000.0)

        plain = time_runs(run, dev, warmup, iters, on_progress, after_each=hooked)
        weight_bytes = {name: _weight_bytes(module) for name, module in layers}
        sources = dict(getattr(run.model, "sources", {}))  # a detector's concatenations and head read several layers

    itemsize = torch.empty((), dtype=dtype_from_name(mode.dtype)).element_size()
    medians = {name: statistics.median(times) for name, times in per_layer.items()}
    total = sum(medians.values())
    output_bytes = {s.name: batch * s.activation_bytes for s in stats.layers}
    previous = [batch * config.in_channels * h * w * itemsize] + [output_bytes[s.name] for s in stats.layers[:-1]]
    input_bytes = [
        sum(output_bytes[source] for source in sources[s.name]) if s.name in sources else read
        for s, read in zip(stats.layers, previous, strict=True)
    ]
    profiled = tuple(
        LayerProfile(
            name=s.name,
            block=s.block,
            ms=medians[s.name],
            share=medians[s.name] / total,
            macs=s.macs * batch,
            flops=s.flops * batch,
            macs_share=s.macs / stats.macs,
            bytes=weight_bytes[s.name] + read + batch * s.activation_bytes,
        )
        for s, read in zip(stats.layers, input_bytes, strict=True)
    )
    return Profile(
        layers=profiled,
        forward_ms=statistics.median(plain),
        batch=batch,
        input_size=(h, w),
        dtype=mode.dtype,
        mode=mode.label,
        model=config.label,
        device=str(dev),
        device_name=device_name(dev),
        runs=iters,
    )


@contextmanager
def _layer_clocks(layers: list[tuple[str, nn.Module]], dev: torch.device) -> Iterator[dict[str, float]]:
    """Hooks that time each layer of one forward (the device synchronised before and after it); removed after."""
    clocks: dict[str, float] = {}
    started: dict[str, float] = {}

    def before(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any) -> None:
            synchronize(dev)
            started[name] = time.perf_counter()

        return hook

    def after(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            synchronize(dev)
            clocks[name] = clocks.get(name, 0.0) + time.perf_counter() - started[name]

        return hook

    handles = []
    try:
        for name, module in layers:
            handles.append(module.register_forward_pre_hook(before(name)))
            handles.append(module.register_forward_hook(after(name)))
        yield clocks
    finally:
        for handle in handles:
            handle.remove()


def _weight_bytes(module: nn.Module) -> int:
    """Bytes of the parameters and floating-point buffers (BatchNorm's statistics) a layer reads."""
    tensors = list(module.parameters()) + [b for b in module.buffers() if b.is_floating_point()]
    return sum(t.numel() * t.element_size() for t in tensors)
