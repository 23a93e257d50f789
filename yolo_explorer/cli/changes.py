"""`changes`: what changed from one detector family to the next (YOLO11 -> YOLO26, YOLO11 -> YOLO12, YOLOv8 -> YOLO11),
change by change: parameters, MACs, activation memory, as deployed, and measured latency; Ultralytics' published
figures beside them."""

from __future__ import annotations

import argparse
import json

from ..deployment.route_latency import RUNTIMES, route_latency, within_noise
from ..model.changes import ROUTES, Bill, family_bill
from ..model.config import FamilyConfig, fit_size
from ..model.families import FAMILY_NAMES
from ..model.published import SOURCES, counted_as_published, published
from ..present.formatting import human_bytes, human_count
from .common import BadArgument, Subcommands, image_size, positive

FAMILIES = sorted({family for pair in ROUTES for family in pair})


def register(sub: Subcommands) -> None:
    p = sub.add_parser("changes", help="what changed between two families, change by change, and what each costs")
    p.add_argument("--from", dest="source", default="yolo11", choices=FAMILIES, help="the older family (default yolo11)")
    p.add_argument("--to", dest="target", default="yolo26", choices=FAMILIES, help="the newer family (default yolo26)")
    p.add_argument("--scale", default="n", choices=list("nsmlx"), help="the scale of both (default n)")
    p.add_argument("--imgsz", dest="size", type=image_size, default=(640, 640), help="input size S or HxW (default 640)")
    p.add_argument("--classes", type=positive, default=80, help="classes of the head (default 80)")
    p.add_argument(
        "--latency",
        nargs="+",
        choices=list(RUNTIMES),
        default=[],
        help="also time every model on the route as deployed: torch (on --device) and/or onnxruntime (CPU)",
    )
    p.add_argument("--device", default="cpu", help="torch's device for --latency torch (default cpu)")
    p.add_argument("--rounds", type=positive, default=5, help="rounds of timed runs, the models in turns (default 5)")
    p.add_argument("--threads", type=positive, help="CPU threads for the timed runs (default: torch's)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    try:
        size = fit_size(FamilyConfig(args.source, args.scale, detector=True), args.size)
        bill = family_bill(args.source, args.target, args.scale, size, num_classes=args.classes)
        times = {
            runtime: route_latency(
                bill.configs, size=size, runtime=runtime, device=args.device, rounds=args.rounds, threads=args.threads
            )
            for runtime in args.latency
        }
    except ValueError as err:
        raise BadArgument(str(err)) from None
    if args.json:
        out = bill.to_dict()
        for runtime, results in times.items():
            out["latency_" + runtime] = [r.to_dict() for r in results]
        out["published"] = {
            family: (vars(figures) | {"source": SOURCES[family]}) if (figures := published(family, args.scale)) else None
            for family in (args.source, args.target)
        }
        print(json.dumps(out, indent=2))
        return
    print(report(bill, times))


def report(bill: Bill, times: dict) -> str:
    """The bill as text: the two models, a line per change, and the published figures."""
    h, w = bill.start.input_shape[1:]
    lines = [f"{bill.source.label} → {bill.target.label}, {h}x{w} (HxW): each change priced against the model before it"]
    medians = {runtime: [r.median_ms for r in results] for runtime, results in times.items()}
    noise = {runtime: [False, *(within_noise(a, b) for a, b in zip(rs, rs[1:], strict=False))] for runtime, rs in times.items()}
    head = f"{'change':<52}{'layers':<18}{'params':>10}{'MACs':>10}{'memory':>11}{'deployed':>10}"
    head += "".join(f"{runtime + ' ms':>16}" for runtime in medians)
    lines.append(head)

    def row(title: str, layers: str, values: tuple, i: int, signed: bool) -> str:
        params, macs, memory, deployed = values
        sign = "+" if signed else ""
        text = f"{title[:51]:<52}{layers[:17]:<18}"
        text += f"{_count(params, sign):>10}{_count(macs, sign):>10}{_bytes(memory, sign):>11}{_count(deployed, sign):>10}"
        for runtime, ms in medians.items():
            text += (f"{ms[i] - ms[i - 1]:>+15.2f}" + ("~" if noise[runtime][i] else " ")) if signed else f"{ms[i]:>15.2f} "
        return text

    start = bill.start
    lines.append(row(bill.source.label, "", (start.params, start.macs, start.activation_bytes, start.deployed_params), 0, False))
    for i, step in enumerate(bill.steps, 1):
        layers = ", ".join(map(str, step.rows)) + (
            f"{' ' if step.rows else ''}-{','.join(map(str, step.removed))}" if step.removed else ""
        )
        values = (step.params, step.macs, step.activation_bytes, step.deployed_params)
        lines.append(row(step.change.title, layers, values, i, True))
    end = bill.end
    lines.append(
        row(bill.target.label, "", (end.params, end.macs, end.activation_bytes, end.deployed_params), len(bill.steps), False)
    )
    lines.append(
        "layers: of the model after the change (-9,10: layers of the model before, removed); memory: every layer's output "
        "for one image; deployed: parameters with one branch of the head kept"
    )
    for runtime, results in times.items():
        r = results[0]
        lines.append(
            f"{runtime}: medians of {len(r.times_ms)} runs each ({r.mode}, {r.device_name}), the models timed in turns; "
            "~: not told apart from noise (the medians differ by less than twice their standard error)"
        )
    for family in (bill.source.family, bill.target.family):
        figures = published(family, bill.source.scale)
        if figures is None:
            continue
        params, gflops = counted_as_published(family, bill.source.scale)
        e2e = f", {figures.map50_95_e2e} without NMS (e2e)" if figures.map50_95_e2e else ""
        cpu = f"{figures.cpu_onnx_ms} ms CPU ONNX, " if figures.cpu_onnx_ms else ""
        lines.append(
            f"published {FAMILY_NAMES[family]}{bill.source.scale}: mAP50-95 {figures.map50_95}{e2e}; {cpu}{figures.t4_ms} ms "
            f"T4 TensorRT; {figures.params_m} M params, {figures.flops_b} GFLOPs at 640 "
            f"(here: {params:.1f} M, "
            f"{gflops:.1f} GFLOPs with attention's matrix products left out as Ultralytics' counter does; "
            f"{SOURCES[family].split(';')[0]})"
        )
    return "\n".join(lines)


def _count(n: int, sign: str) -> str:
    return ("+" if sign and n > 0 else "") + human_count(n)


def _bytes(n: int, sign: str) -> str:
    return ("+" if sign and n > 0 else "") + human_bytes(n)
