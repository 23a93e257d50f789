"""Fetching Ultralytics' checkpoints: against a local HTTP server on 127.0.0.1 that serves checkpoints Ultralytics
wrote (the synthetic YOLO11n it trained, its tiny test checkpoint) and misbehaves on purpose: no network, a proxy
that refuses, a 404, a web page instead of a checkpoint, a truncated transfer, a wrong digest, a file over the
limit, a full disk, a server that never answers, and two callers at once. Every failure is one clear sentence
that says how to do it by hand, and leaves nothing in the folder."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest
from release_server import CHECKPOINT, DATA, DIGEST, STAND_IN, Handler, release_server

from yolo_explorer import ARCHITECTURES, build_detector, load_weights
from yolo_explorer.environment import Environment
from yolo_explorer.model.pretrained import RELEASES, FetchError, Release, fetch, find_release, present


@pytest.fixture(scope="module")
def server():
    with release_server() as url:
        yield url


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


def leftovers(folder: Path) -> list[str]:
    """What a failure left in the folder besides the (hidden, empty) lock file."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) if folder.exists() else []


def test_a_checkpoint_is_fetched_checked_and_kept_with_its_digest(server, tmp_path):
    seen = []
    fetched = fetch(STAND_IN, tmp_path, base_url=f"{server}/ok", progress=lambda done, total: seen.append((done, total)))
    assert fetched.downloaded and fetched.path == tmp_path / "yolo11n.pt" and fetched.sha256 == DIGEST
    assert fetched.path.read_bytes() == CHECKPOINT
    assert (tmp_path / "yolo11n.pt.sha256").read_text() == f"{DIGEST}  yolo11n.pt\n"  # sha256sum -c reads it
    assert leftovers(tmp_path) == ["yolo11n.pt", "yolo11n.pt.sha256"]
    assert seen[-1] == (len(CHECKPOINT), len(CHECKPOINT)) and len(seen) > 1
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    report = load_weights(build_detector("yolo11n"), fetched.path)  # it is a usable detector
    assert report.names == ("red disc", "blue disc", "yellow square", "green triangle")

    before = len(Handler.requests)
    again = fetch(STAND_IN, tmp_path, base_url=f"{server}/ok")
    assert not again.downloaded and again.sha256 == DIGEST and len(Handler.requests) == before  # not downloaded twice


def test_the_chunked_transfer_without_a_length_works(server, tmp_path):
    assert fetch(STAND_IN, tmp_path, base_url=f"{server}/chunked").sha256 == DIGEST


@pytest.mark.parametrize(
    ("behaviour", "words"),
    [
        ("missing", "answered 404 Not Found"),
        ("portal", "sent a web page, not a checkpoint"),
        ("disguised", "sent a web page, not a checkpoint"),
        ("truncated", "the transfer"),
        ("tiny", "not a usable YOLO11n checkpoint"),
        ("noise", "not a usable YOLO11n checkpoint"),
    ],
)
def test_every_failure_is_one_clear_line_and_leaves_nothing(server, tmp_path, behaviour, words):
    unpinned = Release("yolo11n", "yolo11n", "detect", None, None)  # so that the content itself is checked
    with pytest.raises(FetchError) as caught:
        fetch(unpinned, tmp_path, base_url=f"{server}/{behaviour}", timeout=5)
    message = str(caught.value)
    assert words in message and "\n" not in message, message
    assert f"To do it by hand, download {server}/{behaviour}/yolo11n.pt and copy it to {tmp_path / 'yolo11n.pt'}" in message
    assert leftovers(tmp_path) == []


def test_a_wrong_digest_is_refused(server, tmp_path):
    wrong = Release("yolo11n", "yolo11n", "detect", None, "0" * 64)
    with pytest.raises(FetchError, match=f"SHA-256 is {DIGEST}, not the published 0000"):
        fetch(wrong, tmp_path, base_url=f"{server}/ok")
    assert leftovers(tmp_path) == []
    # Ultralytics' own yolo11n.pt is pinned: this file is not it
    with pytest.raises(FetchError, match="not the published 0ebbc80d"):
        fetch("yolo11n", tmp_path, base_url=f"{server}/ok")
    assert leftovers(tmp_path) == []


