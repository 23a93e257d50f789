"""Shared fixtures (AppTest runs of the app, the trained test detector, Chromium) and the test tiers.

A test's folder is its tier: `tests/engine` (the engine, `yolo_explorer`, and the command line), `tests/app` (the
Streamlit app, mostly through AppTest), `tests/browser` (a real Chromium, maybe HAProxy); each adds its marker.
`slow` is marked by the tests themselves: what an edit rarely needs (compiles, ONNX exports, subprocesses of the
CLI, wheel builds, fuzzing). `make test-quick` runs `not browser and not slow`; `make test` and CI run all.
"""

from __future__ import annotations

import ast
import copy
import os
import tempfile
import threading
from pathlib import Path

import pytest
from helpers import APP, TRAINED

# No test reads a developer's own weights: the weights folder is unset and the per-user cache that fetched
# checkpoints go to (XDG_CACHE_HOME/yolo-explorer/weights) is a new, empty folder, for the app servers the
# tests start too.
os.environ.pop("YOLO_EXPLORER_WEIGHTS_DIR", None)
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="yolo-explorer-tests-")
# Device locks are shared by the processes of one test run only (the servers it starts inherit this), not with
# another run or another xdist worker, whose forwards would otherwise make these wait; the tests of the lock
# itself give their processes a folder of their own.
os.environ["YOLO_EXPLORER_LOCK_DIR"] = tempfile.mkdtemp(prefix="yolo-explorer-locks-")


@pytest.fixture
def server_env(monkeypatch):
    """`server_env(name, value)` sets a server variable for this test (None: unsets it) and has the app read its
    environment again, as a restarted server would: the app reads it once (`pages.ui.server.environment`)."""
    from pages.ui.server import environment

    def set_variable(name: str, value: str | None) -> None:
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
        environment.clear()

    yield set_variable
    environment.clear()  # the next test reads the environment monkeypatch restores


@pytest.fixture
def one_parse_at_a_time(monkeypatch):
    """For a test that runs AppTest sessions in threads: ast.parse, one call at a time. It is not thread-safe in
    CPython 3.11 (python/cpython#106905: a spurious "SystemError: AST constructor recursion depth mismatch" when two
    threads parse at once), and every AppTest run compiles its script through it with a script cache of its own (two
    collided once in CI). A served app compiles each page once, under Streamlit's script cache lock."""
    lock, parse = threading.Lock(), ast.parse

    def parse_alone(*args, **kwargs):
        with lock:
            return parse(*args, **kwargs)

    monkeypatch.setattr(ast, "parse", parse_alone)


@pytest.fixture(scope="session")
def trained_once():
    from yolo_explorer import build_detector, load_weights
    from yolo_explorer.model.checkpoints import read_checkpoint

    checkpoint = read_checkpoint(TRAINED)
    model = build_detector("yolo11n", 4)
    load_weights(model, checkpoint)
    return model.eval(), checkpoint


@pytest.fixture
def trained_detector(trained_once):
    """The test suite's trained detector (tests/data/synthetic_yolo11n.pt: YOLO11n trained by Ultralytics on four
    coloured shapes, in eval mode), read and built once per session: a fresh copy for each test, which may fold,
    move or change it."""
    return copy.deepcopy(trained_once[0])


@pytest.fixture(scope="session")
def trained_checkpoint(trained_once):
    """The trained detector's checkpoint as `read_checkpoint` gives it (its tensors, names and task), read once."""
    return trained_once[1]


@pytest.fixture
def app():
    """A factory: the app run once on `page` with `widgets` set first (key -> value), checked error-free."""
    from streamlit.testing.v1 import AppTest

    def run(page: str | None = None, **widgets):
        at = AppTest.from_file(APP, default_timeout=180)
        at.run()
        if page:
            at.switch_page(page).run()
        for key, value in widgets.items():
            at.get_by_key(key).set_value(value)
        if widgets:
            at.run()
        return at

    return run


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium for the real-browser tests (test_browser.py and test_serve.py skip, or fail
    in CI, where it is missing)."""
    from helpers import CHROMIUM, LAUNCH_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


TIERS = ("engine", "app", "browser")  # tests/<tier>/test_*.py


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test the tier of its folder; an engine test that runs the app belongs in tests/app."""
    for item in items:
        tier = Path(item.path).parent.name
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: a test lives in tests/engine, tests/app or tests/browser")
        if tier == "engine" and "app" in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid} runs the app: it belongs in tests/app")
        item.add_marker(getattr(pytest.mark, tier))
