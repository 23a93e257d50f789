"""The class's door into `deploy/serve`: HTTPS at the proxy (a self-signed certificate, a plain-HTTP port that
redirects), and only the class's users (401 on every path without credentials: the page, the websocket, the
upload endpoint, the health check). With credentials, Chromium walks every page over HTTPS, uploads a photo and
takes a camera snapshot with a fake camera (browsers give the camera only to a secure page). A missing or unreadable
certificate or users file is refused in one line, and nothing starts."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import CHROMIUM, HAPROXY, LAUNCH_ARGS, Served, free_port_block, listening, problems, settle
from PIL import Image

from pages.ui.entrypoint import PAGES

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "alice", "correct horse"
VIDEO_PLAYING = (  # the camera's stream has frames to take
    "() => { const v = document.querySelector('[data-testid=\"stCameraInput\"] video');"
    " return !!v && v.readyState >= 2 && v.videoWidth > 0; }"
)


if not os.path.exists(HAPROXY) or not shutil.which("openssl"):
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the HTTPS and users tests: install Debian's haproxy and openssl (.ci/run does)")
    pytest.skip(
        "Debian's haproxy or openssl is not installed: the HTTPS and users tests skipped on this developer machine",
        allow_module_level=True,
    )

from playwright.sync_api import expect  # noqa: E402


def users_file(folder: Path) -> Path:
    path = folder / "class.users"
    run = subprocess.run(
        [str(ROOT / "deploy" / "users"), "add", str(path), USER], input=f"{PASSWORD}\n", capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    return path


@pytest.fixture(scope="module")
def door(tmp_path_factory):
    """deploy/serve with one replica, HTTPS with a self-signed certificate (made in a scratch data folder), the
    class's users, and a plain-HTTP port that redirects."""
    tmp = tmp_path_factory.mktemp("door")
    served = Served(
        tmp,
        None,
        replicas=1,
        extra=["--self-signed", "--users", str(users_file(tmp))],
        env={"XDG_DATA_HOME": str(tmp / "data")},
        http_port=True,
    )
    try:
        served.wait_ready()
        yield served
    finally:
        served.stop()


def https(url: str, credentials: bool, method: str = "GET", headers: dict | None = None) -> int:
    context = ssl._create_unverified_context()  # the class accepts the self-signed certificate
    request = urllib.request.Request(url, method=method, headers=headers or {})
    if credentials:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def websocket_status(port: int, credentials: bool) -> int:
    """The status of a websocket handshake to /_stcore/stream over TLS (101 when it is let through)."""
    context = ssl._create_unverified_context()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, context.wrap_socket(raw) as tls:
        auth = ""
        if credentials:
            auth = "Authorization: Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() + "\r\n"
        tls.sendall(
            (
                "GET /_stcore/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: streamlit\r\nOrigin: https://127.0.0.1:{port}\r\n{auth}\r\n"
            ).encode()
        )
        return int(tls.recv(200).split(b" ")[1])


def test_https_and_the_fingerprint_are_printed(door):
    log = door.log.read_text()
    assert f"Serving the class at https://127.0.0.1:{door.port}" in log
    assert "SHA-256 fingerprint " in log and f"http://127.0.0.1:{door.http_port} redirects to it" in log
    assert "Only the 1 user(s) of" in log


def test_without_credentials_every_path_is_401(door):
    base = f"https://127.0.0.1:{door.port}"
    for path in ("/", "/feature_maps", "/_stcore/health", "/_stcore/host-config", "/media/x.png"):
        assert https(base + path, credentials=False) == 401, path
    assert https(base + "/_stcore/upload_file/s/f", credentials=False, method="PUT") == 401
    assert websocket_status(door.port, credentials=False) == 401
    # with them: the page, the health check and the websocket's handshake get through
    assert https(base + "/", credentials=True) == 200 and https(base + "/_stcore/health", credentials=True) == 200
    assert websocket_status(door.port, credentials=True) == 101
    wrong = base64.b64encode(f"{USER}:wrong".encode()).decode()
    assert https(base + "/", credentials=False, headers={"Authorization": f"Basic {wrong}"}) == 401


