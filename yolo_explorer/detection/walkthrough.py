"""From the head's predictions to the boxes NMS keeps, step by step: what "84 x 8400" is, how many cells of each
level pass the score threshold, and greedy NMS as a sequence of steps (each kept box and the boxes it suppresses,
with their IoU), ending in exactly the boxes `detections.non_max_suppression` keeps; and the distribution focal
loss's 4 x 16 bins behind one box.

    walk = walkthrough(out, (640, 640), names, Nms(conf=0.5))
    walk.output_shape                      # (84, 8400): 4 box numbers and 80 class scores for each of 8400 cells
    [(lv.name, lv.predictions, lv.candidates) for lv in walk.levels]
    for step in walk.steps:
        step.kept.name, step.kept.score, [(c.anchor, iou) for c, iou in step.suppressed]
    bins = box_distributions(out, walk.steps[0].kept.anchor)   # the DFL's four distributions of that box

The same loop as the detections (`detections.suppress`) runs here, so the walk cannot drift from the page's boxes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..model.config import PYRAMID
from ..model.detector import DetectorOutput
from .detections import MAX_WH, PREDICT, Cell, Nms, anchor_cells, candidate_mask, suppress

__all__ = ["BoxBins", "Candidate", "LevelCount", "Step", "Walkthrough", "box_distributions", "walkthrough"]

SIDES = ("left", "top", "right", "bottom")


@dataclass(frozen=True)
class Candidate:
    """A cell whose best class score passed the threshold: a box NMS considers.

    Attributes:
        anchor: its index among the head's predictions (level by level, rows then columns).
        cell: its level, stride and (row, column).
        box: (x1, y1, x2, y2) in the model input's pixels.
    """

    anchor: int
    cell: Cell
    class_id: int
    name: str
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class Step:
    """One step of greedy NMS: the best box left is kept, and these boxes left overlap it too much (IoU)."""

    kept: Candidate
    suppressed: tuple[tuple[Candidate, float], ...]


@dataclass(frozen=True)
class LevelCount:
    """One level's share: its grid, its predictions (one per cell) and its candidates (over the threshold)."""

    name: str
    grid: tuple[int, int]
    predictions: int
    candidates: int


@dataclass(frozen=True)
class Walkthrough:
    """The whole way from predictions to boxes for one image."""

    output_shape: tuple[int, int]  # (4 + classes, anchors)
    levels: tuple[LevelCount, ...]
    per_class: tuple[tuple[str, int], ...]  # candidates per class, most first
    candidates: tuple[Candidate, ...]  # by descending score
    steps: tuple[Step, ...]
    nms: Nms

    @property
    def kept(self) -> tuple[Candidate, ...]:
        return tuple(step.kept for step in self.steps)

    def to_dict(self) -> dict:
        """`detect --steps --json`'s "walk": the output's shape, the NMS settings, each level's predictions and
        candidates, and every step (the box kept, those it suppressed with their IoU)."""

        def candidate(c: Candidate) -> dict:
            return {"anchor": c.anchor, "class_id": c.class_id, "name": c.name, "score": c.score,
                    "box_input": list(c.box), "level": c.cell.level, "cell": [c.cell.row, c.cell.col]}  # fmt: skip

        return {
            "output_shape": list(self.output_shape),
            "nms": self.nms.to_dict(),
            "levels": [
                {"level": lv.name, "grid": list(lv.grid), "predictions": lv.predictions, "candidates": lv.candidates}
                for lv in self.levels
            ],  # fmt: skip
            "steps": [
                {"kept": candidate(s.kept), "suppressed": [candidate(c) | {"iou": overlap} for c, overlap in s.suppressed]}
                for s in self.steps
            ],
        }

    def waiting(self, steps: int) -> int:
        """Candidates neither kept nor suppressed after the first `steps` steps."""
        done = sum(1 + len(step.suppressed) for step in self.steps[:steps])
        return len(self.candidates) - done


