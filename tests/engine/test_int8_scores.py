"""What int8 does to a detector's scores and the threshold each precision wants: a sweep that reads the boxes once
equals NMS (and the one-to-one read) run at every threshold, YOLO label files land on the truth boxes of the drawn
photos, the scores are paired cell by cell; and on the trained YOLO11n and YOLO26n, Ultralytics' own ONNX recipe (the
nodes with weights only) keeps the scores full int8 loses, where one int8 scale spans box pixels and scores."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import ROOT, cli

from yolo_explorer import build_model, load_weights
from yolo_explorer.deployment.int8_report import int8_report
from yolo_explorer.deployment.int8_scores import THRESHOLDS, score_spread, threshold_sweep
from yolo_explorer.deployment.int8_sensitivity import Int8Lab
from yolo_explorer.deployment.int8_verdict import detections_of, int8_photos
from yolo_explorer.deployment.onnx_models import calibration_folder
from yolo_explorer.detection.assignment import Truth
from yolo_explorer.detection.detections import Nms, non_max_suppression, one_to_one
from yolo_explorer.detection.labels import labels_for, read_labels
from yolo_explorer.forward.preprocess import letterbox, load_image
from yolo_explorer.model.checkpoints import read_checkpoint
from yolo_explorer.model.weights import table_config
from yolo_explorer.synthetic import scene, yolo_labels

DATA = ROOT / "tests" / "data"
PHOTOS = DATA / "photos"
TRUTH = json.loads((PHOTOS / "truth.json").read_text())
SIZE = (320, 320)


def _decoded(seed: int, batch: int = 2, anchors: int = 400, classes: int = 3) -> np.ndarray:
    """Random decoded predictions: boxes clustered so NMS has work, scores spread over 0..1."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(batch, 2, anchors, generator=g) * 40 + 100
    sides = torch.rand(batch, 2, anchors, generator=g) * 30 + 20
    scores = torch.rand(batch, classes, anchors, generator=g) ** 3
    return torch.cat((centres, sides, scores), dim=1).numpy()


@pytest.mark.parametrize("branch", ["one2many", "one2one"])
def test_a_sweep_read_once_equals_the_boxes_read_at_each_threshold(branch):
    decoded = _decoded(4)
    targets = [[Truth((100.0, 100.0, 130.0, 130.0), 0), Truth((110.0, 105.0, 150.0, 140.0), 2)]] * 2
    low = detections_of(decoded, Nms(conf=min(THRESHOLDS)), branch=branch)
    sweep = threshold_sweep(low, targets, against="truth")
    read = non_max_suppression if branch == "one2many" else one_to_one
    for point in sweep.points:
        direct = detections_of(decoded, Nms(conf=point.conf), branch=branch)
        assert point.boxes == sum(map(len, direct))  # NMS at the threshold keeps exactly the boxes over it
        again = threshold_sweep(direct, targets, against="truth", thresholds=[point.conf])
        assert again.points[0].found == point.found
    rows = read(torch.from_numpy(decoded), Nms(conf=0.5))
    rows = rows[0] if branch == "one2one" else rows
    assert sweep.at(0.5).boxes == sum(len(r) for r in rows)


def test_a_sweep_counts_precision_recall_and_its_best_threshold():
    from yolo_explorer.detection.detections import Detection

    def box(score, x, cls=0):
        return Detection((x, 0.0, x + 10.0, 10.0), score, cls, str(cls))

    boxes = [[box(0.9, 0), box(0.6, 20), box(0.3, 40), box(0.2, 60, cls=1)]]
    targets = [[Truth((0.0, 0.0, 10.0, 10.0), 0), Truth((40.0, 0.0, 50.0, 10.0), 0), Truth((80.0, 0.0, 90.0, 10.0), 0)]]
    sweep = threshold_sweep(boxes, targets, against="truth", thresholds=[0.1, 0.25, 0.5, 0.7])
    counts = [(p.found, p.boxes, p.targets) for p in sweep.points]
    assert counts == [(2, 4, 3), (2, 3, 3), (1, 2, 3), (1, 1, 3)]
    assert sweep.at(0.25).f1 == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))
    assert sweep.best.conf == 0.25  # F1 0.667 beats 0.571, 0.4 and 0.5
    with pytest.raises(ValueError, match="not one of"):
        sweep.at(0.3)


