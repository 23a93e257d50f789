"""How YOLO11 picks the cells that learn an object (label assignment): Ultralytics' task-aligned assigner, with the
parameters YOLO11's training criterion gives it, in plain torch, run on this model's own predictions for a photo, and
every part of its decision kept for showing.

    output, box = forward.predictions, forward.box                       # a detector's forward on a photo
    result = assign(output, box, [Truth((x1, y1, x2, y2), class_id)], names)   # boxes in the photo's pixels
    for truth in result.truths:
        truth.name, truth.widened, [(c.cell.level, c.score, c.iou, c.metric, c.picked, c.positive) for c in truth.candidates]

The steps, for each ground-truth box (Ultralytics' `TaskAlignedAssigner`, TOOD's task alignment):

1. Candidates: the cells of P3, P4 and P5 whose centre lies inside the box (a side shorter than one P4 cell is first
   widened to one about the box's centre, so a tiny object still has candidates).
2. Each candidate's alignment metric t = s^alpha * u^beta: s the score it predicts for the box's class, u the CIoU of
   the box it predicts with the ground truth (clamped at 0); alpha 0.5 and beta 6, so the box's fit weighs most.
3. The `topk` (10) candidates with the highest metric are picked.
4. A cell picked by several boxes is given to the one its predicted box overlaps most (the highest CIoU).
5. Each positive cell's target for the box's class is t * (the largest CIoU among the box's positives) / (the largest
   t among them): the cell that fits best learns a score equal to its overlap, the others less; every other cell
   learns 0 for every class.

`task_aligned_assign` is the tensor form (one image: the predictions, the anchor points and the ground truths) that
the tests check against Ultralytics' own assigner, on random predictions and on a trained model's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..forward.preprocess import Letterbox
from ..model.config import PYRAMID
from ..model.detector import DetectorOutput
from ..model.head import anchor_points
from .detections import Cell, anchor_cells, branch_output

__all__ = [
    "ALPHA",
    "BETA",
    "TOPK",
    "Assignment",
    "AssignmentTensors",
    "Candidate",
    "Truth",
    "TruthAssignment",
    "assign",
    "BRANCH_TOPK",
    "ciou",
    "predicted_boxes",
    "progloss_weights",
    "task_aligned_assign",
    "truth_problem",
]

# Ultralytics' v8DetectionLoss, which trains YOLO11, builds its assigner with these (tal_topk=10, alpha=0.5, beta=6.0;
# the smallest side a box is widened to is its second stride); tests/test_assignment.py reads them from the criterion
TOPK, ALPHA, BETA = 10, 0.5, 6.0
EPS = 1e-9
# YOLO26's E2ELoss trains each branch with its own assigner: (top-k, top-k2) per branch, alpha and beta as above
BRANCH_TOPK: dict[str, tuple[int, int | None]] = {"one2many": (TOPK, None), "one2one": (7, 1)}
# ProgLoss: the one-to-many loss's weight falls from 0.8 to 0.1 over training, the one-to-one's is 1 minus it
PROGLOSS_START, PROGLOSS_END = 0.8, 0.1


def progloss_weights(epoch: int, epochs: int) -> tuple[float, float]:
    """(one-to-many, one-to-one) weights of YOLO26's loss during `epoch` (0 to epochs - 1) of `epochs`, as Ultralytics'
    `E2ELoss` applies them: its weight is updated once at the end of each epoch, falling linearly from 0.8 in the first
    epoch to 0.1 in the last, so the one-to-one branch's rises from 0.2 to 0.9.

    Raises:
        ValueError: an epoch outside 0 to epochs - 1.
    """
    if not isinstance(epochs, int) or epochs < 1 or not isinstance(epoch, int) or not 0 <= epoch < epochs:
        raise ValueError(f"epoch must be from 0 to {epochs - 1} of {epochs} epochs, got {epoch}")
    one2many = max(1 - epoch / max(epochs - 1, 1), 0) * (PROGLOSS_START - PROGLOSS_END) + PROGLOSS_END
    return one2many, max(1.0 - one2many, 0.0)


def ciou(box1: torch.Tensor, box2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Complete IoU of matching rows of two (N, 4) tensors of (x1, y1, x2, y2) boxes: the IoU, less the squared
    distance of the centres over the squared diagonal of the box enclosing both, less a penalty for unlike aspect
    ratios (Zheng et al. 2020; the same arithmetic as Ultralytics' `bbox_iou(..., CIoU=True)`). Returns (N,)."""
    b1_x1, b1_y1, b1_x2, b1_y2 = box1.chunk(4, -1)
    b2_x1, b2_y1, b2_x2, b2_y2 = box2.chunk(4, -1)
    w1, h1 = b1_x2 - b1_x1, b1_y2 - b1_y1 + eps
    w2, h2 = b2_x2 - b2_x1, b2_y2 - b2_y1 + eps
    inter = (b1_x2.minimum(b2_x2) - b1_x1.maximum(b2_x1)).clamp_(0) * (b1_y2.minimum(b2_y2) - b1_y1.maximum(b2_y1)).clamp_(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = b1_x2.maximum(b2_x2) - b1_x1.minimum(b2_x1)
    ch = b1_y2.maximum(b2_y2) - b1_y1.minimum(b2_y1)
    c2 = cw.pow(2) + ch.pow(2) + eps
    rho2 = ((b2_x1 + b2_x2 - b1_x1 - b1_x2).pow(2) + (b2_y1 + b2_y2 - b1_y1 - b1_y2).pow(2)) / 4
    v = (4 / math.pi**2) * ((w2 / h2).atan() - (w1 / h1).atan()).pow(2)
    alpha = v / (1 - iou + v + eps)
    return (iou - (rho2 / c2 + v * alpha)).squeeze(-1)


class AssignmentTensors(NamedTuple):
    """Every step of one image's assignment, M ground truths by A anchors.

    Attributes:
        inside: (M, A) bool, the anchor's point lies inside the (widened) box: the candidates.
        overlaps: (M, A) the CIoU of the anchor's predicted box with the ground truth, clamped at 0 (0 off candidates).
        metric: (M, A) the alignment metric score^alpha * CIoU^beta (0 off candidates).
        picked: (M, A) bool, among the box's top-k metrics and a candidate.
        positive: (M, A) bool, what is left of `picked` after an anchor picked by several boxes goes to the one it
            overlaps most.
        foreground: (A,) bool, the anchor learns a box.
        truth: (A,) long, the ground truth it learns (0 where it learns none, as Ultralytics' `target_gt_idx`).
        target: (A,) float, its score target for that box's class (0 off the foreground).
    """

    inside: torch.Tensor
    overlaps: torch.Tensor
    metric: torch.Tensor
    picked: torch.Tensor
    positive: torch.Tensor
    foreground: torch.Tensor
    truth: torch.Tensor
    target: torch.Tensor


def _widened(boxes: torch.Tensor, min_side: float) -> torch.Tensor:
    """Boxes whose side is under `min_side` widened to it about their centre (xyxy -> xywh -> xyxy, as Ultralytics)."""
    centre, size = (boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]
    size = torch.where(size < min_side, torch.tensor(min_side, dtype=size.dtype), size)
    return torch.cat((centre - size / 2, centre + size / 2), dim=1)


def task_aligned_assign(
    scores: torch.Tensor,
    boxes: torch.Tensor,
    points: torch.Tensor,
    labels: torch.Tensor,
    truths: torch.Tensor,
    *,
    min_side: float,
    topk: int = TOPK,
    alpha: float = ALPHA,
    beta: float = BETA,
    topk2: int | None = None,
) -> AssignmentTensors:
    """The task-aligned assignment of one image.

    Args:
        scores: (A, nc) predicted class probabilities (sigmoid).
        boxes: (A, 4) predicted boxes, (x1, y1, x2, y2) in input pixels.
        points: (A, 2) each anchor's cell centre in input pixels.
        labels: (M,) the ground truths' classes.
        truths: (M, 4) ground-truth boxes, (x1, y1, x2, y2) in input pixels.
        min_side: a box side shorter than this is widened to it before candidates are chosen (Ultralytics' second
            stride, 16 for YOLO11).
        topk2: after conflicts are resolved, keep only each box's `topk2` best positives (YOLO26's one-to-one branch
            trains with top-k 7, then 1: one cell per box); None keeps them all (the one-to-many branch).

    Raises:
        ValueError: no ground truth, mismatched shapes, a class outside the scores, or `topk` above the anchor count.
    """
    anchors, classes = scores.shape
    if truths.dim() != 2 or truths.shape[1] != 4 or labels.shape != truths.shape[:1] or not len(truths):
        raise ValueError(f"expected M >= 1 boxes (M, 4) and M labels, got {tuple(truths.shape)} and {tuple(labels.shape)}")
    if boxes.shape != (anchors, 4) or points.shape != (anchors, 2):
        raise ValueError(f"expected (A, 4) boxes and (A, 2) points for {anchors} anchors")
    if int(labels.min()) < 0 or int(labels.max()) >= classes:
        raise ValueError(f"a class outside the head's {classes} classes: {labels.tolist()}")
    if not 1 <= topk <= anchors:
        raise ValueError(f"top-k must be from 1 to the {anchors} anchors, got {topk}")
    labels = labels.long()
    widened = _widened(truths, min_side)[:, None]  # (M, 1, 4)
    eps = EPS
    inside = points[:, 0] - widened[..., 0] > eps
    inside &= points[:, 1] - widened[..., 1] > eps
    inside &= widened[..., 2] - points[:, 0] > eps
    inside &= widened[..., 3] - points[:, 1] > eps  # (M, A)

    truth_index, anchor_index = inside.nonzero(as_tuple=True)
    values = ciou(truths[truth_index], boxes[anchor_index]).clamp_(0)
    overlaps = torch.zeros(inside.shape, dtype=boxes.dtype)
    metric = torch.zeros(inside.shape, dtype=scores.dtype)
    overlaps[truth_index, anchor_index] = values
    metric[truth_index, anchor_index] = scores[anchor_index, labels[truth_index]].pow(alpha) * values.pow(beta)

    best = torch.topk(metric, topk, dim=-1, largest=True).indices  # (M, topk)
    picked = torch.zeros(inside.shape, dtype=torch.bool).scatter_(1, best, True) & inside

    several = picked.sum(0) > 1  # (A,) anchors two or more boxes picked
    most = torch.zeros(inside.shape, dtype=torch.bool).scatter_(0, overlaps.max(0).indices[None], True)
    positive = torch.where(several[None], most, picked)
    if topk2 is not None and topk2 != topk:  # Ultralytics' second top-k, over the metric of what is left
        kept = torch.topk(metric * positive, topk2, dim=-1, largest=True).indices
        positive &= torch.zeros(inside.shape, dtype=torch.bool).scatter_(1, kept, True)

    foreground, truth = positive.to(torch.int8).max(0)
    aligned = metric * positive
    best_metric = aligned.amax(dim=1, keepdim=True)
    best_overlap = (overlaps * positive).amax(dim=1, keepdim=True)
    target = (aligned * best_overlap / (best_metric + eps)).amax(0)
    return AssignmentTensors(inside, overlaps, metric, picked, positive, foreground.bool(), truth, target)


def predicted_boxes(
    output: DetectorOutput, input_size: tuple[int, int] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """What the training criterion hands the assigner for the first image, from the head's raw outputs (as
    Ultralytics' `v8DetectionLoss`): the class probabilities (A, nc), the boxes (A, 4) decoded from the DFL's
    distributions in cells, then scaled by each level's stride to input pixels, the anchor points (A, 2) in pixels,
    and each anchor's stride (A,)."""
    grids = [tuple(level.shape[2:]) for level in output.neck]
    input_h = input_size[0] if input_size is not None else grids[0][0] * 8  # else P3's stride, YOLO11's 8
    strides = [input_h // h for h, _ in grids]
    logits = output.boxes[0].detach().float().T  # (A, 4 x bins)
    points, anchor_strides = anchor_points(grids, strides, logits)
    points, anchor_strides = points.T, anchor_strides.T  # (A, 2), (A, 1): in cells, as make_anchors gives them
    reg_max = logits.shape[1] // 4  # 16 bins per side, or 1: YOLO26 predicts the distance itself (no DFL)
    if reg_max > 1:
        bins = torch.arange(reg_max, dtype=logits.dtype)
        distances = logits.view(-1, 4, reg_max).softmax(2).matmul(bins)  # (A, 4): left, top, right, bottom, in cells
    else:
        distances = logits
    left_top, right_bottom = distances.chunk(2, -1)
    boxes = torch.cat((points - left_top, points + right_bottom), -1) * anchor_strides
    scores = output.scores[0].detach().float().T.sigmoid()
    return scores, boxes, points * anchor_strides, anchor_strides[:, 0]


@dataclass(frozen=True)
class Truth:
    """A ground-truth box drawn on the photo: (x1, y1, x2, y2) in the photo's pixels, and its class."""

    box: tuple[float, float, float, float]
    class_id: int


@dataclass(frozen=True)
class Candidate:
    """A cell whose centre lies inside a ground-truth box, and how the assigner weighed it.

    Attributes:
        anchor: its index among the head's predictions.
        cell: its level, stride and (row, column).
        point: its centre, (x, y) in the model input's pixels.
        score: the score it predicts for the box's class.
        iou: the CIoU of the box it predicts with the ground truth, clamped at 0.
        metric: score^alpha * iou^beta.
        rank: 1 for the candidate with the highest metric of this box.
        picked: among the box's top-k.
        positive: it learns this box (picked, and not taken by another box).
        taken_by: the other box's index, when it was picked by both and overlaps that one more.
        target: what it learns as the score of the box's class (0 when it is not positive).
        predicted: the box it predicts, (x1, y1, x2, y2) in input pixels.
    """

    anchor: int
    cell: Cell
    point: tuple[float, float]
    score: float
    iou: float
    metric: float
    rank: int
    picked: bool
    positive: bool
    taken_by: int | None
    target: float
    predicted: tuple[float, float, float, float]


@dataclass(frozen=True)
class TruthAssignment:
    """One ground-truth box and its candidates, best metric first."""

    index: int
    class_id: int
    name: str
    photo_box: tuple[float, float, float, float]
    box: tuple[float, float, float, float]  # in the model input's pixels
    widened: bool  # a side was under the smallest side, so candidates came from the widened box
    candidates: tuple[Candidate, ...]

    @property
    def positives(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.positive)

    @property
    def starved(self) -> bool:
        """No candidate's prediction overlaps the box (every metric is 0): the top-k then falls on cells outside it, and
        no cell learns it (Ultralytics' assigner does the same)."""
        return all(c.metric == 0 for c in self.candidates)

    def count(self, what: str = "candidates") -> Counter[str]:
        """Per level: its candidates, or ("picked", "positives") those picked or positive."""
        chosen = {
            "candidates": self.candidates,
            "picked": [c for c in self.candidates if c.picked],
            "positives": self.positives,
        }[what]
        return Counter(c.cell.level for c in chosen)


@dataclass(frozen=True)
class Assignment:
    """A photo's ground truths, as the assigner gives them cells of the model's own predictions."""

    input_size: tuple[int, int]
    levels: tuple[tuple[str, int, tuple[int, int]], ...]  # (name, stride, grid) of each level
    truths: tuple[TruthAssignment, ...]
    topk: int
    alpha: float
    beta: float
    min_side: float
    topk2: int | None = None  # YOLO26's one-to-one branch: one cell per box after the top-k
    branch: str = "one2many"

    @property
    def foreground(self) -> int:
        """Cells that learn a box; every other cell of the anchors learns "no object"."""
        return sum(len(t.positives) for t in self.truths)

    @property
    def anchors(self) -> int:
        return sum(h * w for _, _, (h, w) in self.levels)

    def to_dict(self) -> dict:
        """`assign --json`'s assignment: the assigner's parameters, and per box its candidates with the metric's parts."""
        return {
            "input_size": list(self.input_size),
            "branch": self.branch,
            "topk": self.topk,
            "topk2": self.topk2,
            "alpha": self.alpha,
            "beta": self.beta,
            "min_side": self.min_side,
            "anchors": self.anchors,
            "foreground": self.foreground,
            "boxes": [
                {
                    "class_id": t.class_id,
                    "name": t.name,
                    "box": list(t.photo_box),
                    "box_input": list(t.box),
                    "widened": t.widened,
                    "candidates": [
                        {
                            "anchor": c.anchor,
                            "level": c.cell.level,
                            "cell": [c.cell.row, c.cell.col],
                            "score": c.score,
                            "iou": c.iou,
                            "metric": c.metric,
                            "rank": c.rank,
                            "picked": c.picked,
                            "positive": c.positive,
                            "taken_by": c.taken_by,
                            "target": c.target,
                        }
                        for c in t.candidates
                    ],
                }
                for t in self.truths
            ],
        }


def truth_problem(truth: Truth, photo: tuple[int, int], classes: int) -> str | None:
    """What is wrong with a ground-truth box on a `photo` (width, height) for a head of `classes` classes, or None."""
    width, height = photo
    values = (*truth.box, truth.class_id)
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return "every corner and the class must be a number"
    x1, y1, x2, y2 = truth.box
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        return f"({x1:g}, {y1:g}, {x2:g}, {y2:g}) must have left < right and top < bottom inside the {width}×{height} photo"
    if not 0 <= truth.class_id < classes:
        return f"class {truth.class_id} is not one of the head's {classes} classes"
    return None


def assign(
    output: DetectorOutput,
    box: Letterbox,
    truths: Sequence[Truth],
    names: Sequence[str],
    *,
    topk: int | None = None,
    alpha: float = ALPHA,
    beta: float = BETA,
    branch: str = "one2many",
) -> Assignment:
    """The task-aligned assignment of `truths` (boxes on the photo) to the cells of the detector's first image, with
    every candidate's parts. `branch`: whose predictions and assigner, the one-to-many branch's (top-k 10) or YOLO26's
    one-to-one branch's (top-k 7, then one cell per box); `topk` overrides the first top-k.

    Raises:
        ValueError: no box, a box with no area or off the photo, a class the head does not have, or a `topk` above the
            anchor count.
    """
    if not truths:
        raise ValueError("draw at least one ground-truth box")
    rows = []
    for n, truth in enumerate(truths, start=1):
        problem = truth_problem(truth, box.original, len(names))
        if problem:
            raise ValueError(f"box {n}: {problem}")
        x1, y1, x2, y2 = truth.box
        rows.append((*box.to_letterbox(x1, y1), *box.to_letterbox(x2, y2)))
    first, topk2 = BRANCH_TOPK.get(branch, (TOPK, None))  # an unknown branch: branch_output says so
    topk = first if topk is None else topk
    scores, predicted, points, _ = predicted_boxes(branch_output(output, branch), box.size)
    grids = [tuple(level.shape[2:]) for level in output.neck]
    level_strides = [box.size[0] // h for h, _ in grids]
    min_side = float(level_strides[1] if len(level_strides) > 1 else level_strides[0])
    truth_boxes = torch.tensor(rows, dtype=torch.float32)
    labels = torch.tensor([t.class_id for t in truths])
    steps = task_aligned_assign(
        scores, predicted, points, labels, truth_boxes, min_side=min_side, topk=topk, alpha=alpha, beta=beta, topk2=topk2
    )
    assigned = [
        _truth_assignment(n, truth, rows[n], names, steps, scores, predicted, points, grids, box.size, min_side)
        for n, truth in enumerate(truths)
    ]
    levels = tuple((name, s, g) for name, s, g in zip(PYRAMID, level_strides, grids, strict=False))
    return Assignment(box.size, levels, tuple(assigned), topk, alpha, beta, min_side, topk2, branch)


def _truth_assignment(n, truth, row, names, steps, scores, predicted, points, grids, input_size, min_side):
    anchors = steps.inside[n].nonzero().flatten()
    order = anchors[steps.metric[n, anchors].argsort(descending=True, stable=True)]
    cells = anchor_cells(order.tolist(), grids, input_size)
    candidates = []
    for rank, (anchor, cell) in enumerate(zip(order.tolist(), cells, strict=True), start=1):
        positive = bool(steps.positive[n, anchor])
        picked = bool(steps.picked[n, anchor])
        owner = int(steps.truth[anchor])
        taken_by = owner if picked and not positive and bool(steps.foreground[anchor]) and owner != n else None
        candidates.append(
            Candidate(
                anchor=anchor,
                cell=cell,
                point=tuple(points[anchor].tolist()),
                score=float(scores[anchor, truth.class_id]),
                iou=float(steps.overlaps[n, anchor]),
                metric=float(steps.metric[n, anchor]),
                rank=rank,
                picked=picked,
                positive=positive,
                taken_by=taken_by,
                target=float(steps.target[anchor]) if positive else 0.0,
                predicted=tuple(predicted[anchor].tolist()),
            )
        )
    x1, y1, x2, y2 = row
    return TruthAssignment(
        index=n,
        class_id=truth.class_id,
        name=names[truth.class_id],
        photo_box=tuple(float(v) for v in truth.box),
        box=(x1, y1, x2, y2),
        widened=min(x2 - x1, y2 - y1) < min_side,
        candidates=tuple(candidates),
    )
