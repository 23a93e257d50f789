"""YOLOv8, YOLO11, YOLO12 and YOLO26 built from their tables, checked against what Ultralytics 8.4.190 itself builds
(tests/data/make_families_reference.py wrote the reference): every state_dict key and shape, the layer Detect reads,
parameters and FLOPs as info() counts them unfused and fused; and with weights drawn the same way, every layer's
output, both branches of YOLO26's head, its one-to-one top-k, and NMS of its one-to-many output."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from data.make_ultralytics_reference import draw

from yolo_explorer.detection.detections import Nms, non_max_suppression, one_to_one
from yolo_explorer.model.blocks import fold_batchnorm
from yolo_explorer.model.config import ARCHITECTURES, make_config
from yolo_explorer.model.detector import build_model
from yolo_explorer.model.stats import model_stats
from yolo_explorer.present.insights import BATCHNORM_THOP_FLOPS, info_flops_insight

DATA = Path(__file__).parent.parent / "data"
REFERENCE = json.loads((DATA / "ultralytics_families.json").read_text())["models"]
OUTPUTS = torch.load(DATA / "ultralytics_families_out.pt", weights_only=True)


def test_every_family_and_scale_is_offered():
    assert sorted(REFERENCE) == sorted(a for a in ARCHITECTURES if a != "tutorial")


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_keys_shapes_layers_and_parameters_are_ultralytics(name):
    reference = REFERENCE[name]
    config = make_config(name, detector=True)
    model = build_model(config, device="meta")
    ours = {key: list(value.shape) for key, value in model.state_dict().items()}
    theirs = {key.removeprefix("model."): shape for key, shape in reference["keys"].items()}
    assert list(ours.items()) == list(theirs.items())
    assert len(config.layers()) == reference["layers"]
    assert [int(s) for s in config.layers()[-1].sources] == reference["detect_from"]
    assert [layer for _, layer in config.outputs] == [str(i) for i in reference["detect_from"]]
    assert sum(p.numel() for p in model.parameters()) == reference["params"]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_fused_as_deployed_is_ultralytics_fuse(name):
    """Ultralytics' fuse() folds every BatchNorm and keeps one branch of YOLO26's head (the one `end2end` selects:
    one-to-many by default, one-to-one after `end2end = True`): our fold with a branch dropped has its keys and
    parameters, and info()'s fused GFLOPs are the stats' deployed FLOPs (our flop counter, attention included)."""
    reference = REFERENCE[name]
    config = make_config(name, detector=True)
    stats = model_stats(config, 640)
    assert stats.params == reference["params"]
    assert stats.deployed_flops == pytest.approx(reference["fused_flops"] * 1e9, rel=1e-12)
    # unfused, thop books each BatchNorm's 4 operations per output as multiply-adds (both branches run)
    unfused = stats.flops + BATCHNORM_THOP_FLOPS * stats.batchnorm_outputs
    assert unfused == pytest.approx(reference["flops"] * 1e9, rel=1e-12)
    said = info_flops_insight(stats)
    assert f"{reference['flops']:.1f} GFLOPs for this model unfused" in said and f"{reference['fused_flops']:.1f} fused" in said
    model = build_model(config, device="cpu")
    head = model.get_submodule(model.head_name)
    variants = {"fused_": "one2many"}
    if head.end2end:
        second = sum(p.numel() for m in (head.one2one_cv2, head.one2one_cv3) for p in m.parameters())
        assert stats.second_branch[0] == second and stats.deployed_params == stats.params - second
        variants = {"fused_": "one2many", "fused_end2end_": "one2one"}  # end2end selects the one-to-one branch
    else:
        assert stats.second_branch == (0, 0) and stats.deployed_flops == stats.flops
    fold_batchnorm(model)
    for prefix, branch in variants.items():
        deployed = copy.deepcopy(model)
        deployed.get_submodule(model.head_name).keep_branch(branch)
        keys = {key: list(value.shape) for key, value in deployed.state_dict().items()}
        assert keys == {key.removeprefix("model."): shape for key, shape in reference[f"{prefix}keys"].items()}
        assert sum(p.numel() for p in deployed.parameters()) == reference[f"{prefix}params"]


def drawn(name: str) -> tuple[torch.nn.Module, torch.Tensor, torch.Generator]:
    """Our model of a reference entry with the weights Ultralytics' had: drawn in its key order by the same recipe,
    then the entry's input from the same generator (checked against the stored one)."""
    entry = OUTPUTS[name]
    config = make_config(name.split("_")[0], detector=True, num_classes=entry["nc"])
    model = build_model(config)
    generator = torch.Generator().manual_seed(entry["seed"])
    state = model.state_dict()
    with torch.no_grad():
        for key, shape in entry["keys"].items():
            own = key.removeprefix("model.")
            if key.endswith("num_batches_tracked") or own.endswith("dfl.conv.weight"):
                continue
            state[own].copy_(draw(key, shape, generator))
    x = torch.rand(1, 3, 64, 96, generator=generator)
    assert torch.equal(x, entry["x"])
    return model, x, generator


