"""The frame around every page with public Streamlit APIs only: one sidebar for every page, its values kept
across pages (also when Streamlit's legacy pages/ path runs a page on its own, as AppTest always does),
and each page's code run once per run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import no_problems

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["pages/overview.py", "pages/model_summary.py", "pages/feature_maps.py", "pages/latency.py", "pages/compare.py"]
PAGES += ["pages/profile.py", "pages/versus.py"]
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


def test_sidebar_values_are_kept_across_pages(app):
    at = app(width=16, side=320)  # set on the Overview, drawn by app.py
    at.switch_page("pages/feature_maps.py").run()  # AppTest runs the page on its own: the page draws the sidebar
    no_problems(at)
    assert at.get_by_key("width").value == 16 and at.get_by_key("side").value == 320
    at.get_by_key("side").set_value(256).run()
    at.get_by_key("sample").set_value("cat").run()
    at.switch_page("pages/overview.py").run()
    no_problems(at)
    assert (at.get_by_key("width").value, at.get_by_key("side").value, at.get_by_key("sample").value) == (16, 256, "cat")
    assert "Input 256×256" in at.caption[0].value
    assert not at.warning  # no "default value and Session State" warnings from the kept widgets


@pytest.mark.parametrize("page", PAGES)
def test_each_page_runs_once_per_run(app, page, monkeypatch):
    """The page's body (its title and all below) runs once per run, whoever drew the frame; a rerun that hands
    a sidebar value back happens before the page starts."""
    import streamlit as st

    titles = []
    real = st.title
    monkeypatch.setattr(st, "title", lambda *a, **k: titles.append(a[0]) or real(*a, **k))
    at = app()
    titles.clear()
    at.switch_page(page).run()
    no_problems(at)
    assert len(titles) == 1
    titles.clear()
    at.run()  # a rerun of the same page
    assert len(titles) == 1
