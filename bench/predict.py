"""`detect` against Ultralytics' own `predict` on the same photo, weights, input and CPU threads. Prints numbers;
no pass/fail. Ultralytics runs in a scratch environment of its own (it is never a dependency of this project):

    python bench/predict.py --ultralytics /tmp/ultra/bin/python
    python bench/predict.py --ultralytics /tmp/ultra/bin/python --photo my.jpg --weights yolo11n.pt --imgsz 640
    python bench/predict.py --ultralytics /tmp/ultra/bin/python --weights tests/data/synthetic_yolo26n.pt --branch one2one

The photo is decoded once before timing (as a NumPy BGR array for Ultralytics, as its reader gives it; as an RGB
image here); each timed call then letterboxes it, runs the network and suppresses, as one `predict()` does.
Rounds alternate between the two (a fresh Ultralytics process per round, its import and first call not timed), and
the medians are over every timed call. Ultralytics' own split of its time (`Results.speed`: preprocess, inference,
postprocess) is printed beside ours (letterbox, forward, NMS). The model is the one the checkpoint's table describes
(YOLO11, YOLO26, ...); for YOLO26, `--branch` picks the head's branch both run: one2many (NMS; predict's default) or
one2one (no NMS; `predict(nms=False)`), and both keep only that branch, as predict's `fuse()` does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PHOTO = ROOT / "tests" / "data" / "photos" / "wide_1920x1080.jpg"
DEFAULT_WEIGHTS = ROOT / "tests" / "data" / "synthetic_yolo11n.pt"

ULTRALYTICS = textwrap.dedent(
    """
    import json, sys, time
    import cv2, torch
    photo, weights, imgsz, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    nms = False if sys.argv[6] == "one2one" else None  # None: predict's default (one-to-many and NMS for YOLO26)
    torch.set_num_threads(threads)
    from ultralytics import YOLO
    from ultralytics.utils import nms as nms_module
    original = nms_module.non_max_suppression
    def without_torchvision(*args, **kwargs):  # Ultralytics' own NMS: torchvision's compiled ops do not load here
        torchvision = sys.modules.pop("torchvision", None)
        try:
            return original(*args, **kwargs)
        finally:
            if torchvision is not None:
                sys.modules["torchvision"] = torchvision
    for module in list(sys.modules.values()):
        if getattr(module, "non_max_suppression", None) is original:
            module.non_max_suppression = without_torchvision
    model = YOLO(weights)
    image = cv2.imread(photo)  # decoded before timing, as ours
    for _ in range(3):
        model.predict(image, imgsz=imgsz, verbose=False, nms=nms)  # the first call fuses BatchNorm and warms up
    out = {"total": [], "pre": [], "inference": [], "post": []}
    for _ in range(runs):
        start = time.perf_counter()
        result = model.predict(image, imgsz=imgsz, verbose=False, nms=nms)[0]
        out["total"].append((time.perf_counter() - start) * 1000)
        out["pre"].append(result.speed["preprocess"])
        out["inference"].append(result.speed["inference"])
        out["post"].append(result.speed["postprocess"])
    out["boxes"] = len(result.boxes)
    print(json.dumps(out))
    """
)


def ours(photo: Path, weights: Path, imgsz: int, threads: int, runs: int, branch: str) -> dict[str, list[float]]:
    """`detect` as the CLI runs it (BatchNorm folded, one branch of a YOLO26 head), timed as a whole and in its three
    parts."""
    from yolo_explorer import build_model, load_image, load_weights
    from yolo_explorer.detection.detections import class_names, detect, detections_from
    from yolo_explorer.forward.capture import run_with_capture
    from yolo_explorer.forward.preprocess import letterbox
    from yolo_explorer.model.blocks import fold_batchnorm
    from yolo_explorer.model.checkpoints import read_checkpoint
    from yolo_explorer.model.config import make_config
    from yolo_explorer.model.weights import checkpoint_config, table_config

    torch.set_num_threads(threads)
    checkpoint = read_checkpoint(weights)
    config = table_config(checkpoint) or checkpoint_config(make_config("yolo11n", detector=True), checkpoint.state)
    model = build_model(config)
    load_weights(model, checkpoint)
    fold_batchnorm(model)
    if config.table.end2end:
        model.get_submodule(model.head_name).keep_branch(branch)
    image = np.asarray(load_image(photo))  # decoded before timing, as Ultralytics' (RGB here, BGR there)
    for _ in range(3):
        result = detect(model, image, imgsz, branch=branch)
    out: dict[str, list[float]] = {"total": [], "pre": [], "inference": [], "post": []}
    names = class_names(model.num_classes, model.class_names)
    for _ in range(runs):
        start = time.perf_counter()
        result = detect(model, image, imgsz, branch=branch)
        out["total"].append((time.perf_counter() - start) * 1000)
        # the same three steps, apart
        t0 = time.perf_counter()
        box = letterbox(image, imgsz, rect=True)
        x = box.tensor()
        t1 = time.perf_counter()
        output, _ = run_with_capture(model, x, ())
        t2 = time.perf_counter()
        detections_from(output, box, names, branch=branch)
        t3 = time.perf_counter()
        out["pre"].append((t1 - t0) * 1000)
        out["inference"].append((t2 - t1) * 1000)
        out["post"].append((t3 - t2) * 1000)
    out["boxes"] = [len(result.detections)]
    out["input"] = list(result.box.size)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ultralytics", required=True, help="the Python of a scratch environment with Ultralytics")
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="a checkpoint Ultralytics reads (YOLO11n)")
    parser.add_argument("--branch", choices=("one2many", "one2one"), default="one2many", help="YOLO26: the head's branch")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=15, help="timed calls per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    theirs: dict[str, list[float]] = {"total": [], "pre": [], "inference": [], "post": []}
    mine: dict[str, list[float]] = {"total": [], "pre": [], "inference": [], "post": []}
    for _ in range(args.rounds):
        command = [args.ultralytics, "-c", ULTRALYTICS, str(args.photo), str(args.weights), str(args.imgsz)]
        run = subprocess.run(
            command + [str(args.threads), str(args.runs), args.branch], capture_output=True, text=True, check=True
        )
        got = json.loads(run.stdout.strip().splitlines()[-1])
        for key in theirs:
            theirs[key] += got[key]
        got = ours(args.photo, args.weights, args.imgsz, args.threads, args.runs, args.branch)
        for key in mine:
            mine[key] += got[key]
        input_size, boxes = got["input"], got["boxes"][0]

    def med(values: list[float]) -> float:
        return statistics.median(values)

    print(f"{args.photo.name} at imgsz {args.imgsz} (input {input_size[0]}x{input_size[1]}), {args.weights.name}, {args.branch}")
    print(f"{args.threads} threads, {args.rounds} rounds x {args.runs} calls; torch {torch.__version__}; {boxes} boxes")
    print(f"{'':<22}{'median':>9}{'min':>9}   preprocess  inference  postprocess (medians, ms)")
    for name, t in (("Ultralytics predict", theirs), ("yolo-explorer detect", mine)):
        print(
            f"{name:<22}{med(t['total']):>7.1f}ms{min(t['total']):>7.1f}ms   "
            f"{med(t['pre']):>10.1f} {med(t['inference']):>10.1f} {med(t['post']):>12.1f}"
        )
    print(f"detect / predict: {med(mine['total']) / med(theirs['total']):.2f}x (median)")


if __name__ == "__main__":
    sys.exit(main())
