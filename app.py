"""yolo-explorer: `streamlit run app.py`. The shared sidebar and the navigation; no model logic here."""

from __future__ import annotations

import streamlit as st

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
