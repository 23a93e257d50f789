"""YOLO26's two heads on photos, against Ultralytics' own `predict()` in each of its modes (reference written by
Ultralytics in a scratch environment: tests/data/make_yolo26_predict_reference.py) with `synthetic_yolo26n.pt`, a
full-size YOLO26n Ultralytics trained here on photos of coloured shapes (train_synthetic_detector.py --model
yolo26n): `nms=None` (since Ultralytics 8.4.142 a dual-head model runs its one-to-many branch and NMS) is
`detect(..., branch="one2many")`, and `nms=False` (the one-to-one branch, top-k without NMS) is `branch="one2one"`;
and both branches find the shapes drawn on the photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import cli

from yolo_explorer import build_model, load_image, load_weights
from yolo_explorer.detection.assignment import Truth, assign
from yolo_explorer.detection.detections import PREDICT, detect
from yolo_explorer.detection.labels import read_labels
from yolo_explorer.detection.two_heads import PREDICT_MODES, compare_heads
from yolo_explorer.forward.features import extract_features
from yolo_explorer.model.blocks import fold_batchnorm
from yolo_explorer.model.checkpoints import read_checkpoint
from yolo_explorer.model.weights import table_config
from yolo_explorer.synthetic import CLASSES

DATA = Path(__file__).parents[1] / "data"
SAMPLES = Path(__file__).resolve().parents[2] / "yolo_explorer" / "samples"
REFERENCE = torch.load(DATA / "ultralytics_yolo26_predict.pt", weights_only=True)
RUNS = REFERENCE["runs"]
TRUTH = json.loads((DATA / "photos" / "truth.json").read_text())


def photo_path(key: str) -> Path:
    name = key.split("@")[0]
    return DATA / "photos" / name if (DATA / "photos" / name).exists() else SAMPLES / name


@pytest.fixture(scope="module")
def trained():
    """The checkpoint as predict runs it: the model its table describes (YOLO26n, 4 classes), BatchNorm folded."""
    checkpoint = read_checkpoint(DATA / "synthetic_yolo26n.pt")
    config = table_config(checkpoint)
    assert config.arch == "yolo26n" and config.num_classes == len(CLASSES)
    model = build_model(config)
    load_weights(model, checkpoint)
    fold_batchnorm(model)
    return model


@pytest.mark.parametrize("branch", ["one2many", "one2one"])
@pytest.mark.parametrize("key", sorted(RUNS))
def test_each_branch_keeps_the_boxes_ultralytics_predict_keeps(trained, key, branch):
    theirs = RUNS[key][branch]
    ours = detect(trained, load_image(photo_path(key)), int(key.split("@")[1]), branch=branch)
    assert len(ours.detections) == len(theirs), (key, branch)
    for d, (x1, y1, x2, y2, score, cls) in zip(ours.detections, theirs.tolist(), strict=True):
        assert d.class_id == int(cls) and d.name == CLASSES[int(cls)]
        assert d.score == pytest.approx(score, abs=1e-4)
        assert d.box == pytest.approx((x1, y1, x2, y2), abs=0.05)


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize(
    ("branch", "least_precision"),
    [("one2many", 0.95), ("one2one", 0.7)],  # measured: 20 of 20 boxes right; 20 right of 25 (5 duplicates)
)
def test_both_branches_find_the_shapes_drawn(trained, branch, least_precision):
    """At the size it was trained at (320), on the shipped photos (the tiny one aside, 20 shapes): each shape found by a
    box of its class at IoU 0.5 or more (recall), and boxes that are shapes (precision). The one-to-one branch finds
    them too, but leaves duplicates that NMS would have removed (Ultralytics' own validation of this checkpoint: P
    0.93 with nms=False against 0.99 through NMS): trained for 30 epochs, it learns more slowly than the one-to-many
    branch, which is what ProgLoss's schedule is about."""
    hits = kept = drawn = 0
    for name, shapes in TRUTH.items():
        if name.startswith("tiny"):
            continue
        detections = detect(trained, load_image(DATA / "photos" / name), 320, branch=branch).detections
        unmatched = list(shapes)
        for d in detections:
            best = max(unmatched, key=lambda t: iou(d.box, t[1:]) if t[0] == d.class_id else -1, default=None)
            if best is not None and best[0] == d.class_id and iou(d.box, best[1:]) >= 0.5:
                hits += 1
                unmatched.remove(best)
        kept, drawn = kept + len(detections), drawn + len(shapes)
    assert hits / drawn >= 0.95 and hits / kept >= least_precision, (branch, hits, kept, drawn)


