"""Compare: several widths x input sizes at once, with the scaling laws drawn; latency on demand. With the whole
detector chosen, the five YOLO11 detectors instead. Both time their grid with one function (`time_grid`)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import ui
from yolo_explorer import ARCHITECTURES, make_config, measure_latency
from yolo_explorer.deployment.memory import check_forward_fits
from yolo_explorer.model.config import YOLO11_SCALES, BackboneConfig
from yolo_explorer.model.families import FAMILY_NAMES
from yolo_explorer.model.published import published
from yolo_explorer.present.insights import activation_law_insight, params_law_insight, pixels_law_insight
from yolo_explorer.present.model_figures import scaling_plot


def caption(text: str | None) -> None:
    if text:  # a sentence needs at least two widths or two sizes to compare
        st.caption(text)


def main() -> None:
    settings = ui.current_settings()
    if settings.detector:  # whole detectors of any family, scale against scale
        compare_detectors(settings)
    else:
        compare_widths(settings)


def time_grid(
    settings: ui.Settings, combos: list[tuple[str, BackboneConfig, tuple[int, int]]], iters: int
) -> list[tuple[float, float]]:
    """Latency of each (label, config, (H, W)) on the sidebar's device and precision, batch 1, random weights: each
    checked to fit first, with a progress bar; (median ms, images/s) per combination."""
    timings, bar = [], st.progress(0.0)
    for i, (label, config, size) in enumerate(combos):
        bar.progress(i / len(combos), text=f"{label} ({i + 1} of {len(combos)})")
        check_forward_fits(
            config,
            size,
            settings.device,
            dtype=settings.dtype,
            what=label,
            estimator=ui.memory_for,
            cap_bytes=ui.environment().max_forward_bytes,
        )
        model = ui.model_for_config(config, settings.seed, settings.device, settings.dtype)
        t = measure_latency(model, size=size, device=settings.device, dtype=settings.dtype, warmup=1, iters=iters)
        timings.append((t.median_ms, t.images_per_s))
    bar.empty()
    return timings


def compare_detectors(settings: ui.Settings) -> None:
    """Whole detectors at the chosen input sizes, the sidebar's family at every scale unless other models are picked
    (YOLO11n beside YOLO26n ...): exact totals, the backbone's share, what a YOLO26 deployed with one branch costs,
    Ultralytics' published YOLO11 figures, MACs against pixels, and latency on demand."""
    family = getattr(settings.config, "family", "yolo11") if getattr(settings.config, "shipped", False) else "yolo11"
    st.title(f"Compare the {FAMILY_NAMES[family]} detectors")
    st.caption(
        "The whole detectors (backbone, neck and head, 80 classes) at several input sizes, from the meta device (no "
        "forward); latency runs only on demand. Add models of other families to set them side by side (YOLO11n and "
        "YOLO26n). Pick *Backbone only* in the sidebar to compare the tutorial's widths."
    )
    left, right = st.columns(2)
    offered = [arch for arch in ARCHITECTURES if arch != "tutorial"]
    archs = left.multiselect(
        "Models",
        offered,
        default=[arch for arch in offered if arch.startswith(family) and arch[len(family) :] in YOLO11_SCALES],
        key=f"cmp_models_{family}",  # another family in the sidebar starts from its own five
        format_func=lambda arch: make_config(arch).label,
    )
    sides = sorted(right.multiselect("Input sizes (square)", ui.SIZES, default=[320, 640, 1280], key="cmp_det_sizes"))
    if not archs or not sides:
        st.info("Pick at least one model and one size.")
        return
    with ui.guard("computing the detectors"):
        rows = ui.views.detector_rows(tuple(archs), tuple(sides), settings.dtype)
    two_branches = any(r.deployed_macs != r.macs for r in rows)
    table = pd.DataFrame(
        [
            {
                "model": r.label,
                "input": r.size_label,
                "params": r.params,
                "MACs": r.macs,
                "GFLOPs": 2 * r.macs / 1e9,
                "backbone's share of params": r.backbone_params / r.params,
                "backbone's share of MACs": r.backbone_macs / r.macs,
                "activation bytes": r.activation_bytes,
                **(
                    {"deployed (one branch): params": r.deployed_params, "deployed GFLOPs": 2 * r.deployed_macs / 1e9}
                    if two_branches
                    else {}
                ),
                "Ultralytics: params, GFLOPs at 640": _published(r.arch),
            }
            for r in rows
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "params": st.column_config.NumberColumn(format="localized"),
            "MACs": st.column_config.NumberColumn(format="localized"),
            "activation bytes": st.column_config.NumberColumn(format="localized"),
            "GFLOPs": st.column_config.NumberColumn(format="%.2f"),
            "deployed (one branch): params": st.column_config.NumberColumn(format="localized"),
            "deployed GFLOPs": st.column_config.NumberColumn(format="%.2f"),
            "backbone's share of params": st.column_config.NumberColumn(format="percent"),
            "backbone's share of MACs": st.column_config.NumberColumn(format="percent"),
        },
    )
    if two_branches:
        st.caption(
            "YOLO26's totals count both branches of its head, as its forward runs them; *deployed* is the model with one "
            "branch, as Ultralytics' `fuse()` keeps it (and `info()` counts it)."
        )
    series = {make_config(arch).label: [r.macs for r in rows if r.arch == arch] for arch in archs}
    pixels = [r.pixels for r in rows if r.arch == archs[0]]
    ui.show(
        scaling_plot(
            pixels, series, {}, x_title="input pixels", y_title="MACs", title="MACs of each detector against input pixels"
        ),
        key="cmp_det_macs",
    )
    st.caption("MACs grow with the pixels (every layer is a convolution over the map, bar the attention on P5's grid).")

    st.subheader("Latency on demand")
    st.caption(f"Times every detector and size above on {settings.device} in {settings.dtype}, batch 1, random weights.")
    iters = st.slider("Timed runs per combination", 1, 20, 3, key="cmp_det_iters")
    if st.button("Time them all", icon=":material/timer:", key="cmp_det_time"):
        combos = [(f"{r.label} at {r.size_label}", make_config(r.arch, detector=True), (r.height, r.width_px)) for r in rows]
        with ui.guard("timing the detectors"):
            timings = time_grid(settings, combos, iters)
        st.session_state["cmp_det_latency"] = [
            {"model": r.label, "input": r.size_label, "median ms": ms, "images/s": rate}
            for r, (ms, rate) in zip(rows, timings, strict=True)
        ]
    if st.session_state.get("cmp_det_latency"):
        st.dataframe(pd.DataFrame(st.session_state["cmp_det_latency"]), hide_index=True, width="stretch")


