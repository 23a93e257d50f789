"""The Latency page's "Can this int8 be trusted?" section: which photos int8 is calibrated on and judged on (the
model's own first), what is wrong with that calibration (said first), which units int8 breaks (each in int8 alone, and
all but it), and mixed precision timed beside fp32, full int8 and Ultralytics' recipe (the weighted nodes only) with
each one's verdict on the judged photos, its scores against fp32's cell by cell and the threshold it wants, and the
boxes each keeps on the sidebar's photo. For YOLO26, which head's boxes are judged (one-to-many + NMS, or one-to-one).

`draw(settings)` is the whole section (a fragment: its buttons rerun only it); `controls` returns the recipe and the
photos' sources, the `draw_*` functions show what the engine (`int8_sensitivity`, `int8_verdict`) computed."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from yolo_explorer.deployment.int8_report import PrecisionScores, precision_scores
from yolo_explorer.deployment.int8_scores import TRUTH_IOU
from yolo_explorer.deployment.int8_sensitivity import VARIANTS, Int8Lab, Recipe, Sensitivity, compare_precisions
from yolo_explorer.deployment.int8_verdict import MATCH_IOU, SCORE_TOLERANCE
from yolo_explorer.deployment.latency import LatencyRequest
from yolo_explorer.deployment.onnx_models import CALIBRATORS, MAX_CALIBRATION_PHOTOS
from yolo_explorer.environment import variable
from yolo_explorer.present.deployment_figures import int8_scores_figure, sensitivity_bars
from yolo_explorer.present.formatting import escape_markdown, photo_list
from yolo_explorer.present.insights import (
    box_changes_insight,
    calibration_insight,
    int8_tradeoff_insight,
    verdict_insight,
)

from .compute import (
    Int8Sources,
    int8_lab_for,
    model_for,
    precision_boxes_for,
    sensitivity_for,
    server_calibration,
    unreadable,
)
from .guard import guard
from .settings import Photo, Settings
from .sidebar import MAX_IMAGE_MB, UPLOAD_TYPES

CALIBRATOR_LABELS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
TRADE = "int8_trade"  # the last fp32 / int8 / mixed comparison of this session


@st.fragment
def draw(settings: Settings, request: LatencyRequest) -> None:
    st.subheader("Can this int8 be trusted?")
    recipe, sources, skipped = controls(settings)
    branch = branch_control(settings)
    if sources.empty:
        st.warning("Choose at least one source of photos above: int8 is calibrated on some and judged on the others.")
        return
    with guard("calibrating int8"):
        lab, key = int8_lab_for(settings, recipe, sources, branch)
    warning = calibration_insight(lab.check(), UI_REMEDY)
    if warning:
        st.warning(escape_markdown(warning), icon=":material/warning:")
    if skipped:
        st.caption("Left out: " + "; ".join(escape_markdown(s) for s in skipped[:5]))
    st.caption(escape_markdown(photos_caption(lab, settings)))
    rows = draw_sensitivity(lab, key)
    draw_mixed(settings, request, lab, key, rows)


UI_REMEDY = (
    "calibrate on photos of the scenes it was trained for (upload a few under “Photos of your model's scenes”, or "
    f"set the server's folder, {variable('calibration_dir')})"
)


def controls(settings: Settings) -> tuple[Recipe, Int8Sources, list[str]]:
    """The calibrator and weight scales, and the photos int8 sees: the server's folder, the user's uploads, the
    sidebar's photo and (for COCO's classes or random weights) the samples. Returns the recipe, the sources and the
    uploads left out (not images)."""
    cols = st.columns([3, 2, 2, 2, 2], vertical_alignment="bottom")
    calibrator = cols[0].segmented_control(
        "Calibrator",
        list(CALIBRATORS),
        default="minmax",
        required=True,
        format_func=CALIBRATOR_LABELS.get,
        key="int8_calibrator",
        help="How ONNX Runtime sets each activation's range from what calibration sees: its extremes (MinMax), the range "
        "whose histogram loses least information (Entropy), or the 99.999th percentile (Percentile). Entropy as "
        "ONNX Runtime's quantize_static runs it (128 histogram bins for 128 quantized levels, not settable there) can "
        "only choose the whole range: it gives MinMax's ranges (bench/README).",
    )
    per_channel = cols[1].toggle(
        "Per channel", value=True, key="int8_per_channel", help="One weight scale per output channel (else one per tensor)."
    )
    with_photo = cols[2].toggle("Sidebar's photo", value=True, key="int8_with_photo", help="Use the sidebar's photo too.")
    served, server_skipped = server_calibration(settings.size)
    with_server = cols[3].toggle(
        f"Server's {served}",
        value=bool(served),
        key="int8_with_server",
        disabled=not served,
        help=f"Use the server's own photos (the folder {variable('calibration_dir')} names, at most {MAX_CALIBRATION_PHOTOS})."
        + ("" if served else " The server has none."),
    ) and bool(served)
    fit = settings.samples_fit
    with_samples = cols[4].toggle(
        "Samples",
        value=fit,
        key=f"int8_with_samples_{fit}",  # its default follows the weights
        help="The four built-in sample photos (people, animals, things): the world of COCO's classes. "
        + ("On by default for these weights." if fit else f"Off by default: these weights detect {_names(settings)}."),
    )
    uploads, skipped = _uploads()
    skipped = [*(f"server's {s}" for s in server_skipped), *skipped]
    sources = Int8Sources(settings.photo if with_photo else None, uploads, with_server, with_samples)
    return Recipe(calibrator, None, per_channel), sources, skipped


def branch_control(settings: Settings) -> str:
    """For an end-to-end head (YOLO26), which branch's boxes int8 is judged by; others have one."""
    if not (settings.detector and settings.config.table.end2end):
        return "one2many"
    return st.segmented_control(
        "Judge the boxes of",
        list(BRANCH_LABELS),
        default="one2many",
        required=True,
        format_func=BRANCH_LABELS.get,
        key="int8_branch",
        help="YOLO26 has two heads: Ultralytics' predict reads the one-to-many branch through NMS by default; its export "
        "(end2end) ships the one-to-one branch, read by its top scores without NMS. int8 can keep one and break the other.",
    )


