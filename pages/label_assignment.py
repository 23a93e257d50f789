"""Label assignment: which cells of P3, P4 and P5 learn an object when a YOLO detector trains. Draw ground-truth boxes on the
photo (drag, or type them; with trained weights they start as the detector's own boxes), and see the candidates whose
centre lies inside each, the alignment metric that ranks them (score^alpha x CIoU^beta, from the model's own
predictions), the top-k it picks and the cells that learn each box, as Ultralytics' task-aligned assigner decides.

`controls` returns the boxes, `ui.assignment_for` assigns them (cached), the `draw_*` functions show the result."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
from PIL import Image

from pages import ui
from yolo_explorer.detection.assignment import Assignment, Truth, TruthAssignment, progloss_weights, truth_problem
from yolo_explorer.present.formatting import escape_markdown
from yolo_explorer.present.insights import assignment_insight

CORNERS = ("x1", "y1", "x2", "y2")
SHOWN = 15  # candidates listed per box unless every one is asked for


BRANCH_LABELS = {"one2many": "One-to-many (top 10)", "one2one": "One-to-one (top 7, then 1)"}


def main() -> None:
    settings = ui.current_settings()
    st.title("Which cells learn an object?")
    st.caption(
        "When a YOLO detector trains, each object of a photo is given to a few cells of P3, P4 and P5, which learn to "
        "predict its "
        'class and box; every other cell learns "no object". Ultralytics\' task-aligned assigner chooses them from the '
        "model's own predictions, at every step of training. Drag boxes on the photo (or type them) to see its choice."
    )
    if not settings.detector:
        st.info(
            "Label assignment is about the detector's head: pick an Ultralytics family and **Whole detector** in the "
            "sidebar (the tutorial builds the backbone only).",
            icon=":material/info:",
        )
        return
    branch = branch_control(settings) if settings.config.table.end2end else "one2many"
    trained = settings.weights is not None and settings.weights.classes is not None
    with ui.guard("reading the image"):
        image = ui.image_for(settings.photo)
    truths = controls(settings, image, trained)
    if not truths:
        st.info("Add a box: drag one on the photo, or add a row to the table.", icon=":material/add_box:")
        return
    with ui.guard("assigning the boxes to cells"):
        result, box = ui.assignment_for(settings, truths, branch)
    if not trained:
        draw_random_note(settings)
    draw_levels(settings, result, box, truths)
    draw_candidates(result)


def branch_control(settings: ui.Settings) -> str:
    """YOLO26: which branch's assignment to show, and ProgLoss's weight between the two over training."""
    left, right = st.columns([2, 3])
    branch = left.segmented_control(
        "Head branch",
        list(BRANCH_LABELS),
        default="one2many",
        required=True,
        key="as_branch",
        format_func=BRANCH_LABELS.get,
        help="YOLO26's head has two branches, each taught by its own assigner on its own predictions: the one-to-many "
        "branch's gives each object its 10 best-aligned cells, the one-to-one branch's takes the 7 best and keeps one, "
        "which is why that branch needs no NMS.",
    )
    with right:
        epochs = st.number_input("Epochs of training", 1, 1000, 100, key="as_epochs")
        epoch = st.slider("Epoch", 1, epochs, min(epochs, max(1, epochs // 2)), key=f"as_epoch_{epochs}")
        many, one = progloss_weights(epoch - 1, epochs)
        st.caption(
            f"ProgLoss in epoch {epoch} of {epochs}: loss = {many:.2f} × one-to-many + {one:.2f} × one-to-one. The "
            "one-to-many weight falls linearly from 0.80 in the first epoch to 0.10 in the last (Ultralytics' `E2ELoss`, "
            "updated after each epoch): early on both branches learn from many cells, later mostly from one."
        )
    return branch


def _rows_key(settings: ui.Settings) -> str:
    """Where this photo's boxes live: a new photo or a head with other classes starts from its own defaults."""
    return f"as_rows_{settings.photo.digest}_{len(settings.class_names)}"


def _default_rows(settings: ui.Settings, image: Image.Image, trained: bool) -> list[dict]:
    """The detector's own boxes on this photo (its four best), or with random weights one box in the middle."""
    names = settings.class_names
    if trained:
        with ui.guard("running the detector on the image"):
            found = ui.detections_for(settings).detections[:4]
        if found:
            return [{"class": d.name} | dict(zip(CORNERS, (round(v) for v in d.box), strict=True)) for d in found]
    width, height = image.size
    middle = (width * 0.35, height * 0.3, width * 0.65, height * 0.7)
    return [{"class": names[0]} | dict(zip(CORNERS, (round(v) for v in middle), strict=True))]


