"""Latency: time the plain forward on a button, keep a history of this session's runs to compare.

`controls` returns what the user asks for (a `LatencyRequest`, once Run is pressed), `run` times it through the
engine's one `latency.measure`, and the `draw_*` functions show the session's runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd
import streamlit as st
import torch

from pages import ui
from yolo_explorer.deployment.latency import LatencyRequest, LatencyResult, measure, speedups
from yolo_explorer.deployment.modes import MODE_OPTIONS, LatencyMode
from yolo_explorer.deployment.onnx_models import ONNX_DTYPES
from yolo_explorer.present.deployment_figures import latency_box, latency_history, sweep_plot
from yolo_explorer.present.formatting import human_ms
from yolo_explorer.present.insights import Remedies, timing_notes

BATCHES = [1, 2, 4, 8, 16, 32, 64]
HISTORY = "latency_history"  # this session's runs: [Run, ...]
SWEEP = "latency_sweep"  # the last batch sweep's results
EXPORTED = "latency_onnx"  # (torch model, exported model) of the last ONNX Runtime run


@dataclass(frozen=True)
class Run:
    """One timed run in this session's history."""

    label: str
    result: LatencyResult
    load: float | None  # the CPU's load average before the run, where the system tells it


@dataclass(frozen=True)
class Asked:
    """What the controls decided: the request (None until Run is pressed) and what the page says around it."""

    request: LatencyRequest | None
    compile_key: tuple  # (config, size, compile mode, frozen, device): where this compile's time is remembered


def main() -> None:
    settings = ui.current_settings()
    st.title("Latency")
    st.caption(
        f"{settings.config.label} at {settings.size_label} on {settings.device}. The plain forward is timed (no hooks), "
        "under torch.inference_mode, with warm-up runs first and the device synchronised around every run. Forwards on one "
        "device run one at a time, so other users' maps never disturb a timing."
    )
    history: list[Run] = st.session_state.setdefault(HISTORY, [])
    with ui.guard("reading the latency settings"):
        asked = controls(settings)
    if asked.request is not None:
        with ui.guard("measuring the latency"):
            history.extend(run(settings, asked))
    if not history:
        st.info(
            "Choose a batch size and press **Run**. Each run is added to a history so you can compare widths, sizes and "
            "precisions."
        )
        return
    draw_last(history)
    draw_sweep(history[-1].result)
    ui.show(latency_box({history[-1].label: history[-1].result.times_ms}), key="lat_box")
    if history[-1].result.runtime == "onnxruntime" and EXPORTED in st.session_state:
        draw_export(settings)
        last = history[-1].result
        if last.dtype == "int8" and last.input_size == settings.size:
            timed = LatencyRequest(
                runtime="onnxruntime", dtype="int8", size=settings.size, batches=(last.batch,), device=settings.device,
                warmup=last.warmup, iters=len(last.times_ms), threads=last.threads if settings.device == "cpu" else None,
            )  # fmt: skip
            ui.int8.draw(settings, timed)
    draw_history(history)


