"""Devices and precisions: which are present here, and which dtypes each one can run."""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

__all__ = [
    "DTYPES",
    "available_devices",
    "check_device",
    "cudnn_benchmark",
    "device_lock",
    "device_name",
    "dtype_from_name",
    "queue_for",
    "supported_dtypes",
    "synchronize",
]

# precision name -> torch dtype, in the order the UI offers them
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def dtype_from_name(name: str) -> torch.dtype:
    """torch dtype of "fp32", "fp16" or "bf16".

    Raises:
        ValueError: another name.
    """
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}") from None


def available_devices() -> list[str]:
    """Devices present on this machine: "cpu", then every "cuda:N", then "mps" where it is available."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def check_device(device: str | torch.device) -> torch.device:
    """The device, if it is present here.

    Raises:
        ValueError: not a device name, or a device this machine does not have; the message lists the
            present ones.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{device!r} is not a device name; present here: {', '.join(available_devices())}") from None
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", 0)
    if str(dev) not in available_devices():
        raise ValueError(f"device {str(dev)!r} is not present on this machine; present: {', '.join(available_devices())}")
    return dev


def supported_dtypes(device: str | torch.device) -> list[str]:
    """Precisions the device runs a convolution in, probed with a tiny conv rather than assumed."""
    dev = check_device(device)
    names = []
    for name, dtype in DTYPES.items():
        try:
            x = torch.ones(1, 2, 4, 4, device=dev, dtype=dtype)
            weight = torch.ones(2, 2, 3, 3, device=dev, dtype=dtype)
            y = F.silu(F.conv2d(x, weight, padding=1))
            if not torch.isfinite(y.float()).all():
                continue
        except (RuntimeError, TypeError, NotImplementedError):
            continue
        names.append(name)
    return names


def device_name(device: str | torch.device) -> str:
    """A person's name for the device: the GPU model, or the CPU's architecture and core count."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    if dev.type == "mps":
        return "Apple GPU (MPS)"
    cpu = platform.processor() or platform.machine()
    return f"CPU {cpu} ({torch.get_num_threads()} threads)"


def synchronize(device: str | torch.device) -> None:
    """Wait until all work queued on the device is done (a no-op on the CPU)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


_DEVICE_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


@contextmanager
def device_lock(device: str | torch.device, on_wait: Callable[[], None] | None = None) -> Iterator[dict[str, float]]:
    """Serialise forwards on one device: one user's latency run is not disturbed by another's maps.

    Every forward the engine runs for a caller (captures, latency runs) takes the lock of its device
    for its whole duration. Yields a dict whose "waited_s" says how long the caller queued.

    Args:
        device: the device.
        on_wait: called once, before blocking, when another forward holds the device.
    """
    key = str(torch.device(device))
    with _LOCKS_GUARD:
        lock = _DEVICE_LOCKS.setdefault(key, threading.RLock())
    with queue_for(lock, on_wait) as info:
        yield info


@contextmanager
def queue_for(lock: threading.Lock | threading.RLock, on_wait: Callable[[], None] | None = None) -> Iterator[dict[str, float]]:
    """Hold `lock` for the duration, calling `on_wait` first if someone else holds it; yields a dict
    whose "waited_s" says how long the caller queued."""
    info = {"waited_s": 0.0}
    if not lock.acquire(blocking=False):
        if on_wait is not None:
            on_wait()
        start = time.perf_counter()
        lock.acquire()
        info["waited_s"] = time.perf_counter() - start
    try:
        yield info
    finally:
        lock.release()


_AUTOTUNE_GUARD = threading.Lock()
_AUTOTUNE = {"users": 0, "saved": False}  # runs that asked for cuDNN autotuning, and the setting before them


@contextmanager
def cudnn_benchmark(enabled: bool = True) -> Iterator[None]:
    """cuDNN algorithm autotuning (`torch.backends.cudnn.benchmark`) on for the duration.

    The setting is process-wide: it stays on while any caller is inside, and the value it had before
    the first one came back when the last one leaves, so concurrent runs never switch it off under
    each other. Forwards of other users meanwhile are autotuned too: a slower first call for a new
    shape, then possibly other (equally valid) algorithms.
    """
    if not enabled:
        yield
        return
    with _AUTOTUNE_GUARD:
        if _AUTOTUNE["users"] == 0:
            _AUTOTUNE["saved"] = torch.backends.cudnn.benchmark
            torch.backends.cudnn.benchmark = True
        _AUTOTUNE["users"] += 1
    try:
        yield
    finally:
        with _AUTOTUNE_GUARD:
            _AUTOTUNE["users"] -= 1
            if _AUTOTUNE["users"] == 0:
                torch.backends.cudnn.benchmark = _AUTOTUNE["saved"]
