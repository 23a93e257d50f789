"""int8 a deployer can trust, measured: for YOLO11n and YOLO11s, backbone and detector, at 320 and 640 on this CPU,
fp32, full int8 and mixed precision (the best k of 1-3 most sensitive units kept in float) with their worst cosine
over what a deployment ships and their median time; then the calibration recipes compared (ONNX Runtime's MinMax,
Entropy and Percentile, 1 or 4 photos, per-channel or per-tensor weights) on one model.

Weights: YOLO11n's detector is the test suite's trained shapes detector (tests/data/synthetic_yolo11n.pt), the rest
random with BatchNorm set from the sample photos (as the app and the CLI do). Prints a Markdown table for bench/README.

Run: python bench/int8.py [--quick]      (--quick: 320 only)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from yolo_explorer import build_model, load_weights, make_config  # noqa: E402
from yolo_explorer.checkpoints import read_checkpoint  # noqa: E402
from yolo_explorer.int8_sensitivity import Int8Lab, Recipe, compare_precisions  # noqa: E402
from yolo_explorer.latency import LatencyRequest  # noqa: E402
from yolo_explorer.onnx_models import deployable  # noqa: E402

TRAINED = ROOT / "tests" / "data" / "synthetic_yolo11n.pt"


def model_for(arch: str, detector: bool):
    if arch == "yolo11n" and detector:
        checkpoint = read_checkpoint(TRAINED)
        model = build_model(make_config(arch, detector=True, num_classes=4))
        load_weights(model, checkpoint)
        return model.eval(), "trained (shapes)"
    return build_model(make_config(arch, detector=detector), seed=0).eval(), "random"


def trade_offs(size: int, iters: int) -> list[str]:
    lines = []
    for arch in ("yolo11n", "yolo11s"):
        for detector in (False, True):
            model, weights = model_for(arch, detector)
            start = time.perf_counter()
            model, fp32 = deployable(model, size=size, calibrate_batchnorm=weights == "random")
            lab = Int8Lab.build(model, fp32=fp32)
            rows = lab.sensitivity()
            request = LatencyRequest(runtime="onnxruntime", dtype="int8", size=(size, size), warmup=5, iters=iters)
            best = None
            for k in (1, 2, 3):
                variants = compare_precisions(lab, model, request, lab.most_sensitive(k, rows))
                if best is None or variants[2].worst(lab.judged) > best[2].worst(lab.judged):
                    best = variants
            fp32_v, int8_v, mixed_v = best
            judged = lab.judged
            lines.append(
                f"| {fp32.label} | {size} | {weights} | {fp32_v.latency.median_ms:.2f} | {int8_v.latency.median_ms:.2f} | "
                f"{int8_v.worst(judged):.5f} | {', '.join(mixed_v.kept_float)} | {mixed_v.latency.median_ms:.2f} | "
                f"{mixed_v.worst(judged):.5f} | {time.perf_counter() - start:.0f} s |"
            )
            print(lines[-1], flush=True)
    return lines


def recipes(size: int) -> list[str]:
    lines = []
    for arch, detector in (("yolo11n", True), ("yolo11n", False)):
        model, weights = model_for(arch, detector)
        model, fp32 = deployable(model, size=size, calibrate_batchnorm=weights == "random")
        for calibrator in ("minmax", "entropy", "percentile"):
            for photos in (1, 4):
                for per_channel in (True, False):
                    lab = Int8Lab.build(model, fp32=fp32, recipe=Recipe(calibrator, photos, per_channel))
                    errors = {e.name: e.cosine for e in lab.errors(lab.quantize(exclude=["23"] if detector else []))}
                    worst = min(errors[name] for name in lab.judged)
                    lines.append(
                        f"| {fp32.label} ({weights}{', 23 in float' if detector else ''}) | {calibrator} | {photos} | "
                        f"{'channel' if per_channel else 'tensor'} | {worst:.5f} |"
                    )
                    print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="320 only")
    parser.add_argument("--iters", type=int, default=30)
    args = parser.parse_args()
    torch.manual_seed(0)
    np.random.seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    columns = ["model", "size", "weights", "fp32 ms", "int8 ms", "int8 worst cos", "kept in float (best k)", "mixed ms"]
    columns += ["mixed worst cos", "took"]
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in (320,) if args.quick else (320, 640):
        trade_offs(size, args.iters)
    print()
    print("| model | calibrator | photos | weight scales | worst cosine |")
    print("|---|---|---|---|---|")
    recipes(320)


if __name__ == "__main__":
    main()
