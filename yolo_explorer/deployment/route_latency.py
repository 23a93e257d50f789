"""Latency of every model on a route between two families (`model.changes`), as deployed: BatchNorm folded into
the convolutions and one branch of an end-to-end head kept (Ultralytics' `fuse()`), in torch on the chosen device
and in ONNX Runtime on the CPU.

A change can move the time by less than a machine's drift over a few seconds (SPPF's residual add: a fraction of a
millisecond), so the models are timed in turns, a few runs each per round, and each model's time is the median over
every round: drift then shifts all of them alike instead of landing on whichever ran last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..model.blocks import fold_batchnorm
from ..model.config import FamilyConfig
from ..model.detector import build_model
from ..model.stats import model_stats, parse_size
from .devices import check_device, device_lock
from .timing import LatencyResult, check_counts, cpu_threads, latency_result, time_runs

__all__ = ["RUNTIMES", "route_latency", "within_noise"]

RUNTIMES = ("torch", "onnxruntime")


@dataclass(frozen=True)
class _Runner:
    label: str
    flops: int
    run: Callable[[], object]


def deployed(config: FamilyConfig, device: torch.device) -> torch.nn.Module:
    """The model of `config` as deployed: eval mode, BatchNorm folded, the one-to-one branch alone for an end-to-end
    head (YOLO26 as exported end to end)."""
    model = build_model(config, device=device).eval()
    head = model.get_submodule(model.head_name) if getattr(model, "head_name", None) else None
    if head is not None and getattr(head, "end2end", False):
        head.keep_branch("one2one")
    fold_batchnorm(model)
    return model


def route_latency(
    configs: Sequence[FamilyConfig],
    *,
    size: int | tuple[int, int] = 640,
    runtime: str = "torch",
    device: str = "cpu",
    rounds: int = 5,
    iters: int = 4,
    warmup: int = 2,
    threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[LatencyResult]:
    """Time each model of `configs` (a route's source, the models between, its target) as deployed, in turns:
    `rounds` rounds of `iters` timed runs per model, after `warmup` untimed runs of each. One result per config,
    its times those of every round.

    Args:
        configs: the models, in route order.
        size: input size, S or (H, W); batch 1.
        runtime: "torch" (on `device`) or "onnxruntime" (exported; the CPU).
        device: torch's device; ONNX Runtime runs on the CPU here.
        rounds, iters, warmup: as above.
        threads: CPU threads (torch's and ONNX Runtime's).
        on_progress: called as on_progress(done, total) after each model's turn (exports included).

    Raises:
        ValueError: a bad argument or an absent device.
        onnx_models.RuntimeUnavailableError, OnnxExportError: ONNX Runtime or the exporter is missing or fails.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    check_counts(1, iters, warmup, threads)
    if not 1 <= rounds <= 100:
        raise ValueError(f"rounds must be from 1 to 100, got {rounds}")
    h, w = parse_size(size)
    dev = check_device("cpu" if runtime == "onnxruntime" else device)
    total = len(configs) * (rounds + 1 + (runtime == "onnxruntime"))
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, total)

    runners = []
    for config in configs:
        flops = model_stats(config, (h, w)).deployed_flops
        model = deployed(config, dev)
        if runtime == "torch":
            x = torch.rand(1, config.in_channels, h, w, device=dev)
            runners.append(_Runner(config.label, flops, lambda model=model, x=x: model(x)))
        else:
            from .onnx_models import INPUT, export_onnx
            from .onnx_runtime import session

            onnx = export_onnx(model, size=(h, w))
            sess = session(onnx, device="cpu", threads=threads)
            x = np.random.default_rng(0).random((1, config.in_channels, h, w), dtype=np.float32)
            runners.append(_Runner(config.label, flops, lambda sess=sess, x=x: sess.run(None, {INPUT: x})))
            step()
    times: list[list[float]] = [[] for _ in runners]
    with device_lock(dev), cpu_threads(threads) as used_threads:
        for runner in runners:
            time_runs(runner.run, dev, warmup, 0)
            step()
        for _ in range(rounds):
            for runner, kept in zip(runners, times, strict=True):
                kept += time_runs(runner.run, dev, 0, iters)
                step()
    mode = "BN folded" if runtime == "torch" else "onnxruntime fp32"
    return [
        latency_result(
            kept,
            dev,
            batch=1,
            input_size=(h, w),
            dtype="fp32",
            threads=used_threads,
            warmup=warmup,
            mode=mode,
            model=runner.label,
            flops=runner.flops,
            runtime=runtime,
            settings={"rounds": rounds, "iters_per_round": iters},
        )
        for runner, kept in zip(runners, times, strict=True)
    ]


def within_noise(before: LatencyResult, after: LatencyResult) -> bool:
    """Whether two runs' medians differ by less than twice the standard error of their difference: a change whose time
    this machine cannot tell from its noise. A median of n runs has a standard error of about 0.93 IQR / sqrt(n) (1.253
    sigma / sqrt(n), sigma estimated as the interquartile range / 1.349), robust to the odd slow run."""

    def error(r: LatencyResult) -> float:
        iqr = float(np.subtract(*np.percentile(r.times_ms, [75, 25])))
        return 0.93 * iqr / len(r.times_ms) ** 0.5

    return abs(after.median_ms - before.median_ms) < 2 * (error(before) ** 2 + error(after) ** 2) ** 0.5