BRANCH_LABELS = {"one2many": "one-to-many + NMS (predict)", "one2one": "one-to-one, no NMS (export)"}


def _names(settings: Settings) -> str:
    names = settings.class_names
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def _uploads() -> tuple[tuple[Photo, ...], list[str]]:
    """The photos the user uploaded for int8 (each read and hashed once), and those that are not images."""
    files = st.file_uploader(
        "Photos of your model's scenes",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        key="int8_uploads",
        max_upload_size=MAX_IMAGE_MB,
        help="int8 must be calibrated on what the model will see: every other photo (8 at most) is kept aside to judge "
        "int8 on, the rest calibrate. A few dozen photos of the model's own scenes are plenty.",
    )
    known = st.session_state.setdefault("int8_upload_photos", {})  # file id -> (photo, why it cannot be used)
    photos, skipped = [], []
    for file in (files or [])[:MAX_CALIBRATION_PHOTOS]:
        if file.file_id not in known:  # read and checked once, not at every rerun
            photo = Photo.of(f"upload: {file.name}", file.getvalue())
            known[file.file_id] = (photo, unreadable(photo))
        photo, problem = known[file.file_id]
        if problem:
            skipped.append(f"{file.name}: {problem}")
        else:
            photos.append(photo)
    for gone in set(known) - {f.file_id for f in files or []}:
        del known[gone]
    if files and len(files) > MAX_CALIBRATION_PHOTOS:
        skipped.append(f"{len(files) - MAX_CALIBRATION_PHOTOS} uploads past the first {MAX_CALIBRATION_PHOTOS}")
    return tuple(photos), skipped