def test_scores_are_paired_cell_by_cell():
    fp32 = _decoded(5)
    int8 = fp32.copy()
    int8[:, 4:] *= 0.8  # every score a fifth lower
    spread = score_spread(fp32, int8, conf=0.25)
    best = fp32[:, 4:].max(axis=1).ravel()
    assert spread.boxes == int((best > 0.25).sum()) and spread.compression == pytest.approx(0.8)
    assert spread.lost == int(((best > 0.25) & (best * 0.8 <= 0.25)).sum()) > 0 and spread.gained == 0
    stepped = fp32.copy()
    stepped[:, 4:] = np.round(stepped[:, 4:] / 0.25) * 0.25  # four levels: scores compressed onto steps
    assert score_spread(fp32, stepped, conf=0.25).distinct <= 4
    with pytest.raises(ValueError, match="one shape"):
        score_spread(fp32, fp32[:1], conf=0.25)


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_yolo_label_files_land_on_the_drawn_shapes_in_the_input(name):
    """The shipped label files (YOLO's format, fractions of the upright photo) give the truth.json boxes, letterboxed
    as the photo is (portrait_exif.jpg: stored on its side, upright by its EXIF)."""
    image = load_image(PHOTOS / name)
    box = letterbox(image, SIZE)
    truths = read_labels(PHOTOS / name.replace(name.rsplit(".", 1)[1], "txt"), image.size, SIZE, classes=4)
    expected = [(c, *box.to_letterbox(x1, y1), *box.to_letterbox(x2, y2)) for c, x1, y1, x2, y2 in TRUTH[name]]
    assert [t.class_id for t in truths] == [e[0] for e in expected]
    np.testing.assert_allclose([t.box for t in truths], [e[1:] for e in expected], atol=1e-3)


def test_labels_are_found_beside_a_photo_or_in_ultralytics_layout_and_bad_ones_said(tmp_path):
    image, shapes = scene(9, 200, 100)
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    image.save(tmp_path / "images" / "a.png")
    (tmp_path / "labels" / "a.txt").write_text(yolo_labels(shapes, 200, 100))
    image.save(tmp_path / "images" / "b.png")
    (tmp_path / "images" / "b.txt").write_text("0 0.5 0.5 0.2\n")  # four numbers
    image.save(tmp_path / "images" / "c.png")
    (tmp_path / "images" / "c.txt").write_text("7 0.5 0.5 0.2 0.2\n")  # a class the model lacks
    image.save(tmp_path / "images" / "d.png")  # no labels
    found, problems = labels_for(tmp_path / "images", ["a.png", "b.png", "c.png", "d.png"], (64, 128), classes=4)
    assert list(found) == ["a.png"] and len(found["a.png"]) == len(shapes)
    assert [t.class_id for t in found["a.png"]] == [s.class_id for s in shapes]
    x1, y1, x2, y2 = shapes[0].box
    assert found["a.png"][0].box == pytest.approx((x1 * 128 / 200, y1 * 64 / 100, x2 * 128 / 200, y2 * 64 / 100), abs=1e-3)
    assert problems == [
        "b.png: b.txt line 1: expected 'class cx cy w h', got '0 0.5 0.5 0.2'",
        "c.png: c.txt line 1: class 7, and the model has 4",
        "d.png: no label file (d.txt)",
    ]


def _trained(name: str):
    checkpoint = read_checkpoint(DATA / f"synthetic_{name}.pt")
    model = build_model(table_config(checkpoint))
    load_weights(model, checkpoint)
    return model.eval()


def _photos():
    own, _ = calibration_folder(PHOTOS, SIZE)
    photos = int8_photos(own, size=SIZE, samples=False)
    labels = [*photos.calibrate_labels, *photos.judged_labels]
    truths, problems = labels_for(PHOTOS, labels, SIZE, classes=4)
    assert problems == []
    return replace(photos, truths=truths)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["yolo11n", "yolo26n"])