def _published(arch: str) -> str:
    """Ultralytics' published size of a shipped detector ("2.6 M, 6.5"), "" where it publishes none."""
    config = make_config(arch)
    figures = published(config.family, config.scale)
    return f"{figures.params_m} M, {figures.flops_b}" if figures else ""


def compare_widths(settings: ui.Settings) -> None:
    """The tutorial backbone over a grid of widths and sizes: the table, the scaling laws, latency on demand."""
    depth = settings.depth if settings.arch == "tutorial" else 2  # the sidebar's n when the tutorial is chosen
    st.title("Compare widths and input sizes")
    st.caption(
        "The tutorial backbone at several base widths and input sizes. Every number comes from the meta device (no forward), "
        "so any grid is instant; latency runs only on demand. The YOLO11 scales are compared on *Tutorial vs YOLO11*."
    )

    left, right = st.columns(2)
    widths = sorted(left.multiselect("Base widths", ui.WIDTHS, default=[16, 32, 64, 128], key="cmp_widths"))
    sides = sorted(right.multiselect("Input sizes (square)", ui.SIZES, default=[320, 640, 1280], key="cmp_sizes"))
    if not widths or not sides:
        st.info("Pick at least one width and one size.")
        return

    with ui.guard("computing the grid"):
        grid = (tuple(widths), tuple(sides), depth, settings.dtype)
        rows = ui.views.compare_rows(*grid)
        table = ui.views.compare_table(*grid)
        charts = ui.views.compare_charts(*grid)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        height=35 * (len(table) + 1) + 3,
        column_config={c: st.column_config.NumberColumn(format="localized") for c in ("params", "MACs", "activation bytes")},
    )

    c1, c2 = st.columns(2)
    with c1:
        ui.show(charts["params"], key="cmp_params")
        caption(params_law_insight(rows))
    with c2:
        ui.show(charts["macs_w"], key="cmp_macs_w")
        st.caption("Dots are the exact counts, one colour per input size; the dotted lines are c·w² fitted through them.")
    c3, c4 = st.columns(2)
    with c3:
        ui.show(charts["macs_px"], key="cmp_macs_px")
        caption(pixels_law_insight(rows))
    with c4:
        ui.show(charts["acts"], key="cmp_acts")
        caption(activation_law_insight(rows))

    st.subheader("Latency on demand")
    st.caption(
        f"Times every combination above on {settings.device} in {settings.dtype}, batch 1: 1 warm-up and the runs you choose."
    )
    iters = st.slider("Timed runs per combination", 1, 20, 3, key="cmp_iters")
    if st.button("Time them all", icon=":material/timer:"):
        combos = [
            (f"w={r.width} at {r.size_label}", make_config("tutorial", width=r.width, depth=depth), (r.height, r.width_px))
            for r in rows
        ]
        with ui.guard("timing the grid"):
            timings = time_grid(settings, combos, iters)
        st.session_state["cmp_latency"] = [
            {"width": r.width, "input": r.size_label, "MACs": r.macs, "median ms": ms, "images/s": rate}
            for r, (ms, rate) in zip(rows, timings, strict=True)
        ]
    if st.session_state.get("cmp_latency"):
        lat = pd.DataFrame(st.session_state["cmp_latency"])
        st.dataframe(
            lat,
            hide_index=True,
            width="stretch",
            column_config={
                "MACs": st.column_config.NumberColumn(format="localized"),
                "median ms": st.column_config.NumberColumn(format="%.1f"),
                "images/s": st.column_config.NumberColumn(format="%.2f"),
            },
        )
        series = {
            f"{s} px": [row["median ms"] for row in st.session_state["cmp_latency"] if row["input"] == str(s)] for s in sides
        }
        xs = [row["width"] for row in st.session_state["cmp_latency"] if row["input"] == str(sides[0])]
        if all(len(v) == len(xs) for v in series.values()) and xs:
            ui.show(
                scaling_plot(xs, series, {}, x_title="base width w", y_title="median ms", title="Measured latency"), key="cmp_lat"
            )


main()
