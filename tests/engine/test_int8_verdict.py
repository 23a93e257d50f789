"""int8's verdict as a deployer judges it: the photos split so that none is both calibrated on and judged on, the
built-in samples only where they are the model's world, boxes matched at IoU 0.9 with the same class, scores that
moved or collapsed onto one value, and the calibration's own check. The trained detector's cases are in
test_int8_sensitivity.py (they export and quantize)."""

from __future__ import annotations

import numpy as np
import pytest

from yolo_explorer.deployment.int8_verdict import (
    MAX_JUDGED,
    CalibrationCheck,
    LevelReach,
    box_changes,
    int8_photos,
    judge,
    level_of,
    level_tops,
    split_photos,
    uses_samples,
)
from yolo_explorer.detection.detections import COCO_CLASSES, Detection
from yolo_explorer.present.insights import calibration_insight, verdict_insight


def _photos(n: int) -> list[tuple[str, np.ndarray]]:
    return [(f"p{i}", np.full((1, 3, 8, 8), i, dtype=np.float32)) for i in range(n)]


def test_every_other_photo_is_kept_aside_to_judge_and_none_is_both():
    split = split_photos(_photos(5))
    assert split.calibrate_labels == ("p0", "p2", "p4") and split.judged_labels == ("p1", "p3")
    assert not split.mirrored and [int(p[0, 0, 0, 0]) for p in split.judged] == [1, 3]
    many = split_photos(_photos(30))
    assert len(many.judged) == MAX_JUDGED == 8 and len(many.calibrate) == 22
    assert not set(many.calibrate_labels) & set(many.judged_labels)
    again = split_photos([*_photos(3), ("copy of p1", _photos(3)[1][1].copy())])  # the same pixels count once
    assert again.calibrate_labels == ("p0", "p2") and again.judged_labels == ("p1",)


def test_one_photo_calibrates_and_is_judged_mirrored_and_none_is_refused():
    (label, photo), *_ = _photos(1)
    photo[..., 0] = 7.0
    split = split_photos([(label, photo)])
    assert split.mirrored and split.judged_labels == ("p0, mirrored",)
    np.testing.assert_array_equal(split.judged[0], photo[..., ::-1])
    with pytest.raises(ValueError, match="no photo to calibrate int8 on"):
        split_photos([])
    with pytest.raises(ValueError, match="calibrates on 3 photos, and there are 2"):
        split_photos(_photos(4)).first(3)


def test_with_photos_named_to_judge_on_all_the_others_calibrate():
    photos = int8_photos(_photos(3), size=(8, 8), samples=False, judged=_photos(6)[4:])
    assert photos.calibrate_labels == ("p0", "p1", "p2") and photos.judged_labels == ("p4", "p5")
    with pytest.raises(ValueError, match="no photo to judge int8 on"):
        int8_photos(_photos(3), size=(8, 8), samples=False, judged=[])
    with pytest.raises(ValueError, match="no photo to calibrate int8 on"):
        int8_photos([], size=(8, 8), samples=False, judged=_photos(1))


def test_the_samples_join_after_the_models_own_photos():
    photos = int8_photos(_photos(1), size=(32, 32), samples=True)
    assert photos.samples
    labels = photos.calibrate_labels + photos.judged_labels
    assert sorted(labels) == ["p0", "sample: astronaut", "sample: cat", "sample: coffee", "sample: rocket"]
    assert photos.calibrate_labels[0] == "p0"


def test_the_samples_are_the_world_of_cocos_classes_only():
    assert uses_samples(trained=False, detector=True)  # random weights: nothing to miss
    assert uses_samples(trained=True, detector=False)  # a backbone has no classes
    assert uses_samples(trained=True, detector=True, names=COCO_CLASSES)
    assert uses_samples(trained=True, detector=True, names=None, classes=80)  # COCO's head, names not saved
    assert not uses_samples(trained=True, detector=True, names=("red disc", "blue disc"), classes=2)
    assert not uses_samples(trained=True, detector=True, names=None, classes=4)


def _box(x: float, score: float, cls: int = 0, width: float = 100.0) -> Detection:
    return Detection((x, 0.0, x + width, 100.0), score, cls, str(cls))


