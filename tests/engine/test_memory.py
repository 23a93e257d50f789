"""Memory estimate before a forward, and the refusal of what does not fit."""

from __future__ import annotations

import pytest
import torch

from yolo_explorer import available_devices, build_backbone, make_config, model_stats
from yolo_explorer.deployment.memory import (
    InsufficientMemoryError,
    MemoryEstimate,
    check_fits,
    estimate_forward_memory,
    free_memory,
)


def test_estimate_parts():
    config = make_config(width=16)
    e = estimate_forward_memory(config, 320)
    model = build_backbone(config=config)
    expected_params = sum(p.numel() * 4 for p in model.parameters()) + sum(b.numel() * b.element_size() for b in model.buffers())
    assert e.params_bytes == expected_params
    stats = model_stats(config, 320)
    biggest = max(s.activation_bytes for s in stats.layers)
    assert biggest < e.peak_activation_bytes < 6 * stats.activation_bytes


def test_estimate_scales_with_batch_and_dtype():
    config = make_config(width=16)
    one, eight = (estimate_forward_memory(config, 256, batch=b).peak_activation_bytes for b in (1, 8))
    assert eight == pytest.approx(8 * one, rel=0.01)
    half = estimate_forward_memory(config, 256, dtype="fp16")
    assert half.peak_activation_bytes == pytest.approx(one / 2, rel=0.01)


def test_check_fits_refuses_with_numbers():
    estimate = MemoryEstimate(params_bytes=100 * 2**20, peak_activation_bytes=900 * 2**20)
    check_fits(estimate, "cpu", cap_bytes=2 * 2**30)
    with pytest.raises(InsufficientMemoryError, match=r"needs about 1\.22 GiB .* allows 512 MiB per forward. Lower the width"):
        check_fits(estimate, "cpu", cap_bytes=512 * 2**20)
    huge = MemoryEstimate(params_bytes=0, peak_activation_bytes=2**50)
    with pytest.raises(InsufficientMemoryError, match="cpu has .* free"):
        check_fits(huge, "cpu")


def test_free_memory_cpu_is_the_kernel_s_available_memory():
    """Against the kernel's own page counts (sysconf), which move a little between the two reads."""
    import os

    free = free_memory("cpu")
    pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")  # free pages; MemAvailable adds reclaimable cache
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert pages * 0.9 <= free <= total


@pytest.mark.gpu
@pytest.mark.skipif(
    not any(d.startswith("cuda") for d in available_devices()),
    reason="no CUDA device here; the estimate is compared with CUDA's allocator only where one is present",
)
@pytest.mark.parametrize("arch, fields", [("tutorial", {"width": 32}), ("yolo11s", {})])
def test_estimate_matches_cuda_peak(arch, fields):
    config = make_config(arch, **fields)
    e = estimate_forward_memory(config, 640, batch=4)
    model = build_backbone(config=config, device="cuda")
    x = torch.rand(4, 3, 640, 640, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    with torch.inference_mode():
        model(x)
    torch.cuda.synchronize()
    measured = torch.cuda.max_memory_allocated() - base + x.numel() * 4
    assert measured == pytest.approx(e.peak_activation_bytes, rel=0.25)


def test_a_servers_cap_refuses_with_the_estimate():
    from yolo_explorer.deployment.memory import InsufficientMemoryError, check_fits
    from yolo_explorer.environment import Environment

    estimate = estimate_forward_memory(make_config(width=16), 640)
    cap = Environment.read({"YOLO_EXPLORER_MAX_FORWARD_MB": "1"}).max_forward_bytes
    assert cap == 2**20
    with pytest.raises(InsufficientMemoryError, match="this server allows 1.00 MiB per forward"):
        check_fits(estimate, "cpu", cap_bytes=cap)
    with pytest.raises(ValueError, match="YOLO_EXPLORER_MAX_FORWARD_MB must be a number of MiB, got 'lots'"):
        Environment.read({"YOLO_EXPLORER_MAX_FORWARD_MB": "lots"})
    check_fits(estimate, "cpu")  # no cap: fits this machine
