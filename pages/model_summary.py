"""Model summary: torchinfo's table for the current config, with depth and column pickers."""

from __future__ import annotations

import streamlit as st

from pages import ui
from yolo_explorer.model.stats import DEFAULT_SUMMARY_COLUMNS, SUMMARY_COLUMNS


def main() -> None:
    settings = ui.current_settings()
    st.title("Model summary")
    st.caption(
        f"torchinfo on {settings.config.label} at {settings.size_label}, computed on a weightless copy on the meta device "
        "(same modules and shapes, no compute, no hooks on the shared model)."
    )

    left, right = st.columns([1, 3])
    levels = left.slider(
        "Depth", 1, 6, 3, key="summary_depth", help="1 lists the top-level layers; deeper levels open the blocks."
    )
    columns = right.multiselect(
        "Columns",
        list(SUMMARY_COLUMNS),
        default=list(DEFAULT_SUMMARY_COLUMNS),
        format_func=SUMMARY_COLUMNS.get,
        key="summary_columns",
    )
    if not columns:
        st.info("Pick at least one column.")
        return

    with ui.guard("building the summary"):
        summary = ui.summary_for(settings.config, settings.size, levels, tuple(columns), settings.dtype)

    st.code(summary.text, language=None)
    st.download_button(
        "Download as text",
        summary.text,
        file_name=f"summary_{settings.arch}{'_w' + str(settings.width) if settings.arch == 'tutorial' else ''}"
        f"_{settings.size[0]}x{settings.size[1]}_depth{levels}.txt",
        mime="text/plain",
        on_click="ignore",
        icon=":material/download:",
    )
    st.caption(
        "Rows marked '--' are containers whose numbers are given by the rows under them; a ModuleList row shows its "
        "parameters but no mult-adds, because it is never called itself. torchinfo's total mult-adds include "
        "2 × channels for each BatchNorm (its parameter count), which is why it reads slightly above the Overview's MACs."
        + (
            " For a model with attention (YOLO11, YOLO12, YOLO26) it also misses the attention's two matrix products, which "
            "are not modules; the Overview counts them."
            if settings.arch != "tutorial"
            else ""
        )
    )


main()
