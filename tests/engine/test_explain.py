"""Why this box: the gradients behind the maps equal finite differences (float64, a small YOLO11n detector), a model
whose score depends on one region only gets maps that lie there, and a trained detector's box is explained on its
own level, mostly near its own cell."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import TRAINED
from torch import nn

from yolo_explorer import build_detector, letterbox
from yolo_explorer.deployment.accuracy import calibrated_copy
from yolo_explorer.detection.detections import detect
from yolo_explorer.detection.explain import explain
from yolo_explorer.model.blocks import fold_batchnorm
from yolo_explorer.model.detector import DetectorOutput
from yolo_explorer.synthetic import scene


@pytest.fixture(scope="module")
def small():
    """YOLO11n with 3 classes in float64 on a 64x64 photo: 8x8 + 4x4 + 2x2 anchors."""
    torch.manual_seed(0)
    model = build_detector("yolo11n", 3).double().eval()
    rng = np.random.default_rng(1)
    box = letterbox(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), 64)
    return model, box


@pytest.fixture(scope="module")
def calibrated(small):
    """The same, with BatchNorm statistics that are the photo's own: activations and gradients at the neck keep a
    trained model's scale (random running statistics shrink them at every layer, to a CAM of 1e-11)."""
    model, box = small
    return calibrated_copy(model, box.tensor().double()).eval(), box


def _logit(model, x, class_id, anchor):
    with torch.no_grad():
        return float(model(x).scores[0, class_id, anchor])


def test_the_input_gradient_is_the_finite_difference(small):
    model, box = small
    anchor, class_id = 64 + 5, 1  # P4's cell (1, 1)
    why = explain(model, box, anchor, class_id)
    assert why.level == "P4" and why.cell == (1, 1) and why.saliency.shape == (64, 64)
    x = box.tensor().double()
    eps = 1e-6
    for r, c in ((20, 22), (30, 17), (5, 60)):
        slope = 0.0
        for channel in range(3):
            up, down = x.clone(), x.clone()
            up[0, channel, r, c] += eps
            down[0, channel, r, c] -= eps
            slope += abs(_logit(model, up, class_id, anchor) - _logit(model, down, class_id, anchor)) / (2 * eps)
        assert float(why.saliency[r, c]) == pytest.approx(slope, rel=1e-5, abs=1e-9)
    assert why.logit == pytest.approx(_logit(model, x, class_id, anchor), abs=1e-12)


def test_the_cam_is_gradient_times_activation_by_finite_differences_on_the_neck(calibrated):
    """At a few cells of P4: relu(sum over channels of d logit / d neck x neck). That sum is the derivative of the logit
    along the cell's own activation vector, taken here by nudging the neck's output there (a forward hook on layer
    19): one central difference per cell, not one per channel."""
    model, box = calibrated
    anchor, class_id = 64 + 5, 2
    why = explain(model, box, anchor, class_id)
    x = box.tensor().double()
    layer = model.get_submodule(model.sources[model.head_name][1])  # P4's layer, 19
    nudge = {}

    def hook(module, args, output):
        if nudge:
            output = output.clone()
            output[0, :, nudge["r"], nudge["k"]] += nudge["t"] * nudge["along"]
        nudge["seen"] = output.detach()
        return output

    handle = layer.register_forward_hook(hook)
    try:
        _logit(model, x, class_id, anchor)
        activation = nudge.pop("seen")
        eps, checked = 1e-6, []
        for r, k in ((1, 1), (0, 2), (3, 3)):
            nudge.update(r=r, k=k, t=eps, along=activation[0, :, r, k])
            up = _logit(model, x, class_id, anchor)
            nudge["t"] = -eps
            down = _logit(model, x, class_id, anchor)
            assert float(why.cam[r, k]) == pytest.approx(max((up - down) / (2 * eps), 0.0), rel=1e-5, abs=1e-9)
            checked.append(float(why.cam[r, k]))
        assert max(checked) > 1e-3  # a cell that raises the score: the comparison is not of two zeros
    finally:
        handle.remove()


