"""Detections: the whole detector (any family) on the photo. With trained weights, the boxes that NMS keeps
(class-aware or across classes, of all classes or those chosen), mapped back through the letterbox; with
random weights, the best class score of every cell of P3, P4 and P5 instead (what the head predicts before
any threshold).

`controls` returns the `Request` (thresholds, input, classes), `ui.detections_for` runs it (cached), and `draw_boxes`
or `draw_random` then `draw_score_maps` show the result."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from pages import ui
from pages.ui.controls import BRANCH, BRANCH_OPTIONS, CONF, INPUT, INPUTS, IOU
from yolo_explorer.detection.detections import BRANCHES, Nms
from yolo_explorer.detection.two_heads import PREDICT_MODES
from yolo_explorer.detection.walkthrough import SIDES, Walkthrough, box_distributions
from yolo_explorer.forward.preprocess import letterbox_size
from yolo_explorer.present.detection_figures import branch_scores_figure, dfl_figure, nms_step_figure, reliability_figure
from yolo_explorer.present.formatting import escape_markdown
from yolo_explorer.present.insights import levels_insight
from yolo_explorer.present.rendering import boxes_image, png_bytes

PREDICT = INPUTS["predict"]


@dataclass(frozen=True)
class Request:
    """What the controls ask of the detector: Ultralytics' predict arguments, as this page offers them."""

    nms: Nms
    rect: bool  # padded only to a multiple of 32, as `yolo predict` (else the sidebar's whole size)
    branch: str = "one2many"  # the head's branch read: YOLO26 has a one-to-one one too (no NMS)


def main() -> None:
    settings = ui.current_settings()
    st.title("Detections")
    if not settings.detector:
        st.info(
            "Detections come from the whole detector: pick an Ultralytics family (YOLO26, YOLO12, YOLO11, YOLOv8) and "
            "**Whole detector** in the sidebar (the tutorial builds the backbone only).",
            icon=":material/info:",
        )
        return
    trained = settings.weights is not None and settings.weights.classes is not None
    request = controls(settings, trained)
    with ui.guard("running the detector on the image"):
        result = ui.detections_for(settings, request.nms, request.rect, request.branch)
        image = ui.image_for(settings.photo)
    if trained:
        draw_boxes(settings, request, result, image)
        if settings.config.table.end2end:
            draw_both_heads(settings, request)
        if request.branch == "one2one":
            st.caption(
                "No NMS to walk through: the one-to-one branch was trained to give each object one box, so its top "
                "scores are read as they are (switch to the one-to-many branch to see NMS step by step)."
            )
        else:
            walk(settings, request)
        why(settings, request, result, image)
        heading, notes = "Best class score per cell, before the threshold", None
    else:
        heading, notes = "Best class score per cell of P3, P4 and P5", draw_random(settings, result)
    draw_score_maps(settings, result, heading, notes)


