"""What changed: from one detector family to the next (YOLO11 -> YOLO26, YOLO11 -> YOLO12, YOLOv8 -> YOLO11), each
design change applied on its own and priced (parameters, MACs, memory, measured latency), the changes adding up to
the two models' difference; Ultralytics' published figures beside the measured ones."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import ui
from yolo_explorer.deployment.route_latency import route_latency, within_noise
from yolo_explorer.model.changes import ROUTES, Bill, family_bill
from yolo_explorer.model.config import YOLO11_SCALES, FamilyConfig, fit_size
from yolo_explorer.model.families import FAMILY_NAMES
from yolo_explorer.model.published import SOURCES, counted_as_published, published
from yolo_explorer.present.formatting import human_count
from yolo_explorer.present.model_figures import change_waterfall

RUNTIMES = {"torch": "torch on the sidebar's device", "onnxruntime": "ONNX Runtime (CPU)"}


def route_label(pair: tuple[str, str]) -> str:
    return " → ".join(FAMILY_NAMES[f] for f in pair)


@st.cache_resource(max_entries=32, show_spinner="Building every model on the route…")
def bill_for(source: str, target: str, scale: str, size: tuple[int, int]) -> Bill:
    """Shared by every session (a bill is immutable): statistics on the meta device, no forward."""
    return family_bill(source, target, scale, size)


def main() -> None:
    settings = ui.current_settings()
    st.title("What changed")
    st.caption(
        "One family becomes the next through a handful of design changes. Each is applied on its own, in order, to the "
        "model before it, and priced there: every number is the model after it minus the model before it (meta device, "
        "no forward; latency on demand), so the changes add up exactly to the two models' difference."
    )
    source, target, scale = controls(settings)
    size = fit_size(FamilyConfig(source, scale, detector=True), settings.size)
    with ui.guard("pricing the changes"):
        bill = bill_for(source, target, scale, size)
    key = (source, target, scale, size, settings.device)
    results = st.session_state.get("chg_times", {}).get(key, {})
    draw_totals(bill)
    draw_bill(bill, {runtime: [r.median_ms for r in rs] for runtime, rs in results.items()}, settings)
    noisy = {
        runtime: [step.change.title for step, a, b in zip(bill.steps, rs, rs[1:], strict=False) if within_noise(a, b)]
        for runtime, rs in results.items()
    }
    if any(noisy.values()):
        st.caption(
            "Not told apart from this machine's noise (the medians differ by less than twice their standard error): "
            + "; ".join(f"{runtime}: {', '.join(titles)}" for runtime, titles in noisy.items() if titles)
            + ". Time again, or with fewer other users, to tell."
        )
    draw_latency(bill, settings, key)
    draw_published(bill)


def controls(settings: ui.Settings) -> tuple[str, str, str]:
    """The route and the scale: the sidebar's model, when it changes, picks them (YOLO26s: YOLO11 → YOLO26 at s)."""
    routes = list(ROUTES)
    config = settings.config
    followed = (settings.arch, getattr(config, "scale", ""))
    if st.session_state.get("chg_followed") != followed:
        st.session_state["chg_followed"] = followed
        family = getattr(config, "family", "") if getattr(config, "shipped", False) else ""
        into = [pair for pair in routes if pair[1] == family]
        st.session_state["chg_route"] = into[0] if into else ("yolo11", "yolo26")  # the one-family step first
        if family and config.scale in YOLO11_SCALES:
            st.session_state["chg_scale"] = config.scale
    st.session_state.setdefault("chg_route", ("yolo11", "yolo26"))
    st.session_state.setdefault("chg_scale", "n")
    left, right = st.columns([3, 2])
    source, target = left.selectbox("From → to", routes, key="chg_route", format_func=route_label)
    scale = right.segmented_control("Scale", list(YOLO11_SCALES), required=True, key="chg_scale")
    return source, target, scale


