"""The Model graph's measured paints: each number comes from the engine call the page that shows it makes (the
Profile page's `profile_layers`, the Feature maps page's channel statistics, the Latency page's int8 sensitivity, the
Detections page's Why-this-box), shared with that page where a session already measured it. `measured` returns the
graph painted and a sentence on how the number was measured, or None where a measurement waits for the user's press
(its button drawn) or cannot be made (said why).
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from yolo_explorer.deployment.int8_sensitivity import Recipe, layer_errors
from yolo_explorer.deployment.modes import LatencyMode
from yolo_explorer.deployment.profile import Profile, profile_layers
from yolo_explorer.model.graph import ModelGraph
from yolo_explorer.present.formatting import escape_markdown, human_ms

from .compute import (
    Int8Sources,
    check_memory,
    detections_for,
    drift_for,
    explanation_for,
    int8_lab_for,
    known_sensitivity,
    model_for,
    peaks_for,
    server_calibration,
    strengths_for,
)
from .guard import guard
from .int8 import measure_sensitivity
from .settings import Settings

PROFILE = "profile"  # the Profile page's last (Profile, Peaks) of this session: the graph reads and writes the same
PROFILE_RUNS = 10  # timed runs when the graph asks for a profile itself
WHY_BOX = "graph_why_box"  # the box whose Why-this-box map paints the graph


def measured(settings: Settings, graph: ModelGraph, metric: str) -> tuple[ModelGraph, str] | None:
    """`graph` painted by the measured `metric` (a key of `MEASURED`) and how it was measured, or None."""
    layers = tuple(name for node in graph.nodes for name in node.layers if node.part != "input")
    paint: Callable[[Settings, tuple[str, ...]], tuple[dict, str] | None] = PAINTERS[metric]
    found = paint(settings, layers)
    if found is None:
        return None
    values, how = found
    return graph.painted(metric, values), how


def _time(settings: Settings, layers: tuple[str, ...]) -> tuple[dict, str] | None:
    """The session's last profile of this model, size and device (the Profile page's), or a button that runs one."""
    profile = _matching_profile(settings)
    if profile is None:
        pressed = st.button(
            f"Time every layer ({PROFILE_RUNS} runs on {settings.device}, {settings.dtype})",
            icon=":material/speed:",
            key="graph_profile",
            help="The Profile page's measurement: each layer timed on its own, the device synchronised around it. Its "
            "page then shows this profile too (and more modes).",
        )
        if not pressed:
            st.info("Each layer's time is measured, not computed: press the button (or profile on the Profile page).")
            return None
        with guard("timing every layer"), st.spinner("Timing every layer…"):
            check_memory(settings, what=f"a forward of {settings.config.label} at {settings.size_label}")
            profile = profile_layers(
                model_for(settings), size=settings.size, device=settings.device, mode=LatencyMode(dtype=settings.dtype),
                iters=PROFILE_RUNS,
            )  # fmt: skip
            st.session_state[PROFILE] = (profile, peaks_for(settings.device, settings.dtype))
    how = (
        f"Each layer's median time over {profile.runs} runs, batch {profile.batch}, {profile.mode} on "
        f"{profile.device_name} (the Profile page's measurement; the layers add up to {human_ms(profile.total_ms)}, "
        f"{profile.overhead:.2f}× the plain forward)."
    )
    return {layer.name: layer.ms for layer in profile.layers}, how


def _matching_profile(settings: Settings) -> Profile | None:
    last = st.session_state.get(PROFILE)
    profile = last[0] if last else None
    if profile is None or (profile.model, profile.input_size, profile.device) != (
        settings.config.label, settings.size, settings.device
    ):  # fmt: skip
        return None
    return profile


def _activation(settings: Settings, layers: tuple[str, ...]) -> tuple[dict, str]:
    with guard("running the photo through every layer"):
        values = strengths_for(settings, layers)
    how = (
        f"Each layer's output on {escape_markdown(settings.photo.label)}: the root mean square of all its values (from "
        "the Feature maps page's channel statistics). The head's output is not one map: grey."
    )
    return values, how


def default_lab(settings: Settings):
    """The Latency page's int8 lab with its default choices (MinMax, per-channel weights; the sidebar's photo, the
    server's photos, the samples where they fit the weights), and its key."""
    served = server_calibration(settings.size)[0]
    sources = Int8Sources(settings.photo, (), bool(served), settings.samples_fit)
    with guard("calibrating int8"):
        return int8_lab_for(settings, Recipe(), sources)


