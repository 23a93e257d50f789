"""From 8,400 predictions to boxes: the walk keeps exactly the anchors `non_max_suppression` keeps, every IoU it
reports is the IoU of the two boxes, every candidate is accounted for, and the DFL's expected distances give back
the head's own boxes. Run on the test suite's trained shapes detector, on a photo it never saw."""

from __future__ import annotations

import copy

import pytest
import torch
from helpers import TRAINED

from yolo_explorer import letterbox
from yolo_explorer.detection.detections import Nms, class_names, non_max_suppression
from yolo_explorer.detection.object_size import box_iou
from yolo_explorer.detection.walkthrough import box_distributions, walkthrough
from yolo_explorer.model.blocks import fold_batchnorm
from yolo_explorer.synthetic import scene


@pytest.fixture(scope="module")
def predicted(trained_once):
    model, checkpoint = copy.deepcopy(trained_once[0]), trained_once[1]
    fold_batchnorm(model)
    image, _ = scene(5, 640, 480)
    box = letterbox(image, 320)
    with torch.inference_mode():
        out = model(box.tensor())
    return out, box.size, class_names(4, checkpoint.names)


SETTINGS = [
    {"conf": 0.25, "iou": 0.7},
    {"conf": 0.02, "iou": 0.7},
    {"conf": 0.02, "iou": 0.3},
    {"conf": 0.02, "iou": 0.5, "agnostic": True},
    {"conf": 0.02, "iou": 0.5, "classes": [1, 2]},
    {"conf": 0.02, "iou": 0.7, "max_det": 3},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_the_walk_keeps_what_nms_keeps_and_accounts_for_every_candidate(predicted, settings):
    out, size, names = predicted
    walk = walkthrough(out, size, names, Nms(**settings))
    assert walk.nms == Nms(**settings)
    (rows,), (anchors,) = non_max_suppression(out.decoded, Nms(**settings), return_anchors=True)
    assert [c.anchor for c in walk.kept] == anchors.tolist()
    assert [c.score for c in walk.kept] == pytest.approx(rows[:, 4].tolist())
    assert walk.output_shape == (4 + 4, sum(lv.predictions for lv in walk.levels))
    assert sum(lv.candidates for lv in walk.levels) == len(walk.candidates) == sum(n for _, n in walk.per_class)
    scores, best = out.decoded[0, 4:].max(dim=0)
    passing = scores > settings["conf"]
    if "classes" in settings:
        passing &= torch.isin(best, torch.tensor(settings["classes"]))
    assert len(walk.candidates) == int(passing.sum())
    seen = [c.anchor for step in walk.steps for c in (step.kept, *(s for s, _ in step.suppressed))]
    assert len(seen) == len(set(seen))  # no candidate kept or suppressed twice
    if len(walk.steps) < settings.get("max_det", 300):
        assert walk.waiting(len(walk.steps)) == 0 and sorted(seen) == sorted(c.anchor for c in walk.candidates)
    for step in walk.steps:
        for other, overlap in step.suppressed:
            # NMS compares boxes shifted by 7680 px per class (float32): its IoU is the pair's to about 1e-4
            assert overlap == pytest.approx(box_iou(step.kept.box, other.box), abs=2e-4)
            assert overlap > settings["iou"]
            assert settings.get("agnostic") or other.class_id == step.kept.class_id


def test_some_boxes_are_suppressed_here(predicted):
    """The control: the photo and thresholds above do exercise suppression (else the IoU checks prove nothing)."""
    out, size, names = predicted
    walk = walkthrough(out, size, names, Nms(conf=0.02, iou=0.5))
    assert sum(len(step.suppressed) for step in walk.steps) >= 5


def test_the_dfl_expected_distances_are_the_head_s_own_box(predicted):
    out, size, names = predicted
    walk = walkthrough(out, size, names)
    for kept in walk.kept:
        bins = box_distributions(out, kept.anchor, size)
        assert all(sum(p) == pytest.approx(1.0, abs=1e-5) for p in bins.probabilities)
        cx, cy = (kept.cell.col + 0.5) * bins.stride, (kept.cell.row + 0.5) * bins.stride
        left, top, right, bottom = bins.expected_pixels
        assert (cx - left, cy - top, cx + right, cy + bottom) == pytest.approx(kept.box, abs=1e-3)


@pytest.mark.slow
def test_detect_steps_prints_the_walk_the_engine_takes(tmp_path, predicted):
    """`detect --steps --json`: the walk's kept anchors are the detections' cells, its steps the engine's."""
    import json

    from helpers import cli

    image, _ = scene(5, 640, 480)
    photo = tmp_path / "shapes.png"
    image.save(photo)
    run = cli("detect", "--weights", str(TRAINED), "--image", str(photo), "--imgsz", "320", "--conf", "0.2", "--steps", "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    walk = out["walk"]
    assert [s["kept"]["cell"] for s in walk["steps"]] == [d["cell"] for d in out["detections"]]
    assert sum(lv["candidates"] for lv in walk["levels"]) == out["candidates"]
    assert walk["output_shape"] == [8, sum(lv["predictions"] for lv in walk["levels"])]
    text = cli("detect", "--weights", str(TRAINED), "--image", str(photo), "--imgsz", "320", "--conf", "0.2", "--steps")
    assert text.returncode == 0, text.stderr
    assert f"step {len(walk['steps'])}: keep" in text.stdout and "the head's output: 8 x" in text.stdout