def photos_caption(lab: Int8Lab, settings: Settings) -> str:
    """What int8 was calibrated and judged on, and how it is judged."""
    recipe, photos = lab.recipe, lab.photos
    text = (
        f"Calibrated ({CALIBRATOR_LABELS[recipe.calibrator]}, {'per-channel' if recipe.per_channel else 'per-tensor'} "
        f"weights) on {photo_list(photos.calibrate_labels)}; judged on "
        + (
            f"{photos.judged_labels[0]}: the one photo there is, a weaker test (add photos it was not calibrated on). "
            if photos.mirrored
            else f"{photo_list(photos.judged_labels)}, which calibration did not see. "
        )
        + f"{len(lab.units)} units: each layer of the model, with C2PSA's attention and the Detect head's branches apart. "
        f"Errors are cosines with a float64 forward over {', '.join(lab.judged)} (what a deployment ships)"
    )
    if lab.detector:
        text += (
            f"; the boxes are fp32's matched as a deployer matches them: the same class, IoU at least {MATCH_IOU:g}, "
            f"score within {SCORE_TOLERANCE:g}, none collapsed onto one value"
        )
    text += "."
    if settings.weights is None:
        text += " Random weights: their errors compound through the layers; a trained model's differ."
    return text


def draw_sensitivity(lab: Int8Lab, key: tuple) -> list[Sensitivity] | None:
    """The button that measures every unit (its cost said first), then the table and the bar chart."""
    done = st.session_state.get("int8_sensitivity_key") == key
    estimate = lab.estimate_s()
    cost = f" (about {estimate:.0f} s here)" if estimate else ""
    pressed = st.button(
        f"Which units does int8 break? {2 * len(lab.units)} quantizations{cost}",
        icon=":material/troubleshoot:",
        key="int8_measure",
        help="Each unit alone in int8 (the rest float), and every unit but it in int8; calibration runs once for all.",
    )
    if not (pressed or done):
        return None
    rows = measure_sensitivity(lab, key)
    st.session_state["int8_sensitivity_key"] = key
    judged = lab.judged
    ranked = sorted(rows, key=lambda r: r.worst("alone", judged))
    figure = sensitivity_bars(
        [r.unit.label for r in ranked],
        [1 - r.worst("alone", judged) for r in ranked],
        [1 - r.worst("all_but", judged) for r in ranked],
        ", ".join(judged),
    )
    st.plotly_chart(figure, width="stretch", key="int8_bars", config={"displaylogo": False})
    table = []
    for r in ranked:
        row = {
            "unit": r.unit.name,
            "block": r.unit.kind,
            "nodes": len(r.unit.nodes),
            "int8 alone": r.worst("alone", judged),
            "all but it in int8": r.worst("all_but", judged),
        }
        if r.all_but_verdict is not None:
            row |= {"alone: boxes": _boxes(r.alone_verdict), "all but it: boxes": _boxes(r.all_but_verdict)}
        table.append(row)
    st.dataframe(
        pd.DataFrame(table),
        hide_index=True,
        column_config={
            "int8 alone": st.column_config.NumberColumn(format="%.5f", help="Worst cosine with float, this unit alone in int8"),
            "all but it in int8": st.column_config.NumberColumn(
                format="%.5f", help="Worst cosine with float, every unit but this one in int8"
            ),
            "alone: boxes": st.column_config.TextColumn(help="The verdict on fp32's boxes with this unit alone in int8"),
            "all but it: boxes": st.column_config.TextColumn(
                help="The verdict on fp32's boxes with every unit but this one in int8: keeping this unit in float gives this"
            ),
        },
    )  # fmt: skip
    worst = ranked[0]
    st.caption(
        f"Worst alone: {escape_markdown(worst.unit.label)} (cosine {worst.worst('alone', judged):.5f}). A unit whose 'all "
        "but it' is far better than full int8 is one to keep in float; when none is, the error builds up over many units."
    )
    return rows


