"""yolo-explorer: `streamlit run app.py`. The shared sidebar and the navigation; no model logic here.

`streamlit run` first imports this file as a module to find the server (`app`, an `st.App` whose lifespan
warms the engine up before the first visitor), then runs it as the script of every session
(`__name__ == "__main__"`).
"""

from __future__ import annotations

import streamlit as st

if __name__ != "__main__":  # imported by `streamlit run`: the server
    from pages.ui.startup import lifespan

    app = st.App(__file__, lifespan=lifespan)
else:  # a session's run
    from pages import ui

    page = ui.frame()  # page config, the shared sidebar, the top navigation
    with ui.guard(f"showing {page.title}"):  # the last line of defence: a message, never a traceback
        page.run()
