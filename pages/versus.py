"""Tutorial vs YOLO11: the tutorial's backbone beside a real YOLO11 backbone, stage by stage, with every
difference explained where it occurs and measured, and the tutorial width closest to each scale."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import ui
from yolo_explorer import make_config
from yolo_explorer.model.config import YOLO11_SCALES, BackboneConfig
from yolo_explorer.model.stats import ModelStats
from yolo_explorer.model.versus import Difference, WidthMatch, stage_rows
from yolo_explorer.present.formatting import human_count, shape_str


def signed(n: int) -> str:
    return ("+" if n > 0 else "−" if n < 0 else "±") + human_count(abs(n))


def main() -> None:
    settings = ui.current_settings()
    st.title("Tutorial vs YOLO11")
    st.caption(
        f"The tutorial's simplified backbone beside Ultralytics' YOLO11 (layers 0-10), at {settings.size_label}. "
        "Every number comes from the meta device; each difference is measured by building YOLO11 without it."
    )

    tutorial, yolo = controls(settings)
    with ui.guard("comparing the backbones"):
        t_stats = ui.stats_for(tutorial, settings.size, settings.dtype)
        y_stats = ui.stats_for(yolo, settings.size, settings.dtype)
        diffs = ui.differences_for(yolo, settings.size)
        matches = ui.closest_widths_for(settings.size)
    draw_totals(tutorial, yolo, t_stats, y_stats)
    draw_stages(settings, tutorial, yolo, t_stats, y_stats)
    draw_differences(yolo, diffs)
    draw_closest(settings, matches)


def controls(settings: ui.Settings) -> tuple[BackboneConfig, BackboneConfig]:
    """The tutorial's width and the YOLO11 scale compared: the sidebar's backbone, when it changes, becomes this page's
    pick; the page's own picks stay otherwise."""
    followed = (settings.arch, settings.width)
    if st.session_state.get("vs_followed") != followed:
        st.session_state["vs_followed"] = followed
        if settings.arch == "tutorial":
            st.session_state["vs_width"] = settings.width
        else:
            scale = getattr(settings.config, "scale", "")
            st.session_state["vs_scale"] = scale if scale in YOLO11_SCALES else "n"  # another family: its scale letter

    st.session_state.setdefault("vs_width", 16)
    st.session_state.setdefault("vs_scale", "n")
    left, right = st.columns(2)
    width = left.select_slider("Tutorial base width w", options=ui.WIDTHS, key="vs_width")
    scale = right.segmented_control(
        "YOLO11 scale",
        list(YOLO11_SCALES),
        required=True,
        key="vs_scale",
        format_func=lambda s: f"YOLO11{s}",
    )
    return make_config("tutorial", width=width), make_config(f"yolo11{scale}")


def draw_totals(tutorial: BackboneConfig, yolo: BackboneConfig, t_stats: ModelStats, y_stats: ModelStats) -> None:
    cols = iter(st.columns(4))
    for what, t_value, y_value, extra in (
        ("Parameters", t_stats.params, y_stats.params, ""),
        (
            "MACs per image",
            t_stats.macs,
            y_stats.macs,
            f", of which {y_stats.attention_macs:,} in the attention's matrix products",
        ),
    ):
        next(cols).metric(f"{what}, {tutorial.label}", human_count(t_value), help=f"{t_value:,}")
        next(cols).metric(
            f"{what}, {yolo.label}",
            human_count(y_value),
            delta=f"{y_value / t_value:.2f}× the tutorial's",
            delta_color="off",
            delta_arrow="off",
            help=f"{y_value:,}{extra}",
        )


def draw_stages(
    settings: ui.Settings, tutorial: BackboneConfig, yolo: BackboneConfig, t_stats: ModelStats, y_stats: ModelStats
) -> None:
    """The two backbones stage by stage: shapes, parameters, MACs, and where the compute sits."""
    st.subheader("Stage by stage")
    t_rows, y_rows = stage_rows(tutorial, t_stats), stage_rows(yolo, y_stats)
    table = pd.DataFrame(
        [
            {
                "stage": t.stage,
                "out": t.feature,
                "tutorial C×H×W": shape_str(t.output_shape),
                "YOLO11 C×H×W": shape_str(y.output_shape),
                "tutorial params": t.params,
                "YOLO11 params": y.params,
                "tutorial MACs": t.macs,
                "YOLO11 MACs": y.macs,
                "tutorial layers": ", ".join(t.layers),
                "YOLO11 layers": ", ".join(y.layers),
            }
            for t, y in zip(t_rows, y_rows, strict=True)
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.NumberColumn(format="localized") for c in table.columns if "params" in c or "MACs" in c
        },
    )
    st.caption(
        "Both have a stem and four stages, each opened by a stride-2 conv; YOLO11's layers are numbered as in Ultralytics' "
        "model (layer 4 is P3, 6 is P4, 10 is P5)."
    )

    ui.show(ui.views.stage_share_chart(tutorial, yolo, settings.size, settings.dtype), key="vs_macs")
    t_top, y_top = max(t_rows, key=lambda r: r.macs), max(y_rows, key=lambda r: r.macs)
    st.caption(
        f"Where the compute sits: the tutorial spends the most in its {t_top.stage} ({t_top.macs / t_stats.macs:.0%} of its "
        f"MACs), {yolo.label} in its {y_top.stage} ({y_top.macs / y_stats.macs:.0%})."
    )


def draw_differences(yolo: BackboneConfig, diffs: list[Difference]) -> None:
    """Each design choice of YOLO11 that the tutorial leaves out, explained and priced."""
    st.subheader(f"Where {yolo.label} differs from the tutorial")
    st.caption(
        "Each cost is YOLO11's figure minus that of the same YOLO11 without the choice: negative where the choice saves. "
        "Both also differ in BatchNorm's epsilon (1e-3 in YOLO11, 1e-5 in the tutorial), which costs nothing."
    )
    for d in diffs:
        with st.container(border=True):
            head, params, macs = st.columns([4, 1, 1])
            head.markdown(f"**{d.title}** · {d.where}")
            head.write(d.explanation)
            params.metric("params", signed(d.params), help=f"{d.params:+,}")
            macs.metric("MACs", signed(d.macs), help=f"{d.macs:+,}")


def draw_closest(settings: ui.Settings, matches: list[WidthMatch]) -> None:
    st.subheader("The closest tutorial width to each YOLO11 scale")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "YOLO11": m.arch,
                    "params": m.params,
                    "tutorial w (params)": m.width_by_params,
                    "its params": m.params_at_width,
                    "MACs": m.macs,
                    "tutorial w (MACs)": m.width_by_macs,
                    "its MACs": m.macs_at_width,
                }
                for m in matches
            ]
        ),
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.NumberColumn(format="localized") for c in ("params", "its params", "MACs", "its MACs")
        },
    )
    wider = [m.arch for m in matches if m.width_by_macs > m.width_by_params]
    st.caption(
        f"At {settings.size_label}, closest in ratio over widths 8 to 256."
        + (
            f" For {', '.join(wider)} the MACs match is a wider tutorial than the parameters match: per parameter, "
            "those scales compute more than the tutorial does."
            if wider
            else ""
        )
    )


main()
