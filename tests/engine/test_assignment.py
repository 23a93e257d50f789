"""Label assignment: the same cells, metrics and targets as Ultralytics' own TaskAlignedAssigner with the parameters
YOLO11's training criterion gives it (tests/data/make_assignment_reference.py wrote them with Ultralytics), on random
predictions and on the test suite's trained detector; and what the page's structure says about them."""

from __future__ import annotations

import copy
import io
import math

import numpy as np
import pytest
import torch
from helpers import TRAINED
from PIL import Image

from yolo_explorer import letterbox
from yolo_explorer.detection.assignment import (
    ALPHA,
    BETA,
    BRANCH_TOPK,
    TOPK,
    Truth,
    assign,
    ciou,
    predicted_boxes,
    progloss_weights,
    task_aligned_assign,
)
from yolo_explorer.detection.detections import class_names
from yolo_explorer.detection.object_size import box_iou
from yolo_explorer.present.insights import assignment_insight

REFERENCE = TRAINED.parent / "ultralytics_assignment.pt"


@pytest.fixture(scope="module")
def reference():
    return torch.load(REFERENCE, weights_only=False)


def _per_image(case: dict, i: int):
    """Image i of a reference batch: its predictions and its real ground truths (the batch pads with zeros)."""
    inputs = case["inputs"]
    real = inputs["mask_gt"][i, :, 0].bool()
    return (
        inputs["pd_scores"][i],
        inputs["pd_bboxes"][i],
        inputs["anc_points"],
        inputs["gt_labels"][i, real, 0].long(),
        inputs["gt_bboxes"][i, real],
        real,
    )


def _check_against(case: dict, i: int, min_side: float, inputs: dict | None = None, **assigner) -> None:
    """Our assignment of image i of a reference case (its inputs, or those of `inputs`) against Ultralytics'."""
    scores, boxes, points, labels, truths, real = _per_image(inputs or case, i)
    steps = task_aligned_assign(scores, boxes, points, labels, truths, min_side=min_side, **assigner)
    m = len(labels)
    if "mask_in_gts" in case:  # the intermediate steps (the random case keeps them)
        inside = case["mask_in_gts"][i, real]
        assert torch.equal(steps.inside, inside)
        sparse = case["mask_in_gts"].clone()
        values_at = torch.zeros(sparse.shape)
        values_at[sparse] = case["overlaps_in"]
        torch.testing.assert_close(steps.overlaps, values_at[i, real], rtol=0, atol=1e-6)
        values_at[sparse] = case["align_metric_in"]
        torch.testing.assert_close(steps.metric, values_at[i, real], rtol=0, atol=1e-7)
        assert torch.equal(steps.picked, case["mask_topk_in"][i, real].bool())
    foreground = case["fg_mask"][i]
    assert torch.equal(steps.foreground, foreground)
    assert torch.equal(steps.truth[foreground], case["target_gt_idx"][i][foreground].long())
    torch.testing.assert_close(steps.target, case["target_score"][i], rtol=1e-5, atol=1e-7)
    assert torch.equal(labels[steps.truth[foreground]], case["target_labels"][i][foreground].long())
    assert int(steps.positive.sum()) == int(foreground.sum()) and m == int(real.sum())


def test_the_parameters_are_those_of_yolo11s_training_criterion(reference):
    parameters = reference["assigner"]
    assert (parameters["topk"], parameters["topk2"], parameters["alpha"], parameters["beta"]) == (TOPK, TOPK, ALPHA, BETA)
    assert parameters["stride_val"] == parameters["stride"][1] == 16


@pytest.mark.parametrize("image", [0, 1])
def test_random_predictions_get_ultralytics_cells_metrics_and_targets(reference, image):
    _check_against(reference["random"], image, reference["assigner"]["stride_val"])


def test_the_random_case_has_what_it_is_meant_to_test(reference):
    """A box under one P4 cell (widened), a cell two boxes pick (a conflict), a batch that pads."""
    case = reference["random"]
    scores, boxes, points, labels, truths, _ = _per_image(case, 0)
    steps = task_aligned_assign(scores, boxes, points, labels, truths, min_side=16)
    sides = truths[:, 2:] - truths[:, :2]
    assert (sides < 16).any() and steps.inside[(sides < 16).any(1)].any()
    assert (steps.picked.sum(0) > 1).any()  # so the conflict rule ran and changed something
    assert not torch.equal(steps.picked, steps.positive)
    assert not case["inputs"]["mask_gt"].bool().all()


