"""The Label assignment page: it starts from the detector's own boxes, and every count it shows is the engine's
assignment of those boxes on the page's own forward (rebuilt here from the checkpoint, as Ultralytics' training
criterion would see it); bad rows are left out with a reason, and random weights say what their scores are."""

from __future__ import annotations

import pytest
import torch
from helpers import TRAINED, detector_app, no_problems, photo_upload, upload

from yolo_explorer import extract_features, load_image
from yolo_explorer.detection.assignment import Truth, assign
from yolo_explorer.detection.detections import class_names, detect
from yolo_explorer.model.blocks import fold_batchnorm
from yolo_explorer.present.formatting import escape_markdown
from yolo_explorer.present.insights import assignment_insight
from yolo_explorer.synthetic import scene

PAGE = "label_assignment.py"


def _rows_key(at) -> str:
    settings = at.session_state["settings"]
    return f"as_rows_{settings.photo.digest}_{len(settings.class_names)}"


def _tables(at):
    """The page's two tables: a line per box, and the chosen box's candidates."""
    frames = [d.value for d in at.dataframe]
    return next(f for f in frames if "learn P3" in f.columns), next(f for f in frames if "metric" in f.columns)


def test_the_backbone_only_says_where_the_head_is(app):
    at = app(PAGE)
    no_problems(at)
    assert any("Whole detector" in i.value for i in at.info)


def test_random_weights_say_their_scores_are_a_random_networks(app):
    at = detector_app(app, PAGE)
    no_problems(at)
    assert any("random network's" in w.value for w in at.warning)
    assert at.subheader[0].value.endswith("of 8,400 cells learn a box")
    (row,) = at.session_state[_rows_key(at)]  # one box in the middle of the photo
    assert row["class"] == "person"


@pytest.mark.slow  # a trained detector on the page and in the engine
def test_the_detectors_own_boxes_are_assigned_as_the_engine_assigns_them(app, trained_detector, trained_checkpoint):
    image, _ = scene(41, 800, 600)
    at = upload(detector_app(app, PAGE), "best.pt", TRAINED.read_bytes())
    photo_upload(at, image)
    no_problems(at)
    assert not any("random network's" in w.value for w in at.warning)

    model, checkpoint = trained_detector, trained_checkpoint
    fold_batchnorm(model)  # running statistics: the page's forward is the folded one, as Ultralytics' predict
    names = class_names(4, checkpoint.names)
    photo = load_image(at.session_state["settings"].photo.data)
    found = detect(model, photo, 640).detections[:4]
    rows = at.session_state[_rows_key(at)]
    assert [r["class"] for r in rows] == [d.name for d in found]
    assert [[r[c] for c in ("x1", "y1", "x2", "y2")] for r in rows] == [[round(v) for v in d.box] for d in found]

    forward = extract_features(model, photo, 640, (), batch_norm="running", rect=False)  # square, as training
    truths = [Truth(tuple(float(r[c]) for c in ("x1", "y1", "x2", "y2")), names.index(r["class"])) for r in rows]
    expected = assign(forward.predictions, forward.box, truths, names)
    assert at.subheader[0].value == f"{expected.foreground} of 8,400 cells learn a box"
    table, parts = _tables(at)
    for level in ("P3", "P4", "P5"):
        assert list(table[f"learn {level}"]) == [t.count("positives")[level] for t in expected.truths]
        assert list(table[f"inside {level}"]) == [t.count()[level] for t in expected.truths]
    captions = [c.value for c in at.caption]
    for truth in expected.truths:
        assert escape_markdown(assignment_insight(truth, expected.topk)) in captions
    # parts: box 1's candidates, best metric first
    first = expected.truths[0].candidates[:15]
    assert list(parts["rank"]) == [c.rank for c in first]
    assert list(parts["metric"]) == pytest.approx([c.metric for c in first])
    assert list(parts["learns it"]) == [c.positive for c in first]
    assert torch.allclose(torch.tensor(list(parts["score^0.5"])), torch.tensor([c.score**0.5 for c in first]))


def test_bad_rows_are_left_out_with_a_reason_and_the_rest_goes_on(app):
    at = detector_app(app, PAGE)
    key = _rows_key(at)
    width, height = load_image(at.session_state["settings"].photo.data).size
    at.session_state[key] = [
        {"class": "person", "x1": 10, "y1": 10, "x2": 200, "y2": 220},
        {"class": "dog", "x1": 300, "y1": 50, "x2": 100, "y2": 90},  # right before left
        {"class": "cat", "x1": 0, "y1": 0, "x2": width + 50, "y2": 40},  # off the photo
        {"class": None, "x1": 5, "y1": 5, "x2": 50, "y2": 50},
    ]
    at.session_state["as_version"] = 7  # a new table, as after a drag
    at.run()
    no_problems(at)
    (warning,) = [w.value for w in at.warning if w.value.startswith("Left out")]
    assert escape_markdown("row 2: (300, 50, 100, 90) must have left < right") in warning
    assert escape_markdown(f"row 3: (0, 0, {width + 50}, 40)") in warning and f"inside the {width}×{height} photo" in warning
    assert "row 4 is not filled in" in warning
    assert len(_tables(at)[0]) == 1  # box 1 alone is assigned

    at.session_state[key] = [{"class": "dog", "x1": 300, "y1": 50, "x2": 100, "y2": 90}]
    at.session_state["as_version"] = 8
    at.run()
    no_problems(at)
    assert any("Add a box" in i.value for i in at.info)


def test_start_again_gives_back_the_photos_own_boxes(app):
    at = detector_app(app, PAGE)
    key = _rows_key(at)
    first = at.session_state[key]
    at.session_state[key] = [{"class": "dog", "x1": 1, "y1": 2, "x2": 30, "y2": 40}]
    truths = key.replace("as_rows_", "truths_")  # what the other pages read as the photo's objects
    assert at.session_state[truths] is None  # the detector's own boxes judge nothing
    at.session_state["as_version"] = 3
    at.run()
    assert at.session_state[key][0]["class"] == "dog"
    (kept,) = at.session_state[truths]  # edited: kept for Detections' reliability
    assert kept.box == (1.0, 2.0, 30.0, 40.0) and kept.class_id == at.session_state["settings"].class_names.index("dog")
    next(b for b in at.button if b.label == "Start again").click().run()
    no_problems(at)
    assert at.session_state[key] == first and at.session_state[truths] is None
