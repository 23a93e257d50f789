"""Latency measurement: what it reports, what it refuses, and the GPU paths where a GPU is present."""

from __future__ import annotations

import pytest
import torch

from yolo_explorer import available_devices, build_backbone, measure_latency, supported_dtypes
from yolo_explorer.devices import check_device

GPUS = [d for d in available_devices() if d != "cpu"]


def test_cpu_latency_report():
    model = build_backbone(width=8)
    progress = []
    result = measure_latency(model, size=(64, 96), batch=2, warmup=2, iters=5, on_progress=lambda d, t: progress.append((d, t)))
    assert len(result.times_ms) == 5 and all(t > 0 for t in result.times_ms)
    assert progress == [(i, 7) for i in range(1, 8)]
    assert result.min_ms <= result.median_ms <= result.p90_ms <= result.max_ms
    assert result.images_per_s == pytest.approx(2 * 1000 / result.median_ms)
    assert result.device == "cpu" and result.torch == torch.__version__ and result.threads == torch.get_num_threads()
    d = result.to_dict()
    assert {"median_ms", "p90_ms", "min_ms", "max_ms", "images_per_s", "device", "device_name", "torch", "threads"} <= set(d)
    assert model.lock.acquire(blocking=False)  # released afterwards
    model.lock.release()


def test_latency_refuses_bad_arguments():
    model = build_backbone(width=8)
    with pytest.raises(ValueError, match="not present"):
        measure_latency(model, device="cuda:7", iters=1)
    with pytest.raises(ValueError, match="move it"):
        measure_latency(model, dtype="bf16", iters=1)
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
        assert result.device_name != "cpu"