def controls(settings: ui.Settings, trained: bool) -> Request:
    """The thresholds, the input and (with trained weights) the classes and the kind of suppression; a link to this
    view may set the thresholds and the input (conf=0.5&iou=0.45&input=full)."""
    ui.links.set_from_link(CONF, IOU, INPUT, BRANCH)  # a link to this view may set the thresholds, the input, the branch

    branch = "one2many"
    if settings.config.table.end2end:
        chosen = st.segmented_control(
            "Head branch",
            BRANCH.values,
            default=BRANCH.default,
            required=True,
            key=BRANCH.key,
            help="YOLO26's head has two copies of its branches. The one-to-many one was trained to give several boxes per "
            "object, read through NMS: what `yolo predict` runs by default since Ultralytics 8.4.142. The one-to-one one "
            "was trained to give one box per object: its top scores are read without NMS (`predict(nms=False)`).",
        )
        branch = next(word for word, option in BRANCH_OPTIONS.items() if option == chosen)
        ui.links.publish_page(BRANCH.link, branch)
    left, right = st.columns(2)
    conf = left.slider(
        "Score threshold",
        CONF.low,
        CONF.high,
        CONF.default,
        CONF.step,
        key=CONF.key,
        help="A box is kept when its best class score is above this.",
    )
    iou = right.slider(
        "IoU threshold (NMS)",
        IOU.low,
        IOU.high,
        IOU.default,
        IOU.step,
        key=IOU.key,
        help="Of two boxes of the same class overlapping more than this (intersection over union), the lower-scored is dropped.",
        disabled=branch == "one2one",
    )

    with ui.guard("reading the image"):
        (h, w), _, _ = letterbox_size(ui.image_for(settings.photo).size, settings.size, rect=True)
    sizing = st.segmented_control(
        "Input",
        INPUT.values,
        default=INPUT.default,
        required=True,
        key=INPUT.key,
        format_func=lambda o: f"{o}: {h}×{w}" if o == PREDICT else f"{o}: {settings.size_label}",
        help="Ultralytics' predict fits the photo in the input size and pads it only up to a multiple of 32 (its `rect`), "
        "which is what makes `yolo predict imgsz=640` and this page give the same boxes. The other pages pad to the whole size.",
    )
    rect = sizing == PREDICT
    for control, value in ((CONF, conf), (IOU, iou), (INPUT, sizing)):
        ui.links.publish_page(control.link, control.text(value))

    agnostic, picked = False, None
    if trained:  # what to keep: only with trained weights are there boxes to filter
        names = settings.class_names
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        chosen = left.multiselect(
            "Classes",
            names,
            key=f"det_classes_{settings.classes}",  # a head with another class count starts a new choice
            placeholder="All classes",
            help="Keep only these classes (Ultralytics' `classes`): a cell whose best class is another is dropped.",
        )
        agnostic = right.toggle(
            "Suppress across classes",
            key="det_agnostic",
            help="Class-agnostic NMS (Ultralytics' `agnostic_nms`): of two overlapping boxes the lower-scored is dropped even "
            "when their classes differ. Off: each class is suppressed on its own, so a cat and a dog may share a box.",
        )
        picked = tuple(sorted(names.index(name) for name in chosen)) or None

    return Request(Nms(conf, iou, agnostic, picked), rect, branch)


def draw_boxes(settings: ui.Settings, request: Request, result, image) -> None:
    """The boxes NMS keeps on the photo, their table (with the level and cell of each) and the downloads."""
    nms = request.nms
    conf, picked = nms.conf, nms.classes
    names = settings.class_names
    input_h, input_w = result.box.size
    among = f" ({', '.join(escape_markdown(names[i]) for i in picked)})" if picked else ""
    kind = "class-agnostic" if nms.agnostic else "class-aware"
    capped = f" ({nms.max_det} at most, as Ultralytics' `max_det`)" if len(result.detections) == nms.max_det else ""
    folded = ", BatchNorm folded as Ultralytics' predict runs it" if settings.batch_norm == "running" else ""
    how = f"by {kind} NMS at IoU {nms.iou:.2f}"
    if request.branch == "one2one":
        how = "from the one-to-one branch's top scores, without NMS"
    elif settings.config.table.end2end:
        how = f"from the one-to-many branch {how}"
    st.caption(
        f"{settings.config.label} with {escape_markdown(settings.weights.name)}, letterboxed to {input_h}×{input_w}, "
        f"eval mode{folded}. "
        f"{len(result.detections)} boxes kept of {result.candidates} cells above {conf:.2f}{among}, "
        f"{how}{capped}."
    )
    chart_key = (settings.forward_key, nms, request.branch)
    ui.show(ui.views.detections_chart(chart_key, image, result.detections), key="det_boxes")
    if result.detections:
        table = pd.DataFrame(
            [
                {
                    "class": d.name,
                    "score": d.score,
                    "x1": d.box[0],
                    "y1": d.box[1],
                    "x2": d.box[2],
                    "y2": d.box[3],
                    "level": d.cell.level,
                    "cell": f"{d.cell.row}, {d.cell.col}",
                }
                for d in result.detections
            ]
        )
        st.dataframe(
            table,
            hide_index=True,
            width="content",
            column_config={
                "class": st.column_config.TextColumn(width="medium"),
                "score": st.column_config.NumberColumn(format="%.3f"),
                **{c: st.column_config.NumberColumn(format="%.0f") for c in ("x1", "y1", "x2", "y2")},
                "level": st.column_config.TextColumn(help="The level of the pyramid whose cell predicted the box"),
                "cell": st.column_config.TextColumn(help="Row, column of that cell in the level's grid"),
            },
        )
        st.caption(levels_insight(result.detections, result.box.scale))
        left, middle, right, _ = st.columns([1, 1, 1, 2])
        left.download_button(
            "Photo with boxes (PNG)",
            lambda: png_bytes(boxes_image(image, result.detections)),  # drawn only when asked for
            file_name="detections.png",
            mime="image/png",
            on_click="ignore",
            icon=":material/download:",
        )
        middle.download_button(
            "Boxes as CSV",
            lambda: table.to_csv(index=False),
            file_name="detections.csv",
            mime="text/csv",
            on_click="ignore",
            icon=":material/download:",
        )
        right.download_button(
            "Boxes as JSON",
            lambda: json.dumps({"model": settings.config.label, **nms.to_dict(), **result.to_dict()}, indent=2),
            file_name="detections.json",
            mime="application/json",
            on_click="ignore",
            icon=":material/download:",
            help="As `python -m yolo_explorer detect --json` writes it (the same fields).",
        )
    else:
        among = " among the classes chosen" if picked else ""
        st.info(f"Nothing scores above {conf:.2f} here{among}: lower the score threshold.", icon=":material/search_off:")


