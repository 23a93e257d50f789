"""Devices and precisions: which are present here, and which dtypes each one can run."""

from __future__ import annotations

import logging
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from filelock import FileLock, Timeout

__all__ = [
    "DEFAULT_LOCK_DIR",
    "DTYPES",
    "available_devices",
    "check_device",
    "cudnn_benchmark",
    "device_lock",
    "device_name",
    "dtype_from_name",
    "queue_for",
    "share_device_locks",
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
    return f"CPU {cpu} ({os.cpu_count() or 1} cores)"  # the threads a run uses are its own (LatencyResult.threads)


def synchronize(device: str | torch.device) -> None:
    """Wait until all work queued on the device is done (a no-op on the CPU)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


log = logging.getLogger(__name__)


class _DeviceLock:
    """One device's lock. Lock order, outermost first: the compile queue (`latency`), then this lock, then a
    model's own lock; never the other way round.

    Two layers: a re-entrant thread lock for the sessions of this process, and, for whoever holds it, a
    file lock that every process of this host shares (the replicas of `deploy/serve`, a CLI run beside the
    app), so that a latency run on a shared GPU is never disturbed by another replica's heatmaps.
    """

    def __init__(self, key: str):
        self.threads = threading.RLock()
        self.depth = 0  # nesting of the holding thread; the file lock is taken at 1 and released at 0
        self.file = _file_lock(key)

    def acquire(self, on_wait: Callable[[], None] | None) -> float:
        """Block until this thread holds the device, calling `on_wait` once first if it is busy; returns the wait."""
        start, told = time.perf_counter(), False
        if not self.threads.acquire(blocking=False):
            if on_wait is not None:
                on_wait()
            told = True
            self.threads.acquire()
        self.depth += 1
        if self.depth == 1 and self.file is not None:
            try:
                try:
                    self.file.acquire(timeout=0)
                except Timeout:  # another process runs a forward on this device
                    if on_wait is not None and not told:
                        on_wait()
                    told = True
                    self.file.acquire()
            except BaseException:
                self.depth -= 1
                self.threads.release()
                raise
        return time.perf_counter() - start if told else 0.0

    def release(self) -> None:
        self.depth -= 1
        if self.depth == 0 and self.file is not None:
            self.file.release()
        self.threads.release()


def share_device_locks(folder: Path | None) -> None:
    """Where this process shares its device locks with the host's other processes (`Environment.lock_dir`, which the
    app and the command line read at start-up; None: this process locks alone). Call it before the first forward:
    a device's lock takes the folder when it is first used. Default: the temp dir's yolo-explorer-locks."""
    _SHARED["folder"] = folder


def _file_lock(key: str) -> FileLock | None:
    """The host-wide lock file of a device, in the folder `share_device_locks` set; None when locks are per process."""
    folder = _SHARED["folder"]
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        log.warning("device locks are per process only: cannot create %s (%s); set YOLO_EXPLORER_LOCK_DIR", folder, err)
        return None
    return FileLock(folder / f"{key}.lock", thread_local=False)


def _lock_name(device: torch.device) -> str:
    """A file name for the device that means the same GPU in every process (CUDA_VISIBLE_DEVICES may renumber)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        return f"cuda-{uuid}" if uuid is not None else f"cuda-{index}"
    return device.type if device.index is None else f"{device.type}-{device.index}"


_DEVICE_LOCKS: dict[str, _DeviceLock] = {}
DEFAULT_LOCK_DIR = Path(tempfile.gettempdir()) / "yolo-explorer-locks"
_SHARED: dict[str, Path | None] = {"folder": DEFAULT_LOCK_DIR}  # set by share_device_locks
_LOCKS_GUARD = threading.Lock()


@contextmanager
def device_lock(device: str | torch.device, on_wait: Callable[[], None] | None = None) -> Iterator[dict[str, float]]:
    """Serialise forwards on one device: one user's latency run is not disturbed by another's maps.

    Every forward the engine runs for a caller (captures, latency runs) takes the lock of its device
    for its whole duration; the lock is shared by the threads of this process and, through a lock file,
    by every process of this host (`share_device_locks`). Yields a dict whose "waited_s" says how
    long the caller queued. Re-entrant within a thread.

    Args:
        device: the device.
        on_wait: called once, before blocking, when another forward (here or in another process) holds the device.
    """
    dev = torch.device(device)
    key = str(dev)
    with _LOCKS_GUARD:
        lock = _DEVICE_LOCKS.get(key)
        if lock is None:
            lock = _DEVICE_LOCKS[key] = _DeviceLock(_lock_name(dev))
    info = {"waited_s": lock.acquire(on_wait)}
    try:
        yield info
    finally:
        lock.release()


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