@pytest.mark.parametrize("photo", [0, 1])
def test_a_trained_models_predictions_get_ultralytics_assignment(reference, photo):
    _check_against(reference["trained"][photo], 0, reference["assigner"]["stride_val"])


@pytest.fixture(scope="module")
def trained(trained_once):
    model, checkpoint = copy.deepcopy(trained_once[0]), trained_once[1]
    return model.eval(), class_names(4, checkpoint.names)


@pytest.mark.parametrize("photo", [0, 1])
def test_from_our_own_forward_the_same_cells_as_ultralytics_training(reference, trained, photo):
    """Our detector's forward of the same pixels, decoded as the criterion decodes it, and `assign` on it: the cells
    Ultralytics' assigner picks, each for the same box."""
    model, names = trained
    case = reference["trained"][photo]
    pixels = np.asarray(Image.open(io.BytesIO(case["pixels_png"])))
    box = letterbox(pixels, 320)  # a 320x320 photo at 320: no resize, no padding
    assert (box.scale, box.left, box.top) == (1.0, 0, 0)
    with torch.inference_mode():
        output = model(box.tensor())
    scores, boxes, points, _ = predicted_boxes(output)
    torch.testing.assert_close(scores, case["inputs"]["pd_scores"][0], rtol=0, atol=2e-4)
    torch.testing.assert_close(boxes, case["inputs"]["pd_bboxes"][0], rtol=0, atol=2e-2)
    torch.testing.assert_close(points, case["inputs"]["anc_points"], rtol=0, atol=0)
    real = case["inputs"]["mask_gt"][0, :, 0].bool()
    truths = [
        Truth(tuple(b.tolist()), int(c))
        for b, c in zip(case["inputs"]["gt_bboxes"][0, real], case["inputs"]["gt_labels"][0, real, 0], strict=True)
    ]
    result = assign(output, box, truths, names)
    foreground = case["fg_mask"][0]
    ours = {c.anchor: t.index for t in result.truths for c in t.positives}
    assert ours == {a: int(case["target_gt_idx"][0, a]) for a in foreground.nonzero().flatten().tolist()}
    for t in result.truths:
        for c in t.positives:
            assert c.target == pytest.approx(float(case["target_score"][0, c.anchor]), rel=1e-3, abs=1e-5)
    assert result.foreground == int(foreground.sum())


def test_ciou_is_iou_for_boxes_with_one_centre_and_one_shape_and_penalises_the_rest():
    a = torch.tensor([[10.0, 10.0, 50.0, 30.0]])
    same_shape = torch.tensor([[20.0, 15.0, 40.0, 25.0]])  # same centre, same 2:1 aspect
    assert float(ciou(a, a)) == pytest.approx(1.0, abs=1e-6)
    assert float(ciou(a, same_shape)) == pytest.approx(box_iou(tuple(a[0].tolist()), tuple(same_shape[0].tolist())), abs=1e-6)
    moved = torch.tensor([[30.0, 10.0, 70.0, 30.0]])  # same shape, centre 20 px right
    iou = box_iou((10, 10, 50, 30), (30, 10, 70, 30))
    assert float(ciou(a, moved)) == pytest.approx(iou - 20**2 / (60**2 + 20**2), abs=1e-6)
    square = torch.tensor([[20.0, 10.0, 40.0, 30.0]])  # same centre, 1:1
    v = 4 / math.pi**2 * (math.atan(1) - math.atan(2)) ** 2
    iou = box_iou((10, 10, 50, 30), (20, 10, 40, 30))
    assert float(ciou(a, square)) == pytest.approx(iou - v * v / (1 - iou + v), abs=1e-5)


def _trained_assignment(trained, truths):
    model, names = trained
    from yolo_explorer.synthetic import scene

    image, _ = scene(11, 640, 480)
    box = letterbox(image, 320)
    with torch.inference_mode():
        output = model(box.tensor())
    return assign(output, box, truths, names), box


