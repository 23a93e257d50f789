"""Trains the test detectors `synthetic_yolo11n.pt` and `synthetic_yolo26n.pt` with Ultralytics itself. Not part of the
project and not run by the tests (Ultralytics is AGPL and never a dependency). Run once in a separate environment (see
make_ultralytics_reference.py for the scratch venv, and ../shared/TESTING.md for torchvision there):

    /tmp/ultra/bin/python tests/data/train_synthetic_detector.py tests/data --epochs 60
    /tmp/ultra/bin/python tests/data/train_synthetic_detector.py tests/data --model yolo26n --epochs 30

It draws a data set of coloured shapes on cluttered backgrounds (`yolo_explorer/synthetic.py`: 4 classes that differ
by colour as well as shape, photos of many sizes and aspect ratios), trains a full-size YOLO11n (or YOLO26n) from
scratch on the CPU with Ultralytics' defaults (mosaic, HSV and flip augmentation) at imgsz 320, and copies the
checkpoint it keeps (`best.pt`, as Ultralytics ships trained weights: fp16, class names in `model.names`) to `out`.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import time
from pathlib import Path

# the scenes' module by path: this runs in Ultralytics' scratch environment, without yolo-explorer's dependencies
_spec = importlib.util.spec_from_file_location("synthetic", Path(__file__).parents[2] / "yolo_explorer" / "synthetic.py")
synthetic = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = synthetic  # registered before running it: its dataclass looks its module up there
_spec.loader.exec_module(synthetic)

CLASSES, scene, yolo_labels = synthetic.CLASSES, synthetic.scene, synthetic.yolo_labels


def _nms_without_torchvision() -> None:
    """Makes Ultralytics' NMS run its own `TorchNMS` (documented to match torchvision) instead of torchvision's.

    torchvision's compiled ops do not load with torch 2.13+cpu (../shared/TESTING.md), yet
    `ultralytics.utils.nms.non_max_suppression` calls `torchvision.ops.nms` whenever "torchvision" is in
    `sys.modules`, which Ultralytics' trainer, validator and predictor all import. The wrapper takes
    "torchvision" out of `sys.modules` for the call and puts it back after. The validator and predictor call
    it as `nms.non_max_suppression` and AutoBackend imports it when warming up, so replacing the module's
    attribute is enough; any module that already holds the function under that name gets the wrapper too.
    """
    from ultralytics.utils import nms

    original = nms.non_max_suppression
    if getattr(original, "_without_torchvision", False):
        return

    def non_max_suppression(*args, **kwargs):
        torchvision = sys.modules.pop("torchvision", None)
        try:
            return original(*args, **kwargs)
        finally:
            if torchvision is not None:
                sys.modules["torchvision"] = torchvision

    non_max_suppression._without_torchvision = True
    for module in list(sys.modules.values()):
        if getattr(module, "non_max_suppression", None) is original:
            module.non_max_suppression = non_max_suppression


TRAIN_SEEDS = range(100_000, 100_800)  # the tests draw their photos from other seeds
VAL_SEEDS = range(200_000, 200_150)


def write_split(root: Path, split: str, seeds: range) -> None:
    images, labels = root / "images" / split, root / "labels" / split
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        rng = __import__("random").Random(seed)
        width = rng.randrange(320, 1025, 16)
        height = int(width / rng.uniform(0.5, 2.0)) // 16 * 16
        image, shapes = scene(seed, width, max(160, height))
        image.save(images / f"{seed}.jpg", quality=90)
        (labels / f"{seed}.txt").write_text(yolo_labels(shapes, image.width, image.height))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder the checkpoint is copied to")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--model", default="yolo11n", choices=["yolo11n", "yolo26n"], help="the table trained from scratch")
    parser.add_argument("--work", type=Path, default=Path("/tmp/synthetic_shapes"), help="data set and runs")
    args = parser.parse_args()

    from ultralytics import YOLO

    _nms_without_torchvision()

    data = args.work / "data"
    if not (data / "images" / "val").is_dir():
        write_split(data, "train", TRAIN_SEEDS)
        write_split(data, "val", VAL_SEEDS)
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(CLASSES))
    (args.work / "shapes.yaml").write_text(f"path: {data}\ntrain: images/train\nval: images/val\nnames:\n{names}\n")

    start = time.time()
    model = YOLO(f"{args.model}.yaml")
    model.train(
        data=str(args.work / "shapes.yaml"),
        imgsz=320,
        epochs=args.epochs,
        batch=16,
        device="cpu",
        workers=2,
        seed=0,
        deterministic=True,
        project=str(args.work / "runs"),
        name=f"train-{args.model}",
        exist_ok=True,
        plots=False,
        pretrained=False,
    )
    print(f"trained in {time.time() - start:.0f} s")
    best = args.work / "runs" / f"train-{args.model}" / "weights" / "best.pt"
    target = args.out / f"synthetic_{args.model}.pt"
    shutil.copyfile(best, target)
    print(f"wrote {target} ({best.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
