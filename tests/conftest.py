"""Shared fixtures: AppTest runs of the app, small image files."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "pages" / "main.py")  # the script every session runs; app.py serves it

# No test reads a developer's own weights: the weights folder is unset and the per-user cache that fetched
# checkpoints go to (XDG_CACHE_HOME/yolo-explorer/weights) is a new, empty folder, for the app servers the
# tests start too.
os.environ.pop("YOLO_EXPLORER_WEIGHTS_DIR", None)
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="yolo-explorer-tests-")


def image_bytes(size=(300, 100), color=(200, 40, 40), fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


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


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium for the real-browser tests (test_browser.py and test_serve.py skip, or fail
    in CI, where it is missing)."""
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, LAUNCH_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()