def test_a_file_over_the_limit_is_refused_before_and_while_downloading(server, tmp_path):
    with pytest.raises(FetchError, match="over the limit of 0.1 MB"):
        fetch(STAND_IN, tmp_path, base_url=f"{server}/ok", max_bytes=100_000)  # its length says so at once
    with pytest.raises(FetchError, match="larger than the limit of 0.1 MB"):
        fetch(STAND_IN, tmp_path, base_url=f"{server}/chunked", max_bytes=100_000)  # no length: counted
    assert leftovers(tmp_path) == []


def test_no_network_and_a_proxy_that_refuses(server, tmp_path, monkeypatch):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    with pytest.raises(FetchError, match=r"could not reach 127\.0\.0\.1:\d+ \(.*\): no network, or a proxy"):
        fetch(STAND_IN, tmp_path, base_url=f"http://127.0.0.1:{port}")
    # every request goes through a proxy, which refuses (urllib reads the proxy from the environment, as curl does)
    monkeypatch.setenv("http_proxy", server)
    with pytest.raises(FetchError, match="answered 403 Forbidden"):
        fetch(STAND_IN, tmp_path, base_url="http://weights.example")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")
    with pytest.raises(FetchError, match="could not reach"):
        fetch(STAND_IN, tmp_path, base_url="http://weights.example")
    assert leftovers(tmp_path) == []


def test_a_server_that_never_answers_times_out(server, tmp_path):
    start = time.perf_counter()
    with pytest.raises(FetchError, match="within 1 s|stalled for 1 s"):
        fetch(STAND_IN, tmp_path, base_url=f"{server}/silent", timeout=1)
    assert time.perf_counter() - start < 2.5
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full to make the disk full")
def test_a_full_disk_is_said_and_cleaned_up(server, tmp_path):
    # the download's temporary file written to /dev/full: the kernel answers ENOSPC as on a full disk
    (tmp_path / ".yolo11n.pt.part").symlink_to("/dev/full")
    with pytest.raises(FetchError, match=r"the disk is full: yolo11n\.pt \(5\.\d MB\) does not fit in"):
        fetch(STAND_IN, tmp_path, base_url=f"{server}/ok")
    assert leftovers(tmp_path) == [] and not (tmp_path / ".yolo11n.pt.part").exists()


def test_two_callers_at_once_download_once(server, tmp_path):
    """Two sessions (threads here; replicas are processes, and the lock is a file lock) ask at once: one downloads,
    the other waits, seeing the bytes arrive, then finds the file."""
    results, waited = {}, []
    before = len([r for r in Handler.requests if r.startswith("/slow/")])

    def ask(who: str) -> None:
        results[who] = fetch(STAND_IN, tmp_path, base_url=f"{server}/slow", wait=lambda done, total: waited.append(done))

    threads = [threading.Thread(target=ask, args=(who,)) for who in ("first", "second")]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(timeout=60)
    assert len([r for r in Handler.requests if r.startswith("/slow/")]) == before + 1  # one download for both
    assert sorted(r.downloaded for r in results.values()) == [False, True]
    assert {r.sha256 for r in results.values()} == {DIGEST} and waited
    assert leftovers(tmp_path) == ["yolo11n.pt", "yolo11n.pt.sha256"]


def test_a_file_already_there_that_is_not_the_release_is_left_alone(tmp_path):
    mine = tmp_path / "yolo11n.pt"
    mine.write_bytes(CHECKPOINT)  # someone's own yolo11n.pt, not Ultralytics'
    with pytest.raises(FetchError, match="is already there and is not Ultralytics' yolo11n.pt"):
        fetch("yolo11n", tmp_path, base_url="http://127.0.0.1:9")
    assert mine.read_bytes() == CHECKPOINT