def test_ultralytics_recipe_keeps_the_scores_full_int8_loses(name):
    """Full int8 puts box pixels (0-320) and scores (0-1) under one scale in the "decoded" Concat: YOLO11n's scores all
    round to 0, YOLO26n's to 0 or 1.25. Quantizing the weighted nodes only (Ultralytics 8.4.190's ONNX export) leaves the
    head's decoding in float, and both pass; against the truth of the judged photos too."""
    lab = Int8Lab.build(_trained(name), size=SIZE, photos=_photos())
    assert lab.photos.judged_truths is not None
    report = int8_report(lab)
    full, weighted = report.precision("int8"), report.precision("weighted")
    assert full.verdict.status == "fails" and full.spread.distinct <= 2
    assert full.spread.compression == (0.0 if name == "yolo11n" else pytest.approx(1.37, abs=0.1))
    assert weighted.verdict.status == "passes" and weighted.spread.compression == pytest.approx(1.0, abs=0.01)
    assert report.against == "truth" and report.precision("fp32").sweep.best.f1 == 1.0
    assert weighted.sweep.best.f1 == 1.0
    if name == "yolo11n":  # no score over any threshold: nothing found
        assert full.sweep.best.f1 == 0.0
    else:  # every box scores 1.25: the same boxes over every threshold, which no longer tells anything apart
        assert len({(p.found, p.boxes) for p in full.sweep.points}) == 1
    assert _made_by(lab.quantize(), "decoded") == "DequantizeLinear"  # the Concat's output rounded to int8
    assert _made_by(lab.quantize(weighted_only=True), "decoded") == "Concat"  # float
    # layer by layer (the Model graph's fp32 beside int8): every layer keeps its output within a few percent, the head's
    # outputs are what collapses; the recipe keeps the head too
    drift, kept = lab.layer_drift(lab.quantize()), lab.layer_drift(lab.quantize(weighted_only=True))
    judged = [e.cosine for e in lab.errors(lab.quantize()) if e.name in lab.judged]
    layers = max(v for layer, v in drift.items() if layer != "23")
    assert drift["23"] == pytest.approx(1 - min(judged)) and drift["23"] > 4 * layers  # YOLO11n's 1.0, YOLO26n's 0.05
    assert layers < 0.02 and kept["23"] < 0.01


def _made_by(onnx_model, output: str) -> str:
    """The type of the node that makes `output`."""
    import onnx

    graph = onnx.load_from_string(onnx_model.data).graph
    return next(node.op_type for node in graph.node if output in node.output)


@pytest.mark.slow
def test_the_one_to_one_branch_is_read_without_nms_and_its_boxes_judged():
    model = _trained("yolo26n")
    lab = Int8Lab.build(model, size=SIZE, photos=_photos(), branch="one2one")
    fp32 = lab.decoded_of(lab.fp32)
    rows, _ = one_to_one(torch.from_numpy(fp32), lab.nms)
    assert [len(p) for p in lab.boxes_of(fp32)] == [len(r) for r in rows]
    assert lab.decoded == "one2one_decoded" and lab.check().reach  # the one-to-one class logits' ranges are read
    with pytest.raises(ValueError, match="no one-to-one branch"):
        Int8Lab.build(_trained("yolo11n"), size=SIZE, photos=_photos(), branch="one2one")


@pytest.mark.slow
def test_int8_command_sets_two_families_side_by_side():
    out = cli(
        "int8", "--weights", str(DATA / "synthetic_yolo11n.pt"), "--beside", str(DATA / "synthetic_yolo26n.pt"),
        "--calibration", str(PHOTOS), "--imgsz", "320", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    reports = json.loads(out.stdout)
    assert [r["model"].split(" ")[0] for r in reports] == ["YOLO11n", "YOLO26n"]
    assert all(r["thresholds_against"] == "truth" and r["branch"] == "one2many" for r in reports)
    by = {(r["model"].split(" ")[0], p["name"]): p for r in reports for p in r["precisions"]}
    assert by["YOLO11n", "int8"]["verdict"]["status"] == "fails" and by["YOLO11n", "weighted"]["verdict"]["status"] == "passes"
    assert by["YOLO26n", "int8"]["scores"]["distinct_scores"] <= 2
    text = cli("int8", "--weights", str(DATA / "synthetic_yolo26n.pt"), "--calibration", str(PHOTOS), "--imgsz", "320",
               "--branch", "one2one")  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert "YOLO26n (one-to-one)" in text.stdout and "weighted nodes only: verdict" in text.stdout
    refused = cli("int8", "--arch", "yolo11n")
    assert refused.returncode == 2 and "pass --weights" in refused.stderr