def heads_on(trained, key: str):
    forward = extract_features(trained, load_image(photo_path(key)), int(key.split("@")[1]), (), batch_norm="running", rect=True)
    return compare_heads(forward.predictions, forward.box, CLASSES, PREDICT)


@pytest.mark.parametrize("key", sorted(RUNS))
def test_both_heads_from_one_forward_are_predicts_two_modes(trained, key):
    """`detect --branch both` reads one forward twice: its one-to-many boxes are predict(nms=True)'s (and nms=None's),
    its one-to-one boxes predict(nms=False)'s; every box of each is in a pair or left alone, never both."""
    heads = heads_on(trained, key)
    for branch, result in (("one2many", heads.one2many), ("one2one", heads.one2one)):
        theirs = RUNS[key][branch]
        assert [d.class_id for d in result.detections] == [int(c) for *_, c in theirs.tolist()]
        assert [d.score for d in result.detections] == pytest.approx([s for *_, s, _ in theirs.tolist()], abs=1e-4)
    assert len(heads.pairs) + len(heads.only_one2many) == len(heads.one2many.detections)
    assert len(heads.pairs) + len(heads.only_one2one) == len(heads.one2one.detections)
    assert all(a.class_id == b.class_id and overlap >= 0.5 for a, b, overlap in heads.pairs)
    assert list(heads.scores_one2one) == [d.score for d in heads.one2one.detections]
    assert len(heads.scores_one2many) == heads.one2many.candidates
    assert dict(PREDICT_MODES) == {"nms=None (the default)": "one2many", "nms=True": "one2many", "nms=False": "one2one"}


def test_the_duplicates_are_the_one_to_one_boxes_nms_would_remove(trained):
    """On the 10 shipped photos at 320 the one-to-one branch gives 25 boxes for 20 shapes: 5 duplicates, each of the
    class of a better box it overlaps past NMS's IoU (0.7), and NMS of the one-to-many branch leaves none."""
    duplicates = pairs = 0
    for key in sorted(
        k for k in RUNS if k.endswith("@320") and not k.startswith("tiny") and (DATA / "photos" / k.split("@")[0]).exists()
    ):
        heads = heads_on(trained, key)
        duplicates += len(heads.duplicates)
        pairs += len(heads.pairs)
        for kept, duplicate, overlap in heads.duplicates:
            assert kept.class_id == duplicate.class_id and overlap > PREDICT.iou and kept.score >= duplicate.score
    assert duplicates == 5 and pairs == 20


def test_each_branchs_reliability_counts_the_shapes_its_boxes_find(trained):
    """Both branches' boxes against the drawn shapes (the label files shipped beside the photos): the objects found are
    those the independent matching above counts, and every box over the threshold sits in one score bin."""
    for branch in ("one2many", "one2one"):
        found = boxes = 0
        for name, shapes in TRUTH.items():
            if name.startswith("tiny"):
                continue
            image = load_image(DATA / "photos" / name)
            forward = extract_features(trained, image, 320, (), batch_norm="running", rect=True)
            heads = compare_heads(forward.predictions, forward.box, CLASSES, PREDICT)
            labels = read_labels((DATA / "photos" / name).with_suffix(".txt"), image.size, (image.height, image.width), 4)
            reliable = heads.reliability(labels, PREDICT.conf)[branch]
            result = heads.one2many if branch == "one2many" else heads.one2one
            hits, unmatched = 0, list(shapes)
            for d in result.detections:
                best = max(unmatched, key=lambda t: iou(d.box, t[1:]) if t[0] == d.class_id else -1, default=None)
                if best is not None and best[0] == d.class_id and iou(d.box, best[1:]) >= 0.5:
                    hits += 1
                    unmatched.remove(best)
            assert reliable.found == hits and reliable.truths == len(shapes), (branch, name)
            assert sum(n for _, _, n, _, _ in reliable.bins()) == len(result.detections)
            found, boxes = found + reliable.found, boxes + len(reliable.hits)
        assert found == 20 and boxes == (20 if branch == "one2many" else 25)  # the one-to-one branch's 5 duplicates miss


