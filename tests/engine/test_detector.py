"""The whole YOLO11 detector (layers 0-23): Ultralytics' own keys, shapes and per-layer parameters for every
scale, its own neck/boxes/scores/decoded outputs and NMS for yolo11n, a checkpoint with another class
count, statistics against torch's flop counter, receptive fields through the neck, and detections mapped
back through the letterbox.

`data/ultralytics_yolo11n_detector.pt` was written by `data/make_ultralytics_reference.py` with
Ultralytics 8.4.190 (run once, outside this project): its DetectionModel with weights and BatchNorm
statistics drawn from a seeded generator, and what `non_max_suppression` kept from its decoded tensor.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from data.make_ultralytics_reference import drawn_state
from PIL import Image
from spec import YOLO11_DETECTOR
from torch.utils.flop_counter import FlopCounterMode

from yolo_explorer import build_backbone, list_layers, make_config, model_stats, model_summary, run_with_capture
from yolo_explorer.deployment.accuracy import calibrated_copy
from yolo_explorer.detection.detections import (
    COCO_CLASSES,
    Cell,
    Nms,
    anchor_cells,
    class_names,
    detect,
    non_max_suppression,
    score_maps,
    to_photo,
)
from yolo_explorer.forward.features import extract_features
from yolo_explorer.forward.preprocess import letterbox, load_image
from yolo_explorer.model.blocks import fold_batchnorm
from yolo_explorer.model.checkpoints import checkpoint_classes, checkpoint_task, task_note
from yolo_explorer.model.config import YOLO11_SCALES
from yolo_explorer.model.detector import Detector, DetectorOutput, build_detector, build_model, pyramid
from yolo_explorer.model.weights import WeightsMismatchError, load_weights
from yolo_explorer.samples import sample_bytes

DATA = Path(__file__).parents[1] / "data"
ULTRALYTICS = json.loads((DATA / "ultralytics_yolo11_keys.json").read_text())["scales"]
REFERENCE = torch.load(DATA / "ultralytics_yolo11n_detector.pt", weights_only=True)
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def ultralytics_layer_params(scale: str) -> dict[str, int]:
    """Parameters per layer summed from Ultralytics' own state_dict (BatchNorm statistics are buffers)."""
    params: dict[str, int] = {}
    for key, shape in ULTRALYTICS[scale]["keys"].items():
        if not key.endswith(BUFFERS):
            layer = key.split(".")[1]
            params[layer] = params.get(layer, 0) + math.prod(shape)
    return params


def reference_detector(nc: str, seed: int, build_classes: int = 80) -> tuple[Detector, dict, torch.Tensor]:
    """A detector with the reference script's drawn weights, loaded as a checkpoint; the reference; its input."""
    reference = REFERENCE[nc]
    classes = reference["scores"].shape[1]
    keys = {f"model.{k}": v for k, v in build_detector("yolo11n", classes, device="meta").state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    state = drawn_state(
        {k: torch.arange(16.0).view(1, 16, 1, 1) if k.endswith("dfl.conv.weight") else v for k, v in keys.items()}, generator
    )
    x = torch.rand(1, 3, *reference["x"].shape[2:], generator=generator)
    assert torch.equal(x, reference["x"])  # the same draws as the reference script
    detector = build_detector("yolo11n", build_classes, seed=7)
    load_weights(detector, state)
    return detector, reference, x


@pytest.mark.parametrize("scale", list(YOLO11_SCALES))
def test_every_key_shape_and_layer_parameter_count_is_ultralytics(scale):
    detector = build_detector(f"yolo11{scale}", device="meta")
    ours = {k: list(v.shape) for k, v in detector.state_dict().items()}
    theirs = {k.removeprefix("model."): v for k, v in ULTRALYTICS[scale]["keys"].items()}
    assert ours == theirs
    stats = model_stats(detector.config, 640)
    assert {layer.name: layer.params for layer in stats.layers if layer.params} == ultralytics_layer_params(scale)
    assert [layer.name for layer in stats.layers] == [str(i) for i in range(24)]
    params, flops = YOLO11_DETECTOR[scale]
    assert (stats.params, stats.flops) == (params, flops)


def test_the_backbone_is_the_module_build_backbone_builds():
    detector, backbone = build_detector("yolo11s", seed=3), build_backbone("yolo11s", seed=3)
    for index in range(11):
        ours, theirs = detector.get_submodule(str(index)), backbone.get_submodule(str(index))
        assert type(ours) is type(theirs) and str(ours) == str(theirs)
        assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True))


