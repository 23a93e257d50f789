"""Writes the Ultralytics reference data the YOLOv8, YOLO11, YOLO12 and YOLO26 tests compare against. Not part of the
project, and not run by the tests: Ultralytics (AGPL) is not a dependency. Run once in the scratch venv
(tests/data/make_ultralytics_reference.py says how to make it), with `ultralytics-thop`, the FLOPs counter info() uses:

    /tmp/ultra/bin/pip install --force-reinstall --no-deps ultralytics-thop  # if `import thop` fails or gives 0.0
    /tmp/ultra/bin/python tests/data/make_families_reference.py tests/data

Every model is built from Ultralytics' own YAML (`DetectionModel(f"{name}.yaml", nc=..., verbose=False)`), no
weights downloaded. Writes
- ultralytics_families.json: {"ultralytics": version, "models": {name: ...}} for yolov8, yolo11, yolo12 and yolo26 at
  every scale n/s/m/l/x (nc=80): the number of top-level layers, the layers Detect reads (`from`), each layer's
  `type`, every state_dict key and shape in order (num_batches_tracked included), the parameter count and the GFLOPs
  at 640 (`get_flops`, what info() prints), unfused and after `fuse()` (BatchNorm folded, the unused branch of an
  end-to-end head dropped). `fuse()` keeps the branch `end2end` selects, and a model built from the YAML selects the
  one-to-many branch (its `end2end` is False until set): so for YOLO26 also "fused_end2end_*", the same after
  `model.end2end = True`, which keeps the one-to-one branch instead; and "drawn": with weights drawn as below (seed
  1000 + the model's place in name order) and a 64x96 input, each layer's output and the head's raw outputs as
  fingerprints (sum, sum of magnitudes, sum of squares, in float64). And under "variants", tables a user may bring
  (Ultralytics' yolo26n-p2, yolo26s-p6, yolov8n-p6, and yolo11n with 5 classes): keys, parameters, Detect's inputs.
- ultralytics_families_out.pt: for yolov8n, yolo12n, yolo26n (nc=80) and a yolo26n with 3 classes, eval mode, every
  weight and BatchNorm statistic drawn in key order by `drawn_state` of make_ultralytics_reference.py (the DFL's fixed
  conv kept), then an input from the same generator: the output of every top-level layer before Detect
  ("layer_outputs"), and what Detect gives: `boxes`, `scores` and the decoded (B, 4 + nc, anchors) xywh output for
  v8/12; for YOLO26 the raw boxes and scores of both branches, the decoded one-to-many output (end2end False, xywh),
  the top-k output (end2end True: (B, min(300, anchors), 6) x1, y1, x2, y2, score, class) and the decoded one-to-one
  output it is taken from (xyxy); the top-k output also at a larger input (256x320, drawn next and not stored: the
  tests draw it again), where top-k picks 300 of 1680 anchors; and for the 3-class one (no layer outputs), its
  decoded one-to-one and one-to-many outputs there,
  Ultralytics' NMS of the decoded one-to-many output and its end-to-end filtering of the top-k output, at conf 0.01
  and IoU 0.7 (both then keep max_det boxes: drawn weights score high) and at 0.9 / 0.45 (fewer kept, some suppressed
  by IoU). NMS runs on Ultralytics' own TorchNMS: this CPU build cannot load torchvision's ops.
"""

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from make_ultralytics_reference import drawn_state  # noqa: E402

FAMILIES = ("yolov8", "yolo11", "yolo12", "yolo26")
VARIANTS = ("yolo26n-p2", "yolo26s-p6", "yolov8n-p6", "yolo11n")  # tables a user brings (the last with 5 classes)
KNOWN_PARAMS = {"yolov8n": 3157200, "yolo11n": 2624080, "yolo12n": 2602288, "yolo26n": 2572280}
KNOWN_FUSED_PARAMS = {"yolo26n": 2408932, "yolo12n": 2590824}
OUTPUTS = {"yolov8n": ("yolov8n", 80, 11), "yolo12n": ("yolo12n", 80, 12), "yolo26n": ("yolo26n", 80, 13)}
OUTPUTS["yolo26n_nc3"] = ("yolo26n", 3, 14)


def build(name: str, nc: int = 80):
    from ultralytics.nn.tasks import DetectionModel

    return DetectionModel(f"{name}.yaml", nc=nc, verbose=False).eval()


def shapes(model) -> dict:
    return {key: list(value.shape) for key, value in model.state_dict().items()}