def controls(settings: ui.Settings) -> Asked:
    """The runtime and compile choices (outside the form, so that they say what they cost before Run is pressed),
    then the form; returns the request once Run is pressed."""
    cuda = settings.device.startswith("cuda")
    left, right = st.columns([1, 3])
    runtime = left.segmented_control(
        "Runtime",
        ["torch", "ONNX Runtime"],
        default="torch",
        required=True,
        key="lat_runtime",
        help="torch runs the model as it is, in the modes below; ONNX Runtime runs it exported to ONNX, as many deployments "
        "ship it (fp32, or int8 after static quantization).",
    )
    onnx = runtime == "ONNX Runtime"
    compile_mode, freeze = "eager", False
    if onnx:
        right.info(
            "The model is exported once (torch.onnx's dynamo exporter, any batch size) and run by ONNX Runtime, which "
            "optimises the graph itself (BatchNorm folded, kernels fused): the torch modes below do not apply. **int8**: "
            "static post-training quantization (QDQ, uint8 activations, per-channel int8 weights: 7-bit on an x86 CPU without "
            "VNNI, whose 8-bit kernels saturate), its ranges calibrated on "
            "the four sample photos at this size. Export and session start are reported apart.",
            icon=":material/deployed_code:",
        )
    else:
        compile_mode, freeze = _compile_choice(settings, left)
    compile_key = (settings.config.label, settings.size, compile_mode, freeze, settings.device)
    if compile_mode != "eager":
        seen = ui.compile_times().get(compile_key)
        right.info(
            f"Compiling {settings.config.label} at {settings.size_label} in this mode took {seen:.0f} s on this server "
            "last time; it happens before the timed runs and is reported apart."
            if seen
            else "Compiling comes first and is reported apart: seconds for default and reduce-overhead, minutes for "
            "max-autotune (it benchmarks kernels). Other users' forwards go on meanwhile; their compiled runs wait for it.",
            icon=":material/hourglass_top:",
        )

    with st.form("latency_form", border=True):
        cols = st.columns(5)
        batch = cols[0].select_slider("Batch size", BATCHES, value=1, key="lat_batch")
        dtypes = list(ONNX_DTYPES) if onnx else ui.supported_dtypes_cached(settings.device)
        dtype = cols[1].selectbox(
            "Timed in",
            dtypes,
            index=dtypes.index(settings.dtype) if settings.dtype in dtypes else 0,
            key="lat_dtype_onnx" if onnx else "lat_dtype",
            help="The precision of the timed runs (the sidebar's precision is the pages' forward).",
        )
        warmup = cols[2].number_input("Warm-up runs", 0, 50, 3, key="lat_warmup")
        iters = cols[3].number_input("Timed runs", 3, 500, 20, key="lat_iters")
        threads = cols[4].number_input(
            "CPU threads",
            1,
            os.cpu_count() or 1,
            torch.get_num_threads(),
            key="lat_threads",
            disabled=settings.device != "cpu",
            help="torch's (or ONNX Runtime's) intra-op threads for this run.",
        )
        cols = st.columns(len(MODE_OPTIONS) + 1)
        torch_only = " (a torch mode: ONNX Runtime optimises the graph itself)" if onnx else ""
        chosen = {}
        for col, option in zip(cols, MODE_OPTIONS, strict=False):
            unavailable = option.cuda_only and not cuda
            chosen[option.field] = col.toggle(
                option.label,
                key=f"lat_{option.field}",
                disabled=onnx or unavailable,
                help=option.help + torch_only + (" Needs a CUDA device." if unavailable else ""),
            ) and not (onnx or unavailable)
        sweep = cols[-1].toggle(
            "Batch sweep", key="lat_sweep", help="Time every batch size from 1 up to the chosen one: images/s and TFLOP/s."
        )
        pressed = st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")
    if not pressed:
        return Asked(None, compile_key)
    mode = None
    if not onnx:
        mode = LatencyMode(dtype=dtype, compile=None if compile_mode == "eager" else compile_mode, freeze=freeze, **chosen)
    request = LatencyRequest(
        runtime="onnxruntime" if onnx else "torch",
        dtype=dtype,
        mode=mode,
        size=settings.size,
        batches=tuple(b for b in BATCHES if b <= batch) if sweep else (batch,),
        device=settings.device,
        warmup=int(warmup),
        iters=int(iters),
        threads=int(threads) if settings.device == "cpu" else None,
    )
    return Asked(request, compile_key)


def _compile_choice(settings: ui.Settings, column) -> tuple[str, bool]:
    """The torch.compile mode this server offers on this device ("eager": none), and whether to freeze the weights."""
    choices, note = ui.compile_modes(settings.device)
    if note:
        st.warning(note, icon=":material/settings:")
    mode = column.selectbox(
        "torch.compile",
        choices,
        key="lat_compile",
        help="Compile the forward before timing it (reduce-overhead and max-autotune also replay CUDA graphs)."
        + ("" if len(choices) > 1 else " This server offers eager only."),
    )
    freeze = column.toggle(
        "Freeze weights",
        key="lat_freeze",
        disabled=mode == "eager",
        help="Compile the weights as constants (inductor's freezing): folded ahead of time and laid out for the "
        "kernels, e.g. oneDNN's blocked weights on a CPU. Needs a compile mode.",
    )
    return mode, freeze and mode != "eager"


def run(settings: ui.Settings, asked: Asked) -> list[Run]:
    """Time the request with a progress bar (and a notice while the device is busy); the runs for the history."""
    request = asked.request
    largest = max(request.batches)
    what = f"a batch of {largest} at {settings.size_label}"
    ui.check_memory(settings, batch=largest, dtype="fp32" if request.runtime == "onnxruntime" else request.dtype, what=what)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    notice = st.empty()
    onnx = None
    if request.runtime == "onnxruntime":
        model, onnx = ui.onnx_for(settings, request.dtype)
        st.session_state[EXPORTED] = (model, onnx)
    else:
        model = ui.model_for(settings)  # each mode converts a private copy: the shared model stays as it is
    compiling = request.mode is not None and request.mode.compile
    bar = st.progress(0.0, text=f"Compiling ({request.mode.compile})…" if compiling else "Preparing…")

    def progress(batch: int, done: int, total: int) -> None:
        i = request.batches.index(batch)
        phase = "warming up" if done <= request.warmup else "timing"
        bar.progress((i + done / total) / len(request.batches), text=f"Batch {batch}: {phase}, run {done} of {total}")

    def waiting() -> None:
        notice.info(
            "Another session is running a forward on this device or compiling; waiting for it…", icon=":material/hourglass:"
        )

    results = measure(model, request, onnx=onnx, on_progress=progress, on_wait=waiting)
    notice.empty()
    bar.empty()
    if compiling and results[0].compile_s:
        ui.compile_times()[asked.compile_key] = results[0].compile_s
    if len(results) > 1:
        st.session_state[SWEEP] = results
    return [Run(f"{settings.config.label} {settings.size_label} b{r.batch} {r.mode} {settings.device}", r, load) for r in results]