def measure_sensitivity(lab: Int8Lab, key: tuple) -> list[Sensitivity]:
    """Every unit's sensitivity (`sensitivity_for`, shared by every session) with a progress bar while it runs."""
    bar = st.progress(0.0, text="Quantizing…")

    def progress(done_steps: int, total: int, label: str) -> None:
        bar.progress(done_steps / total, text=f"{label}: {done_steps} of {total}" if label else "done")

    with guard("measuring each unit's int8 error"):
        rows = sensitivity_for(lab, key, progress)
    bar.empty()
    return rows


def _boxes(verdict) -> str:
    """A verdict in a table cell: "passes 16/16", "fails 20/20 (collapsed)"."""
    if verdict is None:
        return ""
    kept = f"{verdict.kept}/{verdict.reference}"
    why = " (collapsed)" if verdict.collapse is not None else f" (score ±{verdict.worst_change:.3f})" if verdict.pairs else ""
    return f"{verdict.status} {kept}{why if verdict.status != 'passes' else ''}"


def draw_mixed(settings: Settings, request: LatencyRequest, lab: Int8Lab, key: tuple, rows: list[Sensitivity] | None) -> None:
    """Keep units in float (by hand, or the most sensitive), then fp32, int8 and mixed timed and checked side by side."""
    names = [u.name for u in lab.units]
    suggested = lab.most_sensitive(min(2, len(names)), rows) if rows else []
    keep = st.multiselect(
        "Keep in float",
        names,
        default=suggested,
        format_func=lambda n: lab.unit(n).label,
        key=f"int8_keep_{lab.fp32.digest}_{bool(rows)}",
        help="Mixed precision: these units stay float (ONNX Runtime's nodes_to_exclude); the most sensitive by default once "
        "they are measured.",
    )
    pressed = st.button("Time fp32, int8 and mixed", icon=":material/balance:", key="int8_trade_button")
    if pressed:
        with guard("timing fp32, int8 and mixed"):
            model = model_for(settings, dtype="fp32")
            bar = st.progress(0.0, text="fp32…")
            steps = len(VARIANTS) - (not keep)
            variants = compare_precisions(
                lab, model, request, keep, on_progress=lambda name: bar.progress(VARIANTS.index(name) / steps, text=f"{name}…")
            )
            scores = None
            if lab.detector:
                bar.progress(0.99, text="scores and thresholds…")
                scores = [precision_scores(lab, v.name, v.subject, v.onnx, v.kept_float) for v in variants]
            bar.empty()
            st.session_state[TRADE] = (key, variants, scores)
    last = st.session_state.get(TRADE)
    if not last or last[0] != key:
        return
    variants = last[1]
    judged = lab.judged
    fp32_ms = variants[0].latency.median_ms
    table = []
    for v in variants:
        row = {
            "precision": v.name,
            "kept in float": ", ".join(v.kept_float),
            "median ms": v.latency.median_ms,
            "speed-up": fp32_ms / v.latency.median_ms,
        }
        if lab.detector and v.name == "fp32":
            row |= {"verdict": "the reference", "boxes kept": "", "new": None, "worst score change": None, "collapsed": None}
        elif v.verdict is not None:
            row |= {
                "verdict": v.verdict.status,
                "boxes kept": f"{v.verdict.kept}/{v.verdict.reference}",
                "new": len(v.verdict.new),
                "worst score change": v.verdict.worst_change,
                "collapsed": v.verdict.collapse.boxes if v.verdict.collapse else 0,
            }
        table.append(row | {"worst cosine": v.worst(judged)} | {e.name: e.cosine for e in v.errors})
    st.dataframe(
        pd.DataFrame(table),
        hide_index=True,
        column_config={
            "median ms": st.column_config.NumberColumn(format="%.2f"),
            "speed-up": st.column_config.NumberColumn(format="%.2f×"),
            "worst score change": st.column_config.NumberColumn(
                format="%.3f", help="The largest change of a kept box's score from fp32's"
            ),
            "collapsed": st.column_config.NumberColumn(
                help="Kept boxes that share one score fp32 told apart (the range saturates)"
            ),
            **{e.name: st.column_config.NumberColumn(format="%.5f") for e in variants[0].errors},
            "worst cosine": st.column_config.NumberColumn(format="%.5f"),
        },
    )  # fmt: skip
    lines = [int8_tradeoff_insight(variants, judged)]
    lines += [verdict_insight(v.verdict, v.subject) for v in variants[1:] if v.verdict is not None]
    st.markdown("\n\n".join(escape_markdown(line) for line in lines))
    if last[2]:
        draw_scores(lab, last[2])
    if lab.detector and settings.weights is not None:
        draw_boxes(settings, variants, lab)