def test_plain_http_redirects_to_https(door):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(f"http://127.0.0.1:{door.http_port}/feature_maps?arch=yolo11n", timeout=30)
    assert caught.value.code == 301
    assert caught.value.headers["Location"] == f"https://127.0.0.1:{door.port}/feature_maps?arch=yolo11n"


def test_a_student_walks_every_page_uploads_and_takes_a_snapshot_over_https(door, tmp_path):
    from playwright.sync_api import sync_playwright

    photo = tmp_path / "photo.png"
    Image.new("RGB", (320, 200), (30, 140, 200)).save(photo)
    camera = LAUNCH_ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=camera)
        context = browser.new_context(
            ignore_https_errors=True,
            http_credentials={"username": USER, "password": PASSWORD},
            viewport={"width": 1500, "height": 1800},
        )
        page = context.new_page()
        try:
            base = f"https://127.0.0.1:{door.port}"
            for i, entry in enumerate(PAGES):
                page.goto(f"{base}/{entry.url_path}" if i else base)
                settle(page)
                assert not problems(page), (entry.title, problems(page))
            page.goto(f"{base}/feature_maps")
            settle(page)
            page.locator('[data-testid="stSidebar"] [role="radio"]', has_text="Upload").click()
            uploader = page.locator('[data-testid="stFileUploader"]', has_text="Image file").locator('input[type="file"]')
            uploader.set_input_files(str(photo))
            expect(page.get_by_text("Original: upload: photo.png, 320×200")).to_be_visible(timeout=120_000)
            settle(page)
            # the camera works here because the page is secure (HTTPS): the fake camera's frame becomes the photo
            page.locator('[data-testid="stSidebar"] [role="radio"]', has_text="Camera").click()
            snapshot = page.get_by_text("Original: camera snapshot", exact=False)
            for _ in range(3):  # a click before the stream's first frame takes nothing: wait for frames, click again
                page.wait_for_function(VIDEO_PLAYING, timeout=60_000)
                page.get_by_role("button", name="Take Photo").click(timeout=60_000)
                with contextlib.suppress(AssertionError):
                    expect(snapshot).to_be_visible(timeout=30_000)
                    break
            expect(snapshot).to_be_visible(timeout=60_000)
            settle(page)
            assert not problems(page), problems(page)
            assert page.evaluate("window.isSecureContext")
        finally:
            browser.close()


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--cert", "/nonexistent/cert.pem"], "the certificate /nonexistent/cert.pem does not exist"),
        (["--cert", "{unreadable}"], "cannot read the certificate"),
        (["--cert", "{not_pem}"], "holds no certificate"),
        (["--users", "/nonexistent/users"], "the users file /nonexistent/users does not exist"),
        (["--users", "{plain_users}"], "is not a crypt(3) hash HAProxy can check"),
        (["--users", "{unreadable}"], "cannot read the users file"),
    ],
)
def test_a_missing_or_unreadable_certificate_or_users_file_starts_nothing(tmp_path, options, words):
    unreadable = tmp_path / "folder.pem"
    unreadable.mkdir()  # a folder cannot be read as a file, not even by root
    (tmp_path / "not.pem").write_text("hello\n")
    (tmp_path / "plain.users").write_text("alice:secret\n")
    files = {"unreadable": unreadable, "not_pem": tmp_path / "not.pem", "plain_users": tmp_path / "plain.users"}
    port = free_port_block(2)
    start = time.perf_counter()
    run = subprocess.run(
        [str(ROOT / "deploy" / "serve"), "--replicas", "1", "--port", str(port), *(o.format(**files) for o in options)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and words in run.stderr and "nothing was started" in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and time.perf_counter() - start < 30
    assert not listening(port) and not listening(port + 1)
