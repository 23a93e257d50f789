"""`streamlit run app.py` for the benchmark scripts: started from a scratch directory on a free port,
waited for until healthy, stopped afterwards."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def streamlit_server(timeout: float = 120) -> Iterator[tuple[str, float]]:
    """Yields (the server's URL, seconds until it answered its health check: its warm-up included)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    url = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=tempfile.mkdtemp(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                if time.perf_counter() - start > timeout:
                    raise RuntimeError("streamlit did not start") from None
                time.sleep(0.1)
        yield url, time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(timeout=30)