def draw_last(history: list[Run]) -> None:
    """The last run's figures, its speed-up over plain fp32 eager, and what makes them noisy."""
    latest = history[-1]
    r = latest.result
    ratio = speedups([h.result for h in history])[-1]  # over plain fp32 eager of the same model, size, batch, device
    st.subheader(f"Last run: {latest.label}")
    cols = st.columns(6)
    cols[0].metric("Median", human_ms(r.median_ms), help=f"{r.median_ms:.3f} ms per batch")
    cols[1].metric("p90", human_ms(r.p90_ms), help=f"{r.p90_ms:.3f} ms")
    cols[2].metric("Min", human_ms(r.min_ms), help=f"{r.min_ms:.3f} ms")
    cols[3].metric("Images / s", f"{r.images_per_s:,.3g}" if r.images_per_s < 1000 else f"{r.images_per_s:,.0f}")
    cols[4].metric("TFLOP/s", f"{r.tflops:.3g}", help=f"{r.flops:,} FLOPs per batch (the engine's count) / median time")
    if r.runtime == "onnxruntime":
        cols[5].metric(
            "Export",
            f"{r.export_s:.1f} s",
            delta=f"session {r.compile_s:.1f} s",
            delta_color="off",
            delta_arrow="off",
            help="Exporting (and quantizing) the model, once for every session, then starting ONNX Runtime's session (it "
            "optimises the graph): before the first timed run, not in the timings.",
        )
        engine = f"ONNX Runtime {r.settings.get('onnxruntime', '')}"
    else:
        cols[5].metric(
            "Compile / capture",
            f"{r.compile_s:.1f} s" if r.compile_s else "none",
            help="Before the first timed run; not in the timings.",
        )
        engine = f"torch {r.torch}"
    st.caption(f"{r.device_name} · {engine} · {r.threads} CPU threads · {len(r.times_ms)} timed runs after {r.warmup} warm-up")
    if r.mode != "fp32":
        st.caption(
            f"**{ratio:.2f}×** the speed of plain fp32 eager for the same model, size, batch and device in this session."
            if ratio is not None
            else "Run plain fp32 (no options, eager) with the same settings to see how much faster this mode is."
        )
    remedies = Remedies(more_runs="more timed runs", fewer_threads="fewer CPU threads")
    for note in timing_notes(r, latest.load, os.cpu_count() or 1, remedies):
        st.warning(note, icon=":material/ssid_chart:")
    if r.waited_s > 0.05:
        st.info(
            f"This run waited {r.waited_s:.1f} s for other sessions' forwards or compiles on {r.device} before it started; "
            "the timings themselves ran alone on the device.",
            icon=":material/hourglass:",
        )


def draw_sweep(last: LatencyResult) -> None:
    """The batch sweep's images/s and TFLOP/s, when the last run was one."""
    results = st.session_state.get(SWEEP)
    if not results or results[-1] is not last:
        return
    st.subheader("Batch sweep")
    ui.show(
        sweep_plot([s.batch for s in results], [s.images_per_s for s in results], [s.tflops for s in results]),
        key="lat_sweep_plot",
    )
    best = max(results, key=lambda s: s.tflops)
    if last.runtime == "torch":
        peaks = ui.peaks_for(last.device, last.dtype)
        reach = f"the best batch ({best.batch}) reaches {best.tflops / peaks.tflops:.0%} of it."
        words = f"This device's {last.dtype} compute peak, measured here ({peaks.compute}): {peaks.tflops:.3g} TFLOP/s; {reach}"
    else:
        words = f"The best batch is {best.batch}."
    st.caption(
        "Larger batches amortise kernel launches and fill the device: images/s grows until the device is busy. "
        f"TFLOP/s uses the engine's FLOP count of the forward. {words}"
    )


