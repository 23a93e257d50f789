"""The frame around every page (page config, the shared sidebar, the top navigation), and how a page gets
the settings the sidebar decided in this run. Public Streamlit APIs only.

`app.py` draws the frame and runs the page `st.navigation` returns. Because a `pages/` folder sits next
to app.py, Streamlit starts on its legacy multipage path: until some session has called `st.navigation`
(and in every AppTest run), a URL that names a page runs that page's file on its own, without app.py.
Such a page finds no settings for this run in `current_settings()`, draws the frame itself (which calls
`st.navigation` and so ends the legacy path for the whole server) and goes on as the page that
`st.navigation` resolved: each page's code runs once per run either way. The sidebar's widgets keep
their values through the switch (see `sidebar.kept`).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from .settings import Settings
from .sidebar import sidebar_controls

_SETTINGS = "settings"  # the Settings of the current run
_FRAMED = "_frame_drawn"  # set by frame(), taken by current_settings(): the frame was drawn in this run

PAGES = [  # (file, title, icon)
    ("pages/overview.py", "Overview", ":material/account_tree:"),
    ("pages/model_summary.py", "Model summary", ":material/list_alt:"),
    ("pages/feature_maps.py", "Feature maps", ":material/grid_view:"),
    ("pages/detections.py", "Detections", ":material/center_focus_strong:"),
    ("pages/latency.py", "Latency", ":material/timer:"),
    ("pages/profile.py", "Profile", ":material/speed:"),
    ("pages/compare.py", "Compare", ":material/compare_arrows:"),
    ("pages/versus.py", "Tutorial vs YOLO11", ":material/difference:"),
]


def frame() -> Any:
    """Draw what every page shares and return the page to show (the first one by default): the page object
    `st.navigation` returns."""
    st.set_page_config(page_title="YOLO explorer", page_icon=":material/frame_inspect:", layout="wide")
    st.session_state[_SETTINGS] = sidebar_controls()
    pages = [st.Page(path, title=title, icon=icon, default=i == 0) for i, (path, title, icon) in enumerate(PAGES)]
    page = st.navigation(pages, position="top")
    st.session_state[_FRAMED] = True
    return page


def current_settings() -> Settings:
    """The settings the sidebar decided in this run; every page calls this first."""
    if not st.session_state.pop(_FRAMED, False):  # run on its own by Streamlit's legacy pages/ path
        frame()
        st.session_state.pop(_FRAMED)
    return st.session_state[_SETTINGS]
