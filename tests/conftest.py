"""Shared fixtures (AppTest runs of the app, Chromium) and the test tiers.

Every test gets one tier marker: `browser` (set by its module: a real Chromium, maybe HAProxy), `app` (it runs the
app in AppTest), or else `engine`. `slow` marks what an edit rarely needs (compiles, ONNX exports, subprocesses of
the CLI, wheel builds, fuzzing). `make test-quick` runs `not browser and not slow`; `make test` and CI run all.
"""

from __future__ import annotations

import ast
import inspect
import os
import tempfile
import threading

import pytest
from helpers import APP

# No test reads a developer's own weights: the weights folder is unset and the per-user cache that fetched
# checkpoints go to (XDG_CACHE_HOME/yolo-explorer/weights) is a new, empty folder, for the app servers the
# tests start too.
os.environ.pop("YOLO_EXPLORER_WEIGHTS_DIR", None)
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="yolo-explorer-tests-")
# Device locks are shared by the processes of one test run only (the servers it starts inherit this), not with
# another run or another xdist worker, whose forwards would otherwise make these wait; the tests of the lock
# itself give their processes a folder of their own.
os.environ["YOLO_EXPLORER_LOCK_DIR"] = tempfile.mkdtemp(prefix="yolo-explorer-locks-")


def _one_parse_at_a_time(parse):
    lock = threading.Lock()

    def parse_alone(*args, **kwargs):
        with lock:
            return parse(*args, **kwargs)

    return parse_alone


# ast.parse is not thread-safe in CPython 3.11 (python/cpython#106905: a spurious "SystemError: AST constructor
# recursion depth mismatch" when two threads parse at once). Every AppTest run compiles its script through
# ast.parse with a script cache of its own, so the tests that run two AppTest sessions in threads could collide (one
# did in CI). A served app compiles each page once, under Streamlit's script cache lock.
ast.parse = _one_parse_at_a_time(ast.parse)


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


_USES_APPTEST: dict[str, bool] = {}
# a test whose own code does one of these is slow: the CLI in a subprocess (seconds of imports each), a torch.compile
_SLOW_CALLS = ("cli(", 'compile="', "compile='")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test its tier: browser (its module says so), app (it runs the app in AppTest), else engine; and
    `slow` to a test that runs the CLI in a subprocess or compiles (modules that are slow throughout mark themselves)."""
    for item in items:
        function = getattr(item, "function", None)
        if function is not None and any(call in inspect.getsource(function) for call in _SLOW_CALLS):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("browser"):
            continue
        module = item.module
        if module.__name__ not in _USES_APPTEST:
            _USES_APPTEST[module.__name__] = "AppTest" in inspect.getsource(module)
        uses_app = "app" in getattr(item, "fixturenames", ()) or _USES_APPTEST[module.__name__]
        item.add_marker(pytest.mark.app if uses_app else pytest.mark.engine)