def test_computes_exactly_what_ultralytics_computes():
    """Neck, raw box and class logits, and the decoded predictions, for Ultralytics' own drawn weights."""
    detector, reference, x = reference_detector("nc80", seed=2)
    with torch.no_grad():
        out = detector(x)
    assert isinstance(out, DetectorOutput)
    for ours, name in zip(out.neck, ("N3", "N4", "N5"), strict=True):
        torch.testing.assert_close(ours, reference[name], rtol=1e-5, atol=1e-6)
    for name in ("boxes", "scores", "decoded"):
        ours, theirs = getattr(out, name), reference[name]
        assert ours.shape == theirs.shape and (ours - theirs).norm() / theirs.norm() < 1e-5, name
    assert out.boxes.shape == (1, 64, 12 * 16 + 6 * 8 + 3 * 4)


def test_a_checkpoint_with_three_classes_gives_the_head_its_class_count():
    detector, reference, x = reference_detector("nc3", seed=3, build_classes=80)
    assert detector.num_classes == 3 and detector.config.num_classes == 3 and "3 classes" in detector.config.label
    with torch.no_grad():
        out = detector(x)
    assert out.scores.shape[1] == 3 and out.decoded.shape[1] == 4 + 3
    for name in ("boxes", "scores", "decoded"):
        theirs = reference[name]
        assert (getattr(out, name) - theirs).norm() / theirs.norm() < 1e-5, name
    assert class_names(3) == ("class 0", "class 1", "class 2") and class_names(80) == COCO_CLASSES


@pytest.mark.parametrize("nc, seed", [("nc80", 2), ("nc3", 3)])
def test_nms_keeps_what_ultralytics_keeps(nc, seed):
    reference = REFERENCE[nc]
    runs = [k for k in reference if k.startswith("nms_")]
    assert len(runs) == 6  # two threshold pairs, class-aware and agnostic; with a class filter at the first pair
    for key in runs:
        _, conf, iou, kind, *picked = key.split("_")
        classes = [int(c) for c in picked[0].split("-")] if picked else None
        settings = Nms(float(conf), float(iou), kind == "agnostic", classes)
        ours = non_max_suppression(reference["decoded"], settings)[0]
        assert len(reference[key]) > 0 and torch.equal(ours, reference[key]), key
        (rows,), (anchors,) = non_max_suppression(reference["decoded"], settings, return_anchors=True)
        assert torch.equal(rows, ours) and torch.equal(anchors, reference[f"anchors_{key}"]), key  # its return_idxs


