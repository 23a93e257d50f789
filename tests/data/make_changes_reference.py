"""Writes the Ultralytics reference data for the models between two families (`yolo_explorer.model.changes`). Not
part of the project, and not run by the tests: Ultralytics (AGPL) is not a dependency. Run in the scratch venv that
make_families_reference.py describes, from the repository root:

    /tmp/ultra/bin/python tests/data/make_changes_reference.py tests/data

For the routes YOLOv8 -> YOLO11, YOLO11 -> YOLO26 and YOLO11 -> YOLO12 at scales n, s and m, every model between the
two families whose table Ultralytics can read (all but those holding YOLOv8's class branch past the first C3k2, which
no Ultralytics table can say) is built by Ultralytics from that table (`DetectionModel(table, nc=80)`): the table
itself, the parameter count, the GFLOPs at 640 (info()'s `get_flops`) before and after `fuse()`, and every state_dict
key and shape (as a SHA-256 of `keys_digest`'s text, to keep the file small). Writes ultralytics_changes.json.
"""

import hashlib
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this project's tables, read by Ultralytics


def keys_digest(state: dict) -> str:
    """SHA-256 of "key shape" lines, in order, the keys without Ultralytics' "model." prefix."""
    text = "\n".join(f"{k.removeprefix('model.')} {list(v.shape)}" for k, v in state.items())
    return hashlib.sha256(text.encode()).hexdigest()


ROUTES = (("yolov8", "yolo11"), ("yolo11", "yolo26"), ("yolo11", "yolo12"))
SCALES = ("n", "s", "m")


def main(out_dir: Path) -> None:
    import ultralytics
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils.torch_utils import get_flops

    from yolo_explorer.model.changes import family_bill

    models = {}
    for source, target in ROUTES:
        for scale in SCALES:
            for step in family_bill(source, target, scale, 64).steps[:-1]:
                table = step.config.table
                if table.legacy is not None:
                    continue
                data = json.loads(json.dumps(table.to_dict() | {"scale": scale}))
                model = DetectionModel(json.loads(json.dumps(data)), nc=80, verbose=False).eval()
                entry = {
                    "table": data,
                    "params": sum(p.numel() for p in model.parameters()),
                    "keys": len(model.state_dict()),
                    "keys_sha256": keys_digest(model.state_dict()),
                    "gflops": get_flops(model, 640),
                }
                model.end2end = table.end2end  # fuse() keeps the branch end2end selects: the one-to-one one
                entry["fused_gflops"] = get_flops(model.fuse(verbose=False), 640)
                models[f"{source}>{step.change.key}@{scale}"] = entry
                print(f"{source}>{step.change.key}@{scale}", entry["params"], entry["gflops"], entry["fused_gflops"])
    path = out_dir / "ultralytics_changes.json"
    path.write_text(json.dumps({"ultralytics": ultralytics.__version__, "torch": torch.__version__, "models": models}))
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
