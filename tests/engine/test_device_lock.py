"""Forwards on one device run one at a time across processes too (the replicas of deploy/serve, a CLI
run beside the app): the device lock is a lock file that every process of the host shares."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from yolo_explorer import build_backbone, measure_latency
from yolo_explorer.deployment import devices

pytestmark = pytest.mark.slow  # processes that hold the device lock

# Each process: wait at a barrier (all "ready" files present), then hold the CPU's lock for HOLD seconds.
HOLDER = """
import json, os, sys, time
from pathlib import Path
from yolo_explorer.deployment.devices import device_lock, share_device_locks
from yolo_explorer.environment import Environment
share_device_locks(Environment.read(os.environ).lock_dir)  # as the app and the command line do at start-up
barrier, me, n, hold = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
(barrier / f"{me}.ready").touch()
while len(list(barrier.glob("*.ready"))) < n:
    time.sleep(0.01)
told = []
with device_lock("cpu", on_wait=lambda: told.append(time.time())) as info:
    start = time.time()
    (barrier / f"{me}.holding").touch()
    time.sleep(hold)
    end = time.time()
print(json.dumps({"start": start, "end": end, "waited_s": info["waited_s"], "told": len(told)}))
"""


def holders(tmp_path: Path, n: int, hold: float, lock_dir: str) -> list[subprocess.Popen]:
    env = {**os.environ, "YOLO_EXPLORER_LOCK_DIR": lock_dir}
    return [
        subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(tmp_path), f"p{i}", str(n), str(hold)], env=env, stdout=subprocess.PIPE, text=True
        )
        for i in range(n)
    ]


def results(procs: list[subprocess.Popen]) -> list[dict]:
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    return sorted((json.loads(out) for out in outs), key=lambda r: r["start"])


def test_two_processes_take_turns_on_a_device_and_the_second_says_it_waited(tmp_path):
    first, second = results(holders(tmp_path, 2, 0.6, str(tmp_path / "locks")))
    assert second["start"] >= first["end"], "the two processes held the device at the same time"
    assert first["told"] == 0 and first["waited_s"] == 0.0
    assert second["told"] == 1 and second["waited_s"] >= 0.4


def test_without_a_shared_lock_folder_processes_overlap(tmp_path):
    """The control: YOLO_EXPLORER_LOCK_DIR=none keeps the lock per process, and then nothing stops them."""
    first, second = results(holders(tmp_path, 2, 0.6, "none"))
    assert second["start"] < first["end"]
    assert first["told"] == second["told"] == 0


def test_a_latency_run_waits_for_another_process_forward_and_reports_it(tmp_path, monkeypatch):
    lock_dir = tmp_path / "locks"
    monkeypatch.setattr(devices, "_DEVICE_LOCKS", {})  # this process's locks, made again with the folder below
    monkeypatch.setitem(devices._SHARED, "folder", None)  # restored after the test
    devices.share_device_locks(lock_dir)
    (other,) = holders(tmp_path, 1, 1.5, str(lock_dir))
    deadline = time.time() + 60
    while not (tmp_path / "p0.holding").exists():
        assert time.time() < deadline and other.poll() is None, "the other process never took the device"
        time.sleep(0.01)
    waits = []
    result = measure_latency(build_backbone(width=8), size=32, iters=1, warmup=0, on_wait=lambda: waits.append(1))
    (held,) = results([other])
    assert waits == [1]
    assert result.waited_s >= 0.5 and held["end"] - held["start"] >= 1.4


@pytest.mark.parametrize("device", ["cpu", "cuda:0"])
def test_lock_files_name_the_device(device):
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("no CUDA device here: the lock file of a GPU is named by its UUID only where one is present")
    name = devices._lock_name(torch.device(device))
    if device == "cpu":
        assert name == "cpu"
    else:
        assert name.startswith("cuda-") and str(torch.cuda.get_device_properties(0).uuid) in name
