"""The frame around every page (page config, the shared sidebar, the navigation), and how a page gets the
settings the sidebar decided in this run. Public Streamlit APIs only.

`pages/main.py` calls `frame()` at the start of every run and then runs the page it returns; a page reads
the run's settings with `current_settings()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import streamlit as st

from .guard import guard
from .server import environment
from .settings import Settings
from .sidebar import sidebar_controls

_SETTINGS = "settings"  # the Settings of the current run
_PAGES_DIR = Path(__file__).resolve().parents[1]


class PageEntry(NamedTuple):
    file: str  # in pages/
    title: str
    icon: str
    url_path: str  # the page's address: /overview ...


PAGES = [
    PageEntry("overview.py", "Overview", ":material/account_tree:", "overview"),
    PageEntry("graph.py", "Model graph", ":material/schema:", "graph"),
    PageEntry("model_summary.py", "Model summary", ":material/list_alt:", "model_summary"),
    PageEntry("feature_maps.py", "Feature maps", ":material/grid_view:", "feature_maps"),
    PageEntry("detections.py", "Detections", ":material/center_focus_strong:", "detections"),
    PageEntry("object_size.py", "Object size", ":material/straighten:", "object_size"),
    PageEntry("label_assignment.py", "Label assignment", ":material/how_to_reg:", "assignment"),
    PageEntry("latency.py", "Latency", ":material/timer:", "latency"),
    # not profile.py: the run puts pages/ on sys.path, where it would hide the standard library's `profile`
    PageEntry("layer_profile.py", "Profile", ":material/speed:", "profile"),
    PageEntry("compare.py", "Compare", ":material/compare_arrows:", "compare"),
    PageEntry("versus.py", "Tutorial vs YOLO11", ":material/difference:", "versus"),
    PageEntry("changes.py", "What changed", ":material/alt_route:", "changes"),
]


def frame() -> Any:
    """Draw what every page shares and return the page to show (the first one by default): the page object
    `st.navigation` returns."""
    st.set_page_config(page_title="YOLO explorer", page_icon=":material/frame_inspect:", layout="wide")
    with guard("reading the server's configuration"):
        environment()  # read once for every session; a bad variable is said on every page until it is fixed
    st.session_state[_SETTINGS] = sidebar_controls()
    pages = [
        st.Page(_PAGES_DIR / p.file, title=p.title, icon=p.icon, url_path=p.url_path, default=i == 0) for i, p in enumerate(PAGES)
    ]
    return st.navigation(pages, position="top")


def current_settings() -> Settings:
    """The settings the sidebar decided in this run; every page's `main()` calls this first."""
    return st.session_state[_SETTINGS]