def controls(settings: ui.Settings, image: Image.Image, trained: bool) -> tuple[Truth, ...]:
    """The photo with the boxes (drag another with the box-select tool) and the boxes' table (class and corners in the
    photo's pixels, rows can be added, edited and deleted); returns the valid boxes, saying what is wrong with others."""
    names = settings.class_names
    key = _rows_key(settings)
    if key not in st.session_state:
        st.session_state[key] = st.session_state[f"{key}_start"] = _default_rows(settings, image, trained)
    version = st.session_state.setdefault("as_version", 0)
    rows = st.session_state[key]
    left, right = st.columns([3, 2])
    with left:
        boxes = tuple(tuple(float(r[c]) for c in CORNERS) for r in rows if _complete(r))
        figure = ui.views.truths_chart(settings.photo.digest, image, boxes)
        event = st.plotly_chart(
            figure, width="stretch", key=f"as_photo_{version}", on_select="rerun", selection_mode="box",
            config={"displaylogo": False},
        )  # fmt: skip
    with right:
        new_class = st.selectbox("Class of a dragged box", names, key="as_new_class")
        edited = st.data_editor(
            pd.DataFrame(rows, columns=["class", *CORNERS]),
            key=f"as_editor_{key}_{version}",
            num_rows="dynamic",
            hide_index=True,
            width="stretch",
            column_config={
                "class": st.column_config.SelectboxColumn("class", options=list(names), required=True),
                **{c: st.column_config.NumberColumn(c, min_value=0, step=1, format="%d") for c in CORNERS},
            },
        )
        st.caption(
            "Corners in the photo's pixels (left, top, right, bottom). "
            + ("They start as the detector's own boxes." if trained else "")
        )
        if st.button("Start again", icon=":material/restart_alt:", help="Back to the boxes this photo started with"):
            del st.session_state[key]
            st.session_state["as_version"] = version + 1
            st.rerun()
    current = edited.to_dict("records")
    dragged = _dragged_box(event, figure, image.size)
    if dragged is not None:  # a new box: the table starts again from what it shows now, plus this one
        st.session_state[key] = current + [{"class": new_class} | dict(zip(CORNERS, dragged, strict=True))]
        st.session_state["as_version"] = version + 1
        st.rerun()
    truths, problems = [], []
    for n, row in enumerate(current, start=1):
        if not _complete(row) or row["class"] not in names:
            problems.append(f"row {n} is not filled in")
            continue
        truth = Truth(tuple(float(row[c]) for c in CORNERS), names.index(row["class"]))
        problem = truth_problem(truth, image.size, len(names))
        if problem:
            problems.append(f"row {n}: {problem}")
        else:
            truths.append(truth)
    if problems:
        st.warning("Left out: " + "; ".join(escape_markdown(p) for p in problems) + ".", icon=":material/edit_off:")
    ui.truths.keep_drawn(settings, tuple(truths), edited=current != st.session_state.get(f"{key}_start"))
    return tuple(truths)


def _complete(row: dict) -> bool:
    values = [row.get(c) for c in CORNERS]
    return all(isinstance(v, (int, float)) and not math.isnan(v) for v in values) and isinstance(row.get("class"), str)


