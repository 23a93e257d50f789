"""What int8 does to a detector's scores, and the score threshold each precision wants.

    spread = score_spread(fp32_decoded, int8_decoded, conf=0.25)   # the same cells' best class scores in both
    spread.compression        # median int8 / fp32 over the cells fp32 scores above the threshold (1: unchanged)
    sweep = threshold_sweep(boxes, targets)                         # boxes read at the lowest threshold, per photo
    sweep.best.conf, sweep.best.f1

"Confidence compression" (the complaint of users who quantize a YOLO26) is a statement about one cell's score in two
precisions; `ScoreSpread` pairs them cell by cell on the photos int8 is judged on. A threshold is judged against the
truth where the photos come with labels (`detection.labels`: YOLO's text files beside the photos), else against fp32's
own boxes at the deployment's threshold ("which threshold gives fp32's boxes back?").

A sweep reads the boxes once, at the lowest threshold, and keeps those over each higher one: greedy NMS keeps a box
when no better box of its class overlaps it, and a better box is over any threshold the box is, so this is NMS at that
threshold (the one-to-one branch's top-k is taken before its threshold too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..detection.assignment import Truth
from ..detection.detections import Detection
from ..detection.two_heads import match_boxes

__all__ = [
    "FLOOR",
    "THRESHOLDS",
    "TRUTH_IOU",
    "ScoreSpread",
    "Sweep",
    "ThresholdPoint",
    "score_spread",
    "threshold_sweep",
]

THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 ... 0.95
FLOOR = 0.01  # a cell scoring under this in both precisions is background, left out of the spread
TRUTH_IOU = 0.5  # a box finds an object when it overlaps it this much with its class (COCO's loosest match)


@dataclass(frozen=True)
class ScoreSpread:
    """The best class score of the same cells (anchors) in fp32 and in a variant, on the judged photos: every cell one
    of them scores at least `FLOOR`.

    Attributes:
        fp32, variant: the cells' scores, in the same order.
        conf: the deployment's threshold.
    """

    fp32: np.ndarray
    variant: np.ndarray
    conf: float

    @property
    def _over(self) -> np.ndarray:
        return self.fp32 > self.conf

    @property
    def boxes(self) -> int:
        """Cells fp32 scores over the threshold."""
        return int(self._over.sum())

    @property
    def compression(self) -> float | None:
        """The median ratio of the variant's score to fp32's over the cells fp32 scores over the threshold (1: the
        same; 0.8: a fifth lower); None when there are none."""
        if not self.boxes:
            return None
        return float(np.median(self.variant[self._over] / self.fp32[self._over]))

    @property
    def distinct(self) -> int:
        """How many different scores the variant gives those cells (a handful: the scores are steps of one scale)."""
        return int(np.unique(self.variant[self._over]).size)

    @property
    def lost(self) -> int:
        """Cells fp32 scores over the threshold that the variant puts under it."""
        return int((self._over & (self.variant <= self.conf)).sum())

    @property
    def gained(self) -> int:
        """Cells the variant scores over the threshold that fp32 puts under it."""
        return int((~self._over & (self.variant > self.conf)).sum())

    def to_dict(self) -> dict:
        return {
            "cells": int(self.fp32.size),
            "conf": self.conf,
            "over_conf": self.boxes,
            "compression": self.compression,
            "distinct_scores": self.distinct,
            "lost_under_conf": self.lost,
            "gained_over_conf": self.gained,
        }


def score_spread(fp32: np.ndarray, variant: np.ndarray, *, conf: float) -> ScoreSpread:
    """Pair the best class score of every cell of two decoded outputs of the same photos ((B, 4 + nc, A) each).

    Raises:
        ValueError: the two are not of one shape.
    """
    if fp32.shape != variant.shape or fp32.ndim != 3 or fp32.shape[1] < 5:
        raise ValueError(f"expected two decoded outputs (B, 4 + nc, A) of one shape, got {fp32.shape} and {variant.shape}")
    ours, theirs = fp32[:, 4:].max(axis=1).ravel(), variant[:, 4:].max(axis=1).ravel()
    seen = (ours >= FLOOR) | (theirs >= FLOOR)
    return ScoreSpread(ours[seen].astype(np.float64), theirs[seen].astype(np.float64), conf)


@dataclass(frozen=True)
class ThresholdPoint:
    """Boxes over one threshold against the targets: `found` of the `boxes` match a target (its class, IoU at least
    the sweep's), of `targets` in all."""

    conf: float
    found: int
    boxes: int
    targets: int

    @property
    def precision(self) -> float:
        return self.found / self.boxes if self.boxes else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.targets if self.targets else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Sweep:
    """Precision, recall and F1 of a precision's boxes over each threshold, against `against` ("truth", or "fp32 at
    0.25": fp32's own boxes at the deployment's threshold)."""

    points: tuple[ThresholdPoint, ...]
    against: str
    iou: float

    @property
    def best(self) -> ThresholdPoint:
        """The threshold with the highest F1 (the middle one of a run of equal F1s: the widest margin either side)."""
        top = max(p.f1 for p in self.points)
        tied = [p for p in self.points if p.f1 == top]
        return tied[(len(tied) - 1) // 2]

    def at(self, conf: float) -> ThresholdPoint:
        """The point at threshold `conf` (one of the sweep's)."""
        for point in self.points:
            if abs(point.conf - conf) < 1e-9:
                return point
        raise ValueError(f"{conf} is not one of the sweep's thresholds")

    def to_dict(self) -> dict:
        best = self.best
        return {
            "against": self.against,
            "iou": self.iou,
            "best": {"conf": best.conf, "f1": best.f1, "precision": best.precision, "recall": best.recall},
            "points": [
                {"conf": p.conf, "found": p.found, "boxes": p.boxes, "targets": p.targets, "f1": p.f1} for p in self.points
            ],
        }


def threshold_sweep(
    boxes: Sequence[Sequence[Detection]],
    targets: Sequence[Sequence[Truth | Detection]],
    *,
    against: str,
    thresholds: Sequence[float] = THRESHOLDS,
    iou: float = TRUTH_IOU,
) -> Sweep:
    """Per threshold, the boxes scoring over it (per photo, read at the lowest threshold or under) matched to the
    targets as COCO's evaluation matches them (best box first, each target once, same class, IoU at least `iou`).

    Raises:
        ValueError: boxes and targets of different photo counts, or no threshold.
    """
    if len(boxes) != len(targets):
        raise ValueError(f"boxes of {len(boxes)} photos and targets of {len(targets)}")
    if not thresholds:
        raise ValueError("no threshold to sweep")
    total = sum(map(len, targets))
    points = []
    for conf in thresholds:
        found = kept = 0
        for photo, wanted in zip(boxes, targets, strict=True):
            over = [d for d in photo if d.score > conf]
            pairs, _, _ = match_boxes(list(wanted), over, iou)
            found, kept = found + len(pairs), kept + len(over)
        points.append(ThresholdPoint(float(conf), found, kept, total))
    return Sweep(tuple(points), against, iou)