def test_boxes_are_matched_as_a_deployer_matches_them():
    reference = [_box(0, 0.9), _box(200, 0.8), _box(400, 0.7, cls=1)]
    other = [_box(5, 0.88), _box(215, 0.8), _box(400, 0.7, cls=2)]
    changes = box_changes(reference, other)  # IoU 0.9 by default
    assert changes.iou == 0.9 and [round(iou, 4) for *_, iou in changes.kept] == [round(95 / 105, 4)]
    assert [d.box[0] for d in changes.lost] == [200, 400]  # 85/115 overlap; another class
    assert len(box_changes(reference, other, iou=0.5).kept) == 2


def test_a_verdict_passes_only_when_every_box_stays_with_its_score():
    reference = [[_box(0, 0.9), _box(200, 0.6)], [_box(0, 0.8)]]
    close = [[_box(1, 0.89), _box(200, 0.62)], [_box(0, 0.79)]]
    verdict = judge(reference, close, conf=0.25)
    assert verdict.status == "passes" and verdict.recall == 1.0 and verdict.kept == verdict.reference == 3
    assert verdict.worst_change == pytest.approx(0.02) and verdict.median_change == pytest.approx(0.01)
    sentence = verdict_insight(verdict, "int8 with 23 in float")
    assert sentence.startswith("int8 with 23 in float passes on 2 photos it was not calibrated on: keeps all 3 of")
    assert "finds none new, scores within 0.020 of fp32's (median 0.010)" in sentence

    moved = judge(reference, [[_box(1, 0.80), _box(200, 0.6)], [_box(0, 0.8)]], conf=0.25)
    assert moved.status == "fails" and moved.worst_change == pytest.approx(0.1)

    at_threshold = judge([[_box(0, 0.9), _box(300, 0.27)]], [[_box(0, 0.9), _box(600, 0.26, cls=1)]], conf=0.25)
    assert at_threshold.status == "borderline" and at_threshold.lost == (0.27,) and at_threshold.new == (0.26,)
    assert "only at the score threshold (0.25 ± 0.05)" in verdict_insight(at_threshold)
    lost = judge([[_box(0, 0.9), _box(300, 0.8)]], [[_box(0, 0.9)]], conf=0.25)
    assert lost.status == "fails" and lost.recall == 0.5 and "loses 1 (fp32 scored 0.80)" in verdict_insight(lost)
    nothing = judge([[]], [[]], conf=0.25)
    assert nothing.status == "unjudged" and nothing.recall is None
    assert "cannot be judged" in verdict_insight(nothing)
    with pytest.raises(ValueError, match="1 photos of fp32's boxes and 2"):
        judge([[]], [[], []], conf=0.25)


def test_scores_that_collapse_onto_one_value_fail_whatever_else_holds():
    """Boxes fp32 scores 0.95 to 0.99 that int8 all scores 0.949 (its calibrated range stops there): each moved less
    than the tolerance, every box is kept, and still the scores no longer tell the boxes apart."""
    fp32 = [0.99, 0.975, 0.96, 0.95]
    reference = [[_box(300 * i, s) for i, s in enumerate(fp32)]]
    clipped = [[_box(300 * i, 0.949) for i in range(4)]]
    verdict = judge(reference, clipped, conf=0.25)
    assert verdict.kept == 4 and verdict.worst_change < 0.05
    assert verdict.status == "fails" and verdict.collapse is not None
    assert (verdict.collapse.boxes, verdict.collapse.low, verdict.collapse.high) == (4, 0.95, 0.99)
    sentence = verdict_insight(verdict)
    assert sentence.startswith("int8 fails")
    assert "4 of the 4 boxes it keeps score exactly 0.949, where fp32 gave them 0.950 to 0.990" in sentence
    # two boxes rounding to one int8 value (their fp32 logits a fraction of a step apart) are not a collapse
    near = judge([[_box(0, 0.950), _box(300, 0.952)]], [[_box(0, 0.951), _box(300, 0.951)]], conf=0.25)
    assert near.collapse is None and near.status == "passes"
    # nor two near 1 clipped onto a cap just under them (logits 0.7 apart, scores 0.009): their scores hardly move
    clipped_top = judge([[_box(0, 0.981), _box(300, 0.990)]], [[_box(0, 0.980), _box(300, 0.980)]], conf=0.25)
    assert clipped_top.collapse is None and clipped_top.status == "passes"
    # while fp32's 0.60 and 0.70 at one int8 score (0.4 logits apart: within two steps of a wide range) are not a
    # collapse either, 0.5 and 0.7 are (0.85 logits)
    assert judge([[_box(0, 0.6), _box(300, 0.7)]], [[_box(0, 0.65), _box(300, 0.65)]], conf=0.25).collapse is None
    assert judge([[_box(0, 0.5), _box(300, 0.7)]], [[_box(0, 0.6), _box(300, 0.6)]], conf=0.25).collapse is not None


