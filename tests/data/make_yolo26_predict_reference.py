"""Writes what Ultralytics' own `predict()` does with the trained YOLO26n (`synthetic_yolo26n.pt`, trained here by
train_synthetic_detector.py) in both of its modes: the reference the YOLO26 detection tests compare against. Not part
of the project and not run by the tests (Ultralytics is AGPL and never a dependency). Run once in the scratch
environment of make_ultralytics_reference.py, after make_predict_reference.py has drawn the photos:

    /tmp/ultra/bin/python tests/data/make_yolo26_predict_reference.py tests/data

Writes ultralytics_yolo26_predict.pt: for each test photo (photos/) and built-in sample, at imgsz 320 and 640, the
boxes `predict()` keeps at its defaults (conf 0.25, IoU 0.7; `boxes.data`: x1, y1, x2, y2 in the photo's pixels,
score, class) with `nms=None` (its default: since Ultralytics 8.4.142 a dual-head model runs its one-to-many branch
and NMS) and with `nms=False` (the one-to-one branch, top-k without NMS); and for `nms=None` also `nms=True`, which
must be the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

SAMPLES = Path(__file__).resolve().parents[2] / "yolo_explorer" / "samples"
SIZES = (320, 640)
MODES = {"one2many": None, "one2many_nms_true": True, "one2one": False}  # key -> predict's `nms`


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
    import ultralytics
    from ultralytics import YOLO

    sys.path.insert(0, str(Path(__file__).parent))
    from train_synthetic_detector import _nms_without_torchvision

    _nms_without_torchvision()  # Ultralytics' own NMS (TorchNMS): torchvision's compiled ops do not load here
    paths = sorted(p for p in (out / "photos").glob("*.*") if p.suffix not in (".json", ".txt")) + sorted(SAMPLES.glob("*.jpg"))
    reference = {"ultralytics": ultralytics.__version__, "runs": {}}
    for mode, nms in MODES.items():
        model = YOLO(str(out / "synthetic_yolo26n.pt"))  # a fresh model per mode: predict fuses the branch it runs
        for path in paths:
            for imgsz in SIZES:
                result = model.predict(str(path), imgsz=imgsz, nms=nms, verbose=False)[0]
                key = f"{path.name}@{imgsz}"
                reference["runs"].setdefault(key, {})[mode] = result.boxes.data.clone()
                print(mode, key, len(result.boxes), "boxes", flush=True)
    for key, run in reference["runs"].items():
        assert torch.equal(run["one2many"], run["one2many_nms_true"]), key
        del run["one2many_nms_true"]
    torch.save(reference, out / "ultralytics_yolo26_predict.pt")


if __name__ == "__main__":
    main()