def fused_summary(model, prefix: str) -> dict:
    """Fuse `model` (in place: `fuse()` returns the model itself) and describe it."""
    from ultralytics.utils.torch_utils import get_flops

    fused = model.fuse(verbose=False)
    assert fused is model and model.is_fused(), "fuse() did not fuse"
    keys = shapes(model)
    assert not any(".bn." in key for key in keys), "a BatchNorm is left after fuse()"
    return {
        f"{prefix}_keys": keys,
        f"{prefix}_params": sum(p.numel() for p in model.parameters()),
        f"{prefix}_flops": get_flops(model, 640),
        f"{prefix}_end2end": bool(model.end2end),  # what the fused model then runs
    }


def family_entry(name: str) -> dict:
    from ultralytics.utils.torch_utils import get_flops

    model = build(name)
    keys = shapes(model)
    entry = {
        "layers": len(model.model),
        "detect_from": list(model.model[-1].f),
        "types": [m.type for m in model.model],
        "end2end": bool(model.end2end),  # as built from the YAML
        "has_one2one": getattr(model.model[-1], "one2one_cv2", None) is not None,
        "reg_max": model.model[-1].reg_max,
        "keys": keys,
        "params": sum(p.numel() for p in model.parameters()),
        "flops": get_flops(model, 640),
    }
    assert shapes(model) == keys, "get_flops changed the state_dict"
    entry.update(fused_summary(build(name), "fused"))
    if entry["has_one2one"]:
        e2e = build(name)
        e2e.end2end = True
        entry.update(fused_summary(e2e, "fused_end2end"))
    return entry


def drawn_model(name: str, nc: int, seed: int):
    """The model with every weight drawn from a seeded generator; the generator, to draw the input next."""
    model = build(name, nc)
    generator = torch.Generator().manual_seed(seed)
    state = drawn_state(model.state_dict(), generator)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(key.endswith("num_batches_tracked") for key in missing), (missing, unexpected)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in state.items())
    named = {n for n, _ in model.named_parameters()} | {n for n, _ in model.named_buffers()}
    assert named <= set(loaded), named - set(loaded)  # no parameter or buffer outside the state_dict
    not_drawn = [k for k in loaded if k.endswith("dfl.conv.weight") or (k not in state and loaded[k].is_floating_point())]
    return model, generator, not_drawn


def run_layers(model, x: torch.Tensor):
    """Run the model, keeping the output of every top-level layer but Detect."""
    outputs = {}
    hooks = [
        layer.register_forward_hook(lambda m, a, o, i=i: outputs.__setitem__(i, o.detach().clone()))
        for i, layer in enumerate(model.model[:-1])
    ]
    with torch.no_grad():
        y, preds = model(x)
    for hook in hooks:
        hook.remove()
    return outputs, y, preds


def moments(t: torch.Tensor) -> list[float]:
    """Sum, sum of magnitudes and sum of squares of a tensor, in float64: a fingerprint of every value."""
    t = t.double()
    return [float(t.sum()), float(t.abs().sum()), float(t.pow(2).sum())]


def drawn_entry(name: str, seed: int) -> dict:
    """Every scale's forward with drawn weights, as fingerprints (the n scales' outputs are stored whole): each
    top-level layer's output but Detect's, and the head's raw boxes and scores (of both branches for YOLO26), for a
    64x96 input drawn after the weights."""
    model, generator, _ = drawn_model(name, 80, seed)
    x = torch.rand(1, 3, 64, 96, generator=generator)
    outputs, _, preds = run_layers(model, x)
    branches = preds if "one2one" in preds else {"one2many": preds}
    head = {f"{branch}_{part}": moments(out[part]) for branch, out in branches.items() for part in ("boxes", "scores")}
    return {"seed": seed, "x": moments(x), "layers": [moments(outputs[i]) for i in sorted(outputs)], "head": head}


