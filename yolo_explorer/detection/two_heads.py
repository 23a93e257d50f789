"""YOLO26's two heads on one photo: the one-to-many branch read through NMS beside the one-to-one branch read by its
top scores without NMS, from the same forward and thresholds. Which boxes both keep, which one keeps alone, the
duplicates the one-to-one branch leaves (pairs NMS would have merged), and both branches' score distributions.

    heads = compare_heads(forward.predictions, forward.box, names, PREDICT)
    heads.pairs            # (one-to-many box, one-to-one box, IoU): the same object found by both
    heads.duplicates       # one-to-one boxes of one class overlapping past NMS's IoU: what NMS would remove

Which branch Ultralytics' `predict` reads (8.4.142 on): `nms=None` and `nms=True` the one-to-many branch and NMS,
`nms=False` the one-to-one branch (`PREDICT_MODES`); with the same weights, each mode's boxes are `detect`'s for that
branch (tests/engine/test_yolo26_predict.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..forward.preprocess import Letterbox
from ..model.detector import DetectorOutput
from .detections import Detection, DetectionResult, Nms, candidate_mask, detections_from

__all__ = ["MATCH_IOU", "PREDICT_MODES", "Reliability", "TwoHeads", "compare_heads", "match_boxes", "reliability"]

MATCH_IOU = 0.5  # two boxes of one class overlapping this much are one object found twice (COCO's loosest match)
PREDICT_MODES: tuple[tuple[str, str], ...] = (  # Ultralytics' predict(nms=...) -> the branch it reads
    ("nms=None (the default)", "one2many"),
    ("nms=True", "one2many"),
    ("nms=False", "one2one"),
)


@dataclass(frozen=True)
class TwoHeads:
    """Both branches' boxes on one photo and how they differ.

    Attributes:
        one2many, one2one: each branch's result (NMS; top-k without NMS), in the photo's pixels.
        pairs: (one-to-many box, one-to-one box, IoU) of the same class overlapping at least `match_iou`, matched one to
            one as COCO's evaluation matches (the one-to-one boxes best score first).
        only_one2many: boxes NMS keeps that the one-to-one branch does not give.
        only_one2one: one-to-one boxes with no one-to-many box of their class over them.
        duplicates: (kept, duplicate, IoU) among the one-to-one boxes: a box of the same class as a better one,
            overlapping it past NMS's IoU threshold: what NMS would have removed.
        scores_one2many: the best class score of every cell over the threshold (NMS's candidates), highest first.
        scores_one2one: the scores of the one-to-one boxes (its top-k over the threshold), highest first.
        match_iou: the overlap that counts two boxes as one object.
    """

    one2many: DetectionResult
    one2one: DetectionResult
    pairs: tuple[tuple[Detection, Detection, float], ...]
    only_one2many: tuple[Detection, ...]
    only_one2one: tuple[Detection, ...]
    duplicates: tuple[tuple[Detection, Detection, float], ...]
    scores_one2many: tuple[float, ...]
    scores_one2one: tuple[float, ...]
    match_iou: float = MATCH_IOU

    def reliability(self, truths: Sequence, conf: float, iou: float = MATCH_IOU) -> dict[str, Reliability]:
        """Each branch's boxes (kept over `conf`) against the objects `truths` (with `box` and `class_id` in the photo's
        pixels)."""
        return {
            "one2many": reliability(self.one2many.detections, truths, conf, iou),
            "one2one": reliability(self.one2one.detections, truths, conf, iou),
        }

    def to_dict(self) -> dict:
        """What `detect --branch both --json` prints."""

        return {
            "one2many": self.one2many.to_dict(),
            "one2one": self.one2one.to_dict(),
            "match_iou": self.match_iou,
            "pairs": [{"iou": iou, "one2many": a.to_dict(), "one2one": b.to_dict()} for a, b, iou in self.pairs],
            "only_one2many": [d.to_dict() for d in self.only_one2many],
            "only_one2one": [d.to_dict() for d in self.only_one2one],
            "duplicates": [{"iou": iou, "kept": a.to_dict(), "duplicate": b.to_dict()} for a, b, iou in self.duplicates],
            "scores_one2many": list(self.scores_one2many),
            "scores_one2one": list(self.scores_one2one),
            "predict": dict(PREDICT_MODES),
        }


def compare_heads(
    output: DetectorOutput, box: Letterbox, names: Sequence[str], nms: Nms, *, match_iou: float = MATCH_IOU
) -> TwoHeads:
    """Read both branches of an end-to-end head's output (one forward) with the same thresholds and compare them.

    Raises:
        ValueError: a head with one branch.
    """
    many = detections_from(output, box, names, nms, branch="one2many")
    one = detections_from(output, box, names, nms, branch="one2one")
    pairs, only_many, only_one = match_boxes(many.detections, one.detections, match_iou)
    duplicates = []
    for j, later in enumerate(one.detections):  # best score first: a box overlapping a better one of its class
        for earlier in one.detections[:j]:
            overlap = _iou(earlier.box, later.box)
            if earlier.class_id == later.class_id and overlap > nms.iou:
                duplicates.append((earlier, later, overlap))
                break
    read = output.decoded[0, 4:]
    scores, best = read.max(dim=0)
    candidates = scores[candidate_mask(scores, best, nms)]
    one2one_scores = [d.score for d in one.detections]
    return TwoHeads(
        many,
        one,
        tuple(pairs),
        tuple(only_many),
        tuple(only_one),
        tuple(duplicates),
        tuple(sorted(candidates.tolist(), reverse=True)),
        tuple(one2one_scores),
        match_iou,
    )


def match_boxes(
    a: Sequence[Detection], b: Sequence[Detection], threshold: float
) -> tuple[list[tuple[Detection, Detection, float]], list[Detection], list[Detection]]:
    """Pairs of one class overlapping at least `threshold`, matched as COCO's evaluation matches: each box of `b`, best
    score first, takes the box of `a` it overlaps most that no better one took; then what is left of each."""
    if not a or not b:
        return [], list(a), list(b)
    overlaps = _iou_matrix([d.box for d in a], [d.box for d in b])
    pairs, used = [], set()
    for j in sorted(range(len(b)), key=lambda j: -b[j].score):
        free = [i for i in range(len(a)) if i not in used and a[i].class_id == b[j].class_id]
        i = max(free, key=lambda i: float(overlaps[i, j]), default=None)
        if i is not None and float(overlaps[i, j]) >= threshold:
            used.add(i)
            pairs.append((a[i], b[j], float(overlaps[i, j])))
    paired = {id(d) for _, d, _ in pairs}
    return pairs, [d for i, d in enumerate(a) if i not in used], [d for d in b if id(d) not in paired]


def _iou_matrix(a: Sequence[tuple[float, ...]], b: Sequence[tuple[float, ...]]) -> torch.Tensor:
    x, y = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    lt = torch.maximum(x[:, None, :2], y[None, :, :2])
    rb = torch.minimum(x[:, None, 2:], y[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)
    area = lambda boxes: (boxes[:, 2:] - boxes[:, :2]).clamp(min=0).prod(dim=1)  # noqa: E731
    union = area(x)[:, None] + area(y)[None, :] - inter
    return torch.where(union > 0, inter / union, torch.zeros_like(union))


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return float(_iou_matrix([a], [b])[0, 0])


RELIABILITY_BINS = 5  # score bins from the threshold to 1


@dataclass(frozen=True)
class Reliability:
    """A branch's boxes against the truth: each box's score and whether it found an object (its class, IoU at least
    `iou`, each object once, best box first, as COCO's evaluation matches), and per score bin the share that did. A
    score is reliable where a bin's share is near its scores (of boxes scored about 0.8, about 8 in 10 find an object).

    Attributes:
        scores, hits: per box, best first.
        truths: the objects there are; conf: the threshold the boxes were kept at.
    """

    scores: tuple[float, ...]
    hits: tuple[bool, ...]
    truths: int
    conf: float
    iou: float = MATCH_IOU

    @property
    def found(self) -> int:
        return sum(self.hits)

    @property
    def precision(self) -> float | None:
        return self.found / len(self.hits) if self.hits else None

    @property
    def recall(self) -> float | None:
        return self.found / self.truths if self.truths else None

    def bins(self, count: int = RELIABILITY_BINS) -> list[tuple[float, float, int, float | None, float | None]]:
        """`count` equal score bins from the threshold to 1: (low, high, boxes, their mean score, the share that found
        an object), the last bin closed at 1."""
        edges = [self.conf + (1 - self.conf) * i / count for i in range(count + 1)]
        rows = []
        for i, (low, high) in enumerate(zip(edges, edges[1:], strict=False)):
            inside = [
                (s, h) for s, h in zip(self.scores, self.hits, strict=True) if low <= s < high or (i == count - 1 and s == high)
            ]
            mean = sum(s for s, _ in inside) / len(inside) if inside else None
            share = sum(h for _, h in inside) / len(inside) if inside else None
            rows.append((low, high, len(inside), mean, share))
        return rows

    def to_dict(self) -> dict:
        return {
            "truths": self.truths,
            "boxes": len(self.hits),
            "found": self.found,
            "precision": self.precision,
            "recall": self.recall,
            "iou": self.iou,
            "boxes_by_score": [{"score": s, "found_an_object": h} for s, h in zip(self.scores, self.hits, strict=True)],
            "bins": [
                {"low": low, "high": high, "boxes": n, "mean_score": mean, "found_share": share}
                for low, high, n, mean, share in self.bins()
            ],
        }


def reliability(detections: Sequence[Detection], truths: Sequence, conf: float, iou: float = MATCH_IOU) -> Reliability:
    """`detections` (one branch's, in the photo's pixels) against `truths` (objects with `box` and `class_id` in the same
    pixels)."""
    ordered = sorted(detections, key=lambda d: -d.score)
    pairs, _, _ = match_boxes(list(truths), ordered, iou)
    found = {id(d) for _, d, _ in pairs}
    return Reliability(tuple(d.score for d in ordered), tuple(id(d) in found for d in ordered), len(truths), conf, iou)
