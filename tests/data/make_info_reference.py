"""Writes ultralytics_info.json: what Ultralytics' own `model.info()` says of each YOLO11 detector (nc=80) at 640, its
GFLOPs unfused and fused, and its parameters. Not part of the project, and not run by the tests: run once in the
scratch venv (tests/data/make_ultralytics_reference.py says how), with `ultralytics-thop`, the counter info() uses:

    /tmp/ultra/bin/pip install ultralytics ultralytics-thop
    /tmp/ultra/bin/python tests/data/make_info_reference.py tests/data
"""

import copy
import json
import sys
from pathlib import Path

import ultralytics
from ultralytics.nn.tasks import DetectionModel
from ultralytics.utils.torch_utils import get_flops


def main(out: Path) -> None:
    rows = {}
    for scale in "nsmlx":
        model = DetectionModel(f"yolo11{scale}.yaml", verbose=False).eval()
        fused = copy.deepcopy(model).fuse(verbose=False)
        rows[f"yolo11{scale}"] = {
            "gflops_unfused": get_flops(model, 640),  # what info() rounds to one decimal
            "gflops_fused": get_flops(fused, 640),
            "params": sum(p.numel() for p in model.parameters()),
        }
    meta = {"ultralytics": ultralytics.__version__, "imgsz": 640, "nc": 80}
    (out / "ultralytics_info.json").write_text(json.dumps({"meta": meta, "models": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
