"""int8 a deployer can trust, measured: for YOLO11n and YOLO11s, backbone and detector, at 320 and 640 on this CPU,
fp32, full int8 and mixed precision (the best k of 1-3 most sensitive units kept in float) with their worst cosine
over what a deployment ships, a detector's verdict on photos the calibration did not see (boxes matched at IoU 0.9
with the same class, scores within 0.05, none collapsed) and their median time; then what the calibration photos do
to the trained detector (the built-in samples against photos of its own world); then the calibration recipes (ONNX
Runtime's MinMax, Entropy and Percentile, 1 or all photos, per-channel or per-tensor weights) on one model.

Weights: YOLO11n's detector is the test suite's trained shapes detector (tests/data/synthetic_yolo11n.pt), calibrated
and judged on photos of shapes (`yolo_explorer.synthetic.scene`, 8 photos: every other one judged), the rest random with
BatchNorm set from the sample photos (as the app and the CLI do), calibrated and judged on the samples (2 and 2).
Prints Markdown tables for bench/README.

Run: python bench/int8.py [--quick]      (--quick: 320 only; --smoke: YOLO11n at 128, one of each, to check the script)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from yolo_explorer import build_model, load_weights, make_config
from yolo_explorer.deployment.int8_sensitivity import Int8Lab, Recipe, compare_precisions
from yolo_explorer.deployment.int8_verdict import Int8Photos, int8_photos
from yolo_explorer.deployment.latency import LatencyRequest
from yolo_explorer.deployment.onnx_models import calibration_images, deployable
from yolo_explorer.forward.preprocess import letterbox
from yolo_explorer.model.checkpoints import read_checkpoint
from yolo_explorer.samples import SAMPLES
from yolo_explorer.synthetic import scene

ROOT = Path(__file__).resolve().parents[1]


TRAINED = ROOT / "tests" / "data" / "synthetic_yolo11n.pt"
SHAPES = range(100, 108)  # the shapes detector's own photos: 4 calibrate, 4 are judged


def model_for(arch: str, detector: bool):
    if arch == "yolo11n" and detector:
        checkpoint = read_checkpoint(TRAINED)
        model = build_model(make_config(arch, detector=True, num_classes=4))
        load_weights(model, checkpoint)
        return model.eval(), "trained (shapes)"
    return build_model(make_config(arch, detector=detector), seed=0).eval(), "random"


def shapes(size: int) -> Int8Photos:
    photos = [(f"shapes {s}", letterbox(scene(s, 800, 600)[0], size).tensor().numpy()) for s in SHAPES]
    return int8_photos(photos, size=(size, size), samples=False)


def verdict_cells(variant) -> str:
    v = variant.verdict
    if v is None:
        return "| | |"
    worst = f"{v.worst_change:.3f}" if v.worst_change is not None else "-"
    collapsed = f", {v.collapse.boxes} collapsed at {v.collapse.score:.3f}" if v.collapse else ""
    return f"| {v.status} {v.kept}/{v.reference}{collapsed} | {worst} |"


def trade_offs(size: int, iters: int, archs=("yolo11n", "yolo11s"), ks=(1, 2, 3)) -> list[str]:
    lines = []
    for arch in archs:
        for detector in (False, True):
            model, weights = model_for(arch, detector)
            start = time.perf_counter()
            model, fp32 = deployable(model, size=size, calibrate_batchnorm=weights == "random")
            lab = Int8Lab.build(model, fp32=fp32, photos=shapes(size) if weights != "random" else None)
            rows = lab.sensitivity()
            request = LatencyRequest(runtime="onnxruntime", dtype="int8", size=(size, size), warmup=5, iters=iters)
            best = None
            for k in ks:
                variants = compare_precisions(lab, model, request, lab.most_sensitive(k, rows))
                if best is None or variants[-1].worst(lab.judged) > best[-1].worst(lab.judged):
                    best = variants
            fp32_v, int8_v, mixed_v = best[0], best[1], best[-1]
            judged = lab.judged
            lines.append(
                f"| {fp32.label} | {size} | {weights} | {fp32_v.latency.median_ms:.2f} | {int8_v.latency.median_ms:.2f} | "
                f"{int8_v.worst(judged):.5f} {verdict_cells(int8_v)} {', '.join(mixed_v.kept_float)} | "
                f"{mixed_v.latency.median_ms:.2f} | {mixed_v.worst(judged):.5f} {verdict_cells(mixed_v)} "
                f"{time.perf_counter() - start:.0f} s |"
            )
            print(lines[-1], flush=True)
    return lines


def calibration_domains(size: int, iters: int) -> list[str]:
    """The trained detector calibrated on the samples or on its own photos, judged on the same photos of shapes."""
    model, _ = model_for("yolo11n", True)
    model, fp32 = deployable(model, size=size)
    own = shapes(size)
    samples = Int8Photos(tuple(calibration_images(size)), own.judged, tuple(SAMPLES), own.judged_labels)
    request = LatencyRequest(runtime="onnxruntime", dtype="int8", size=(size, size), warmup=5, iters=iters)
    lines = []
    for name, photos in (("the 4 samples", samples), ("4 of its own photos", own)):
        lab = Int8Lab.build(model, fp32=fp32, photos=photos)
        check = lab.check()
        reach = ", ".join(f"{r.level} {r.cap:.3f} ({len(r.over)}/{len(r.scores)} over)" for r in check.reach if r.scores)
        for keep in (["23"], ["23", "23.cv3"]):
            mixed = compare_precisions(lab, model, request, keep)[-1]
            scores = next(e.cosine for e in mixed.errors if e.name == "decoded scores")
            lines.append(
                f"| {name} | {size} | {check.boxes} | {reach} | {'sound' if check.sound else 'flagged'} | {', '.join(keep)} | "
                f"{scores:.5f} {verdict_cells(mixed)} {mixed.verdict.median_change:.3f} |"
            )
            print(lines[-1], flush=True)
    return lines


def recipes(size: int, calibrators=("minmax", "entropy", "percentile")) -> list[str]:
    lines = []
    for arch, detector in (("yolo11n", True), ("yolo11n", False)):
        model, weights = model_for(arch, detector)
        model, fp32 = deployable(model, size=size, calibrate_batchnorm=weights == "random")
        for calibrator in calibrators:
            for photos in (1, None):
                for per_channel in (True, False):
                    recipe = Recipe(calibrator, photos, per_channel)
                    lab = Int8Lab.build(model, fp32=fp32, recipe=recipe, photos=shapes(size) if detector else None)
                    errors, verdict = lab.assess(lab.quantize(exclude=["23"] if detector else []))
                    worst = min(e.cosine for e in errors if e.name in lab.judged)
                    judged = ""
                    if verdict is not None:
                        judged = f"{verdict.status} {verdict.kept}/{verdict.reference}, ±{verdict.worst_change:.3f}"
                    lines.append(
                        f"| {fp32.label} ({weights}{', 23 in float' if detector else ''}) | {calibrator} | "
                        f"{len(lab.photos.calibrate)} | {'channel' if per_channel else 'tensor'} | {worst:.5f} | {judged} |"
                    )
                    print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="320 only")
    parser.add_argument("--smoke", action="store_true", help="YOLO11n at 128, one of each: checks the script runs")
    parser.add_argument("--iters", type=int, default=30)
    args = parser.parse_args()
    sizes = (128,) if args.smoke else (320,) if args.quick else (320, 640)
    smoke = {"archs": ("yolo11n",), "ks": (1,)} if args.smoke else {}
    iters = 2 if args.smoke else args.iters
    torch.manual_seed(0)
    np.random.seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    columns = ["model", "size", "weights", "fp32 ms", "int8 ms", "int8 worst cos", "int8 verdict", "int8 worst score change"]
    columns += ["kept in float (best k)", "mixed ms", "mixed worst cos", "mixed verdict", "mixed worst score change", "took"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for size in sizes:
        trade_offs(size, iters, **smoke)
    print()
    columns = ["calibrated on", "size", "fp32 boxes there", "P3/P4/P5 score cap (boxes over it)", "check", "kept in float"]
    columns += ["decoded scores cos", "verdict", "worst score change", "median score change"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for size in sizes:
        calibration_domains(size, iters)
    print()
    print("| model | calibrator | photos | weight scales | worst cosine | verdict |")
    print("|---|---|---|---|---|---|")
    recipes(sizes[0], ("minmax",) if args.smoke else ("minmax", "entropy", "percentile"))


if __name__ == "__main__":
    main()