def _int8(settings: Settings, layers: tuple[str, ...]) -> tuple[dict, str] | None:
    """The session's int8 sensitivity ranking of this model (the Latency page's), or the default recipe's, measured on
    a press."""
    served = server_calibration(settings.size)[0]
    lab, key = default_lab(settings)
    last = st.session_state.get("int8_sensitivity_key")
    latency = last is not None and last != key and last[0] == key[0] and known_sensitivity(last) is not None
    if latency:
        key = last  # what the Latency page measured for this export, with its recipe and photos (the judged outputs alike)
    rows = known_sensitivity(key)
    if rows is None:
        estimate = lab.estimate_s()
        cost = f", about {estimate:.0f} s here" if estimate else ""
        pressed = st.button(
            f"Measure each layer's int8 error ({2 * len(lab.units)} quantizations{cost})",
            icon=":material/troubleshoot:",
            key="graph_int8",
            help="The Latency page's sensitivity: each unit alone in int8, the rest float, with MinMax calibration, "
            "per-channel weight scales, on the sidebar's photo"
            + (", the server's photos" if served else "")
            + (" and the samples." if settings.samples_fit else "."),
        )
        if not pressed:
            st.info("int8's error per layer is measured: press the button (or measure on the Latency page's int8 section).")
            return None
        rows = measure_sensitivity(lab, key)
    recipe = "the recipe and photos chosen on the Latency page" if latency else "MinMax, per-channel weights"
    how = (
        "Each layer alone in int8, the rest in float: 1 − the worst cosine of the outputs "
        f"({', '.join(lab.judged)}) with float's on the judged photos (the Latency page's sensitivity ranking, with "
        f"{recipe}; a layer cut finer takes its worst part)."
    )
    return layer_errors(rows, lab.judged), how


INT8_VARIANTS = {"int8": "full int8", "weighted": "weighted nodes only (Ultralytics' recipe)"}


def _drift(settings: Settings, layers: tuple[str, ...]) -> tuple[dict, str]:
    """Each layer's output in int8 against fp32's, on the judged photos (one quantization and two runs, shared)."""
    variant = st.segmented_control(
        "int8 of", list(INT8_VARIANTS), default="int8", required=True, format_func=INT8_VARIANTS.get,
        key="graph_int8_variant",
        help="Full int8 (every node ONNX Runtime can quantize), or only the nodes with weights (Conv, MatMul), as "
        "Ultralytics' own ONNX int8 export does: the head's decoding stays float.",
    )  # fmt: skip
    lab, key = default_lab(settings)
    with guard("running int8 layer by layer"):
        drift = drift_for(lab, key, variant)
    how = (
        f"{INT8_VARIANTS[variant].capitalize()} of the Latency page's default calibration, on the judged photos: each "
        "layer's output against fp32's as 1 − cosine (0: unchanged). Error is made where a layer's drift jumps over "
        "what it reads (ringed), and carried elsewhere; the head takes the worst of the outputs a deployment ships "
        f"({', '.join(lab.judged)})."
    )
    return drift, how


def _why(settings: Settings, layers: tuple[str, ...]) -> tuple[dict, str] | None:
    """One kept box's HiResCAM at every layer: the share of it near the box's cell (the Detections page's number at
    the level that predicted the box)."""
    if not settings.detector:
        st.info("Why this box? needs a detector: choose **Whole detector** in the sidebar.")
        return None
    with guard("detecting"):
        result = detections_for(settings)
    kept = result.detections
    if not kept:
        st.info("No box is kept on this photo at predict's thresholds: nothing to explain.")
        return None
    labels = [f"{d.name} {d.score:.2f} ({i + 1})" for i, d in enumerate(kept)]
    index = st.selectbox("Box", range(len(kept)), format_func=labels.__getitem__, key=WHY_BOX, help="A box the detector kept.")
    chosen = kept[index if index is not None and index < len(kept) else 0]
    with guard("explaining the box"):
        why = explanation_for(settings, chosen.anchor, chosen.class_id, layers=layers)
    row, col = why.cell
    how = (
        f"{escape_markdown(chosen.name)} ({chosen.score:.2f}), predicted by {why.level} cell ({row}, {col}): at each layer, "
        f"the share of its HiResCAM map (gradient × activation) within one cell of that cell ({why.share:.0%} at "
        f"{why.level}, as the Detections page says). Grey: layers its score does not depend on."
    )
    return dict(why.layer_shares), how


PAINTERS = {"time": _time, "activation": _activation, "int8": _int8, "drift": _drift, "why": _why}  # one for each of `MEASURED`
