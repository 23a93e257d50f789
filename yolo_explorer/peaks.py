"""What a device can do at best, measured on it: the rate to compare a model's achieved rate with."""

from __future__ import annotations

import torch

from .devices import check_device, device_lock, dtype_from_name

__all__ = ["matmul_peak_tflops"]


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