class OneRegion(nn.Module):
    """A stand-in detector whose every class score is a weighted sum of P3's cells in rows 2-3, columns 4-6 only."""

    def __init__(self):
        super().__init__()
        self.lift = nn.Conv2d(3, 4, 1)
        self.weight = nn.Parameter(torch.tensor([1.0, -0.5, 2.0, 0.7]))
        self.mask = torch.zeros(8, 8)
        self.mask[2:4, 4:7] = 1

    def forward(self, x):
        p3 = self.lift(nn.functional.avg_pool2d(x, 8)).sigmoid()  # (1, 4, 8, 8) from 64x64
        p4, p5 = nn.functional.avg_pool2d(p3, 2), nn.functional.avg_pool2d(p3, 4)
        score = (p3 * self.mask * self.weight[:, None, None]).sum((1, 2, 3))
        anchors = 64 + 16 + 4
        scores = score[:, None, None].expand(-1, 2, anchors)
        boxes = torch.zeros(x.shape[0], 64, anchors)
        return DetectorOutput((p3, p4, p5), boxes, scores, torch.cat((boxes[:, :4], scores.sigmoid()), 1))


def test_a_score_that_depends_on_one_region_gets_maps_that_lie_there():
    torch.manual_seed(3)
    model = OneRegion()
    box = letterbox(np.random.default_rng(4).integers(0, 255, (64, 64, 3), dtype=np.uint8), 64)
    why = explain(model, box, anchor=3 * 8 + 5, class_id=1)  # P3's cell (3, 5), inside the region
    inside = model.mask.bool()
    assert why.level == "P3" and (why.cam[~inside] == 0).all() and (why.cam[inside] > 0).any()
    pixels = inside.repeat_interleave(8, 0).repeat_interleave(8, 1)  # each cell is 8x8 input pixels
    assert (why.saliency[~pixels] == 0).all() and (why.saliency[pixels] > 0).all()
    assert why.share == pytest.approx(1.0)  # all of it within a cell of (3, 5)


def test_a_trained_box_is_explained_on_its_own_level_near_its_own_cell(trained_detector):
    model = trained_detector
    fold_batchnorm(model)
    image, _ = scene(41, 800, 600)
    result = detect(model, image, 320, rect=False)
    kept = result.detections[0]
    box = result.box
    why = explain(model, box, kept.anchor, kept.class_id)
    assert why.level == kept.cell.level and why.cell == (kept.cell.row, kept.cell.col)
    assert why.score == pytest.approx(kept.score, abs=1e-4)
    row, col = why.cell
    peak = divmod(int(why.cam.argmax()), why.cam.shape[1])
    assert abs(peak[0] - row) <= 3 and abs(peak[1] - col) <= 3  # the map peaks near the cell that predicted it
    # the input gradient is strongest inside the box (padded to a cell on each side) than outside it
    x1, y1, x2, y2 = (round(v) for v in (*box.to_letterbox(*kept.box[:2]), *box.to_letterbox(*kept.box[2:])))
    s = kept.cell.stride
    near = torch.zeros_like(why.saliency, dtype=torch.bool)
    near[max(y1 - s, 0) : y2 + s, max(x1 - s, 0) : x2 + s] = True
    assert float(why.saliency[near].mean()) > 3 * float(why.saliency[~near].mean())
    with pytest.raises(ValueError, match="no prediction"):
        explain(model, box, 10**6, 0)


