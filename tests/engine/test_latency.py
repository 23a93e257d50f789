"""Latency measurement: what it reports, what it refuses, and the GPU paths where a GPU is present."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from yolo_explorer import available_devices, build_backbone, measure_latency, supported_dtypes
from yolo_explorer.deployment.accuracy import calibrated_copy, mode_error
from yolo_explorer.deployment.devices import check_device, cudnn_benchmark, device_lock
from yolo_explorer.deployment.latency import batch_sweep
from yolo_explorer.deployment.modes import LatencyMode

GPUS = [d for d in available_devices() if d != "cpu"]


def test_cpu_latency_report():
    model = build_backbone(width=8)
    progress = []
    result = measure_latency(model, size=(64, 96), batch=2, warmup=2, iters=5, on_progress=lambda d, t: progress.append((d, t)))
    assert len(result.times_ms) == 5
    assert progress == [(i, 7) for i in range(1, 8)]
    assert result.median_ms == np.median(result.times_ms) and result.p90_ms == np.percentile(result.times_ms, 90)
    assert result.device == "cpu" and result.torch == torch.__version__ and result.threads == torch.get_num_threads()
    d = result.to_dict()
    assert {"median_ms", "p90_ms", "min_ms", "max_ms", "images_per_s", "device", "device_name", "torch", "threads"} <= set(d)
    assert model.lock.acquire(blocking=False)  # released afterwards
    model.lock.release()


@pytest.mark.slow
def test_latency_refuses_bad_arguments():
    model = build_backbone(width=8)
    with pytest.raises(ValueError, match="not present"):
        measure_latency(model, device="cuda:7", iters=1)
    with pytest.raises(ValueError, match="contradicts"):
        measure_latency(model, dtype="bf16", mode=LatencyMode(dtype="fp32"), iters=1)
    with pytest.raises(ValueError, match="CUDA graphs need a CUDA device"):
        measure_latency(model, mode=LatencyMode(cuda_graph=True), iters=1)
    with pytest.raises(ValueError, match="not both"):
        LatencyMode(cuda_graph=True, compile="default")
    with pytest.raises(ValueError, match="threads"):
        measure_latency(model, threads=0)
    with pytest.raises(ValueError, match="batch"):
        measure_latency(model, batch=0)
    with pytest.raises(ValueError, match="iters"):
        measure_latency(model, iters=0)


def test_device_helpers():
    assert available_devices()[0] == "cpu"
    assert "fp32" in supported_dtypes("cpu")
    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="not a device name"):
        check_device("gpu-please")


def test_reduced_precision_on_cpu_where_supported():
    for dtype in set(supported_dtypes("cpu")) - {"fp32"}:
        model = build_backbone(width=8, dtype={"fp16": torch.float16, "bf16": torch.bfloat16}[dtype])
        assert measure_latency(model, size=64, dtype=dtype, warmup=0, iters=1).dtype == dtype


def test_modes_run_on_a_private_copy_and_report_flops():
    model = build_backbone(width=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for mode in (LatencyMode(dtype="bf16"), LatencyMode(channels_last=True), LatencyMode(dtype="bf16", channels_last=True)):
        result = measure_latency(model, size=64, mode=mode, warmup=1, iters=2, threads=1)
        assert result.mode == mode.label and result.dtype == mode.dtype and result.threads == 1
        assert result.flops == torch_flops(model, torch.rand(1, 3, 64, 64))  # torch's own counter
    assert next(model.parameters()).dtype == torch.float32 and next(model.parameters()).is_contiguous()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_folded_batchnorm_runs_on_a_copy_and_keeps_the_outputs():
    model = build_backbone(width=8)
    batchnorms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    result = measure_latency(model, size=64, mode=LatencyMode(fold_bn=True), warmup=0, iters=2)
    assert result.mode == "fp32 + BN folded" and result.settings["fold_bn"]
    assert [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)] == batchnorms  # the shared model is untouched
    calibrated = calibrated_copy(model, torch.rand(2, 3, 96, 96))
    assert mode_error(calibrated, LatencyMode(fold_bn=True), size=96) < 1e-5
    assert mode_error(calibrated, LatencyMode(channels_last=True, fold_bn=True), size=96) < 1e-5


def test_cudnn_autotuning_is_cuda_only_and_never_switched_off_under_another_run():
    with pytest.raises(ValueError, match="cuDNN autotuning needs a CUDA device"):
        measure_latency(build_backbone(width=8), size=32, mode=LatencyMode(cudnn_benchmark=True))
    before = torch.backends.cudnn.benchmark
    first, second = cudnn_benchmark(), cudnn_benchmark()
    first.__enter__()
    second.__enter__()
    assert torch.backends.cudnn.benchmark
    first.__exit__(None, None, None)
    assert torch.backends.cudnn.benchmark  # the second run still needs it
    second.__exit__(None, None, None)
    assert torch.backends.cudnn.benchmark == before
    with cudnn_benchmark(False):
        assert torch.backends.cudnn.benchmark == before


def test_speedups_compare_with_plain_fp32_of_the_same_setting():
    from dataclasses import replace

    from yolo_explorer.deployment.latency import speedups

    r = measure_latency(build_backbone(width=8), size=32, iters=1, warmup=0)
    assert r.model == "tutorial w=8" and r.mode == "fp32"
    fp32 = replace(r, times_ms=(10.0,))
    fast = replace(r, mode="bf16 + channels_last", times_ms=(2.5,))
    other_batch = replace(fast, batch=2)
    other_model = replace(fast, model="YOLO11n")
    other_threads = replace(fast, threads=r.threads + 1)
    assert speedups([fast, fp32, other_batch, other_model, other_threads]) == [4.0, 1.0, None, None, None]
    assert speedups([fp32, fast, replace(r, times_ms=(5.0,))]) == [0.5, 2.0, 1.0]  # the last fp32 run is the baseline
    assert speedups([fast]) == [None]


def test_thread_count_is_restored():
    threads = torch.get_num_threads()
    measure_latency(build_backbone(width=8), size=32, iters=1, warmup=0, threads=1)
    assert torch.get_num_threads() == threads


def test_batch_sweep_counts_each_batch_s_flops():
    model = build_backbone(width=8)
    results = batch_sweep(model, (1, 3), size=64, iters=2, warmup=0)
    assert [r.batch for r in results] == [1, 3]
    assert [r.flops for r in results] == [torch_flops(model, torch.rand(b, 3, 64, 64)) for b in (1, 3)]


def torch_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward of `x`, as torch.utils.flop_counter counts them."""
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(x)
    return counter.get_total_flops()


