"""Writes the Ultralytics reference data the YOLO11 tests compare against. Not part of the project, and
not run by the tests: Ultralytics (AGPL) is not a dependency. Run once in a separate environment:

    python -m venv /tmp/ultra && /tmp/ultra/bin/pip install ultralytics
    /tmp/ultra/bin/python tests/data/make_ultralytics_reference.py tests/data

Writes
- ultralytics_yolo11_keys.json: every state_dict key and shape of the five YOLO11 detection models,
  as Ultralytics builds them from its own model definitions (no download), and of YOLO11n after its
  `fuse()` (every BatchNorm folded into its conv's bias, as a model saved after predict holds it);
- ultralytics_yolo11n_out.pt: for YOLO11n, an input and the P3/P4/P5 (outputs of layers 4, 6, 10) that
  Ultralytics' own layers compute with weights drawn from a seeded generator, in key order, by the
  recipe that tests/test_yolo11.py repeats.
- ultralytics_yolo11n_detector.pt: the whole YOLO11n DetectionModel (nc=80) in eval mode, weights and
  BatchNorm statistics drawn the same way (the DFL's fixed conv left as it is): the neck's outputs (the
  inputs of Detect, layers 16, 19, 22), `boxes`, `scores` and `decoded` for an input; the detections
  Ultralytics' `non_max_suppression` keeps from that decoded tensor (class-aware, and class-agnostic,
  with all classes and with a filter of some), and the anchors they came from (its `return_idxs`);
  and the same for a model with 3 classes (a checkpoint with another class count), whose state_dict
  the tests rebuild by the same draws; and for YOLO11n-seg, -pose and -obb, their keys and the outputs of
  the Detect part of their heads (`task_reference`). Ultralytics' own NMS runs without torchvision (its `TorchNMS`,
  which "matches torchvision behavior exactly"), as this CPU build cannot load torchvision's ops.
- ultralytics_tiny_checkpoint.pt and ultralytics_tiny_state_dict.json: a checkpoint pickled by Ultralytics
  as it ships trained weights (`checkpoint_reference`), and the state_dict Ultralytics reads from it.
"""

import hashlib
import json
import math
import sys
from pathlib import Path

import torch


def draw(key: str, shape: list[int], generator: torch.Generator) -> torch.Tensor:
    """The weight for one key, drawn from `generator`; tests/test_yolo11.py draws the same ones."""
    if key.endswith("running_var") or key.endswith("bn.weight"):
        return torch.rand(shape, generator=generator) * 0.5 + 0.75
    if key.endswith("running_mean") or key.endswith("bn.bias"):
        return torch.randn(shape, generator=generator) * 0.1
    fan = math.prod(shape[1:]) if len(shape) > 1 else 1
    return torch.randn(shape, generator=generator) * (2.0 / max(1, fan)) ** 0.5


def drawn_state(state: dict, generator: torch.Generator) -> dict:
    """A state_dict with every floating tensor drawn in key order (the DFL's fixed weights kept)."""
    drawn = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        drawn[key] = value.clone() if key.endswith("dfl.conv.weight") else draw(key, list(value.shape), generator)
    return drawn


def detector_reference(nc: int, seed: int, size: tuple[int, int]) -> dict:
    """Everything the whole DetectionModel computes for one input, with drawn weights."""
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils import nms

    model = DetectionModel("yolo11n.yaml", nc=nc, verbose=False).eval()
    generator = torch.Generator().manual_seed(seed)
    state = drawn_state(model.state_dict(), generator)
    model.load_state_dict(state, strict=False)
    x = torch.rand(1, 3, *size, generator=generator)
    neck = {}
    hooks = [model.model[i].register_forward_hook(lambda m, a, o, i=i: neck.__setitem__(i, o)) for i in (16, 19, 22)]
    with torch.no_grad():
        decoded, preds = model(x)
    for hook in hooks:
        hook.remove()
    result = {
        "x": x,
        "N3": neck[16],
        "N4": neck[19],
        "N5": neck[22],
        "boxes": preds["boxes"],
        "scores": preds["scores"],
        "decoded": decoded,
    }
    sys.modules.pop("torchvision", None)  # Ultralytics' TorchNMS path (torchvision's ops do not load here)
    settings = {"max_det": 300, "return_idxs": True}
    for conf, iou in ((0.25, 0.7), (0.5, 0.45)):
        for agnostic in (False, True):
            kept, anchors = nms.non_max_suppression(decoded, conf_thres=conf, iou_thres=iou, agnostic=agnostic, **settings)
            key = f"nms_{conf}_{iou}_{'agnostic' if agnostic else 'classes'}"
            result[key], result[f"anchors_{key}"] = kept[0], anchors[0]
    # a class filter: every other class among the boxes kept at the first thresholds
    picked = result["nms_0.25_0.7_classes"][:, 5].unique().int()[::2].tolist()
    for agnostic in (False, True):
        kept, anchors = nms.non_max_suppression(
            decoded, conf_thres=0.25, iou_thres=0.7, classes=picked, agnostic=agnostic, **settings
        )
        key = f"nms_0.25_0.7_{'agnostic' if agnostic else 'classes'}_{'-'.join(map(str, picked))}"
        result[key], result[f"anchors_{key}"] = kept[0], anchors[0]
    return result


