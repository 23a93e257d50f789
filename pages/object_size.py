"""Object size: how large an object of the photo is to each level of the pyramid. Drag a box on the photo (or type
it): its size in the model input after the letterbox, in cells of P3, P4 and P5, against each level's receptive
field, and the same over input sizes from 320 to 1280.

`controls` returns the box, `object_size.object_size` / `over_sizes` compute it, the `draw_*` functions show it.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from PIL import Image

from pages import ui
from yolo_explorer.detection.detections import PREDICT
from yolo_explorer.detection.object_size import ObjectSize, best_match, object_size
from yolo_explorer.present.formatting import escape_markdown
from yolo_explorer.present.insights import object_size_insight

SIZES = list(range(320, 1281, 160))  # the input sizes compared
KEYS = ("os_x1", "os_y1", "os_x2", "os_y2")  # the box's corners, in the photo's pixels
APPLIED = "os_applied_selection"  # the last dragged box already taken into the inputs


def main() -> None:
    settings = ui.current_settings()
    st.title("How large is an object to each level?")
    st.caption(
        f"{settings.config.label}: P3, P4 and P5 see the input on grids of stride 8, 16 and 32. Drag a box around an "
        "object on the photo (or type its corners) to see how many cells of each level it covers at "
        f"{settings.size_label}, how far each level's cells see, and how that changes with the input size."
    )
    with ui.guard("reading the image"):
        image = ui.image_for(settings.photo)
    box = controls(settings, image)
    with ui.guard("measuring the box"):
        view = object_size(
            settings.config, image.size, box, settings.size, stats_for=lambda c, size: ui.stats_for(c, size, "fp32")
        )
        views = ui.views.object_sizes(settings.config, image.size, box, tuple(SIZES))
    draw_levels(view)
    if settings.detector and settings.weights is not None and settings.weights.classes is not None:
        draw_winner(settings, box)
    draw_sizes(views, settings)


def controls(settings: ui.Settings, image: Image.Image) -> tuple[float, float, float, float]:
    """The photo with the current box (drag a new one with the box-select tool) and the box's corners as numbers."""
    width, height = image.size
    defaults = (width * 0.4, height * 0.4, width * 0.6, height * 0.6)
    for key, value in zip(KEYS, defaults, strict=True):
        st.session_state.setdefault(key, round(value))
    current = tuple(float(st.session_state[key]) for key in KEYS)
    figure = ui.views.box_chart(settings.photo.digest, image, current)
    event = st.plotly_chart(
        figure, width="stretch", key="os_photo", on_select="rerun", selection_mode="box", config={"displaylogo": False}
    )
    dragged = ui.views.dragged_box(event, figure)
    if dragged is not None and dragged != st.session_state.get(APPLIED):
        st.session_state[APPLIED] = dragged
        for key, value in zip(KEYS, dragged, strict=True):
            st.session_state[key] = round(min(max(value, 0), width if key in ("os_x1", "os_x2") else height))
        st.rerun()  # redraw the photo with the new box, and everything below for it
    st.caption("Drag on the photo to draw a box (the box-select tool), or type its corners in the photo's pixels:")
    cols = st.columns(4)
    for col, key, label, limit in zip(cols, KEYS, ("left x", "top y", "right x", "bottom y"), (width, height) * 2, strict=True):
        col.number_input(label, 0, limit, key=key, step=1)
    return tuple(float(st.session_state[key]) for key in KEYS)


def draw_levels(view: ObjectSize) -> None:
    """The box in the input and in each level's cells, beside each level's receptive field."""
    h, w = view.input_size
    st.subheader(f"At {h}×{w}: {view.width:.0f}×{view.height:.0f} px in the model input")
    cols = st.columns(len(view.levels))
    for col, level in zip(cols, view.levels, strict=True):
        col.metric(
            f"{level.name} (stride {level.stride})",
            f"{level.width_cells:.3g}×{level.height_cells:.3g} cells",
            delta=f"{level.cells_inside} cell centres inside",
            delta_color="off",
            delta_arrow="off",
            help=f"Its grid is {level.grid[0]}×{level.grid[1]}; each cell is {level.stride}×{level.stride} input pixels and "
            f"sees {level.receptive_field} px (its receptive field).",
        )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "level": level.name,
                    "stride (px)": level.stride,
                    "grid": f"{level.grid[0]}×{level.grid[1]}",
                    "box in cells": f"{level.width_cells:.2f} × {level.height_cells:.2f}",
                    "cell centres inside": level.cells_inside,
                    "receptive field (px)": level.receptive_field,
                    "field / object": level.field_over_object,
                }
                for level in view.levels
            ]
        ),
        hide_index=True,
        column_config={"field / object": st.column_config.NumberColumn(format="%.1f×")},
    )
    st.caption(object_size_insight(view))


def draw_winner(settings: ui.Settings, box: tuple[float, float, float, float]) -> None:
    """With a trained detector: the kept box of this photo that matches the drawn one, and the level that predicted it."""
    with ui.guard("running the detector on the image"):
        result = ui.detections_for(settings)
    match = best_match(box, result.detections)
    if match is None:
        st.info(
            f"None of the {len(result.detections)} boxes the detector keeps on this photo (score over {PREDICT.conf}, as `yolo "
            "predict`) overlaps this one by an IoU of 0.3 or more: draw the box around an object it finds (see Detections).",
            icon=":material/search_off:",
        )
        return
    detection, iou = match
    cell = detection.cell
    st.success(
        f"The detector's own box for it: **{escape_markdown(detection.name)}** {detection.score:.2f} (IoU {iou:.2f} with "
        f"yours), predicted by **{cell.level}** (stride {cell.stride}), cell ({cell.row}, {cell.col}), of the levels above.",
        icon=":material/target:",
    )


def draw_sizes(views: list[ObjectSize], settings: ui.Settings) -> None:
    """The same box over input sizes: its size in each level's cells."""
    st.subheader("Over input sizes")
    ui.show(ui.views.sizes_chart(views), key="os_sizes")
    st.caption(
        "The dotted line is one cell: below it the object is smaller than a cell of that level. The sidebar's input size "
        f"is {settings.size_label}; every size here is square, the photo letterboxed into it."
    )
    st.dataframe(
        pd.DataFrame(
            [
                {"input": f"{v.input_size[0]}×{v.input_size[1]}", "object (px)": f"{v.width:.0f}×{v.height:.0f}"}
                | {f"{level.name} cells wide": round(level.width_cells, 2) for level in v.levels}
                | {f"{level.name} centres inside": level.cells_inside for level in v.levels}
                for v in views
            ]
        ),
        hide_index=True,
    )


main()