def test_every_candidate_lies_in_its_box_and_the_parts_make_the_metric(trained):
    result, box = _trained_assignment(trained, [Truth((100, 120, 260, 300), 0), Truth((200, 100, 420, 330), 2)])
    assert result.anchors == 40 * 40 + 20 * 20 + 10 * 10 and result.input_size == (320, 320)
    for truth in result.truths:
        x1, y1, x2, y2 = truth.box
        assert (x1, y1) == pytest.approx(box.to_letterbox(*truth.photo_box[:2]))
        metrics = [c.metric for c in truth.candidates]
        assert metrics == sorted(metrics, reverse=True) and [c.rank for c in truth.candidates] == list(range(1, len(metrics) + 1))
        for c in truth.candidates:
            assert x1 < c.point[0] < x2 and y1 < c.point[1] < y2
            assert c.metric == pytest.approx(c.score**ALPHA * c.iou**BETA, rel=1e-4, abs=1e-12)
            stride = c.cell.stride
            assert c.point == pytest.approx(((c.cell.col + 0.5) * stride, (c.cell.row + 0.5) * stride))
        assert sum(c.picked for c in truth.candidates) == min(TOPK, len(truth.candidates))
        assert sum(truth.count("candidates").values()) == len(truth.candidates)
        positives = truth.positives
        if positives:  # the best-fitting positive learns its own overlap, the others less
            assert max(c.target for c in positives) == pytest.approx(max(c.iou for c in positives), rel=1e-4)
            assert all(c.target <= max(c.iou for c in positives) + 1e-6 for c in positives)
    # two overlapping boxes: every picked cell not kept went to the other box
    taken = [c for t in result.truths for c in t.candidates if c.taken_by is not None]
    owners = {c.anchor: t.index for t in result.truths for c in t.positives}
    assert all(owners.get(c.anchor) == c.taken_by for c in taken)


def test_a_box_under_one_p4_cell_is_widened_and_still_gets_cells(trained):
    result, _ = _trained_assignment(trained, [Truth((300, 200, 306, 205), 1)])  # about 3x2.5 px in the input
    (truth,) = result.truths
    assert truth.widened and result.min_side == 16
    x1, y1, x2, y2 = truth.box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    assert truth.candidates  # without the widening no cell centre would lie in a 3x2.5 px box
    assert all(abs(c.point[0] - cx) < 8 and abs(c.point[1] - cy) < 8 for c in truth.candidates)  # in the 16x16 square
    assert len(truth.candidates) <= 4 + 1 + 1  # 2x2 P3 centres at most, one P4, one P5
    # nothing there predicts a box that overlaps it: every metric is 0, the top-k falls on cells outside, none learns it
    assert all(c.metric == 0 for c in truth.candidates) and truth.starved and not truth.positives


def test_bad_boxes_and_classes_are_refused_with_what_to_do(trained):
    with pytest.raises(ValueError, match="at least one"):
        _trained_assignment(trained, [])
    with pytest.raises(ValueError, match="box 1: .*left < right"):
        _trained_assignment(trained, [Truth((200, 100, 100, 200), 0)])
    with pytest.raises(ValueError, match="inside the 640×480 photo"):
        _trained_assignment(trained, [Truth((600, 100, 700, 200), 0)])
    with pytest.raises(ValueError, match="box 1: class 7 is not one of the head.s 4 classes"):
        _trained_assignment(trained, [Truth((100, 100, 200, 200), 7)])
    model, names = trained
    with pytest.raises(ValueError, match="top-k"):
        output = model(letterbox(np.zeros((64, 64, 3), np.uint8), 64).tensor())
        assign(output, letterbox(np.zeros((64, 64, 3), np.uint8), 64), [Truth((1, 1, 60, 60), 0)], names, topk=10_000)