def draw_scores(lab: Int8Lab, scores: list[PrecisionScores]) -> None:
    """Each variant's scores against fp32's, cell by cell, and the score threshold each precision wants."""
    conf = lab.nms.conf
    st.markdown("**Scores and thresholds**")
    figure = int8_scores_figure({p.name: p.spread for p in scores if p.spread is not None}, conf)
    st.plotly_chart(figure, width="stretch", key="int8_scores", config={"displaylogo": False})
    against = scores[0].sweep.against
    truth = against == "truth"
    rows = []
    for p in scores:
        best, here = p.sweep.best, p.sweep.at(conf)
        spread = p.spread
        rows.append(
            {
                "precision": p.name,
                "score / fp32's": spread.compression if spread else None,
                "different scores": spread.distinct if spread else None,
                f"dropped under {conf:g}": spread.lost if spread else None,
                "best threshold": best.conf if best.f1 else None,
                "F1 there": best.f1,
                f"F1 at {conf:g}": here.f1,
                f"at {conf:g}": f"{here.found} of {here.boxes} boxes find one of {here.targets}",
            }
        )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "score / fp32's": st.column_config.NumberColumn(
                format="×%.3f", help=f"The median of int8's score / fp32's over the cells fp32 scores over {conf:g}"
            ),
            "different scores": st.column_config.NumberColumn(help="How many values those cells' scores take"),
            "best threshold": st.column_config.NumberColumn(format="%.2f"),
            "F1 there": st.column_config.NumberColumn(format="%.3f"),
            f"F1 at {conf:g}": st.column_config.NumberColumn(format="%.3f"),
            f"at {conf:g}": st.column_config.TextColumn(
                help=f"Over {conf:g}: the boxes that find a target (an object, or one of fp32's boxes), of how many"
            ),
        },
    )
    st.caption(
        (
            f"Thresholds judged against the truth (the YOLO label files beside the server's photos), IoU {TRUTH_IOU:g} "
            "with its class, as COCO's evaluation matches."
            if truth
            else f"Thresholds judged against fp32's own boxes at {conf:g} (IoU {TRUTH_IOU:g}, same class): which threshold "
            "gives them back. Put YOLO label files beside the server's photos to judge against the truth."
        )
        + " A score can rise as well as fall: full int8 rounds scores and box pixels with one scale when they leave the "
        "head in one tensor; Ultralytics' own ONNX export therefore quantizes only the nodes with weights."
    )


def draw_boxes(settings: Settings, variants, lab: Int8Lab) -> None:
    """The boxes each precision keeps on the sidebar's photo, against fp32's (same class, IoU `MATCH_IOU` or more)."""
    with guard("running each precision on the photo"):
        changes = precision_boxes_for(settings, variants)
    lines = [f"**{name}**: {escape_markdown(box_changes_insight(c))}" for name, c in changes.items()]
    calibrated = settings.photo.label in lab.photos.calibrate_labels
    st.markdown(
        f"On the sidebar's photo (score over {lab.nms.conf}, NMS at {lab.nms.iou}"
        + ("; a calibration photo" if calibrated else "")
        + "): "
        + "; ".join(lines)
        + "."
    )