def draw_both_heads(settings: ui.Settings, request: Request) -> None:
    """YOLO26's two branches on the photo with the same thresholds: what both keep, what one keeps alone, the one-to-one
    branch's duplicates, both score distributions, and which one `yolo predict` reads."""
    st.subheader("Both heads on this photo")
    with ui.guard("reading both branches"):
        heads = ui.two_heads_for(settings, request.nms, request.rect)
    cols = st.columns(4)
    cols[0].metric("One-to-many + NMS", len(heads.one2many.detections), help=f"of {heads.one2many.candidates} candidates")
    cols[1].metric("One-to-one, no NMS", len(heads.one2one.detections))
    cols[2].metric("Found by both", len(heads.pairs), help=f"same class, IoU {heads.match_iou} or more")
    cols[3].metric("One-to-one duplicates", len(heads.duplicates), help="what NMS would have removed")
    rows = [("only through NMS", d, "") for d in heads.only_one2many]
    duplicates = {id(dup): (kept, overlap) for kept, dup, overlap in heads.duplicates}
    for d in heads.only_one2one:
        kept, overlap = duplicates.get(id(d), (None, 0.0))
        note = f"duplicate of {kept.name} {kept.score:.2f} (IoU {overlap:.2f})" if kept else ""
        rows.append(("only one-to-one", d, note))
    if rows:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "kept": kind,
                        "class": d.name,
                        "score": d.score,
                        "x1": d.box[0],
                        "y1": d.box[1],
                        "x2": d.box[2],
                        "y2": d.box[3],
                        "level": d.cell.level,
                        "cell": f"{d.cell.row}, {d.cell.col}",
                        "note": note,
                    }
                    for kind, d, note in rows
                ]
            ),
            hide_index=True,
            width="stretch",
            column_config={
                "score": st.column_config.NumberColumn(format="%.3f"),
                **{c: st.column_config.NumberColumn(format="%.0f") for c in ("x1", "y1", "x2", "y2")},
            },
        )
    else:
        st.caption("Both branches keep the same objects here.")
    ui.show(branch_scores_figure(heads.scores_one2many, heads.scores_one2one, request.nms.conf), key="det_branch_scores")
    draw_reliability(settings, request, heads)
    modes = "; ".join(f"`{mode}` reads {BRANCHES[branch]}" for mode, branch in PREDICT_MODES)
    st.caption(
        "The one-to-many branch was trained to give several boxes per object, and NMS keeps the best of each cluster; the "
        "one-to-one branch was trained to give one, so where it has not learnt that yet its duplicates stay. Ultralytics' "
        f"predict (8.4.142 on): {modes}."
    )


def draw_reliability(settings: ui.Settings, request: Request, heads) -> None:
    """Each branch's boxes against the photo's objects (a label file uploaded here, or the boxes drawn on Label
    assignment): how many find one, and how often a box of each score does."""
    image = ui.image_for(settings.photo)
    truths, problem = ui.truths.uploaded(settings, image.size, key="det_truth")
    source = "the uploaded label file"
    if problem:
        st.warning(escape_markdown(problem), icon=":material/edit_off:")
    if truths is None:
        truths, source = ui.truths.drawn(settings), "the boxes drawn on Label assignment"
    if not truths:
        st.caption(
            "To see whether a score means what it says, give the photo's objects: upload its YOLO label file above, or "
            "draw them on Label assignment (edit its table: it starts as the detector's own boxes)."
        )
        return
    reliable = heads.reliability(truths, request.nms.conf)
    ui.show(reliability_figure(reliable), key="det_reliability")
    many, one = reliable["one2many"], reliable["one2one"]
    st.caption(
        f"Against {len(truths)} objects from {source} (same class, IoU {many.iou:g} or more, each object once): the "
        f"one-to-many branch and NMS keep {len(many.hits)} boxes, {many.found} of which find one; the one-to-one branch "
        f"{len(one.hits)}, {one.found}. A branch whose markers lie under the diagonal scores its boxes higher than they "
        "deserve; one photo gives few boxes per bin, so read the ticks as much as the line."
    )