def test_the_catalogue_and_the_folder(tmp_path):
    assert find_release("yolo11s.pt") is RELEASES["yolo11s"] and RELEASES["yolo11n"].megabytes == "5.6 MB"
    with pytest.raises(KeyError, match="no release called 'yolo13n'"):
        find_release("yolo13n")
    assert all(r.sha256 for r in RELEASES.values() if r.task == "detect")  # every detection model is pinned
    # every family's detectors, each from the release of Ultralytics' assets that holds it
    assert {r.arch for r in RELEASES.values() if r.task == "detect"} == {a for a in ARCHITECTURES if a != "tutorial"}
    assert RELEASES["yolo26n"].url == "https://github.com/ultralytics/assets/releases/download/v8.4.0/yolo26n.pt"
    assert RELEASES["yolo11n"].url == "https://github.com/ultralytics/assets/releases/download/v8.3.0/yolo11n.pt"
    folder = Environment.read({"YOLO_EXPLORER_WEIGHTS_DIR": str(tmp_path)}).weights_dir
    assert folder == tmp_path and present(folder) == {}
    (tmp_path / "yolo11s.pt").write_bytes(b"x")
    assert present(folder) == {"yolo11s": tmp_path / "yolo11s.pt"}
    cache = Environment.read({"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert cache.weights_dir == tmp_path / "cache" / "yolo-explorer" / "weights" and not cache.weights_dir_set


@pytest.mark.slow
def test_the_command_line_lists_fetches_and_uses_a_checkpoint_by_name(server, tmp_path):
    from helpers import cli

    env = {"YOLO_EXPLORER_WEIGHTS_DIR": str(tmp_path), "YOLO_EXPLORER_WEIGHTS_URL": f"{server}/ok"}
    listing = cli("weights", "list", env=env)
    assert listing.returncode == 0 and f"weights folder: {tmp_path}" in listing.stdout
    assert re.search(r"yolo11n\s+detect\s+5\.6 MB\s+pinned\s+-", listing.stdout) and "AGPL-3.0" in listing.stdout

    # Ultralytics' yolo11n.pt is pinned: the stand-in is refused, with the way to do it by hand, and exit 1
    refused = cli("weights", "fetch", "yolo11n", env=env)
    assert refused.returncode == 1 and "not the published 0ebbc80d" in refused.stderr and "To do it by hand" in refused.stderr
    assert leftovers(tmp_path) == []
    assert cli("weights", "fetch", "yolo13n", env=env).returncode == 2

    # a release without a pinned digest takes the file whose digest it prints and keeps
    fetched = cli("weights", "fetch", "yolo11n-pose", env=env)
    assert fetched.returncode == 0, fetched.stderr
    assert f"{tmp_path / 'yolo11n-pose.pt'}  fetched, SHA-256 {DIGEST} (AGPL-3.0, Ultralytics)" in fetched.stdout
    again = cli("weights", "fetch", "yolo11n-pose", env=env)
    assert "already there" in again.stdout
    row = rf"yolo11n-pose\s+pose\s+\?\s+-\s+{re.escape(str(tmp_path / 'yolo11n-pose.pt'))}"
    assert re.search(row, cli("weights", "list", env=env).stdout)

    # detect takes it by name from the weights folder, with its own class names
    photo = tmp_path / "photo.png"
    photo.write_bytes((DATA / "photos" / "enlarged_240x180.png").read_bytes())
    run = cli("detect", "--weights", "yolo11n-pose", "--image", str(photo), "--imgsz", "320", "--json", env=env)
    assert run.returncode == 0, run.stderr
    assert "its class names: red disc, blue disc, yellow square, green triangle" in run.stderr
    names = [d["name"] for d in json.loads(run.stdout)["detections"]]
    assert "red disc" in names and set(names) <= {"red disc", "blue disc", "yellow square", "green triangle"}
    only = cli(
        "detect", "--weights", "yolo11n-pose", "--image", str(photo), "--imgsz", "320", "--only", "red disc", "--json", env=env
    )
    assert {d["name"] for d in json.loads(only.stdout)["detections"]} == {"red disc"}
    missing = cli("detect", "--weights", "yolo11s", "--image", str(photo), env=env)
    assert missing.returncode == 1 and "fetch it first: python -m yolo_explorer weights fetch yolo11s" in missing.stderr
