"""The sidebar's "Get Ultralytics' trained YOLO11n" button: one download for the whole server into its weights
folder, followed by every session that asks meanwhile, then offered to everyone; a failure is one message and the
app goes on; a server that fetches nothing says so. Against a local stand-in for Ultralytics' release server."""

from __future__ import annotations

import threading

import pytest
from helpers import no_problems
from release_server import STAND_IN, Handler, release_server

from yolo_explorer.model.pretrained import RELEASES


@pytest.fixture
def release(monkeypatch, tmp_path, server_env):
    """The app's weights folder (empty) and release server (local); the test's checkpoint stands in for
    Ultralytics' yolo11n.pt, whose pinned digest it takes."""
    monkeypatch.setitem(RELEASES, "yolo11n", STAND_IN)
    server_env("YOLO_EXPLORER_WEIGHTS_DIR", str(tmp_path / "weights"))
    with release_server() as url:
        server_env("YOLO_EXPLORER_WEIGHTS_URL", f"{url}/ok")
        yield url


def fetch_button(at):
    return at.button(key="fetch_yolo11n")


def test_one_click_fetches_the_weights_and_every_session_is_offered_them(app, release, tmp_path):
    at = app(arch="yolo11n", side=128)
    no_problems(at)
    assert fetch_button(at).label == f"Get Ultralytics' trained YOLO11n: {STAND_IN.megabytes}, AGPL-3.0"
    assert "random weights" in at.caption[0].value
    fetch_button(at).click().run()
    no_problems(at)
    assert (tmp_path / "weights" / "yolo11n.pt").is_file()
    assert at.get_by_key("server_weights_YOLO11n").value == "yolo11n.pt"  # offered, and the default
    assert "trained weights (yolo11n.pt)" in at.caption[0].value
    notes = " ".join(c.value for c in at.sidebar.caption)
    assert "Ultralytics' trained YOLO11n, AGPL-3.0" in notes  # the licence, where the weights are used
    assert not [b for b in at.button if b.key == "fetch_yolo11n"]

    other = app(arch="yolo11n", side=128)  # another session, later: offered at once, nothing to fetch
    assert other.get_by_key("server_weights_YOLO11n").value == "yolo11n.pt"
    assert not [b for b in other.button if b.key == "fetch_yolo11n"]


def test_two_sessions_asking_at_once_share_one_download(app, release, one_parse_at_a_time, server_env):
    server_env("YOLO_EXPLORER_WEIGHTS_URL", f"{release}/slow")
    first, second = app(arch="yolo11n", side=128), app(arch="yolo11n", side=128)
    before = len([r for r in Handler.requests if r.startswith("/slow/")])
    clicks = [threading.Thread(target=lambda at=at: fetch_button(at).click().run()) for at in (first, second)]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join(timeout=120)
    assert len([r for r in Handler.requests if r.startswith("/slow/")]) == before + 1
    for at in (first, second):
        no_problems(at)
        assert at.get_by_key("server_weights_YOLO11n").value == "yolo11n.pt"


def test_a_failed_download_is_one_message_and_the_app_goes_on(app, release, tmp_path, server_env):
    server_env("YOLO_EXPLORER_WEIGHTS_URL", f"{release}/portal")
    at = app(arch="yolo11n", side=128)
    fetch_button(at).click().run()
    assert not at.exception
    (message,) = [e.value for e in at.error]
    assert "yolo11n.pt could not be fetched" in message and "sent a web page, not a checkpoint" in message
    assert f"copy it to {tmp_path / 'weights' / 'yolo11n.pt'}" in message
    assert sorted(p.name for p in (tmp_path / "weights").iterdir() if not p.name.startswith(".")) == []
    assert "random weights" in at.caption[0].value and fetch_button(at).label.startswith("Get Ultralytics' trained")
    # fixed on the server's side, one more click fetches it
    server_env("YOLO_EXPLORER_WEIGHTS_URL", f"{release}/ok")
    fetch_button(at).click().run()
    no_problems(at)
    assert at.get_by_key("server_weights_YOLO11n").value == "yolo11n.pt"


def test_an_offline_server_offers_no_download(app, release, server_env):
    server_env("YOLO_EXPLORER_FETCH", "off")
    at = app(arch="yolo11n", side=128)
    no_problems(at)
    assert not [b for b in at.button if b.key == "fetch_yolo11n"]
    assert any("does not download weights (YOLO_EXPLORER_FETCH=off)" in c.value for c in at.sidebar.caption)


def test_the_tutorial_offers_no_download(app, release):
    at = app()
    assert not [b for b in at.button if (b.key or "").startswith("fetch_")]