def draw_totals(bill: Bill) -> None:
    start, end = bill.start, bill.end
    cols = iter(st.columns(4))
    h, w = start.input_shape[1:]
    for label, a, b in (
        ("Parameters, deployed", start.deployed_params, end.deployed_params),
        (f"GMACs at {h}×{w}, deployed", start.deployed_flops / 2e9, end.deployed_flops / 2e9),
    ):
        next(cols).metric(f"{label}: {bill.source.label}", human_count(a) if a > 1e3 else f"{a:.2f}")
        next(cols).metric(
            f"{label}: {bill.target.label}",
            human_count(b) if b > 1e3 else f"{b:.2f}",
            delta=f"{b / a - 1:+.1%}",
            delta_color="inverse",
        )
    if end.second_branch != (0, 0) or start.second_branch != (0, 0):
        st.caption(
            "Deployed: the model as exported, BatchNorm folded and one branch of an end-to-end head kept (Ultralytics' "
            "`fuse()`; its `info()` counts the same). As trained, both branches run: see the table."
        )


def draw_bill(bill: Bill, times: dict[str, list[float]], settings: ui.Settings) -> None:
    st.subheader("The bill, change by change")
    rows = [
        {
            "change": bill.source.label,
            "layers": "",
            "params": bill.start.params,
            "deployed params": bill.start.deployed_params,
            "MACs": bill.start.macs,
            "deployed MACs": bill.start.deployed_flops // 2,
            "activation bytes": bill.start.activation_bytes,
            **{f"{rt} ms": ms[0] for rt, ms in times.items()},
        }
    ]
    for i, step in enumerate(bill.steps, 1):
        removed = f" (removed {', '.join(map(str, step.removed))})" if step.removed else ""
        rows.append(
            {
                "change": step.change.title,
                "layers": ", ".join(map(str, step.rows)) + removed,
                "params": step.params,
                "deployed params": step.deployed_params,
                "MACs": step.macs,
                "deployed MACs": step.deployed_macs,
                "activation bytes": step.activation_bytes,
                **{f"{rt} ms": ms[i] - ms[i - 1] for rt, ms in times.items()},
            }
        )
    end = bill.end
    rows.append(
        {
            "change": bill.target.label,
            "layers": "",
            "params": end.params,
            "deployed params": end.deployed_params,
            "MACs": end.macs,
            "deployed MACs": end.deployed_flops // 2,
            "activation bytes": end.activation_bytes,
            **{f"{rt} ms": ms[-1] for rt, ms in times.items()},
        }
    )
    numbers = {c: st.column_config.NumberColumn(format="localized") for c in ("params", "deployed params", "MACs")}
    numbers |= {c: st.column_config.NumberColumn(format="localized") for c in ("deployed MACs", "activation bytes")}
    numbers |= {f"{rt} ms": st.column_config.NumberColumn(format="%.2f") for rt in times}
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config=numbers)
    st.caption(
        "First and last rows: the two models' totals; between them, what each change adds (negative: saves). Layers are "
        "numbered as in the model after the change. Activation bytes: every layer's output for one image."
    )
    measures = {
        "deployed MACs": ([s.deployed_macs for s in bill.steps], bill.start.deployed_flops // 2, end.deployed_flops // 2, ""),
        "parameters as trained": ([s.params for s in bill.steps], bill.start.params, end.params, ""),
        "activation bytes": ([s.activation_bytes for s in bill.steps], bill.start.activation_bytes, end.activation_bytes, ""),
    }
    for runtime, ms in times.items():
        measures[f"{runtime} latency"] = ([b - a for a, b in zip(ms, ms[1:], strict=False)], ms[0], ms[-1], "ms")
    what = st.segmented_control("Draw", list(measures), default="deployed MACs", required=True, key="chg_measure")
    deltas, first, last, unit = measures[what]
    changes = [(step.change.title, value) for step, value in zip(bill.steps, deltas, strict=True)]
    figure = change_waterfall(
        (bill.source.label, first), changes, (bill.target.label, last), title=f"{what}: {route_label(_families(bill))}", unit=unit
    )
    ui.show(figure, key="chg_waterfall")
    st.caption("Red bars cost, green bars save; the axis starts near the smallest total, so small changes show.")
    trained = settings.detector and settings.weights is not None and settings.weights.classes is not None
    on_target = trained and getattr(settings.config, "shipped", False) and settings.config.arch == bill.target.arch
    for index, step in enumerate(bill.steps):
        with st.expander(f"{step.change.title} · layers {', '.join(map(str, step.rows or step.removed))}"):
            st.write(step.change.explanation)
            if step.change.same_weights:
                st.caption("Every weight keeps its name and shape: a trained model can run with or without this change.")
                if on_target:
                    draw_effect(settings, bill, index)
                else:
                    st.caption(
                        f"With trained {bill.target.label} weights in the sidebar, this shows what the change does on your photo."
                    )


def draw_effect(settings: ui.Settings, bill: Bill, index: int) -> None:
    """On the sidebar's photo with its trained weights: the model as it is against the same weights with this change
    undone."""
    with ui.guard("running the model with and without the change"):
        effect = ui.change_effect_for(settings, bill.source.family, bill.target.family, index)
    layers = ", ".join(f"layer {name}'s output by {change:.0%}" for name, change in effect.layers)
    median = effect.median_score_change
    moved = f", their scores by {median:.3f} (median)" if median is not None else ""
    st.markdown(
        f"**On your photo, with your weights:** undoing this change moves {layers}. The model keeps "
        f"{len(effect.with_change.detections)} boxes as it is and {len(effect.without_change.detections)} without the "
        f"change; {effect.same} are the same objects (class, IoU 0.5){moved}."
    )


def draw_latency(bill: Bill, settings: ui.Settings, key: tuple) -> None:
    st.subheader("Latency on demand")
    st.caption(
        f"Times the {len(bill.configs)} models of the route as deployed (BatchNorm folded, one head branch), batch 1, "
        "random weights, in turns (a few runs of each per round, five rounds) so that the machine's drift falls on all "
        "of them alike. Each change's latency is then the model after it minus the model before it."
    )
    runtimes = st.pills(
        "Runtimes", list(RUNTIMES), default=["torch"], selection_mode="multi", key="chg_runtimes", format_func=RUNTIMES.get
    )
    if st.button("Time every model on the route", icon=":material/timer:", key="chg_time", disabled=not runtimes):
        measured = {}
        bar = st.progress(0.0)
        with ui.guard("timing the route"):
            for runtime in runtimes:
                results = route_latency(
                    bill.configs,
                    size=tuple(bill.start.input_shape[1:]),
                    runtime=runtime,
                    device=settings.device,
                    on_progress=lambda done, total, rt=runtime: bar.progress(
                        done / total, text=f"{RUNTIMES[rt]}: {done}/{total}"
                    ),
                )
                measured[runtime] = results
            st.session_state.setdefault("chg_times", {})[key] = measured
        bar.empty()
        st.rerun()
    if not st.session_state.get("chg_times", {}).get(key):
        st.caption("No times yet for this route, scale, size and device.")


def draw_published(bill: Bill) -> None:
    st.subheader("What Ultralytics publishes")
    rows = []
    for config in (bill.source, bill.target):
        figures = published(config.family, config.scale)
        if figures is None:
            continue
        params, gflops = counted_as_published(config.family, config.scale)
        rows.append(
            {
                "model": f"{FAMILY_NAMES[config.family]}{config.scale}",
                "mAP50-95": figures.map50_95,
                "mAP50-95 without NMS": figures.map50_95_e2e,
                "CPU ONNX ms": figures.cpu_onnx_ms,
                "T4 TensorRT ms": figures.t4_ms,
                "params (M)": figures.params_m,
                "GFLOPs": figures.flops_b,
                "here: params (M)": params,
                "here: GFLOPs, attention products left out": gflops,
            }
        )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "here: params (M)": st.column_config.NumberColumn(format="%.2f"),
            "here: GFLOPs, attention products left out": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    st.caption(
        "COCO val2017 at 640, as published; the speeds are Ultralytics' machines', not this one's (YOLO12 publishes no CPU "
        "time). YOLO26's speeds run its one-to-one head without NMS. Ultralytics' FLOPs count no matrix product, so "
        "attention's are left out here too to compare; the counts above include them. Sources: "
        + "; ".join(SOURCES[c.family] for c in (bill.source, bill.target) if c.family in SOURCES)
        + "."
    )


def _families(bill: Bill) -> tuple[str, str]:
    return bill.source.family, bill.target.family


main()