def test_mode_errors_against_float64():
    model = build_backbone(width=8)
    calibrated = calibrated_copy(model, torch.rand(2, 3, 96, 96))
    assert mode_error(calibrated, LatencyMode(), size=96) < 1e-5
    assert mode_error(calibrated, LatencyMode(channels_last=True), size=96) < 1e-5
    if "bf16" in supported_dtypes("cpu"):
        assert 1e-4 < mode_error(calibrated, LatencyMode(dtype="bf16"), size=96) < 0.2  # bf16 keeps 8 bits


def test_calibrated_copy_keeps_activations_at_unit_scale():
    model = build_backbone(width=8)
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        plain, calibrated = model(x)[-1], calibrated_copy(model, x)(x)[-1]
    assert plain.abs().mean() < 1e-3 < 0.05 < calibrated.abs().mean()
    assert not model.training and all(m.momentum == 0.1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.slow
def test_compile_on_cpu_reports_compile_time_apart():
    model = build_backbone(width=8)
    result = measure_latency(model, size=64, mode=LatencyMode(compile="default"), warmup=1, iters=3)
    assert len(result.times_ms) == 3
    assert result.compile_s * 1000 > result.median_ms  # compiling costs more than a run


@pytest.mark.slow
def test_frozen_weights_are_a_compile_option_and_keep_the_outputs():
    with pytest.raises(ValueError, match="choose a compile mode"):
        LatencyMode(freeze=True)
    from torch._dynamo.utils import counters

    model = build_backbone(width=8)
    for freeze in (False, True):  # frozen weights let inductor fold the BatchNorms into the convs' weights
        counters.clear()
        measure_latency(model, size=32, iters=1, warmup=0, mode=LatencyMode(compile="default", freeze=freeze))
        assert (counters["inductor"]["binary_folding_conv"] > 0) == freeze
    mode = LatencyMode(fold_bn=True, compile="default", freeze=True)
    assert mode.label == "fp32 + BN folded + compile default (frozen weights)"
    calibrated = calibrated_copy(model, torch.rand(2, 3, 64, 64))
    assert mode_error(calibrated, mode, size=64) < 1e-5


@pytest.mark.slow
def test_a_machine_that_cannot_compile_gets_a_clear_error_and_others_still_can():
    import torch._inductor.config as inductor

    from yolo_explorer.deployment.modes import CompileError

    model = build_backbone(width=8)
    no_compiler = inductor.patch({"cpp.cxx": (None, "/nonexistent/g++"), "fx_graph_cache": False})
    with no_compiler, pytest.raises(CompileError, match="No working C\\+\\+ compiler.*time the eager modes instead"):
        measure_latency(model, size=32, iters=1, warmup=0, mode=LatencyMode(compile="default"))
    assert measure_latency(model, size=32, iters=1, warmup=0, mode=LatencyMode(compile="default")).compile_s > 0


@contextmanager
def held_by_another_user(hold: AbstractContextManager) -> Iterator[threading.Event]:
    """Another thread enters `hold` and stays until the caller sets the yielded event (on finding it
    busy), then 0.2 s more."""
    holding, asked = threading.Event(), threading.Event()

    def other_user():
        with hold:
            holding.set()
            asked.wait(30)
            time.sleep(0.2)

    thread = threading.Thread(target=other_user)
    thread.start()
    holding.wait(30)
    try:
        yield asked
    finally:
        thread.join()


@pytest.mark.slow
def test_a_compiled_run_waits_for_another_compiled_run():
    """Every compile empties dynamo's cache: a second compiled run must not start while the first is timed."""
    from yolo_explorer.deployment.modes import _COMPILED_RUN

    waits = []
    mode = LatencyMode(compile="default")
    with held_by_another_user(_COMPILED_RUN) as asked:
        result = measure_latency(
            build_backbone(width=8), size=32, iters=1, warmup=0, mode=mode, on_wait=lambda: waits.append(asked.set())
        )
    assert len(waits) == 1 and result.waited_s >= 0.15


def test_a_run_waits_for_the_device_and_says_so():
    model = build_backbone(width=8)
    waits = []
    with held_by_another_user(device_lock("cpu")) as asked:  # until the latency run has found the device busy
        result = measure_latency(model, size=32, iters=1, warmup=0, on_wait=lambda: waits.append(asked.set()))
    assert len(waits) == 1 and result.waited_s >= 0.15
    assert measure_latency(model, size=32, iters=1, warmup=0).waited_s == 0.0


@pytest.mark.gpu
@pytest.mark.skipif(
    not GPUS, reason="no CUDA or MPS device on this machine; GPU latency paths are checked only where one is present"
)
@pytest.mark.parametrize("device", GPUS or ["none"])
def test_gpu_latency_every_supported_dtype(device):
    for dtype in supported_dtypes(device):
        model = build_backbone(
            width=16, device=device, dtype={"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
        )
        result = measure_latency(model, size=320, device=device, dtype=dtype, warmup=3, iters=5)
        assert result.device == device and result.median_ms > 0
        if device.startswith("cuda"):
            assert result.device_name == torch.cuda.get_device_name(device)


CUDA = [d for d in GPUS if d.startswith("cuda")]


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine; CUDA graphs and reduce-overhead are checked only there")
@pytest.mark.parametrize(
    "mode, tolerance",
    [
        (LatencyMode(dtype="fp32"), 1e-2),  # TF32 convolutions by default
        (LatencyMode(dtype="fp32", channels_last=True), 1e-2),
        (LatencyMode(dtype="bf16", channels_last=True), 0.2),
        (LatencyMode(dtype="fp16", channels_last=True, cuda_graph=True), 0.05),
        (LatencyMode(dtype="bf16", channels_last=True, cuda_graph=True), 0.2),
        (LatencyMode(dtype="fp16", channels_last=True, cuda_graph=True, fold_bn=True, cudnn_benchmark=True), 0.05),
        (LatencyMode(dtype="fp32", fold_bn=True, cudnn_benchmark=True), 1e-2),
        (LatencyMode(dtype="bf16", channels_last=True, fold_bn=True, compile="reduce-overhead", freeze=True), 0.2),
    ],
    ids=lambda v: v.label if isinstance(v, LatencyMode) else str(v),
)
def test_cuda_modes_are_correct_and_timed(mode, tolerance):
    device = CUDA[0]
    model = build_backbone(width=16, device=device)
    calibrated = calibrated_copy(model, torch.rand(2, 3, 320, 320, device=device))
    assert mode_error(calibrated, mode, size=320, device=device) < tolerance
    result = measure_latency(model, size=320, device=device, mode=mode, warmup=3, iters=10)
    assert result.median_ms > 0 and (result.compile_s > 0) == (mode.cuda_graph or mode.compile is not None)
