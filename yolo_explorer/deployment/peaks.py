"""What a device can do at best, measured on it: the rates a model's achieved rates are compared with (the
roofline's two ceilings). Each is the fastest block of `torch.utils.benchmark`'s runs: a peak is the best the
device did, and on a shared machine the median drifts with the neighbours."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .devices import check_device, device_lock, dtype_from_name

__all__ = ["Peaks", "compute_peak_tflops", "conv_peak_tflops", "device_peaks", "matmul_peak_tflops", "memory_bandwidth_gbps"]


@dataclass(frozen=True)
class Peaks:
    """A device's measured ceilings in one precision: compute (the faster of a large matmul and a large 3x3
    convolution, named in `compute`) and memory (a large copy)."""

    tflops: float
    gbps: float
    compute: str = "matmul"

    @property
    def ridge(self) -> float:
        """The arithmetic intensity (FLOPs per byte) above which a kernel can be compute-bound."""
        return self.tflops * 1e12 / (self.gbps * 1e9)

    def bound(self, intensity: float) -> str:
        """ "memory" for a kernel of this arithmetic intensity left of the ridge, else "compute"."""
        return "memory" if intensity < self.ridge else "compute"


def device_peaks(device: str = "cpu", dtype: str = "fp32") -> Peaks:
    tflops, kernel = compute_peak_tflops(device, dtype)
    return Peaks(tflops, memory_bandwidth_gbps(device), kernel)


def compute_peak_tflops(device: str = "cpu", dtype: str = "fp32") -> tuple[float, str]:
    """The device's practical compute peak in `dtype`, and the kernel that reached it: the faster of a large
    matmul and a large 3x3 convolution (on a CPU, the BLAS library behind matmul can be the slower one:
    2.2x slower than oneDNN's convolutions on the AMD EPYC of bench/README.md)."""
    matmul, conv = matmul_peak_tflops(device, dtype), conv_peak_tflops(device, dtype)
    return (matmul, "matmul") if matmul >= conv else (conv, "3x3 convolution")


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
        measurement = Timer("a @ b", globals={"a": a, "b": b}, num_threads=torch.get_num_threads()).blocked_autorange(
            min_run_time=0.5
        )
    return 2 * n**3 / min(measurement.times) / 1e12


def conv_peak_tflops(device: str = "cpu", dtype: str = "fp32") -> float:
    """Achieved TFLOP/s of a large 3x3 convolution (256 to 256 channels, channels_last, no bias)."""
    from torch.utils.benchmark import Timer

    dev = check_device(device)
    torch_dtype = dtype_from_name(dtype)
    batch, side, channels = (32, 64, 256) if dev.type == "cuda" else (1, 64, 256)
    conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(dev, torch_dtype).eval()
    conv = conv.to(memory_format=torch.channels_last)
    x = torch.rand(batch, channels, side, side, device=dev, dtype=torch_dtype).contiguous(memory_format=torch.channels_last)
    with device_lock(dev), torch.inference_mode():
        measurement = Timer("conv(x)", globals={"conv": conv, "x": x}, num_threads=torch.get_num_threads()).blocked_autorange(
            min_run_time=0.5
        )
    return 2 * 9 * channels * channels * side * side * batch / min(measurement.times) / 1e12


def memory_bandwidth_gbps(device: str = "cpu", mib: int | None = None) -> float:
    """Achieved GB/s of copying a buffer far larger than the caches: every byte read once and written once.

    Args:
        device: the device.
        mib: buffer size (default 1024 MiB on a GPU, 256 MiB on the CPU).
    """
    from torch.utils.benchmark import Timer

    dev = check_device(device)
    mib = mib or (1024 if dev.type == "cuda" else 256)
    a = torch.ones(mib * 2**20 // 4, device=dev)
    b = torch.empty_like(a)
    with device_lock(dev):
        measurement = Timer("b.copy_(a)", globals={"a": a, "b": b}, num_threads=torch.get_num_threads()).blocked_autorange(
            min_run_time=0.5
        )
    return 2 * a.numel() * a.element_size() / min(measurement.times) / 1e9
