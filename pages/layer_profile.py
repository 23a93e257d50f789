"""Profile: where the time of a forward goes, layer by layer, and a roofline against the device's peaks.

`controls` returns the request (once Profile is pressed), `run` times it with the engine's `profile_layers`, and
the `draw_*` functions show the last profile of this session.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd
import streamlit as st
import torch

from pages import ui
from yolo_explorer.deployment.modes import MODE_OPTIONS, LatencyMode
from yolo_explorer.deployment.peaks import Peaks
from yolo_explorer.deployment.profile import Profile, profile_layers
from yolo_explorer.present.deployment_figures import roofline, time_vs_macs
from yolo_explorer.present.formatting import human_ms
from yolo_explorer.present.insights import roofline_insight

BATCHES = [1, 2, 4, 8, 16, 32]
LAST = "profile"  # (Profile, Peaks) of this session's last run


@dataclass(frozen=True)
class ProfileRequest:
    """What the form asks for."""

    batch: int
    mode: LatencyMode
    iters: int


def main() -> None:
    settings = ui.current_settings()
    st.title("Where the time goes")
    st.caption(
        f"{settings.config.label} at {settings.size_label} on {settings.device}: every layer timed on its own, beside its "
        "share of the MACs, and each layer's rate against what this device can do at best. MACs do not predict time: "
        "early layers at high resolution move many bytes for little arithmetic, pools and attention compute little "
        "and still take time."
    )
    request = controls(settings)
    if request is not None:
        with ui.guard("profiling the layers"):
            st.session_state[LAST] = run(settings, request)
    if LAST not in st.session_state:
        st.info("Choose a precision and press **Profile**: each layer is timed over the runs, the device synchronised around it.")
        return
    profile, peaks = st.session_state[LAST]
    draw_summary(profile, peaks)
    draw_time_against_macs(profile)
    draw_roofline(profile, peaks)
    draw_table(profile, peaks, settings.device)


def controls(settings: ui.Settings) -> ProfileRequest | None:
    """The form: batch, precision, the eager modes, runs; the request once Profile is pressed."""
    cuda = settings.device.startswith("cuda")
    options = [option for option in MODE_OPTIONS if option.per_layer]
    with st.form("profile_form", border=True):
        cols = st.columns(3)
        batch = cols[0].select_slider("Batch size", BATCHES, value=1, key="prof_batch")
        dtypes = ui.supported_dtypes_cached(settings.device)
        dtype = cols[1].selectbox(
            "Timed in",
            dtypes,
            index=dtypes.index(settings.dtype) if settings.dtype in dtypes else 0,
            key="prof_dtype",
            help="The precision of the profiled runs (the sidebar's precision is the pages' forward).",
        )
        iters = cols[2].number_input("Timed runs", 3, 200, 10, key="prof_iters")
        chosen = {}
        for col, option in zip(st.columns(len(options) + 1), options, strict=False):
            unavailable = option.cuda_only and not cuda
            chosen[option.field] = (
                col.toggle(
                    option.label,
                    key=f"prof_{option.field}",
                    disabled=unavailable,
                    help=option.help + (" Needs a CUDA device." if unavailable else ""),
                )
                and not unavailable
            )
        pressed = st.form_submit_button("Profile", type="primary", icon=":material/speed:")
    st.caption(
        "Eager modes only: a torch.compile'd forward or a CUDA graph runs as one fused program, with no layer boundaries "
        "left to time; time those whole on the Latency page."
    )
    return ProfileRequest(batch, LatencyMode(dtype=dtype, **chosen), int(iters)) if pressed else None


def run(settings: ui.Settings, request: ProfileRequest) -> tuple[Profile, Peaks]:
    """Profile the layers with a progress bar; the profile and the device's peaks in its precision."""
    what = f"a batch of {request.batch} at {settings.size_label}"
    ui.check_memory(settings, batch=request.batch, dtype=request.mode.dtype, what=what)
    bar = st.progress(0.0, text="Preparing…")
    notice = st.empty()
    profile = profile_layers(
        ui.model_for(settings),
        size=settings.size,
        batch=request.batch,
        device=settings.device,
        mode=request.mode,
        iters=request.iters,
        threads=torch.get_num_threads() if settings.device == "cpu" else None,
        on_progress=lambda done, total: bar.progress(done / total, text=f"Run {done} of {total}"),
        on_wait=lambda: notice.info("Another session is running a forward on this device; waiting for it…"),
    )
    peaks = ui.peaks_for(settings.device, request.mode.dtype)
    bar.empty()
    notice.empty()
    return profile, peaks