def draw_export(settings: ui.Settings) -> None:
    """The exported model: its download, each output's error against float64, and for int8 one channel side by side."""
    reference, exported = st.session_state[EXPORTED]
    st.subheader("The exported model")
    download, about = st.columns([1, 3])
    download.download_button(
        f"Download .onnx ({len(exported.data) / 2**20:.1f} MiB)",
        lambda: exported.data,
        file_name=exported.file_name,
        mime="application/octet-stream",
        on_click="ignore",
        icon=":material/download:",
        help="Open it in Netron (netron.app) to see the graph ONNX Runtime loads: in int8, every convolution between "
        "QuantizeLinear and DequantizeLinear nodes.",
    )
    h, w = exported.size
    about.caption(f"{exported.label} at {h}×{w} in {exported.dtype}, any batch size. {export_note(settings, exported.dtype)}")
    with ui.guard("comparing ONNX Runtime's outputs with float64"):
        errors = ui.onnx_errors(exported.digest, reference, exported)
    st.dataframe(
        pd.DataFrame([{"output": e.name, "relative error": e.relative_error, "cosine similarity": e.cosine} for e in errors]),
        hide_index=True,
        column_config={
            "relative error": st.column_config.NumberColumn(format="%.2e"),
            "cosine similarity": st.column_config.NumberColumn(format="%.5f"),
        },
    )
    unseen = " (images the int8 calibration did not see)" if exported.dtype == "int8" else ""
    st.caption(
        f"Against a float64 forward of the same model on the four sample photos mirrored{unseen}: the relative error is "
        "‖ONNX − float64‖ / ‖float64‖ over each output, the cosine similarity 1 when the two point the same way."
        f" Worst here: {max(e.relative_error for e in errors):.1e}."
    )
    if exported.dtype != "int8":
        return
    with ui.guard("running the int8 model on the photo"):
        image = ui.image_for(settings.photo)
        pair = ui.views.quantization_pair(exported.digest, settings.photo.digest, reference, exported, image)
    st.markdown(f"**What quantization does to one channel**: {pair.layer} channel {pair.channel} of the photo")
    left, right = st.columns(2)
    with left:
        ui.show(pair.fp32, key="lat_q_fp32")
    with right:
        ui.show(pair.int8, key="lat_q_int8")
    st.caption(
        f"The same colour scale on both. This channel (the strongest of {pair.layer} in fp32) differs by "
        f"{pair.relative_error:.1%} (relative error) after int8: the ranges are coarser, small values round to zero."
    )


def export_note(settings: ui.Settings, dtype: str) -> str:
    """What the exported model's weights mean for its errors; int8's calibration only where it is int8."""
    int8 = dtype == "int8"
    if settings.weights is None:
        return "Random weights: BatchNorm's statistics were first set from the four sample photos (as training would), so " + (
            "the activations keep a unit scale; int8's calibration then sees the activations of random weights, and its "
            "error says what int8 does to them, not what it does to a trained model's (load trained weights for that)."
            if int8
            else "the activations keep a unit scale, as a trained model's do."
        )
    name = settings.weights.name
    if not int8:
        return f"Trained weights ({name})."
    if settings.samples_fit:
        return f"Trained weights ({name}): int8's calibration sees what a deployment's would."
    return (
        f"Trained weights ({name}) of other classes than COCO's: this int8 was calibrated on the four sample photos, which "
        "show it nothing of its classes, so its errors below say little about a deployment's (its speed does not depend on "
        "them). “Can this int8 be trusted?” below calibrates and judges it on photos of its own scenes."
    )


def draw_history(history: list[Run]) -> None:
    """This session's runs as a table (with each one's speed-up over plain fp32 eager) and a chart."""
    st.subheader("This session's runs")
    ratios = speedups([h.result for h in history])
    table = pd.DataFrame(
        [
            {
                "run": h.label,
                "median ms": h.result.median_ms,
                "p90 ms": h.result.p90_ms,
                "min ms": h.result.min_ms,
                "max ms": h.result.max_ms,
                "images/s": h.result.images_per_s,
                "TFLOP/s": h.result.tflops,
                "× fp32 eager": ratio,
                "spread": h.result.spread,
                "device": h.result.device_name,
            }
            for h, ratio in zip(history, ratios, strict=True)
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.NumberColumn(format="%.2f") for c in ("median ms", "p90 ms", "min ms", "max ms", "images/s")
        }
        | {"TFLOP/s": st.column_config.NumberColumn(format="%.4f")}
        | {"× fp32 eager": st.column_config.NumberColumn(format="%.2f×", help="Plain fp32 eager's median over this run's")}
        | {"spread": st.column_config.NumberColumn(format="percent")},
    )
    if len(history) > 1:
        labels = [f"{i + 1}. {h.label}" for i, h in enumerate(history)]
        ui.show(latency_history(labels, table["median ms"], table["p90 ms"], table["min ms"]), key="lat_history")
    if st.button("Clear history", icon=":material/delete:", key="lat_clear"):
        history.clear()
        st.rerun()


main()