def test_levels_of_anchors_and_their_top_scores():
    levels = [("P3", 4), ("P4", 2), ("P5", 1)]
    decoded = np.zeros((2, 6, 7), dtype=np.float32)
    decoded[0, 4, 1], decoded[1, 5, 5], decoded[0, 4, 6] = 0.7, 0.9, 0.2
    assert level_tops(decoded, levels) == pytest.approx({"P3": 0.7, "P4": 0.9, "P5": 0.2})
    assert [level_of(a, levels) for a in (0, 3, 4, 5, 6)] == ["P3", "P3", "P4", "P4", "P5"]
    with pytest.raises(ValueError, match="anchor 7 is past the 7 predictions"):
        level_of(7, levels)


def test_a_calibration_that_cannot_hold_the_scores_is_said_first_with_what_to_do():
    sound = CalibrationCheck(2, 2, False, 5, (LevelReach("P3", 0.985, 0.99, (0.99, 0.97)),), 0.25)
    assert sound.sound and calibration_insight(sound, "do this") is None
    capped = LevelReach("P3", 0.949, 0.99, (0.99, 0.98, 0.97, 0.93))
    assert capped.over == (0.99, 0.98, 0.97) and capped.clipped
    assert not LevelReach("P3", 0.949, 0.96, (0.96, 0.94, 0.93, 0.92, 0.91)).clipped  # one box, barely over
    assert LevelReach("P4", 0.001, 0.97, (0.97,) + (0.5,) * 9).clipped  # one box, far over
    check = CalibrationCheck(4, 2, False, 3, (capped, LevelReach("P4", 0.0002, 0.0001)), 0.25)
    sentence = calibration_insight(check, "calibrate on photos of its own scenes")
    assert sentence == (
        "Calibrated on these 4 photos, int8's ranges cap the class scores of P3 at 0.949 (3 of fp32's 4 "
        "boxes there score more, up to 0.990) on the 2 judged photos, so those boxes lose their scores: calibrate on "
        "photos of its own scenes."
    )
    blind = CalibrationCheck(4, 2, False, 0, (LevelReach("P3", 0.3, 0.2),), 0.25)
    assert calibration_insight(blind, "do this").startswith(
        "The 4 calibration photos give this detector no box above 0.25: they show nothing it was trained to find"
    )
    assert check.to_dict()["reach"][0] == {"level": "P3", "cap": 0.949, "top": 0.99, "boxes": 4, "over": 3, "clipped": True}


def test_the_float64_reference_is_the_same_a_chunk_at_a_time():
    """The judged photos' float64 forward runs four images at a time (memory does not grow with the photos): the same
    outputs as one forward of the whole batch, computed here by hand."""
    import torch

    from yolo_explorer import build_detector
    from yolo_explorer.deployment.onnx_runtime import reference_outputs

    torch.manual_seed(0)
    model = build_detector("yolo11n", 4).eval()
    x = np.random.default_rng(0).random((5, 3, 64, 64), dtype=np.float32)
    with torch.inference_mode():
        whole = model.double()(torch.from_numpy(x).double())
    chunked = reference_outputs(model.float(), x, chunk=2)
    expected = [*whole.neck, whole.boxes, whole.scores, whole.decoded]
    assert [tuple(t.shape) for t in chunked] == [tuple(t.shape) for t in expected]
    for ours, theirs in zip(chunked, expected, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
