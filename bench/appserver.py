"""The app for the benchmark scripts: `streamlit run` started from a scratch directory on a free port, or
`deploy/serve` with N replicas behind HAProxy; waited for until healthy, stopped afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Server:
    url: str
    ready_s: float  # seconds until the health check answered (the app's warm-up included)
    pid: int  # the server process, whose CPU time the capacity benchmark reads


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Until `url`/_stcore/health answers ok (raises if `proc` exits or `timeout` passes)."""
    start = time.perf_counter()
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}") from None
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"{url} did not become healthy in {timeout:.0f} s") from None
            time.sleep(0.1)


@contextmanager
def streamlit_server(app: Path = ROOT / "app.py", timeout: float = 120, env: dict[str, str] | None = None) -> Iterator[Server]:
    """`streamlit run app` on a free port; yields the running `Server`."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    url = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=tempfile.mkdtemp(), env=os.environ | (env or {}), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        wait_healthy(url, timeout, proc)
        yield Server(url, time.perf_counter() - start, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def served(replicas: int, timeout: float = 300) -> Iterator[Server]:
    """`deploy/serve --replicas N` on a free port of 127.0.0.1 (the Server's pid is deploy/serve's)."""
    while True:
        port = free_port()
        if all(_free(p) for p in range(port, port + replicas + 1)):
            break
    url = f"http://127.0.0.1:{port}"
    command = [str(ROOT / "deploy" / "serve"), "--replicas", str(replicas), "--port", str(port), "--host", "127.0.0.1"]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=tempfile.mkdtemp(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_healthy(url, timeout, proc)
        yield Server(url, time.perf_counter() - start, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0