@st.fragment
def walk(settings: ui.Settings, request: Request) -> None:
    """From the head's predictions to the boxes above, step by step (a fragment: the step slider reruns only this)."""
    with ui.guard("walking through non-maximum suppression"):
        walked, forward = ui.walk_for(settings, request.nms, request.rect)
        draw_walk(walked, forward.box, forward.predictions)


def draw_walk(walked: Walkthrough, box, output) -> None:
    """The output's shape, the candidates per level and class, NMS one step at a time, and the DFL of the step's box."""
    channels, anchors = walked.output_shape
    st.subheader(f"From {anchors:,} predictions to {len(walked.steps)} boxes")
    grids = " + ".join(f"{lv.grid[0]}×{lv.grid[1]}" for lv in walked.levels)
    st.caption(
        f"The head's output is {channels} × {anchors:,}: for each of the {anchors:,} cells of P3, P4 and P5 ({grids}), "
        f"4 box numbers and {channels - 4} class scores. A cell is a candidate when its best class scores over "
        f"{walked.nms.conf:.2f}; greedy NMS then keeps the best candidate left and drops every candidate "
        f"{'' if walked.nms.agnostic else 'of its class '}that overlaps it by an IoU over {walked.nms.iou:.2f}, again and again."
    )
    left, right = st.columns([1, 1])
    left.dataframe(
        pd.DataFrame(
            [{"level": lv.name, "grid": f"{lv.grid[0]}×{lv.grid[1]}", "predictions": lv.predictions, "candidates": lv.candidates}
             for lv in walked.levels]
        ),
        hide_index=True,
    )  # fmt: skip
    right.dataframe(pd.DataFrame(walked.per_class, columns=["class", "candidates"]), hide_index=True)
    if not walked.steps:
        st.info("No candidate: nothing for NMS to do.", icon=":material/search_off:")
        return
    count = len(walked.steps)
    step = 1 if count == 1 else st.slider("NMS step", 1, count, 1, key="det_step", help="Each step keeps one box.")
    now = walked.steps[step - 1]
    kept = now.kept
    suppressed = ", ".join(f"{escape_markdown(c.name)} {c.score:.2f} (IoU {overlap:.2f})" for c, overlap in now.suppressed)
    st.markdown(
        f"**Step {step} of {count}**: keeps **{escape_markdown(kept.name)} {kept.score:.2f}** from {kept.cell.level} cell "
        f"({kept.cell.row}, {kept.cell.col}), and drops {len(now.suppressed)} candidate(s) overlapping it"
        + (f": {suppressed}" if suppressed else "")
        + f". {walked.waiting(step)} candidate(s) still wait."
    )
    earlier = [s.kept.box for s in walked.steps[: step - 1]]
    figure = nms_step_figure(box.image, earlier, kept.box, [c.box for c, _ in now.suppressed], title="On the model input")
    ui.show(figure, key="det_nms_step")
    if step == count:
        st.caption(
            f"After the last step: exactly the {count} boxes of the table above"
            + (f" (at most {walked.nms.max_det}, as Ultralytics' `max_det`)" if count == walked.nms.max_det else "")
            + "."
        )
    bins = box_distributions(output, kept.anchor, box.size)
    sides = ", ".join(f"{side} {px:.0f} px" for side, px in zip(SIDES, bins.expected_pixels, strict=True))
    if not bins.probabilities[0]:  # YOLO26: no DFL
        st.caption(
            f"How the head draws that box: this head has no distribution focal loss (reg_max 1): each side's distance "
            f"from the cell's centre is one number it predicts, here {sides} at stride {bins.stride}."
        )
        return
    ui.show(dfl_figure(bins.probabilities, bins.expected, SIDES), key="det_dfl")
    st.caption(
        "How the head draws that box: each side's distance from the cell's centre is a distribution over 0 to 15 cells "
        "(the distribution focal loss's 16 bins); the box uses each distribution's expected value (dotted), here "
        + sides
        + f" at stride {bins.stride}."
    )