def _dragged_box(event, figure, photo: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The box a user dragged, in whole pixels inside the photo (None when nothing or nothing of area was dragged)."""
    dragged = ui.views.dragged_box(event, figure)
    if dragged is None:
        return None
    width, height = photo
    x1, x2 = (round(min(max(v, 0), width)) for v in (dragged[0], dragged[2]))
    y1, y2 = (round(min(max(v, 0), height)) for v in (dragged[1], dragged[3]))
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def draw_random_note(settings: ui.Settings) -> None:
    st.warning(
        "These scores and boxes are a random network's: the class scores sit near the head's starting bias and the "
        "boxes fit nothing, so the metric ranks the cells inside each box nearly by chance. As the network trains, the "
        "cells near an object's centre, on the level whose cells suit its size, come to predict its class and its box "
        "best; the metric then picks them, and they learn it further. Get Ultralytics' trained "
        f"{settings.config.backbone.label} with the button in the sidebar to see that.",
        icon=":material/model_training:",
    )


def draw_levels(settings: ui.Settings, result: Assignment, box, truths: tuple[Truth, ...]) -> None:
    """The boxes on the model input with their candidates and the cells that learn them, one panel per level; a line
    per box saying where they are."""
    h, w = result.input_size
    st.subheader(f"{result.foreground} of {result.anchors:,} cells learn a box")
    st.caption(
        f"On the {h}×{w} input (square, as training feeds the model). For each box: the cells whose centre lies inside "
        f"it (grey rings) are ranked by the alignment metric score^{result.alpha:g} × CIoU^{result.beta:g}, where score "
        "is what the cell predicts for the box's class and CIoU how well the box it predicts fits; the top "
        f"{result.topk} learn the box (filled dots, larger for a higher target score). A cell two boxes pick goes to "
        "the one its box overlaps most (a cross on the other). A box narrower than one P4 cell "
        f"({result.min_side:.0f} px) is first widened to it."
        + (
            f" The one-to-one branch then keeps only each box's {result.topk2} best cell: one cell per object."
            if result.topk2
            else ""
        )
    )
    photo = (box.left, box.top, box.left + box.resized[0], box.top + box.resized[1])  # the input without its padding
    chart = ui.views.assignment_chart((settings.forward_key, result.input_size, truths), box.image, result, photo)
    ui.show(chart, key="as_levels")
    table = []
    for truth in result.truths:
        x1, y1, x2, y2 = truth.box
        candidates, positives = truth.count(), truth.count("positives")
        table.append(
            {"box": truth.index + 1, "class": truth.name, "in the input (px)": f"{x2 - x1:.0f}×{y2 - y1:.0f}"}
            | {f"inside {lv}": candidates[lv] for lv, _, _ in result.levels}
            | {f"learn {lv}": positives[lv] for lv, _, _ in result.levels}
            | {"best metric": truth.candidates[0].metric if truth.candidates else 0.0}
        )
    st.dataframe(
        pd.DataFrame(table), hide_index=True, column_config={"best metric": st.column_config.NumberColumn(format="%.3g")}
    )
    for truth in result.truths:
        st.caption(escape_markdown(assignment_insight(truth, result.topk)))


def draw_candidates(result: Assignment) -> None:
    """One box's candidates, best metric first, with the metric's parts and what the assigner made of each."""
    st.subheader("The metric's parts")
    labels = [f"box {t.index + 1}: {t.name}" for t in result.truths]
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Box", labels, key="as_box") if len(labels) > 1 else labels[0]
    every = right.toggle("Every candidate", key="as_every", help=f"Otherwise the first {SHOWN} by metric")
    truth: TruthAssignment = result.truths[labels.index(chosen) if chosen in labels else 0]
    shown = truth.candidates if every else truth.candidates[:SHOWN]
    if not shown:
        st.info("No cell centre lies inside this box.", icon=":material/search_off:")
        return
    rows = [
        {
            "rank": c.rank,
            "level": c.cell.level,
            "cell": f"{c.cell.row}, {c.cell.col}",
            "score": c.score,
            f"score^{result.alpha:g}": c.score**result.alpha,
            "CIoU": c.iou,
            f"CIoU^{result.beta:g}": c.iou**result.beta,
            "metric": c.metric,
            "top-k": c.picked,
            "learns it": c.positive,
            "target": c.target,
            "note": f"taken by box {c.taken_by + 1}" if c.taken_by is not None else "",
        }
        for c in shown
    ]
    number = st.column_config.NumberColumn(format="%.3g")
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "score": st.column_config.NumberColumn(format="%.3f", help="The cell's predicted score of the box's class"),
            "CIoU": st.column_config.NumberColumn(
                format="%.3f", help="Complete IoU of the cell's predicted box with this box (0 when it is negative)"
            ),
            f"score^{result.alpha:g}": number,
            f"CIoU^{result.beta:g}": number,
            "metric": number,
            "target": st.column_config.NumberColumn(
                format="%.3f", help="What the cell learns as the class's score: its metric scaled so the best cell's is its CIoU"
            ),
        },
    )
    st.caption(
        f"{len(truth.candidates)} candidates; the top {result.topk} by metric are picked. A cell learns the box's class "
        "with the target score and its box with the box loss; the metric raises the cells whose class score and box are "
        "both good, so classification and localisation train on the same cells (TOOD's task alignment)."
    )


main()