def output_entry(name: str, nc: int, seed: int) -> dict:
    from ultralytics.utils import nms

    model, generator, not_drawn = drawn_model(name, nc, seed)
    head = model.model[-1]
    x = torch.rand(1, 3, 64, 96, generator=generator)
    result = {"seed": seed, "nc": nc, "x": x, "keys": shapes(model), "not_drawn": not_drawn}
    if getattr(head, "one2one_cv2", None) is None:
        result["layer_outputs"], y, preds = run_layers(model, x)
        result.update(boxes=preds["boxes"], scores=preds["scores"], decoded=y)
        return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in result.items()}

    x_large = torch.rand(1, 3, 256, 320, generator=generator)  # not stored: the tests draw it again (1 MB)
    assert model.end2end is False, "expected the one-to-many branch by default"
    result["layer_outputs"], y, preds = run_layers(model, x)
    result["decoded_one2many"] = y  # (B, 4 + nc, A), xywh
    for branch in ("one2many", "one2one"):
        for part in ("boxes", "scores"):
            result[f"{branch}_{part}"] = preds[branch][part]
    model.end2end = True
    assert model.end2end and head.end2end
    layer_outputs, topk, preds_e2e = run_layers(model, x)
    assert all(torch.equal(layer_outputs[i], v) for i, v in result["layer_outputs"].items())
    for branch in ("one2many", "one2one"):
        for part in ("boxes", "scores"):
            assert torch.equal(preds_e2e[branch][part], result[f"{branch}_{part}"])
    anchors = sum((x.shape[2] // int(s)) * (x.shape[3] // int(s)) for s in head.stride)  # 8x12 + 4x6 + 2x3 = 126
    assert topk.shape == (1, min(head.max_det, anchors), 6), topk.shape
    with torch.no_grad():
        decoded_one2one = head._inference(preds_e2e["one2one"])  # end2end: decode_bboxes gives xyxy
        assert torch.equal(head.postprocess(decoded_one2one.permute(0, 2, 1)), topk)
    result.update(topk=topk, decoded_one2one=decoded_one2one, decoded_one2one_format="xyxy")
    with torch.no_grad():
        topk_large, preds_large = model(x_large)
        decoded_one2one_large = head._inference(preds_large["one2one"])
        model.end2end = False
        decoded_one2many_large, _ = model(x_large)
    assert topk_large.shape == (1, head.max_det, 6)
    result["topk_large"] = topk_large
    if nc == 3:
        del result["layer_outputs"]  # yolo26n's are checked; this one is for its head
        result["decoded_one2many_large"] = decoded_one2many_large
        result["decoded_one2one_large"] = decoded_one2one_large  # xyxy
        sys.modules.pop("torchvision", None)  # Ultralytics' TorchNMS path (torchvision's ops do not load here)
        conf, iou = 0.01, 0.7
        while True:
            kept, idx = nms.non_max_suppression(
                decoded_one2many_large, conf_thres=conf, iou_thres=iou, max_det=300, return_idxs=True
            )
            e2e = nms.non_max_suppression(topk_large, conf_thres=conf, iou_thres=iou, end2end=True, max_det=300)
            if len(kept[0]) and len(e2e[0]):
                break
            conf /= 10
        result.update(conf=conf, iou=iou, nms_large=kept[0], nms_large_idx=idx[0], e2e_large=e2e[0])
        # drawn weights give confident scores: at 0.01 both keep max_det boxes; and nearly every drawn box has x2 < x1
        # or y2 < y1 (YOLO26 regresses distances with no DFL, drawn ones are often negative), so IoU suppresses few.
        # A stricter setting keeps fewer than max_det and suppresses some by IoU:
        conf, iou = 0.9, 0.45
        kept, idx = nms.non_max_suppression(decoded_one2many_large, conf_thres=conf, iou_thres=iou, max_det=300, return_idxs=True)
        e2e = nms.non_max_suppression(topk_large, conf_thres=conf, iou_thres=iou, end2end=True, max_det=300)
        result.update(conf_strict=conf, iou_strict=iou, nms_large_strict=kept[0], nms_large_strict_idx=idx[0])
        result["e2e_large_strict"] = e2e[0]
    return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in result.items()}


def main(out: Path) -> None:
    import ultralytics

    start = time.time()
    models = {}
    for family in FAMILIES:
        for scale in "nsmlx":
            name = f"{family}{scale}"
            models[name] = family_entry(name)
            print(
                f"{name}: {models[name]['params']:,} params, {models[name]['flops']:.2f} GFLOPs, "
                f"fused {models[name]['fused_params']:,} / {models[name]['fused_flops']:.2f} "
                f"({time.time() - start:.0f} s)",
                flush=True,
            )
    for index, name in enumerate(sorted(models)):
        models[name]["drawn"] = drawn_entry(name, 1000 + index)
        print(f"{name}: drawn forward ({time.time() - start:.0f} s)", flush=True)
    for name, params in KNOWN_PARAMS.items():
        assert models[name]["params"] == params, (name, models[name]["params"], params)
    for name, params in KNOWN_FUSED_PARAMS.items():
        assert models[name]["fused_params"] == params, (name, models[name]["fused_params"], params)
    variants = {}
    for name in VARIANTS:
        model = build(name, 5 if name == "yolo11n" else 80)
        variants[name if name != "yolo11n" else "yolo11n-nc5"] = {
            "detect_from": list(model.model[-1].f),
            "keys": shapes(model),
            "params": sum(p.numel() for p in model.parameters()),
        }
    reference = {"ultralytics": ultralytics.__version__, "models": models, "variants": variants}
    (out / "ultralytics_families.json").write_text(json.dumps(reference))

    result = {"ultralytics": ultralytics.__version__}
    for key, (name, nc, seed) in OUTPUTS.items():
        result[key] = output_entry(name, nc, seed)
        print(f"{key}: outputs ({time.time() - start:.0f} s)", flush=True)
    torch.save(result, out / "ultralytics_families_out.pt")
    print(f"done in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