@st.fragment
def why(settings: ui.Settings, request: Request, result, image) -> None:
    """For kept boxes, side by side: the cells of their level and the pixels that raised their class score (a fragment:
    choosing other boxes reruns only this)."""
    st.subheader("Why this box?")
    if not result.detections:
        st.caption("No box kept, nothing to explain.")
        return
    if settings.batch_norm != "running":
        st.info(
            "The explanations follow the boxes of running BatchNorm statistics, as the model is deployed: switch "
            "*BatchNorm statistics* to running under *More backbone settings*.",
            icon=":material/info:",
        )
        return
    labels = [f"{i}. {d.name} {d.score:.2f}" for i, d in enumerate(result.detections, start=1)]
    chosen = st.multiselect(
        "Boxes to explain",
        labels,
        default=labels[: min(2, len(labels))],
        max_selections=3,
        key=f"det_why_{settings.forward_key}_{request.branch}",  # another photo, model or branch starts a new choice
        help="Each costs one backward pass through the detector.",
    )
    st.caption(
        "Left: the cells of the level that predicted the box, weighted by how much each raised its class score "
        "(gradient × activation of the neck's output, summed over channels: HiResCAM). Right: how strongly the score "
        "reacts to each pixel (the gradient of the class logit with respect to the input, averaged over 4×4 pixels). "
        "Both are laid over the photo with the letterbox undone; the box is drawn in cyan."
    )
    for label in chosen:
        detection = result.detections[labels.index(label)]
        with ui.guard("explaining the box"):
            explained = ui.explanation_for(settings, detection.anchor, detection.class_id, request.rect, request.branch)
            key = (settings.forward_key, result.box.size, detection.anchor, detection.class_id, request.branch)
            cam, saliency = ui.views.explanation_charts(key, image, explained, result.box, detection.box)
        row, col = explained.cell
        st.markdown(
            f"**{escape_markdown(label)}**, from {explained.level} cell ({row}, {col}): "
            f"{explained.share:.0%} of its map lies within one cell of that cell."
        )
        left, right = st.columns(2)
        with left:
            ui.show(cam, key=f"det_why_cam_{detection.anchor}_{detection.class_id}")
        with right:
            ui.show(saliency, key=f"det_why_px_{detection.anchor}_{detection.class_id}")


def draw_random(settings: ui.Settings, result) -> str:
    """With random weights: why there are no boxes and where to get weights; returns the note under the score maps."""
    st.warning(
        f"Detections need trained weights: these are random, so any box would be noise. Get Ultralytics' trained "
        f"{settings.config.backbone.label} with the button in the sidebar, or upload a checkpoint "
        f"(`{settings.arch}.pt` as Ultralytics ships it, or your own `best.pt`) under *More backbone settings*. "
        "Below is what the head computes all the same (and with trained weights, *Why this box?* explains each box).",
        icon=":material/model_training:",
    )
    statistics = (
        "BatchNorm uses the photo's own statistics, so random activations keep a unit scale and the maps follow the photo"
        if settings.batch_norm == "batch"
        else "BatchNorm uses its running statistics, which shrink random activations: the maps are nearly flat (switch "
        "to batch statistics under *More backbone settings*)"
    )
    notes = (
        f"The highest score here is {result.best_score:.3f}: an untrained head starts with biases that keep every "
        f"score low, as Ultralytics' does. {statistics}."
    )
    return notes


def draw_score_maps(settings: ui.Settings, result, heading: str, notes: str | None) -> None:
    """The best class score of every cell of P3, P4 and P5: what the head predicts before any threshold."""
    st.subheader(heading)
    st.caption(
        "Each cell of the three levels predicts one box; the colour is the highest of its class scores (sigmoid). P3 (stride 8) "
        "sees small objects, P5 (stride 32) large ones."
    )
    if notes:
        st.caption(notes)
    cols = st.columns(3)
    for col, (name, scores) in zip(cols, result.score_maps.items(), strict=True):
        h, w = scores.shape
        with col:
            ui.show(ui.views.score_chart((settings.forward_key, name), f"{name}: {h}×{w} cells", scores), key=f"det_{name}")


main()
