"""The script every session runs (`app.py` serves it): the frame (page config, the shared sidebar, the
navigation), then the page `st.navigation` picks, inside the error boundary.

It lives in `pages/` on purpose. Streamlit takes its legacy multipage path (each `pages/*.py` run on its own,
without the frame) exactly when the session script has a `pages/` folder beside it; this script has none, so
every run, the first request to a page's URL after a restart and every AppTest run included, goes through here.
"""

from __future__ import annotations

from pages import ui

page = ui.frame()
with ui.guard(f"showing {page.title}"):  # the last line of defence: a message, never a traceback
    page.run()