def test_a_box_s_map_at_every_layer_has_the_share_of_its_own_level_and_none_where_the_score_does_not_look(
    trained_detector,
):
    """The Model graph paints each layer by `layer_shares`: at the layer that is the predicting level the share is the
    explanation's own; a neck layer that feeds only another level (and so not this cell's score) has none; the photo's
    input layer (its grid the stride-2 first conv's) has one in [0, 1]."""
    model = trained_detector
    image, _ = scene(41, 800, 600)
    result = detect(model, image, 320, rect=False)
    kept = result.detections[0]
    layers = [name for name, _ in model.named_children() if name.isdigit()]
    why = explain(model, result.box, kept.anchor, kept.class_id, layers=layers)
    level = next(info.module for info in model.feature_info if info.name == why.level)
    assert why.layer_shares[level] == pytest.approx(why.share, abs=1e-6)
    assert 0 < why.layer_shares["0"] <= 1
    others = [info.module for info in model.feature_info if info.module != level and int(info.module) > int(level)]
    assert others and all(why.layer_shares[name] is None for name in others)  # computed after the box's level
    assert why.layer_shares[layers[-1]] is None  # the head's output is not one map
    with pytest.raises(AttributeError):
        explain(model, result.box, kept.anchor, kept.class_id, layers=["no_such_layer"])


def test_the_share_near_a_cell_laid_onto_a_finer_or_coarser_grid():
    """The predicting cell's 3x3 neighbourhood in input pixels, on a layer's grid: twice as fine (cell (2, 3) of 16 px:
    pixels 16-64 down, 32-80 across, rows 2-7 and columns 4-9 of 8 px), four times as coarse (cell (5, 5) of 8 px:
    pixels 32-56, row and column 1 of 32 px), and at the grid's corner (clamped to rows and columns 0-1)."""
    from yolo_explorer.detection.explain import _share_at

    fine = torch.zeros(20, 20)
    fine[2, 4] = fine[7, 9] = 1  # the neighbourhood's corners
    fine[8, 10] = fine[1, 3] = 1  # just outside it
    assert _share_at(fine, 2, 3, stride=16, layer_stride=8) == pytest.approx(0.5)
    coarse = torch.zeros(5, 5)
    coarse[1, 1], coarse[2, 2] = 3, 1
    assert _share_at(coarse, 5, 5, stride=8, layer_stride=32) == pytest.approx(0.75)
    corner = torch.zeros(6, 6)
    corner[1, 1], corner[2, 2] = 1, 1
    assert _share_at(corner, 0, 0, stride=16, layer_stride=16) == pytest.approx(0.5)
    assert _share_at(torch.zeros(4, 4), 0, 0, stride=16, layer_stride=16) is None  # no map: no share


@pytest.mark.slow  # CLI subprocesses
def test_detect_explain_says_why_each_box_was_found(tmp_path, trained_detector):
    """`detect --explain 2 --json`: each box's level, cell and map share as the engine finds them; --explain-out writes
    each box's two pictures; --explain-out alone is refused."""
    import json

    from helpers import cli
    from PIL import Image

    image, _ = scene(41, 800, 600)
    photo = tmp_path / "shapes.png"
    image.save(photo)
    args = ["detect", "--weights", str(TRAINED), "--image", str(photo), "--imgsz", "320", "--explain", "2"]
    run = cli(*args, "--json", "--explain-out", str(tmp_path / "why"))
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    model = trained_detector
    fold_batchnorm(model)
    result = detect(model, image, 320)
    assert len(out["explanations"]) == 2
    for got, d in zip(out["explanations"], result.detections, strict=False):
        why = explain(model, result.box, d.anchor, d.class_id)
        assert (got["level"], got["cell"]) == (d.cell.level, [d.cell.row, d.cell.col])
        assert got["share"] == pytest.approx(why.share, abs=1e-6) and got["logit"] == pytest.approx(why.logit, abs=1e-5)
        x1, y1, x2, y2 = d.box
        gx, gy = got["gradient_peak"]
        assert x1 - 16 <= gx <= x2 + 16 and y1 - 16 <= gy <= y2 + 16  # the pixels it reacts to most are on its box
    for i in (1, 2):
        for name in ("cam", "gradient"):
            assert Image.open(tmp_path / "why" / f"box{i}_{name}.png").size == (800, 600)
    text = cli(*args)
    assert text.returncode == 0 and "why box 2 (" in text.stdout
    refused = cli(*args[:-2], "--explain-out", str(tmp_path / "x"))
    assert refused.returncode == 2 and "--explain K" in refused.stderr
