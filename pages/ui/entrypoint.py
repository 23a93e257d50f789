"""How a page gets the settings app.py read from the sidebar in this run."""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st

from .settings import Settings

ENTRYPOINT = Path(__file__).resolve().parents[2] / "app.py"
_ENTRY_FLAG = "_entrypoint_ran"


def mark_entrypoint(settings: Settings) -> None:
    """Called by app.py before it runs the page: the page then knows the sidebar was drawn in this run."""
    st.session_state["settings"] = settings
    st.session_state[_ENTRY_FLAG] = True


def current_settings() -> Settings:
    """The settings app.py read from the sidebar in this run; every page calls this first.

    Because a `pages/` folder exists, Streamlit takes its legacy multipage path on a server's very
    first run (and AppTest on every rerun) and may run a page script on its own, without app.py: no
    sidebar, no settings. The page then runs app.py itself, which draws the sidebar and runs this
    page properly, and the outer run stops here.
    """
    if not st.session_state.pop(_ENTRY_FLAG, False):
        runpy.run_path(str(ENTRYPOINT), run_name="__main__")
        st.stop()
    return st.session_state["settings"]
