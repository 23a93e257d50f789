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

    st.set_page_config(page_title="YOLO explorer", page_icon=":material/frame_inspect:", layout="wide")

    ui.mark_entrypoint(ui.sidebar_controls())

    pages = [
        st.Page("pages/overview.py", title="Overview", icon=":material/account_tree:", default=True),
        st.Page("pages/model_summary.py", title="Model summary", icon=":material/list_alt:"),
        st.Page("pages/feature_maps.py", title="Feature maps", icon=":material/grid_view:"),
        st.Page("pages/latency.py", title="Latency", icon=":material/timer:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("pages/versus.py", title="Tutorial vs YOLO11", icon=":material/difference:"),
    ]
    page = st.navigation(pages, position="top")
    with ui.guard(f"showing {page.title}"):  # the last line of defence: a message, never a traceback
        page.run()
