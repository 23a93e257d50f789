"""Compare: several widths x input sizes at once, with the scaling laws drawn; latency on demand."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import ui
from yolo_explorer import make_config, measure_latency
from yolo_explorer.figures import scaling_plot
from yolo_explorer.insights import activation_law_insight, params_law_insight, pixels_law_insight
from yolo_explorer.memory import check_fits


def caption(text: str | None) -> None:
    if text:  # a sentence needs at least two widths or two sizes to compare
        st.caption(text)


settings = ui.current_settings()
DEPTH = settings.depth if settings.arch == "tutorial" else 2  # the sidebar's n when the tutorial is chosen
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
    st.stop()

with ui.guard("computing the grid"):
    grid = (tuple(widths), tuple(sides), DEPTH, settings.dtype)
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
st.caption(f"Times every combination above on {settings.device} in {settings.dtype}, batch 1: 1 warm-up and the runs you choose.")
iters = st.slider("Timed runs per combination", 1, 20, 3, key="cmp_iters")
if st.button("Time them all", icon=":material/timer:"):
    results = []
    bar = st.progress(0.0)
    with ui.guard("timing the grid"):
        for i, r in enumerate(rows):
            bar.progress(i / len(rows), text=f"w={r.width} at {r.size_label} ({i + 1} of {len(rows)})")
            config = make_config("tutorial", width=r.width, depth=DEPTH)
            estimate = ui.memory_for(config, (r.height, r.width_px), 1, settings.dtype)
            check_fits(estimate, settings.device, what=f"w={r.width} at {r.size_label}")
            model = ui.model_for_config(config, settings.seed, settings.device, settings.dtype)
            t = measure_latency(
                model, size=(r.height, r.width_px), device=settings.device, dtype=settings.dtype, warmup=1, iters=iters
            )
            results.append(
                {"width": r.width, "input": r.size_label, "MACs": r.macs, "median ms": t.median_ms, "images/s": t.images_per_s}
            )
    bar.empty()
    st.session_state["cmp_latency"] = results
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
    series = {f"{s} px": [row["median ms"] for row in st.session_state["cmp_latency"] if row["input"] == str(s)] for s in sides}
    xs = [row["width"] for row in st.session_state["cmp_latency"] if row["input"] == str(sides[0])]
    if all(len(v) == len(xs) for v in series.values()) and xs:
        ui.show(
            scaling_plot(xs, series, {}, x_title="base width w", y_title="median ms", title="Measured latency"), key="cmp_lat"
        )