def test_reliability_bins_the_scores_from_the_threshold_to_one():
    from yolo_explorer.detection.detections import Detection
    from yolo_explorer.detection.two_heads import reliability

    def box(score, x, cls=0):
        return Detection((x, 0.0, x + 10.0, 10.0), score, cls, "a")

    truths = [Truth((0.0, 0.0, 10.0, 10.0), 0), Truth((20.0, 0.0, 30.0, 10.0), 0)]
    r = reliability([box(0.3, 50), box(0.95, 0), box(1.0, 1), box(0.5, 20)], truths, conf=0.25)
    assert r.scores == (1.0, 0.95, 0.5, 0.3) and r.hits == (True, False, True, False)  # 0.95 overlaps the taken one
    assert (r.found, r.precision, r.recall) == (2, 0.5, 1.0)
    bins = r.bins(3)
    assert [n for _, _, n, _, _ in bins] == [1, 1, 2] and bins[2][4] == 0.5 and bins[2][1] == 1.0


@pytest.mark.slow  # the CLI in a subprocess
def test_detect_both_prints_the_two_heads_side_by_side():
    key = next(k for k in sorted(RUNS) if k.endswith("@320") and (DATA / "photos" / k.split("@")[0]).exists())
    args = ["detect", "--weights", str(DATA / "synthetic_yolo26n.pt"), "--image", str(photo_path(key)), "--imgsz", "320"]
    done = cli(*args, "--branch", "both", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [d["score"] for d in data["one2many"]["detections"]] == pytest.approx(RUNS[key]["one2many"][:, 4].tolist(), abs=1e-4)
    assert [d["score"] for d in data["one2one"]["detections"]] == pytest.approx(RUNS[key]["one2one"][:, 4].tolist(), abs=1e-4)
    assert len(data["pairs"]) + len(data["only_one2one"]) == len(data["one2one"]["detections"])
    assert data["predict"]["nms=False"] == "one2one" and data["one2one"]["branch"] == "one2one"
    done = cli(*args, "--branch", "both")
    assert done.returncode == 0 and "objects found by each" in done.stdout and "nms=False reads the one-to-one" in done.stdout
    done = cli(*args, "--branch", "both", "--steps")
    assert done.returncode == 2 and "--branch both compares" in done.stderr
    labels = photo_path(key).with_suffix(".txt")
    done = cli(*args, "--branch", "both", "--truth", str(labels), "--json")
    assert done.returncode == 0, done.stderr
    reliable = json.loads(done.stdout)["reliability"]
    assert reliable["one2many"]["truths"] == len(TRUTH[photo_path(key).name]) == reliable["one2many"]["found"]
    assert sum(b["boxes"] for b in reliable["one2one"]["bins"]) == reliable["one2one"]["boxes"]
    done = cli(*args, "--branch", "both", "--truth", str(labels))
    assert done.returncode == 0 and "find an object" in done.stdout
    done = cli(*args, "--truth", str(labels))
    assert done.returncode == 2 and "--truth goes with --branch both" in done.stderr
    done = cli("detect", "--arch", "yolo11n", "--image", str(photo_path(key)), "--branch", "both")
    assert done.returncode == 2 and "has one branch" in done.stderr


@pytest.mark.slow  # the CLI in a subprocess
def test_assign_gives_each_box_one_cell_of_the_one_to_one_branch(trained):
    """`assign --branch one2one`: the one-to-one branch's own predictions, top 7 then 1: one cell per box, the best by
    metric among that branch's candidates; the one-to-many branch's assignment gives each box up to 10."""
    name = "alpha_400x300.png"
    truths = [Truth(tuple(box), int(c)) for c, *box in TRUTH[name]]
    forward = extract_features(trained, load_image(DATA / "photos" / name), 320, (), batch_norm="running", rect=False)
    one = assign(forward.predictions, forward.box, truths, CLASSES, branch="one2one")
    many = assign(forward.predictions, forward.box, truths, CLASSES)
    assert (one.topk, one.topk2, many.topk, many.topk2) == (7, 1, 10, None)
    assert all(len(t.positives) == 1 and t.positives[0] is t.candidates[0] for t in one.truths if not t.starved)
    assert all(1 < len(t.positives) <= 10 for t in many.truths)
    done = cli(
        "assign", "--weights", str(DATA / "synthetic_yolo26n.pt"), "--image", str(DATA / "photos" / name), "--imgsz", "320",
        *(arg for c, *box in TRUTH[name] for arg in ("--box", ",".join(f"{v:.3f}" for v in box) + f":{c}")),
        "--branch", "one2one", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["branch"] == "one2one" and data["topk2"] == 1 and data["foreground"] == one.foreground
