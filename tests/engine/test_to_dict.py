"""What the engine's results say as JSON (`to_dict()`: the command line's --json and the app's downloads share it),
through a JSON round trip, against the results' own fields: the trained shapes detector on a photo it never saw."""

from __future__ import annotations

import json

import pytest

from yolo_explorer.detection.assignment import Truth, assign
from yolo_explorer.detection.detections import Nms, class_names, detect
from yolo_explorer.detection.explain import explain
from yolo_explorer.detection.walkthrough import walkthrough
from yolo_explorer.forward.features import extract_features
from yolo_explorer.model.blocks import fold_batchnorm
from yolo_explorer.synthetic import CLASSES, scene


def round_trip(value: dict) -> dict:
    return json.loads(json.dumps(value))


@pytest.fixture(scope="module")
def photo():
    return scene(4321, 800, 500)


def test_detections_and_their_walk(trained_detector, photo):
    fold_batchnorm(trained_detector)
    image, _ = photo
    result = detect(trained_detector, image, 320, Nms(conf=0.2), keep_predictions=True)
    out = round_trip(result.to_dict())
    assert out["image_size"] == [500, 800] and out["input_size"] == list(result.box.size) == [224, 320]
    assert (out["candidates"], out["best_score"]) == (result.candidates, result.best_score)
    assert len(out["detections"]) == len(result.detections) >= 2
    for got, d in zip(out["detections"], result.detections, strict=True):
        assert (got["class_id"], got["name"], got["score"], tuple(got["box"])) == (d.class_id, d.name, d.score, d.box)
        assert (got["level"], got["stride"], tuple(got["cell"])) == (d.cell.level, d.cell.stride, (d.cell.row, d.cell.col))
    walked = walkthrough(result.predictions, result.box.size, CLASSES, Nms(conf=0.2))
    walk = round_trip(walked.to_dict())
    assert Nms(**{**walk["nms"], "classes": walk["nms"]["classes"]}) == walked.nms == Nms(conf=0.2)
    assert [s["kept"]["anchor"] for s in walk["steps"]] == [d.anchor for d in result.detections]
    assert [len(s["suppressed"]) for s in walk["steps"]] == [len(s.suppressed) for s in walked.steps]
    assert sum(lv["candidates"] for lv in walk["levels"]) == result.candidates


def test_an_explanation(trained_detector, photo):
    image, _ = photo
    fold_batchnorm(trained_detector)
    result = detect(trained_detector, image, 320)
    d = result.detections[0]
    why = explain(trained_detector, result.box, d.anchor, d.class_id)
    out = round_trip(why.to_dict(result.box))
    assert (out["level"], tuple(out["cell"])) == (d.cell.level, (d.cell.row, d.cell.col))
    assert out["logit"] == why.logit and out["share"] == why.share
    x1, y1, x2, y2 = d.box
    cx, cy = out["cam_peak"]
    assert x1 - 2 * d.cell.stride <= cx <= x2 + 2 * d.cell.stride and y1 - 2 * d.cell.stride <= cy <= y2 + 2 * d.cell.stride


def test_an_assignment(trained_detector, photo):
    image, shapes = photo
    forward = extract_features(trained_detector, image, 320, (), batch_norm="running", rect=False)
    truths = [Truth(s.box, s.class_id) for s in shapes]
    result = assign(forward.predictions, forward.box, truths, class_names(4, CLASSES))
    out = round_trip(result.to_dict())
    assert out["foreground"] == sum(c["positive"] for box in out["boxes"] for c in box["candidates"]) == result.foreground
    assert out["anchors"] == sum(h * w for _, _, (h, w) in result.levels) == 40 * 40 + 20 * 20 + 10 * 10
    for got, truth in zip(out["boxes"], result.truths, strict=True):
        assert (got["class_id"], tuple(got["box"])) == (truth.class_id, truth.photo_box)
        assert [c["anchor"] for c in got["candidates"]] == [c.anchor for c in truth.candidates]