@pytest.mark.parametrize("name", ["yolov8n", "yolo12n", "yolo26n"])
def test_every_layer_and_the_head_compute_what_ultralytics_does(name):
    entry = OUTPUTS[name]
    model, x, _ = drawn(name)
    seen = {}
    hooks = [layer.register_forward_hook(lambda m, a, o, i=i: seen.__setitem__(i, o)) for i, layer in enumerate(model.children())]
    with torch.no_grad():
        out = model(x)
    for hook in hooks:
        hook.remove()
    assert sorted(entry["layer_outputs"]) == sorted(set(seen) - {len(seen) - 1})
    for index, expected in entry["layer_outputs"].items():
        torch.testing.assert_close(seen[index], expected, rtol=1e-4, atol=1e-4, msg=f"layer {index}")
    if "boxes" in entry:  # one branch, through NMS
        assert out.one2one is None
        for field in ("boxes", "scores", "decoded"):
            torch.testing.assert_close(getattr(out, field), entry[field], rtol=1e-4, atol=1e-3)
        return
    torch.testing.assert_close(out.boxes, entry["one2many_boxes"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.scores, entry["one2many_scores"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.decoded, entry["decoded_one2many"], rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(out.one2one.boxes, entry["one2one_boxes"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.one2one.scores, entry["one2one_scores"], rtol=1e-4, atol=1e-4)
    centre, size = out.one2one.decoded[:, :2], out.one2one.decoded[:, 2:4]  # Ultralytics decodes this branch as xyxy
    xyxy = torch.cat((centre - size / 2, centre + size / 2, out.one2one.decoded[:, 4:]), dim=1)
    torch.testing.assert_close(xyxy, entry["decoded_one2one"], rtol=1e-4, atol=1e-3)


def _rows(rows: torch.Tensor) -> torch.Tensor:
    return rows[:, :6]


@pytest.mark.parametrize("name", ["yolo26n", "yolo26n_nc3"])
def test_the_one_to_one_top_k_is_ultralytics(name):
    """Without NMS: the 300 anchors with the best scores, then the 300 best (anchor, class) pairs among them; at 64x96
    there are only 126 anchors, at 256x320 top-k picks 300 of 1680."""
    entry = OUTPUTS[name]
    model, x, generator = drawn(name)
    large = torch.rand(1, 3, 256, 320, generator=generator)
    with torch.no_grad():
        small_out, large_out = model(x), model(large)
    everything = Nms(conf=0.0, iou=1.0, max_det=300)
    for out, expected in ((small_out, entry["topk"]), (large_out, entry["topk_large"])):
        (rows,), _ = one_to_one(out.one2one.decoded, everything)
        keep = expected[0]
        assert rows.shape == keep.shape
        torch.testing.assert_close(rows, keep, rtol=1e-4, atol=1e-3)
    if name != "yolo26n_nc3":
        return
    # Ultralytics' NMS of the one-to-many branch, and its end-to-end filtering of the top-k, at two thresholds
    torch.testing.assert_close(large_out.decoded, entry["decoded_one2many_large"], rtol=1e-4, atol=1e-3)
    for suffix, conf, iou in (("", entry["conf"], entry["iou"]), ("_strict", entry["conf_strict"], entry["iou_strict"])):
        (kept,), (anchors,) = non_max_suppression(large_out.decoded, Nms(conf=conf, iou=iou), return_anchors=True)
        torch.testing.assert_close(kept, entry[f"nms_large{suffix}"], rtol=1e-4, atol=1e-3)
        assert anchors.tolist() == entry[f"nms_large{suffix}_idx"].tolist()
        (rows,), _ = one_to_one(large_out.one2one.decoded, Nms(conf=conf, iou=iou))
        torch.testing.assert_close(rows, entry[f"e2e_large{suffix}"], rtol=1e-4, atol=1e-3)


def test_detect_says_which_branch_it_ran_and_offers_both(capsys):
    """`detect` reads YOLO26's one-to-many branch through NMS by default (predict's default since 8.4.142) and its
    one-to-one branch without NMS with --branch one2one; the same boxes as the engine's two readings."""
    from yolo_explorer.cli import main

    tiny = str(DATA / "ultralytics_tiny_yolo26.pt")
    photo = str(DATA / "photos" / "tiny_40x24.png")
    for branch in ("one2many", "one2one"):
        assert main(["detect", "--weights", tiny, "--image", photo, "--imgsz", "128", "--branch", branch, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["branch"] == branch and out["model"] == "yolo26-n (its own table) detector, 1 class"
    assert main(["detect", "--weights", tiny, "--image", photo, "--imgsz", "128"]) == 0
    assert "the one-to-many branch, NMS per class at IoU 0.70; --branch one2one for the NMS-free one" in capsys.readouterr().out
    assert main(["detect", "--arch", "yolo11n", "--image", photo, "--branch", "one2one"]) == 2
    assert "YOLO11n detector has one branch" in capsys.readouterr().err
    assert main(["detect", "--weights", tiny, "--image", photo, "--branch", "one2one", "--steps"]) == 2


@pytest.mark.parametrize("arch", ["yolov8s", "yolo12n", "yolo26n"])
def test_weights_alone_say_their_family(arch):
    """A whole detector's state_dict in Ultralytics' layout fits its own family: YOLO26's backbone has YOLO11's keys
    and shapes (its SPPF differs in an activation and a residual), so its head decides."""
    from yolo_explorer.model.weights import fitting_config

    state = {f"model.{k}": v for k, v in build_model(make_config(arch, detector=True), device="cpu").state_dict().items()}
    assert fitting_config(state) == make_config(arch)


def test_a_head_kept_with_one_branch_computes_that_branch():
    """`keep_branch`, as a deployed YOLO26 (and `detect`) runs: the kept branch's outputs, the same as the whole head's."""
    model, x, _ = drawn("yolo26n")
    with torch.no_grad():
        both = model(x)
        for branch in ("one2many", "one2one"):
            deployed = copy.deepcopy(model)
            deployed.get_submodule(deployed.head_name).keep_branch(branch)
            out = deployed(x)
            expected = both.one2one if branch == "one2one" else both
            torch.testing.assert_close(out.decoded, expected.decoded, rtol=0, atol=0)
            assert (out.one2one is not None) == (branch == "one2one")
    with pytest.raises(ValueError, match="one branch"):
        build_model(make_config("yolo11n", detector=True)).get_submodule("23").keep_branch("one2one")


def _moments(t: torch.Tensor) -> list[float]:
    t = t.double()
    return [float(t.sum()), float(t.abs().sum()), float(t.pow(2).sum())]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_every_scale_computes_what_ultralytics_does(name):
    """Every family at every scale (YOLO12's l and x with their scaled residual, the m/l/x C3k blocks), with weights
    drawn the same way: each layer's output and the head's raw outputs have Ultralytics' fingerprints (sum, sum of
    magnitudes, sum of squares) to 1e-4."""
    drawn = REFERENCE[name]["drawn"]
    model = build_model(make_config(name, detector=True))
    generator = torch.Generator().manual_seed(drawn["seed"])
    state = model.state_dict()
    with torch.no_grad():
        for key, shape in REFERENCE[name]["keys"].items():
            own = key.removeprefix("model.")
            if key.endswith("num_batches_tracked") or own.endswith("dfl.conv.weight"):
                continue
            state[own].copy_(draw(key, shape, generator))
        x = torch.rand(1, 3, 64, 96, generator=generator)
        assert _moments(x) == pytest.approx(drawn["x"], rel=1e-12)
        seen = {}
        layers = list(model.children())[:-1]
        hooks = [layer.register_forward_hook(lambda m, a, o, i=i: seen.__setitem__(i, o)) for i, layer in enumerate(layers)]
        out = model(x)
        for hook in hooks:
            hook.remove()
    assert len(seen) == len(drawn["layers"])
    for index, expected in enumerate(drawn["layers"]):
        assert _moments(seen[index]) == pytest.approx(expected, rel=1e-4, abs=1e-3), f"layer {index}"
    heads = {"one2many": out} | ({"one2one": out.one2one} if out.one2one is not None else {})
    assert sorted(f"{b}_{p}" for b in heads for p in ("boxes", "scores")) == sorted(drawn["head"])
    for branch, head in heads.items():
        for part in ("boxes", "scores"):
            assert _moments(getattr(head, part)) == pytest.approx(drawn["head"][f"{branch}_{part}"], rel=1e-4, abs=1e-3)
