"""yolo-explorer: `streamlit run app.py` serves the app.

This file is the server only: an `st.App` whose lifespan warms the engine up before the first visitor, and
whose sessions run `pages/main.py` (the sidebar, the navigation and the page; why it lives there, and not
here beside `pages/`, is said in that file).
"""

from __future__ import annotations

import streamlit as st

from pages.ui.startup import lifespan

SCRIPT = "pages/main.py"  # relative to this file, as st.App resolves it under `streamlit run`

app = st.App(SCRIPT, lifespan=lifespan)