@dataclass(frozen=True)
class BoxBins:
    """The distribution focal loss behind one box: for each side (left, top, right, bottom) the softmax of its 16
    logits over distances 0..15 cells from the cell's centre, and its expected distance (what the box uses)."""

    anchor: int
    stride: int
    probabilities: tuple[tuple[float, ...], ...]  # 4 x 16 (4 empty rows for a head without a DFL)
    expected: tuple[float, ...]  # 4 distances, in cells

    @property
    def expected_pixels(self) -> tuple[float, ...]:
        return tuple(d * self.stride for d in self.expected)


def walkthrough(
    output: DetectorOutput,
    input_size: tuple[int, int],
    names: Sequence[str],
    nms: Nms = PREDICT,
    *,
    max_nms: int = 30000,
) -> Walkthrough:
    """The predictions of the first image of `output`, from the head's raw output to the kept boxes, with the same
    rules as `detections.non_max_suppression` (and its default arguments)."""
    prediction = output.decoded[0].transpose(0, 1).float()  # (A, 4 + nc)
    grids = [tuple(level.shape[2:]) for level in output.neck]
    scores, best = prediction[:, 4:].max(dim=1)
    anchors = candidate_mask(scores, best, nms).nonzero().flatten()
    if anchors.numel() > max_nms:
        anchors = anchors[scores[anchors].argsort(descending=True)[:max_nms]]
    xywh = prediction[anchors, :4]
    boxes = torch.cat((xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2), dim=1)
    cells = anchor_cells(anchors.tolist(), grids, input_size)
    candidates = [
        Candidate(int(a), cell, int(best[a]), names[int(best[a])], float(scores[a]), tuple(float(v) for v in box))
        for a, cell, box in zip(anchors.tolist(), cells, boxes.tolist(), strict=True)
    ]
    offset = 0 if nms.agnostic else best[anchors][:, None].to(boxes.dtype) * MAX_WH
    recorded: list[tuple[int, list[tuple[int, float]]]] = []
    suppress(boxes + offset, scores[anchors], nms.iou, nms.max_det, steps=recorded)
    steps = tuple(Step(candidates[kept], tuple((candidates[j], overlap) for j, overlap in gone)) for kept, gone in recorded)
    by_level = Counter(c.cell.level for c in candidates)
    levels = [LevelCount(name, (h, w), h * w, by_level[name]) for name, (h, w) in zip(PYRAMID, grids, strict=True)]
    per_class = Counter(c.name for c in candidates).most_common()
    return Walkthrough(
        output_shape=(int(output.decoded.shape[1]), int(output.decoded.shape[2])),
        levels=tuple(levels),
        per_class=tuple(per_class),
        candidates=tuple(sorted(candidates, key=lambda c: -c.score)),
        steps=steps,
        nms=nms,
    )


def box_distributions(output: DetectorOutput, anchor: int, input_size: tuple[int, int]) -> BoxBins:
    """The DFL's four distributions behind the box of `anchor` (first image): the softmax of each side's 16 logits in
    `output.boxes`, and their expectations, the distances in cells the decoded box is made of. A head without a DFL
    (YOLO26: one number per side) has no distribution: `probabilities` is empty and `expected` its four numbers."""
    bins = output.boxes.shape[1] // 4
    logits = output.boxes[0, :, anchor].float().view(4, bins)  # side-major, as the DFL reads them
    if bins == 1:
        probabilities, expected = logits[:, :0], logits[:, 0]
    else:
        probabilities = logits.softmax(dim=1)
        expected = (probabilities * torch.arange(bins, dtype=probabilities.dtype)).sum(dim=1)
    grids = [tuple(level.shape[2:]) for level in output.neck]
    (cell,) = anchor_cells([anchor], grids, input_size)
    return BoxBins(anchor, cell.stride, tuple(tuple(row) for row in probabilities.tolist()), tuple(expected.tolist()))
