"""The frame around every page with public Streamlit APIs only: one script for every run (pages/main.py,
which app.py serves, so Streamlit never takes its legacy pages/ path), one sidebar for every page, its values
kept across pages, and each page's code run once per run."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from helpers import APP, no_problems

from pages.ui.entrypoint import PAGES

ROOT = Path(__file__).resolve().parents[2]
PAGE_FILES = [p.file for p in PAGES]
PUBLIC = {"streamlit", "streamlit.testing.v1", "streamlit.components.v1", "streamlit.column_config"}  # documented modules


def project_files() -> list[Path]:
    folders = ["pages", "yolo_explorer", "tests", "bench", "deploy"]
    return [ROOT / "app.py", *(p for folder in folders for p in (ROOT / folder).rglob("*.py"))]


def streamlit_uses(tree: ast.AST) -> list[str]:
    """Every streamlit module imported, and every private attribute reached through `st`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "streamlit"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "streamlit":
            found.append(node.module)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("st", "streamlit")
            and (node.attr.startswith("_") or node.attr in ("runtime", "web", "elements", "proto", "delta_generator"))
        ):
            found.append(f"st.{node.attr}")
    return found


def test_the_project_uses_public_streamlit_modules_only():
    private = {
        f"{path.relative_to(ROOT)}: {use}"
        for path in project_files()
        for use in streamlit_uses(ast.parse(path.read_text(), str(path)))
        if use not in PUBLIC
    }
    assert not private, sorted(private)


def test_the_check_finds_a_private_import():
    """The control: the scan above does see what it forbids."""
    code = "from streamlit.runtime.scriptrunner import get_script_run_ctx\nimport streamlit as st\nst._main\n"
    assert streamlit_uses(ast.parse(code)) == ["streamlit.runtime.scriptrunner", "streamlit", "st._main"]


def served_script() -> Path:
    """The session script app.py hands to st.App (its first argument), read from app.py's code."""
    tree = ast.parse((ROOT / "app.py").read_text())
    constants = {
        t.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", None) == "App"]
    assert len(calls) == 1, "app.py builds one st.App"
    arg = calls[0].args[0]
    return ROOT / (arg.value if isinstance(arg, ast.Constant) else constants[arg.id])


def test_streamlit_never_takes_its_legacy_pages_path():
    """Streamlit runs pages/*.py on their own (without the frame) exactly when the session script has a pages/
    folder beside it. The script app.py serves has none, and it is the one the tests run."""
    script = served_script()
    assert script.is_file()
    assert not (script.parent / "pages").exists()
    assert script == Path(APP)


def test_app_py_is_the_server_only():
    """Importing app.py (as `streamlit run` does) builds the server and draws nothing."""
    import streamlit as st

    sys.modules.pop("app", None)
    import app

    assert isinstance(app.app, st.App)


def test_no_page_file_hides_a_module():
    """The run puts pages/ on sys.path: a page named like a standard-library or installed module would hide it
    (a pages/profile.py broke cProfile)."""
    import importlib.util

    names = {Path(p).stem for p in PAGE_FILES} | {"main"}
    hidden = []
    for name in names - {"main"}:
        spec = importlib.util.find_spec(name) if name not in sys.modules else None
        origin = getattr(spec, "origin", "") or ""
        if name in sys.stdlib_module_names or (spec is not None and "pages" not in origin):
            hidden.append(name)
    assert not hidden


def test_every_page_is_a_file_and_in_the_navigation(app):
    at = app()
    for page in PAGE_FILES:
        assert (ROOT / "pages" / page).is_file()
    assert len({p.url_path for p in PAGES}) == len(PAGES)
    no_problems(at)


def test_sidebar_values_are_kept_across_pages(app):
    at = app(width=16, side=320)  # set on the Overview
    at.switch_page("feature_maps.py").run()
    no_problems(at)
    assert at.get_by_key("width").value == 16 and at.get_by_key("side").value == 320
    at.get_by_key("side").set_value(256).run()
    at.get_by_key("sample").set_value("cat").run()
    at.switch_page("overview.py").run()
    no_problems(at)
    assert (at.get_by_key("width").value, at.get_by_key("side").value, at.get_by_key("sample").value) == (16, 256, "cat")
    assert "Input 256×256" in at.caption[0].value
    assert not at.warning  # no "default value and Session State" warnings from the kept widgets


@pytest.mark.parametrize("page", PAGE_FILES)
def test_each_page_runs_once_per_run(app, page, monkeypatch):
    """Each run draws the frame once and the page's body (its title and all below) once, on a page switch too:
    no second run is needed to hand the sidebar's values back."""
    import streamlit as st

    from pages import ui

    titles, frames = [], []
    real_title, real_frame = st.title, ui.frame
    monkeypatch.setattr(st, "title", lambda *a, **k: titles.append(a[0]) or real_title(*a, **k))
    monkeypatch.setattr(ui, "frame", lambda: frames.append(1) or real_frame())
    at = app()
    titles.clear(), frames.clear()
    at.switch_page(page).run()
    no_problems(at)
    assert (len(titles), len(frames)) == (1, 1)
    titles.clear(), frames.clear()
    at.run()  # a rerun of the same page
    assert (len(titles), len(frames)) == (1, 1)


def test_a_hidden_sidebar_value_comes_back(app):
    """A widget a run does not draw (the tutorial's width while YOLO11 is chosen) has its value when it is drawn again."""
    at = app(width=40)
    at.get_by_key("arch").set_value("yolo11n").run()
    at.switch_page("model_summary.py").run()
    at.get_by_key("arch").set_value("tutorial").run()
    no_problems(at)
    assert at.get_by_key("width").value == 40
    assert not at.warning
