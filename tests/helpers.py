"""What the tests share (no test module imports another): image bytes, AppTest checks, the command line, the
Latency form, Chromium's flags and waits, deploy/serve on loopback."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "pages" / "main.py")  # the script every session runs; app.py serves it


def image_bytes(size=(300, 100), color=(200, 40, 40), fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def no_problems(at) -> None:
    """No exception element and no error message on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def image_captions(at) -> list[str]:
    """Captions of every st.image on the main area (AppTest has no typed accessor for images)."""
    found: list[str] = []

    def walk(node) -> None:
        for child in getattr(node, "children", {}).values():
            if getattr(child, "type", None) == "image":
                found.extend(img.caption for img in child.proto.imgs)
            walk(child)

    walk(at.main)
    return found


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


FINISHED = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def settle(page: Page, timeout: float = 120) -> None:
    """Wait until the app's script run has finished and every chart on the page is drawn.

    Plotly charts mount a moment after the run ends (their bundle loads lazily): assertions on them
    use `expect`, which retries.
    """
    page.wait_for_selector(FINISHED, timeout=timeout * 1000)
    time.sleep(0.3)
    page.wait_for_selector(FINISHED, timeout=timeout * 1000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')].every(c => c.querySelector('.main-svg'))",
        timeout=timeout * 1000,
    )


def problems(page: Page) -> list[str]:
    """Exceptions and error messages on the page."""
    return page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').all_inner_texts()


def cli(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `python -m yolo_explorer ARGS`, with `env` added to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "yolo_explorer", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def run_latency(at, **form):
    """Set the form's widgets and submit them in one run, as a browser does."""
    for key, value in form.items():
        at.get_by_key(key).set_value(value)
    at.get("form_submit_button")[0].click().run()
    return at


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("a.txt", "hello")
    return buffer.getvalue()


HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def free_port_block(n: int) -> int:
    """A port P such that P .. P+n-1 are free now."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n < 65535 and all(listening(p) is False for p in range(base, base + n)):
            return base
    raise RuntimeError("no block of free ports")


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Served:
    """`deploy/serve` on 127.0.0.1 with `replicas`, its log in `tmp`; with `release_url`, weights fetched first from
    there; `extra` options and `env` added."""

    def __init__(
        self,
        tmp: Path,
        release_url: str | None,
        replicas: int = 2,
        extra: list[str] | None = None,
        env: dict | None = None,
        http_port: bool = False,
    ):
        # one block for the proxy, the replicas and the plain-HTTP port: ports picked apart could meet (a replica that
        # binds the redirect's port first leaves HAProxy unable to start)
        self.port = free_port_block(replicas + 1 + http_port)
        self.http_port = self.port + replicas + 1 if http_port else None
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "serve.log"
        self.weights = tmp / "weights"
        self.out = open(self.log, "w")  # noqa: SIM115 (closed in stop)
        environment = dict(os.environ, YOLO_EXPLORER_WEIGHTS_DIR=str(self.weights), **(env or {}))
        command = [str(ROOT / "deploy" / "serve"), "--replicas", str(replicas), "--port", str(self.port)]
        # a dead replica is started again after 20 s: long enough to see the others serve without it
        command += ["--host", "127.0.0.1", "--restart-after", "20", *(extra or [])]
        if http_port:
            command += ["--http-port", str(self.http_port)]
        if release_url is not None:
            environment["YOLO_EXPLORER_WEIGHTS_URL"] = release_url
            command += ["--fetch", "yolo11n-pose"]  # a release with no pinned digest: any file that fits is taken
        self.proc = subprocess.Popen(command, stdout=self.out, stderr=subprocess.STDOUT, cwd=tmp, env=environment)

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.time() + timeout
        while "Serving the class at" not in self.log.read_text():
            assert self.proc.poll() is None, self.log.read_text()
            assert time.time() < deadline, self.log.read_text()
            time.sleep(0.2)

    @property
    def status_url(self) -> str:
        return re.search(r"status page, this machine only: (http://127\.0\.0\.1:\d+/)", self.log.read_text())[1]

    def replica_states(self) -> dict[str, str]:
        """HAProxy's own view of each replica ("UP", "DOWN", ...), from its status page as CSV."""
        text = urllib.request.urlopen(self.status_url + ";csv", timeout=5).read().decode()
        rows = csv.DictReader(io.StringIO(text.removeprefix("# ")))
        return {r["svname"]: r["status"] for r in rows if r["pxname"] == "replicas" and r["svname"].startswith("r")}

    def replica_pid(self, name: str) -> int:
        port = self.port + int(name[1:])
        out = subprocess.run(["pgrep", "-f", "--", f"--server.port {port} "], capture_output=True, text=True).stdout.split()
        assert len(out) == 1, out
        return int(out[0])

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.out.close()
        return code


def detector_app(app, page: str | None = None, **widgets):
    at = app(page, arch="yolo11n")
    at.get_by_key("part").set_value("Whole detector").run()
    for key, value in widgets.items():
        at.get_by_key(key).set_value(value)
    if widgets:
        at.run()
    return at


def upload(at, name: str, data: bytes):
    at.file_uploader(key="weights_upload").set_value((name, data, "application/octet-stream")).run()
    return at


def photo_upload(at, image) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    at.get_by_key("source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value(("shapes.jpg", buffer.getvalue(), "image/jpeg")).run()


TRAINED = ROOT / "tests" / "data" / "synthetic_yolo11n.pt"  # a YOLO11n Ultralytics trained on coloured shapes


def drag_box(page: Page, start: tuple[float, float], end: tuple[float, float], landed, attempts: int = 3) -> None:
    """Drag Plotly's box select on the page's first chart from `start` to `end` (fractions of its plot area) until
    `landed()` (an `expect(...)` that raises AssertionError while the drag has not been taken) passes: a drag made
    while a busy server still draws the chart is lost, so it is made again (at most `attempts` times)."""
    for attempt in range(attempts):
        settle(page)
        area = page.locator('[data-testid="stPlotlyChart"]').first.locator(".nsewdrag").first.bounding_box()
        x0, y0 = area["x"] + area["width"] * start[0], area["y"] + area["height"] * start[1]
        x1, y1 = area["x"] + area["width"] * end[0], area["y"] + area["height"] * end[1]
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
        page.mouse.move(x1, y1, steps=5)
        page.mouse.up()
        try:
            landed()
            return
        except AssertionError:
            if attempt == attempts - 1:
                raise


def run_bench(script: str, *args: str) -> str:
    """Run `python bench/SCRIPT ARGS` as bench/README says, from the repository's root; its output, once it exited 0."""
    run = subprocess.run([sys.executable, f"bench/{script}", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"bench/{script} {' '.join(args)} exited {run.returncode}:\n{run.stderr[-3000:]}"
    return run.stdout