def brute_force_nms(rows: list[tuple], conf: float, iou: float, agnostic: bool, classes=None) -> list[tuple]:
    """Greedy NMS over plain Python tuples (x1, y1, x2, y2, score, cls), the textbook way."""

    def overlap(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = w * h
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

    kept = []
    wanted = (r for r in rows if r[4] > conf and (classes is None or r[5] in classes))
    for row in sorted(wanted, key=lambda r: -r[4]):
        if all(overlap(row, k) <= iou for k in kept if agnostic or k[5] == row[5]):
            kept.append(row)
    return kept


@pytest.mark.parametrize("classes", [None, (0, 2)])
@pytest.mark.parametrize("agnostic", [False, True])
def test_nms_against_a_brute_force_reference(agnostic, classes):
    """Clusters of overlapping boxes of three classes: class-aware NMS keeps one per class per cluster
    (of the classes asked for), agnostic NMS one per cluster."""
    generator = torch.Generator().manual_seed(0)
    anchors, nc = 400, 3
    centres = torch.randint(0, 5, (anchors, 2), generator=generator).float() * 100 + 50
    xywh = torch.cat(
        (centres + torch.randn(anchors, 2, generator=generator) * 3, 80 + torch.rand(anchors, 2, generator=generator) * 10), 1
    )
    scores = torch.rand(anchors, nc, generator=generator)
    decoded = torch.cat((xywh, scores), 1).T[None]
    ours = non_max_suppression(decoded, Nms(0.3, 0.5, agnostic, classes))[0]
    best, cls = scores.max(1)
    xyxy = torch.cat((xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2), 1)
    rows = [(*b, s, c) for b, s, c in zip(xyxy.tolist(), best.tolist(), cls.tolist(), strict=True)]
    expected = brute_force_nms(rows, conf=0.3, iou=0.5, agnostic=agnostic, classes=classes)
    torch.testing.assert_close(ours, torch.tensor(expected, dtype=torch.float32))
    clusters = {tuple(((row[:2] + row[2:4]) / 2 // 100).int().tolist()) for row in ours}
    per_cluster = 1 if agnostic else len(classes or range(nc))
    assert len(ours) == len(clusters) * per_cluster  # 25 clusters: one box, or one per class asked for
    if classes is not None:
        assert set(ours[:, 5].int().tolist()) == set(classes)


def test_nms_refuses_bad_thresholds_and_shapes():
    with pytest.raises(ValueError, match="from 0 to 1"):
        Nms(conf=1.5)
    with pytest.raises(ValueError, match="from 0 to 1"):
        Nms(iou=-0.1)
    with pytest.raises(ValueError, match="max_det"):
        Nms(max_det=0)
    with pytest.raises(ValueError, match="0 or more"):
        Nms(classes=[2, -1])
    with pytest.raises(ValueError, match="4 \\+ nc"):
        non_max_suppression(torch.zeros(84, 10))


@pytest.mark.parametrize("task", ["seg", "pose"])
def test_a_segmentation_or_pose_models_detections_are_ultralytics(task):
    """YOLO11n-seg and -pose heads are a Detect head plus a mask or keypoint branch: their weights load into
    the detector (the branch left out, and said so) and give the boxes, scores and decoded detections that
    Ultralytics' own model computes."""
    reference = REFERENCE[task]
    generator = torch.Generator().manual_seed({"seg": 4, "pose": 5}[task])
    shapes = {k: torch.arange(16.0).view(1, 16, 1, 1) if k.endswith("dfl.conv.weight") else torch.empty(shape)
              for k, shape in reference["keys"].items()}  # fmt: skip
    state = drawn_state(shapes, generator)
    x = torch.rand(1, 3, *reference["x"].shape[2:], generator=generator)
    assert torch.equal(x, reference["x"])  # the same draws as the reference script
    assert checkpoint_task(state) == {"seg": "segment", "pose": "pose"}[task]
    detector = build_detector("yolo11n", seed=7)
    report = load_weights(detector, state)
    branch = sum(1 for k in state if k.startswith(("model.23.cv4", "model.23.proto")))
    assert report.task == checkpoint_task(state) and report.ignored == branch > 0
    with torch.no_grad():
        out = detector(x)
    for name in ("boxes", "scores", "decoded"):
        ours, theirs = getattr(out, name), reference[name]
        assert (ours - theirs).norm() / theirs.norm() < 1e-5, name


@pytest.mark.slow
def test_the_cli_says_what_a_segmentation_models_weights_leave_out(tmp_path):
    from helpers import cli

    detector = build_detector("yolo11n", 2, seed=6)
    state = {f"model.{k}": v for k, v in detector.state_dict().items()}
    state["model.23.proto.cv1.conv.weight"] = torch.zeros(8, 8, 3, 3)
    weights, image = tmp_path / "yolo11n-seg.pt", tmp_path / "photo.png"
    torch.save(state, weights)
    Image.new("RGB", (90, 60), (200, 100, 40)).save(image)
    run = cli("detect", "--arch", "yolo11n", "--weights", str(weights), "--image", str(image), "--imgsz", "128")
    assert run.returncode == 0, run.stderr
    assert "1 neck/head tensors ignored (a segmentation model, whose mask branch is not used here)" in run.stderr


def test_an_oriented_box_model_is_refused_for_the_detector_and_fits_the_backbone():
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.rand(shape, generator=generator) for k, shape in REFERENCE["obb"]["keys"].items()}
    assert checkpoint_task(state) == "obb"
    with pytest.raises(WeightsMismatchError, match=r"oriented-box \(OBB\) model.*backbone only") as refused:
        load_weights(build_detector("yolo11n"), state)
    assert refused.value.unexpected and all(".cv4." in k for k in refused.value.unexpected)
    report = load_weights(build_backbone("yolo11n"), state)  # layers 0-10 are a detector's
    assert report.layout == "ultralytics" and report.task == "obb"
    assert task_note("obb") == "an oriented-box model, whose angle branch is not used here"


@pytest.mark.slow  # float64 forwards of a stand-in detector
def test_weights_saved_after_fuse_load_and_compute_what_the_fused_model_computes():
    """Ultralytics' fuse() (run by its predict, kept by its save) folds every BatchNorm into its conv's bias:
    its key set (from Ultralytics) loads, and folded weights give the folded model's outputs."""
    fused_keys = json.loads((DATA / "ultralytics_yolo11_keys.json").read_text())["fused_n"]
    assert not any(".bn." in k for k in fused_keys) and "model.0.conv.bias" in fused_keys
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.rand(shape, generator=generator) + 0.5 for k, shape in fused_keys.items()}
    report = load_weights(build_detector("yolo11n"), state)
    assert report.layout == "ultralytics, BatchNorm folded" and report.params == YOLO11_DETECTOR["n"][0]

    from yolo_explorer.deployment.modes import private_copy
    from yolo_explorer.model.blocks import fold_batchnorm

    # in float64 throughout, so that a wrong unfolding (even by one eps) shows far above the rounding
    original = stand_in_detector(128, seed=1).double()  # BatchNorm statistics that matter
    folded = private_copy(original)
    assert fold_batchnorm(folded) == sum(1 for k in original.state_dict() if k.endswith("bn.running_var"))
    fresh = build_detector("yolo11n", 3, seed=9).double()
    load_weights(fresh, {f"model.{k}": v for k, v in folded.state_dict().items()})
    x = torch.rand(1, 3, 128, 128, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        ours, theirs, before = fresh(x), folded(x), original(x)
    for name in ("boxes", "scores", "decoded"):
        a, b, c = getattr(ours, name), getattr(theirs, name), getattr(before, name)
        assert (a - b).norm() / b.norm() < 1e-12 and (a - c).norm() / c.norm() < 1e-12, name


def test_backbone_file_into_a_detector_is_refused_with_the_missing_neck_and_head():
    backbone_weights = {f"model.{k}": v for k, v in build_backbone("yolo11n", seed=1).state_dict().items()}
    detector = build_detector("yolo11n", seed=1)
    before = {k: v.clone() for k, v in detector.state_dict().items()}
    with pytest.raises(WeightsMismatchError, match='pick "backbone only"') as err:
        load_weights(detector, backbone_weights)
    assert err.value.missing and all(int(k.split(".")[0]) >= 11 for k in err.value.missing)
    assert "23.cv2.0.0.conv.weight" in err.value.missing
    assert all(torch.equal(v, detector.state_dict()[k]) for k, v in before.items())  # nothing loaded
    assert checkpoint_classes(backbone_weights) is None


def test_a_detection_file_still_loads_into_the_backbone():
    state = {f"model.{k}": v for k, v in build_detector("yolo11n", seed=4).state_dict().items()}
    backbone = build_backbone("yolo11n", seed=0)
    report = load_weights(backbone, state)
    assert report.layout == "ultralytics" and report.ignored == sum(1 for k in state if int(k.split(".")[1]) > 10)
    assert torch.equal(backbone.get_submodule("4.cv1.conv").weight, state["model.4.cv1.conv.weight"])
    assert checkpoint_classes(state) == 80


@pytest.mark.parametrize("scale, size", [("n", (160, 224)), ("m", (128, 128))])
def test_macs_equal_flop_counter_for_every_layer(scale, size):
    """Upsample and Concat compute nothing; the head's convolutions (and the DFL's) are counted like torch's."""
    config = make_config(f"yolo11{scale}", detector=True)
    stats = model_stats(config, size)
    counter = FlopCounterMode(display=False, depth=1)
    with counter, torch.no_grad():
        build_model(config)(torch.rand(1, 3, *size))
    per_module = counter.get_flop_counts()
    for layer in stats.layers:
        assert sum(per_module.get(f"Detector.{layer.name}", {}).values()) == layer.flops == 2 * layer.macs, layer.name
    rows = {layer.name: layer for layer in stats.layers}
    h, w = size[0] // 8, size[1] // 8
    assert rows["11"].params == rows["12"].params == 0 and rows["11"].macs == rows["12"].macs == 0
    assert rows["11"].output_shape == (rows["10"].output_shape[0], h // 2, w // 2)  # P5 upsampled to P4's grid
    assert rows["12"].output_shape[0] == rows["11"].output_shape[0] + rows["6"].output_shape[0]
    anchors = h * w + (h // 2) * (w // 2) + (h // 4) * (w // 4)
    assert rows["23"].output_shape == (84, anchors) and rows["23"].block == "Detect"
    assert [rows[n].feature for n in ("16", "19", "22")] == ["P3", "P4", "P5"] and not rows["4"].feature


def test_receptive_fields_run_through_the_neck_as_the_union_of_branches():
    rows = {layer.name: layer for layer in model_stats(make_config("yolo11n", detector=True), 640).layers}
    rf = {name: row.receptive_field for name, row in rows.items()}
    assert rf["11"] == rf["10"]  # nearest upsampling copies
    assert rf["12"] == max(rf["11"], rf["6"]) and rf["15"] == max(rf["14"], rf["4"])
    assert rf["18"] == max(rf["17"], rf["13"]) and rf["21"] == max(rf["20"], rf["10"])
    assert rf["13"] > rf["12"] and rf["23"] > rf["22"]
    assert rf["17"] == rf["16"] + 2 * 8  # a 3x3 conv on the stride-8 map


def test_capture_reaches_every_layer_and_the_head():
    detector = build_detector("yolo11n")
    names = list_layers(detector)
    assert {"12", "23", "23.cv2.0.2", "23.cv3.2.1.0", "23.dfl", "23.dfl.conv"} <= set(names)
    x = torch.rand(1, 3, 128, 160)
    out, acts = run_with_capture(detector, x, ["P3", "P5", "4", "12", "23.cv3.0.2", "23.dfl"])
    assert torch.equal(acts["P3"], out.neck[0]) and torch.equal(acts["P5"], out.neck[2])
    assert acts["4"].shape == (1, 128, 16, 20) and acts["12"].shape == (1, 384, 8, 10)
    assert acts["23.cv3.0.2"].shape == (1, 80, 16, 20) and acts["23.dfl"].shape == (1, 4, out.boxes.shape[2])
    assert pyramid(out) == out.neck


def test_summary_and_decoding_of_a_detector():
    config = make_config("yolo11n", detector=True)
    summary = model_summary(config, 320, depth=1)
    assert summary.total_params == model_stats(config, 320).params
    detector = build_detector("yolo11n", seed=1)
    with torch.no_grad():
        out = detector(torch.rand(2, 3, 64, 64))
    # scores are the sigmoid of the class logits; boxes sit around their anchor cells
    torch.testing.assert_close(out.decoded[:, 4:], out.scores.sigmoid())
    maps = score_maps(out)
    assert [tuple(m.shape) for m in maps.values()] == [(8, 8), (4, 4), (2, 2)]
    assert maps["P3"][0, 0] == out.decoded[0, 4:, 0].max()


def test_anchors_name_their_level_stride_and_cell():
    grids, size = [(12, 16), (6, 8), (3, 4)], (96, 128)  # P3, P4, P5 of a 96x128 input
    first, last_p3, first_p4, p4, last = anchor_cells([0, 191, 192, 192 + 8 * 2 + 5, 251], grids, size)
    assert first == Cell("P3", 8, 0, 0) and last_p3 == Cell("P3", 8, 11, 15)
    assert first_p4 == Cell("P4", 16, 0, 0) and p4 == Cell("P4", 16, 2, 5) and last == Cell("P5", 32, 2, 3)
    with pytest.raises(ValueError, match="outside the 252 cells"):
        anchor_cells([252], grids, size)


def test_each_detection_knows_the_cell_that_predicted_it():
    """A YOLO11 box is four non-negative distances (DFL's expected values) from its cell's centre, so that
    centre lies inside the box: an independent check of the anchor -> level -> cell bookkeeping."""
    detector = stand_in_detector(320)
    result = detect(detector, load_image(sample_bytes("astronaut")), 320, Nms(conf=0.5))
    assert result.detections and {d.cell.level for d in result.detections} <= {"P3", "P4", "P5"}
    for d in result.detections:
        cell = d.cell
        cx, cy = result.box.to_original((cell.col + 0.5) * cell.stride, (cell.row + 0.5) * cell.stride)
        x1, y1, x2, y2 = d.box
        assert x1 - 1e-3 <= cx <= x2 + 1e-3 and y1 - 1e-3 <= cy <= y2 + 1e-3, d


def test_detections_are_mapped_back_through_the_letterbox():
    photo = Image.new("RGB", (400, 200))
    box = letterbox(photo, 640)  # scale 1.6, 160 pixels of padding above and below
    kept = torch.tensor([[160.0, 320.0, 480.0, 400.0, 0.9, 2.0], [-50.0, 150.0, 100.0, 200.0, 0.5, 0.0]])
    first, second = to_photo(kept, box, COCO_CLASSES)
    assert first.box == pytest.approx((100.0, 100.0, 300.0, 150.0)) and first.name == "car" and first.score == pytest.approx(0.9)
    assert second.box == pytest.approx((0.0, 0.0, 62.5, 25.0)) and second.name == "person"  # clipped to the photo


def test_detect_runs_one_forward_and_reports_its_scores():
    detector = build_detector("yolo11n", seed=0)
    result = detect(detector, Image.new("RGB", (120, 90), (90, 140, 200)), 128)
    # as `yolo predict imgsz=128`: the photo fills 128x96, padded to 96 (a multiple of 32), not to 128
    assert result.box.size == (96, 128)
    assert set(result.score_maps) == {"P3", "P4", "P5"} and result.score_maps["P3"].shape == (12, 16)
    assert detect(detector, Image.new("RGB", (120, 90)), 128, rect=False).score_maps["P3"].shape == (16, 16)
    assert 0 < result.best_score < 1 and len(result.detections) <= result.candidates
    assert all(0 <= d.box[0] <= d.box[2] <= 120 and 0 <= d.box[1] <= d.box[3] <= 90 for d in result.detections)


def test_a_class_filter_counts_and_keeps_only_those_classes():
    # BatchNorm statistics from the photo, class biases at 0 and small class weights: scores spread around 0.5
    # without ties, and the best class varies from cell to cell
    photo = load_image(sample_bytes("astronaut"))
    detector = calibrated_copy(build_detector("yolo11n", num_classes=3, seed=0), letterbox(photo, 128).tensor())
    with torch.no_grad():
        for branch in detector.get_submodule("23").cv3:
            branch[-1].bias.zero_()
            branch[-1].weight.mul_(0.01)
    everything = detect(detector, photo, 128, Nms(conf=0.0, max_det=1000))
    only = detect(detector, photo, 128, Nms(conf=0.0, classes=[1], max_det=1000))
    out = extract_features(detector, photo, 128, (), batch_norm="running").predictions
    best = out.decoded[0, 4:].argmax(dim=0)
    assert everything.candidates == 16 * 16 + 8 * 8 + 4 * 4
    assert 0 < only.candidates == int((best == 1).sum()) < everything.candidates
    assert only.detections and {d.class_id for d in only.detections} == {1}
    # class-aware NMS never lets one class suppress another: filtering after NMS gives the same boxes
    assert only.detections == tuple(d for d in everything.detections if d.class_id == 1)


def test_config_validation():
    with pytest.raises(ValueError, match="num_classes"):
        make_config("yolo11n", detector=True, num_classes=0)
    with pytest.raises(ValueError, match="backbone only"):
        build_detector("tutorial")
    with pytest.raises(ValueError, match="build_detector"):
        build_backbone(config=make_config("yolo11n", detector=True))
    assert make_config("yolo11s", detector=True).backbone == make_config("yolo11s")
    assert make_config("yolo11n", detector=True).parts()["neck"] == tuple(str(i) for i in range(11, 23))


@pytest.mark.slow
def test_cli_stats_latency_and_features_of_the_detector(tmp_path):
    from helpers import cli

    stats = cli("stats", "--arch", "yolo11s", "--detector", "--json")
    assert stats.returncode == 0, stats.stderr
    out = json.loads(stats.stdout)
    assert len(out["stages"]) == 24 and (out["total"]["params"], out["total"]["flops"]) == YOLO11_DETECTOR["s"]
    assert out["config"]["detector"] is True and out["stages"][23]["output_shape"] == [84, 8400]

    # a 3-class checkpoint: the head takes the file's class count, stats and features follow it
    weights = tmp_path / "three.pt"
    torch.save({f"model.{k}": v for k, v in build_detector("yolo11n", 3, seed=2).state_dict().items()}, weights)
    three = cli("stats", "--arch", "yolo11n", "--detector", "--weights", str(weights), "--imgsz", "320", "--json")
    assert three.returncode == 0, three.stderr
    assert (
        json.loads(three.stdout)["stages"][23]["output_shape"] == [7, 2100] and "fits YOLO11n detector, 3 classes" in three.stderr
    )
    image = tmp_path / "photo.png"
    Image.new("RGB", (90, 60), (200, 100, 40)).save(image)
    features = cli("features", "--arch", "yolo11n", "--detector", "--weights", str(weights), "--image", str(image),
                   "--imgsz", "128", "--layers", "P4", "23.cv3.0.2", "--out", str(tmp_path / "maps"))  # fmt: skip
    assert features.returncode == 0, features.stderr
    import numpy as np

    assert np.load(tmp_path / "maps" / "P4.npy").shape == (128, 8, 8)  # the neck's P4, layer 19
    assert np.load(tmp_path / "maps" / "23.cv3.0.2.npy").shape == (3, 16, 16)  # three class logits per P3 cell

    latency = cli("latency", "--arch", "yolo11n", "--detector", "--imgsz", "128", "--iters", "2", "--error", "--json")
    assert latency.returncode == 0, latency.stderr
    result = json.loads(latency.stdout)
    assert "detector" in result["model"] and result["relative_error"] < 1e-4


def stand_in_detector(size: int, seed: int = 11) -> Detector:
    """A 3-class YOLO11n whose boxes are worth keeping: BatchNorm statistics from the astronaut photo, class
    biases at 0 (an untrained head starts near -10), so that scores spread around 0.5."""
    photo = letterbox(load_image(sample_bytes("astronaut")), size).tensor()
    detector = calibrated_copy(build_detector("yolo11n", 3, seed=seed), photo)
    with torch.no_grad():
        for branch in detector.get_submodule("23").cv3:
            branch[-1].bias.zero_()
    return detector


@pytest.mark.slow
def test_cli_detect_prints_and_draws_the_engines_boxes(tmp_path):
    from helpers import cli

    from yolo_explorer.detection.detections import class_color

    saved = stand_in_detector(320)
    weights, image = tmp_path / "three.pt", tmp_path / "astronaut.jpg"
    torch.save({f"model.{k}": v for k, v in saved.state_dict().items()}, weights)
    detector = copy.deepcopy(saved)
    fold_batchnorm(detector)  # detect runs the model as Ultralytics' predict does: BatchNorm folded
    image.write_bytes(sample_bytes("astronaut"))
    photo = load_image(image)
    common = ("detect", "--arch", "yolo11n", "--weights", str(weights), "--image", str(image), "--imgsz", "320")

    run = cli(*common, "--conf", "0.5", "--json")
    assert run.returncode == 0, run.stderr
    out, expected = json.loads(run.stdout), detect(detector, photo, 320, Nms(conf=0.5))
    assert expected.detections and out["candidates"] == expected.candidates and out["model"] == "YOLO11n detector, 3 classes"
    assert [d["name"] for d in out["detections"]] == [d.name for d in expected.detections]
    assert [d["score"] for d in out["detections"]] == pytest.approx([d.score for d in expected.detections], abs=1e-6)
    assert [d["box"] for d in out["detections"]] == [pytest.approx(list(d.box), abs=1e-3) for d in expected.detections]
    cells = [(d.cell.level, d.cell.stride, [d.cell.row, d.cell.col]) for d in expected.detections]
    assert [(d["level"], d["stride"], d["cell"]) for d in out["detections"]] == cells

    # two classes, by name and by index; suppressed across classes; the picture written
    picture = tmp_path / "boxes.png"
    run = cli(*common, "--conf", "0.5", "--only", "class 2", "0", "--agnostic", "--out", str(picture), "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    expected = detect(detector, photo, 320, Nms(0.5, 0.7, True, [0, 2]))
    assert out["classes"] == [0, 2] and out["agnostic"] is True
    assert [(d["class_id"], d["score"]) for d in out["detections"]] == [
        (d.class_id, pytest.approx(d.score, abs=1e-6)) for d in expected.detections
    ]
    drawn = Image.open(picture).convert("RGB")
    assert drawn.size == photo.size
    best = expected.detections[0]  # drawn last: its edges are on top
    x1, y1, x2, y2 = (round(v) for v in best.box)
    rgb = tuple(int(class_color(best.class_id)[i : i + 2], 16) for i in (1, 3, 5))
    assert drawn.getpixel((x1 + 1, (y1 + y2) // 2)) == rgb  # the left edge, in the class's colour

    text = cli(*common, "--conf", "0.5")
    assert text.returncode == 0 and "boxes kept of" in text.stdout
    lines = text.stdout.strip().splitlines()
    assert len(lines) == 3 + len(detect(detector, photo, 320, Nms(conf=0.5)).detections)  # header, rows, the levels' sentence
    assert lines[1].endswith("level  cell") and lines[-1].startswith("Boxes kept per level")


@pytest.mark.slow
def test_cli_detect_refuses_bad_requests_in_one_line(tmp_path):
    from helpers import cli

    image = tmp_path / "photo.png"
    Image.new("RGB", (90, 60), (200, 100, 40)).save(image)
    for args, message in [
        (("--arch", "tutorial", "--image", str(image)), "the tutorial is a backbone only"),
        (("--arch", "yolo11n", "--image", str(image), "--only", "zebras"), "no class 'zebras' in this head of 80 (person"),
        (("--arch", "yolo11n", "--image", str(image), "--only", "80"), "no class '80'"),
        (("--arch", "yolo11n", "--image", str(image), "--conf", "1.5"), "expected a number from 0 to 1"),
        (("--arch", "yolo11n", "--image", str(image), "--out", str(tmp_path / "x.gif")), "write a .png or .jpg"),
    ]:
        run = cli("detect", *args)
        assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr, (args, run.stderr)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    run = cli("detect", "--arch", "yolo11n", "--image", str(broken))
    assert run.returncode == 1 and len(run.stderr.strip().splitlines()) == 1
    run = cli("detect", "--arch", "yolo11n", "--image", str(image), "--imgsz", "128", "--json")
    assert run.returncode == 0 and "random weights" in run.stderr and json.loads(run.stdout)["detections"] == []


@pytest.mark.slow
def test_cli_refuses_what_has_no_detector():
    from helpers import cli

    tutorial = cli("stats", "--detector")
    assert (
        tutorial.returncode == 2 and "the tutorial is a backbone only" in tutorial.stderr and "Traceback" not in tutorial.stderr
    )
    classes = cli("stats", "--arch", "yolo11n", "--classes", "3")
    assert classes.returncode == 2 and "add --detector" in classes.stderr