def draw_summary(profile: Profile, peaks: Peaks) -> None:
    """The totals, the slowest layer, the device's peak, and how the layers were timed."""
    layers = profile.layers
    h, w = profile.input_size
    st.subheader(f"{profile.model}, {h}×{w}, batch {profile.batch}, {profile.mode}")
    slowest = max(layers, key=lambda layer: layer.ms)
    cols = st.columns(4)
    cols[0].metric(
        "Layers, summed", human_ms(profile.total_ms), help=f"{profile.total_ms:.3f} ms: the sum of each layer's median"
    )
    cols[1].metric("Plain forward", human_ms(profile.forward_ms), help="Its median, timed in the same loop, without hooks")
    cols[2].metric("Slowest layer", slowest.name, delta=f"{slowest.share:.0%} of the time", delta_color="off", delta_arrow="off")
    cols[3].metric(
        "Compute peak",
        f"{peaks.tflops:.3g} TFLOP/s",
        delta=f"{peaks.gbps:.3g} GB/s memory",
        delta_color="off",
        delta_arrow="off",
        help=f"Measured on this device in {profile.dtype}: the faster of a large matmul and a large 3×3 conv (here the "
        f"{peaks.compute}), and a large copy for the memory bandwidth.",
    )
    st.caption(
        f"{profile.device_name}; {profile.runs} runs. How: {profile.method}; each layer's median over the runs. The plain "
        f"forward alternates with the hooked one, so both see the same machine: the layers add up to {profile.overhead:.2f}× "
        "the plain forward" + (" (the hooks and synchronisations cost that much)." if profile.overhead > 1 else ".")
    )


def draw_time_against_macs(profile: Profile) -> None:
    """Each layer's share of the time beside its share of the MACs."""
    layers = profile.layers
    names, blocks = [layer.name for layer in layers], [layer.block for layer in layers]
    st.subheader("Time against MACs")
    ui.show(
        time_vs_macs(names, blocks, [layer.share for layer in layers], [layer.macs_share for layer in layers]), key="prof_bars"
    )
    heavy = max(layers, key=lambda layer: layer.share - layer.macs_share)
    light = min(layers, key=lambda layer: layer.share - layer.macs_share)
    st.caption(
        f"Filled bars are each layer's share of the time, outlines its share of the MACs. {heavy.name} takes "
        f"{heavy.share:.0%} of the time for {heavy.macs_share:.0%} of the MACs; {light.name} {light.share:.0%} for "
        f"{light.macs_share:.0%}."
    )


def draw_roofline(profile: Profile, peaks: Peaks) -> None:
    """Each computing layer at its arithmetic intensity and rate, under the device's two ceilings."""
    layers = profile.layers
    st.subheader("Roofline")
    computing = [layer for layer in layers if layer.flops > 0]  # a detector's Upsample and Concat only move data
    ui.show(
        roofline(
            [layer.name for layer in computing],
            [layer.block for layer in computing],
            [layer.intensity for layer in computing],
            [layer.gflops_per_s for layer in computing],
            peak_tflops=peaks.tflops,
            peak_gbps=peaks.gbps,
            peak_label=f"compute peak ({peaks.compute})",
        ),
        key="prof_roofline",
    )
    st.caption(roofline_insight(computing, peaks.tflops, peaks.gbps))
    movers = [layer for layer in layers if layer.flops == 0]
    if movers:
        moved = sum(layer.ms for layer in movers)
        st.caption(
            f"Not on the roofline: {', '.join(f'{layer.name} ({layer.block})' for layer in movers)} compute nothing, they "
            f"only move data; together {moved:.2f} ms, {moved / profile.total_ms:.0%} of the time."
        )
    st.caption(
        "Intensity counts the least traffic a layer needs: its weights, its input and its output, each read or written once in "
        f"{profile.dtype}. A layer under the slanted ceiling cannot go faster than memory delivers bytes; under the flat one, "
        "than the device computes."
    )


def draw_table(profile: Profile, peaks: Peaks, device: str) -> None:
    """Every layer's figures, and whether memory or compute bounds it."""
    layers = profile.layers
    table = pd.DataFrame(
        [
            {
                "layer": layer.name,
                "block": layer.block,
                "ms": layer.ms,
                "share of time": layer.share,
                "share of MACs": layer.macs_share,
                "GFLOP/s": layer.gflops_per_s,
                "FLOP/byte": layer.intensity,
                "bound": peaks.bound(layer.intensity),
            }
            for layer in layers
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "ms": st.column_config.NumberColumn(format="%.3f"),
            "share of time": st.column_config.NumberColumn(format="percent"),
            "share of MACs": st.column_config.NumberColumn(format="percent"),
            "GFLOP/s": st.column_config.NumberColumn(format="%.1f"),
            "FLOP/byte": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    if os.cpu_count() and device == "cpu":
        st.caption(f"CPU threads: {torch.get_num_threads()} of {os.cpu_count()} cores.")


main()
