"""The server's configuration: its environment, read once (by the warm-up, before the first visitor) and shared by
every session. The engine is handed what it says; nothing else here reads an environment variable."""

from __future__ import annotations

import os

import streamlit as st

from yolo_explorer.deployment.devices import share_device_locks
from yolo_explorer.environment import Environment


@st.cache_resource(show_spinner=False)
def environment() -> Environment:
    """The server's `Environment`; its device locks shared in the folder it names.

    Raises:
        ValueError: a variable's value is not allowed (not cached: every page says so until the server is fixed).
    """
    try:
        env = Environment.read(os.environ)
    except ValueError as err:
        raise ValueError(f"the server is misconfigured: {err}. Whoever runs it must correct that and restart it") from None
    share_device_locks(env.lock_dir)
    return env
