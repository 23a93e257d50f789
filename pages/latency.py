"""Latency: time the plain forward on a button, keep a history of this session's runs to compare."""

from __future__ import annotations

import dataclasses
import os
import time

import pandas as pd
import streamlit as st

from pages import ui
from yolo_explorer import measure_latency
from yolo_explorer.figures import latency_box, latency_history

NOISY_SPREAD = 0.2  # (p90 - min) / median above this: the figures are noisy

settings = ui.current_settings()
st.title("Latency")
st.caption(
    f"{settings.config.label} at {settings.size_label} on {settings.device}. The plain forward is timed (no hooks), "
    "under torch.inference_mode, with warm-up runs first and the device synchronised around every run."
)
history: list[dict] = st.session_state.setdefault("latency_history", [])

with st.form("latency_form", border=True):
    cols = st.columns(4)
    batch = cols[0].select_slider("Batch size", [1, 2, 4, 8, 16, 32, 64], value=1, key="lat_batch")
    dtypes = ui.supported_dtypes_cached(settings.device)
    dtype = cols[1].selectbox(
        "Precision", dtypes, index=dtypes.index(settings.dtype) if settings.dtype in dtypes else 0, key="lat_dtype"
    )
    warmup = cols[2].number_input("Warm-up runs", 0, 50, 3, key="lat_warmup")
    iters = cols[3].number_input("Timed runs", 3, 500, 20, key="lat_iters")
    run = st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")

if run:
    label = f"w{settings.width} {settings.size_label} b{batch} {dtype} {settings.device}"
    with ui.guard("measuring the latency"):
        ui.check_memory(
            dataclasses.replace(settings, dtype=dtype), batch=batch, what=f"a batch of {batch} at {settings.size_label}"
        )
        model = ui.model_for(settings.arch, settings.width, settings.depth, settings.seed, settings.device, dtype)
        load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        waited = 0.0
        if not model.lock.acquire(blocking=False):  # another session is capturing or timing on this model
            notice = st.info("Another session is using this model; waiting for it to finish…", icon=":material/hourglass:")
            start = time.perf_counter()
            model.lock.acquire()
            waited = time.perf_counter() - start
            notice.empty()
        try:
            bar = st.progress(0.0, text="Warming up…")

            def progress(done: int, total: int) -> None:
                phase = "Warming up" if done <= warmup else "Timing"
                bar.progress(done / total, text=f"{phase}: run {done} of {total}")

            result = measure_latency(
                model,
                size=settings.size,
                batch=batch,
                device=settings.device,
                dtype=dtype,
                warmup=int(warmup),
                iters=int(iters),
                on_progress=progress,
            )
        finally:
            model.lock.release()
        bar.empty()
    history.append({"label": label, "result": result, "waited_s": waited, "load": load_before})

if not history:
    st.info(
        "Choose a batch size and press **Run**. Each run is added to a history so you can compare widths, sizes and precisions."
    )
    st.stop()

latest = history[-1]
r = latest["result"]
st.subheader(f"Last run: {latest['label']}")
cols = st.columns(5)
cols[0].metric("Median", f"{r.median_ms:.1f} ms")
cols[1].metric("p90", f"{r.p90_ms:.1f} ms")
cols[2].metric("Min", f"{r.min_ms:.1f} ms")
cols[3].metric("Max", f"{r.max_ms:.1f} ms")
cols[4].metric("Images / s", f"{r.images_per_s:,.1f}")
st.caption(f"{r.device_name} · torch {r.torch} · {r.threads} CPU threads · {len(r.times_ms)} timed runs after {r.warmup} warm-up")
if r.spread > NOISY_SPREAD:
    st.warning(
        f"Noisy measurement: the runs spread {r.spread:.0%} of the median between the fastest and p90. "
        "Another program (or user) is probably using the device; run again or use more timed runs.",
        icon=":material/ssid_chart:",
    )
cpus = os.cpu_count() or 1
if latest["load"] is not None and latest["load"] > 0.5 * cpus and r.device == "cpu":
    st.warning(
        f"The CPU was busy before this run (load {latest['load']:.1f} on {cpus} cores): other processes share it.",
        icon=":material/group:",
    )
if latest["waited_s"] > 0.05:
    st.info(
        f"This run waited {latest['waited_s']:.1f} s for another session's work on the same model.", icon=":material/hourglass:"
    )

ui.show(latency_box({latest["label"]: r.times_ms}), key="lat_box")

st.subheader("This session's runs")
table = pd.DataFrame(
    [
        {
            "run": h["label"],
            "median ms": h["result"].median_ms,
            "p90 ms": h["result"].p90_ms,
            "min ms": h["result"].min_ms,
            "max ms": h["result"].max_ms,
            "images/s": h["result"].images_per_s,
            "spread": h["result"].spread,
            "device": h["result"].device_name,
        }
        for h in history
    ]
)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        c: st.column_config.NumberColumn(format="%.2f") for c in ("median ms", "p90 ms", "min ms", "max ms", "images/s")
    }
    | {"spread": st.column_config.NumberColumn(format="percent")},
)
if len(history) > 1:
    labels = [f"{i + 1}. {h['label']}" for i, h in enumerate(history)]
    ui.show(latency_history(labels, table["median ms"], table["p90 ms"], table["min ms"]), key="lat_history")
if st.button("Clear history", icon=":material/delete:", key="lat_clear"):
    history.clear()
    st.rerun()
