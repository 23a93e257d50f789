"""The Latency page's "Can this int8 be trusted?" section: how int8 is calibrated, which units it breaks (each in int8
alone, and all but it), and mixed precision timed beside fp32 and full int8, with the boxes each keeps on the photo.

`draw(settings)` is the whole section (a fragment: its buttons rerun only it); `controls` returns the recipe, the
`draw_*` functions show what the engine (`int8_sensitivity`) computed."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from yolo_explorer.figures import sensitivity_bars
from yolo_explorer.formatting import escape_markdown
from yolo_explorer.insights import box_changes_insight, int8_tradeoff_insight
from yolo_explorer.int8_sensitivity import Int8Lab, Recipe, Sensitivity, compare_precisions
from yolo_explorer.latency import LatencyRequest
from yolo_explorer.onnx_models import CALIBRATION_DIR_ENV, CALIBRATORS

from .compute import int8_lab_for, model_for, precision_boxes_for, sensitivity_for, server_calibration
from .guard import guard
from .settings import Settings

CALIBRATOR_LABELS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
TRADE = "int8_trade"  # the last fp32 / int8 / mixed comparison of this session


@st.fragment
def draw(settings: Settings, request: LatencyRequest) -> None:
    st.subheader("Can this int8 be trusted?")
    recipe, with_photo, with_server = controls(settings)
    with guard("calibrating int8"):
        lab, key = int8_lab_for(settings, recipe, with_photo, with_server)
    judged = ", ".join(lab.judged)
    recipe = lab.recipe
    st.caption(
        f"Calibrated on {recipe.photos} photos ({CALIBRATOR_LABELS[recipe.calibrator]}, "
        f"{'per-channel' if recipe.per_channel else 'per-tensor'} weights). "
        f"{len(lab.units)} units: each layer of the model, with C2PSA's attention and the Detect head's branches apart. "
        f"Errors are cosines with a float64 forward on the sample photos mirrored, over {judged} (what a deployment "
        "ships)."
        + (
            " Random weights: their errors compound through the layers; a trained model's differ."
            if settings.weights is None
            else ""
        )
    )
    rows = draw_sensitivity(lab, key)
    draw_mixed(settings, request, lab, rows)


def controls(settings: Settings) -> tuple[Recipe, bool, bool]:
    """The calibrator, the photos it sees (samples, the sidebar's, the server's folder) and the weight scales."""
    cols = st.columns([3, 3, 2, 2, 2], vertical_alignment="bottom")
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
    photos = cols[1].slider("Sample photos", 1, 4, 4, key="int8_photos", help="Calibrate on the first N sample photos.")
    with_photo = cols[2].toggle("+ your photo", key="int8_with_photo", help="Calibrate on the sidebar's photo too.")
    served, skipped = server_calibration(settings.size)
    with_server = cols[3].toggle(
        f"+ server's {served}",
        key="int8_with_server",
        disabled=not served,
        help=f"Calibrate on the server's own photos too (the folder {CALIBRATION_DIR_ENV} names, at most 64)."
        + ("" if served else " The server has none."),
    ) and bool(served)
    if skipped:
        st.caption("Left out of the server's photos: " + "; ".join(escape_markdown(s) for s in skipped[:5]))
    per_channel = cols[4].toggle(
        "Per channel", value=True, key="int8_per_channel", help="One weight scale per output channel (else one per tensor)."
    )
    return Recipe(calibrator, photos, per_channel), with_photo, with_server


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
    bar = st.progress(0.0, text="Quantizing…")

    def progress(done_steps: int, total: int, label: str) -> None:
        bar.progress(done_steps / total, text=f"{label}: {done_steps} of {total}" if label else "done")

    with guard("measuring each unit's int8 error"):
        rows = sensitivity_for(lab, key, progress)
    bar.empty()
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
    st.dataframe(
        pd.DataFrame(
            [
                {"unit": r.unit.name, "block": r.unit.kind, "nodes": len(r.unit.nodes),
                 "int8 alone": r.worst("alone", judged), "all but it in int8": r.worst("all_but", judged)}
                for r in ranked
            ]
        ),
        hide_index=True,
        column_config={
            "int8 alone": st.column_config.NumberColumn(format="%.5f", help="Worst cosine with float, this unit alone in int8"),
            "all but it in int8": st.column_config.NumberColumn(
                format="%.5f", help="Worst cosine with float, every unit but this one in int8"
            ),
        },
    )  # fmt: skip
    worst = ranked[0]
    st.caption(
        f"Worst alone: {escape_markdown(worst.unit.label)} (cosine {worst.worst('alone', judged):.5f}). A unit whose 'all "
        "but it' is far better than full int8 is one to keep in float; when none is, the error builds up over many units."
    )
    return rows


def draw_mixed(settings: Settings, request: LatencyRequest, lab: Int8Lab, rows: list[Sensitivity] | None) -> None:
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
            order = ["fp32", "int8", "mixed"]
            variants = compare_precisions(
                lab, model, request, keep, on_progress=lambda name: bar.progress(order.index(name) / 3, text=f"{name}…")
            )
            bar.empty()
            st.session_state[TRADE] = (lab.fp32.digest, variants)
    last = st.session_state.get(TRADE)
    if not last or last[0] != lab.fp32.digest:
        return
    variants = last[1]
    judged = lab.judged
    fp32_ms = variants[0].latency.median_ms
    st.dataframe(
        pd.DataFrame(
            [
                {"precision": v.name, "kept in float": ", ".join(v.kept_float), "median ms": v.latency.median_ms,
                 "speed-up": fp32_ms / v.latency.median_ms, "worst cosine": v.worst(judged)}
                | {e.name: e.cosine for e in v.errors}
                for v in variants
            ]
        ),
        hide_index=True,
        column_config={
            "median ms": st.column_config.NumberColumn(format="%.2f"),
            "speed-up": st.column_config.NumberColumn(format="%.2f×"),
            **{e.name: st.column_config.NumberColumn(format="%.5f") for e in variants[0].errors},
            "worst cosine": st.column_config.NumberColumn(format="%.5f"),
        },
    )  # fmt: skip
    st.markdown(escape_markdown(int8_tradeoff_insight(variants, judged)))
    if "decoded" in lab.fp32.outputs and settings.weights is not None:
        draw_boxes(settings, variants)


def draw_boxes(settings: Settings, variants) -> None:
    """The boxes each precision keeps on the sidebar's photo, against fp32's (same class, IoU 0.5 or more)."""
    with guard("running each precision on the photo"):
        changes = precision_boxes_for(settings, variants)
    lines = [f"**{name}**: {escape_markdown(box_changes_insight(c))}" for name, c in changes.items()]
    st.markdown("On the sidebar's photo (score over 0.25, NMS at 0.7): " + "; ".join(lines) + ".")
