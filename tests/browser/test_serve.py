"""`deploy/serve`: replicas behind HAProxy, driven as a class would, in Debian's Chromium.

Four browsers at once, each uploading its own photo: every upload must reach the replica that holds its
session (stickiness by cookie, with every browser on 127.0.0.1), both replicas serve sessions, a replica
that dies is taken out by the health check while the others go on, and a SIGTERM stops everything.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from helpers import HAPROXY, Served, free_port_block, listening, problems, settle
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
COOKIE = "yolo_explorer_replica"


if not os.path.exists(HAPROXY):
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the deploy/serve tests: install Debian's haproxy (.ci/run does)")
    pytest.skip(
        "Debian's haproxy is not installed: deploy/serve's tests skipped on this developer machine", allow_module_level=True
    )

from playwright.sync_api import expect  # noqa: E402


@contextlib.contextmanager
def file_server(folder: Path):
    """Plain HTTP on 127.0.0.1 serving `folder` (a stand-in for Ultralytics' release); yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    release = tmp_path_factory.mktemp("release")
    shutil.copyfile(ROOT / "tests" / "data" / "synthetic_yolo11n.pt", release / "yolo11n-pose.pt")  # a YOLO11n by Ultralytics
    with file_server(release) as url:
        served = Served(tmp_path_factory.mktemp("serve"), url)
        try:
            served.wait_ready()
            yield served
        finally:
            served.stop()
            if "Traceback" in served.log.read_text():
                print(served.log.read_text())


def test_weights_are_fetched_before_the_class_arrives(served):
    assert (served.weights / "yolo11n-pose.pt").read_bytes() == (ROOT / "tests" / "data" / "synthetic_yolo11n.pt").read_bytes()
    log = served.log.read_text()
    assert "yolo11n-pose.pt  fetched, SHA-256" in log and log.index("fetched") < log.index("Starting 2 replica(s)")


def test_serve_refuses_to_start_when_the_weights_cannot_be_fetched(tmp_path):
    with file_server(tmp_path) as url:  # an empty release: 404
        port = free_port_block(2)  # after the file server took its port: it could have taken port + 1 (CI, once)
        env = dict(os.environ, YOLO_EXPLORER_WEIGHTS_DIR=str(tmp_path / "weights"), YOLO_EXPLORER_WEIGHTS_URL=url)
        command = [str(ROOT / "deploy" / "serve"), "--replicas", "1", "--port", str(port), "--fetch", "yolo11n"]
        run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 1 and "answered 404" in run.stderr and "nothing was started" in run.stderr, run.stderr
    assert not listening(port) and not listening(port + 1)


def test_four_sessions_at_once_each_upload_their_photo_and_both_replicas_serve(served, browser, tmp_path):
    sizes = [(300, 100), (200, 320), (480, 360), (640, 200)]
    photos = []
    for i, size in enumerate(sizes):
        photos.append(tmp_path / f"photo{i}.png")
        Image.new("RGB", size, (40 * i, 200 - 40 * i, 90)).save(photos[-1])
    contexts = [browser.new_context(viewport={"width": 1500, "height": 1800}) for _ in sizes]
    pages = [c.new_page() for c in contexts]
    try:
        for p in pages:
            p.goto(f"{served.url}/feature_maps")
        for p in pages:
            settle(p)
            p.locator('[data-testid="stSidebar"] [role="radio"]', has_text="Upload").click()
        for p, photo in zip(pages, photos, strict=True):  # four uploads in flight at once
            p.locator('[data-testid="stFileUploader"]', has_text="Image file").locator('input[type="file"]').set_input_files(
                str(photo)
            )
        for i, (p, (w, h)) in enumerate(zip(pages, sizes, strict=True)):
            expect(p.get_by_text(f"Original: upload: photo{i}.png, {w}×{h}")).to_be_visible(timeout=120_000)
            settle(p)
            expect(p.locator('[data-testid="stPlotlyChart"] .heatmaplayer image').first).to_be_visible()
            assert not problems(p), problems(p)
        replicas = [next(c["value"] for c in ctx.cookies() if c["name"] == COOKIE) for ctx in contexts]
        assert set(replicas) == {"r1", "r2"}, replicas
    finally:
        for c in contexts:
            c.close()


def test_a_replica_that_dies_is_taken_out_and_the_others_go_on(served, browser):
    assert served.replica_states() == {"r1": "UP", "r2": "UP"}
    os.kill(served.replica_pid("r2"), signal.SIGKILL)
    deadline = time.time() + 30
    while served.replica_states()["r2"] == "UP":  # two failed checks, 2 s apart
        assert time.time() < deadline, served.replica_states()
        time.sleep(0.5)
    for _ in range(2):  # new sessions, wherever their cookie would have sent them, are served by r1
        context = browser.new_context(viewport={"width": 1500, "height": 1800})
        page = context.new_page()
        page.goto(served.url)
        settle(page)
        expect(page.locator("h1")).to_have_text("Inside the YOLOv11 backbone")
        assert not problems(page)
        assert next(c["value"] for c in context.cookies() if c["name"] == COOKIE) == "r1"
        context.close()
    assert "replica r2 exited" in served.log.read_text()
    deadline = time.time() + 300
    while served.replica_states()["r2"] != "UP":  # deploy/serve starts it again; the health check lets it back in
        assert time.time() < deadline, served.log.read_text()[-3000:]
        time.sleep(1)


def test_sigterm_stops_every_process_and_leaves_nothing_listening(served):
    pids = [served.replica_pid("r1"), served.replica_pid("r2")]
    status_port = int(served.status_url.rsplit(":", 1)[1].strip("/"))
    assert served.stop() == 0
    assert "Stopped." in served.log.read_text()
    for port in (served.port, served.port + 1, served.port + 2, status_port):
        assert not listening(port), port
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), pid
    assert subprocess.run(["pgrep", "-f", "--", f"127.0.0.1:{served.port}|--server.port {served.port + 1} "]).returncode == 1