def task_reference(task: str, seed: int, size: tuple[int, int]) -> dict:
    """A YOLO11n segmentation, pose or oriented-box model with drawn weights: its keys and shapes in order (the
    tests redraw its state_dict from them), an input, and its head's box and class outputs and decoded
    detections (the first 4 + nc rows of its output: the Detect part its head shares with the detector)."""
    from ultralytics.nn.tasks import OBBModel, PoseModel, SegmentationModel

    model = {"seg": SegmentationModel, "pose": PoseModel, "obb": OBBModel}[task](f"yolo11n-{task}.yaml", verbose=False)
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    state = drawn_state(model.state_dict(), generator)
    model.load_state_dict(state, strict=False)
    x = torch.rand(1, 3, *size, generator=generator)
    with torch.no_grad():
        out, preds = model(x)
    decoded = out[0] if task == "seg" else out  # Segment returns (detections with mask coefficients, protos)
    nc = model.model[-1].nc
    keys = {k: list(v.shape) for k, v in model.state_dict().items()}
    views = {"boxes": preds["boxes"], "scores": preds["scores"], "decoded": decoded[:, : 4 + nc]}
    return {"keys": keys, "x": x, **{name: view.clone() for name, view in views.items()}}  # not the storage beyond


def checkpoint_reference(out: Path) -> None:
    """A checkpoint as Ultralytics ships trained weights (`YOLO.save`, then `strip_optimizer` as after training:
    the pickled DetectionModel in fp16 under "model", train_args, numpy metrics), for a YOLO11 at width 1/16
    with one class (every layer at its 8-channel floor: 0.1 MB instead of yolo11n's 5.5 MB), and the
    state_dict that Ultralytics' own loader gives for it, in key order (dtype, shape and SHA-256 of each
    tensor): the tests read the first and must find the second."""
    import numpy as np
    import ultralytics
    import yaml
    from ultralytics import YOLO
    from ultralytics.utils.torch_utils import strip_optimizer

    recipe = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/models/11/yolo11.yaml").read_text())
    recipe["scales"], recipe["nc"] = {"n": [0.50, 0.0625, 1024]}, 1  # one class: a narrow head too
    recipe_path = out / "yolo11-tiny.yaml"
    recipe_path.write_text(yaml.safe_dump(recipe))
    model = YOLO(str(recipe_path))
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for key, value in model.model.state_dict().items():
            if value.is_floating_point() and not key.endswith("dfl.conv.weight"):
                value.copy_(draw(key, list(value.shape), generator))
    checkpoint = out / "ultralytics_tiny_checkpoint.pt"
    model.save(checkpoint)
    saved = torch.load(checkpoint, weights_only=False)
    saved["train_args"] = {"imgsz": 640, "epochs": 1}
    saved["train_metrics"] = {"metrics/mAP50(B)": np.float64(0.25), "fitness": np.float32(0.5)}
    torch.save(saved, checkpoint)
    strip_optimizer(checkpoint)
    recipe_path.unlink()
    loaded = torch.load(checkpoint, weights_only=False)
    state = (loaded.get("ema") or loaded["model"]).state_dict()
    digests = {
        key: [str(value.dtype), list(value.shape), hashlib.sha256(value.contiguous().numpy().tobytes()).hexdigest()]
        for key, value in state.items()
    }
    (out / "ultralytics_tiny_state_dict.json").write_text(
        json.dumps({"ultralytics": ultralytics.__version__, "state_dict": digests})
    )


def main(out: Path) -> None:
    import ultralytics  # only here: the tests import `draw` from this file without Ultralytics
    from ultralytics import YOLO

    keys = {"ultralytics": ultralytics.__version__, "scales": {}}
    for scale in "nsmlx":
        model = YOLO(f"yolo11{scale}.yaml").model.eval()
        state = model.state_dict()
        keys["scales"][scale] = {"keys": {k: list(v.shape) for k, v in state.items()}}
        if scale != "n":
            continue
        fused = YOLO(f"yolo11{scale}.yaml").model.eval().fuse()  # what predict() runs and save() then writes
        keys["fused_n"] = {k: list(v.shape) for k, v in fused.state_dict().items()}
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for key, value in state.items():
                if value.is_floating_point():
                    value.copy_(draw(key, list(value.shape), generator))
            x = torch.rand(1, 3, 96, 128, generator=generator)
            result, y = {"x": x}, x
            for index, layer in enumerate(model.model[:11]):
                y = layer(y)
                if index in (4, 6, 10):
                    result[{4: "P3", 6: "P4", 10: "P5"}[index]] = y
        torch.save(result, out / "ultralytics_yolo11n_out.pt")
        detector = {"nc80": detector_reference(80, seed=2, size=(96, 128)), "nc3": detector_reference(3, seed=3, size=(64, 96))}
        for task, seed in (("seg", 4), ("pose", 5)):
            detector[task] = task_reference(task, seed=seed, size=(64, 96))
        detector["obb"] = {"keys": task_reference("obb", seed=6, size=(64, 96))["keys"]}  # refused: keys are enough
        detector["ultralytics"] = ultralytics.__version__
        torch.save(detector, out / "ultralytics_yolo11n_detector.pt")
    (out / "ultralytics_yolo11_keys.json").write_text(json.dumps(keys))
    checkpoint_reference(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