@pytest.mark.slow  # CLI subprocesses
def test_the_assign_command_prints_the_engines_assignment(tmp_path, trained, trained_detector):
    """`assign --json` holds every candidate of each box as the engine assigns it; bad boxes exit 2 with a reason."""
    import json

    from helpers import cli

    from yolo_explorer.forward.features import extract_features
    from yolo_explorer.model.blocks import fold_batchnorm
    from yolo_explorer.synthetic import scene

    image, shapes = scene(41, 800, 600)
    photo = tmp_path / "shapes.png"
    image.save(photo)
    boxes = [f"{','.join(f'{v:.1f}' for v in s.box)}:{s.class_id}" for s in shapes]
    args = ["assign", "--weights", str(TRAINED), "--image", str(photo), "--imgsz", "320"]
    run = cli(*args, *(a for box in boxes for a in ("--box", box)), "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)

    model, names = trained
    folded = trained_detector
    fold_batchnorm(folded)
    forward = extract_features(folded, image, 320, (), batch_norm="running", rect=False)
    truths = [Truth(tuple(round(v, 1) for v in s.box), s.class_id) for s in shapes]
    expected = assign(forward.predictions, forward.box, truths, names)
    assert out["foreground"] == expected.foreground > 0 and out["topk"] == TOPK
    for got, truth in zip(out["boxes"], expected.truths, strict=True):
        assert got["name"] == truth.name
        assert [c["anchor"] for c in got["candidates"]] == [c.anchor for c in truth.candidates]
        assert [c["positive"] for c in got["candidates"]] == [c.positive for c in truth.candidates]
        assert [c["metric"] for c in got["candidates"]] == pytest.approx([c.metric for c in truth.candidates])
    text = cli(*args, "--box", boxes[0])
    assert text.returncode == 0, text.stderr
    assert assignment_insight(assign(forward.predictions, forward.box, truths[:1], names).truths[0], TOPK) in text.stdout
    for bad, says in (
        ("1,2,3", "give X1,Y1,X2,Y2"),
        ("5,5,900,20", "inside the 800×600 photo"),
        ("1,2,30,40:zebra", "no class 'zebra'"),
    ):
        refused = cli(*args, "--box", bad)
        assert refused.returncode == 2 and says in refused.stderr, refused.stderr


@pytest.fixture(scope="module")
def one_to_one():
    return torch.load(REFERENCE.parent / "ultralytics_assignment_e2e.pt", weights_only=False)


def test_yolo26s_one_to_one_assigner_is_top_7_then_1(one_to_one):
    """E2ELoss (Ultralytics 8.4.190) trains the one-to-one branch with top-k 7 then top-k2 1, alpha and beta as the
    one-to-many branch's (top-k 10): the parameters `BRANCH_TOPK` says."""
    parameters = one_to_one["assigner"]
    assert (parameters["topk"], parameters["topk2"]) == BRANCH_TOPK["one2one"] and BRANCH_TOPK["one2many"] == (TOPK, None)
    assert (parameters["alpha"], parameters["beta"], parameters["stride_val"]) == (ALPHA, BETA, 16)


@pytest.mark.parametrize("image", [0, 1])
def test_the_one_to_one_branch_gets_ultralytics_single_cell_per_box(reference, one_to_one, image):
    case = one_to_one["random"]
    _check_against(case, image, 16, inputs=reference["random"], topk=7, topk2=1)
    assert (case["fg_mask"][image].sum() <= reference["random"]["inputs"]["mask_gt"][image].sum()).item()  # one per box at most


@pytest.mark.parametrize("photo", [0, 1])
def test_a_trained_models_one_to_one_assignment_is_ultralytics(reference, one_to_one, photo):
    _check_against(one_to_one["trained"][photo], 0, 16, inputs=reference["trained"][photo], topk=7, topk2=1)


def test_progloss_weights_are_e2elosss_over_training(one_to_one):
    for epochs, weights in one_to_one["progloss"].items():
        ours = [progloss_weights(epoch, epochs) for epoch in range(epochs)]
        assert [w for pair in ours for w in pair] == pytest.approx([w for pair in weights for w in pair], abs=1e-12), epochs
    assert progloss_weights(0, 30) == pytest.approx((0.8, 0.2)) and progloss_weights(29, 30) == pytest.approx((0.1, 0.9))
    with pytest.raises(ValueError, match="epoch must be from 0 to 29"):
        progloss_weights(30, 30)
