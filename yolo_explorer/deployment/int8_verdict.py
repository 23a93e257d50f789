"""Whether an int8 detector can ship, judged as a deployer judges it: on photos its calibration did not see, fp32's
boxes matched at IoU 0.9 with the same class, how far the scores moved, and whether they collapsed onto a few values;
and, before any variant is judged, whether the calibration photos can set the ranges the scores need.

    photos = int8_photos(own, size=(320, 320), samples=uses_samples(trained=True, detector=True, names=names))
    photos.calibrate, photos.judged              # every other photo is kept aside to judge on (8 at most)
    verdict = judge(reference_rows, variant_rows, conf=0.25)
    verdict.status                               # "passes", "borderline" (only boxes at the threshold), "fails"

A detector calibrated on photos in which it sees nothing of what it was trained on gets ranges that cannot hold its
scores: a shapes detector calibrated on the built-in samples (an astronaut, a cat) clips every P3 score at one value
and no P4 or P5 cell can score at all. A cosine over the whole score tensor stays near 1 (most cells are near 0 in
both); the boxes and their scores do not.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..detection.assignment import Truth
from ..detection.detections import COCO_CLASSES, PREDICT, Detection, Nms, class_names, non_max_suppression, one_to_one
from ..detection.object_size import box_iou
from ..model.config import COCO_CLASS_COUNT

__all__ = [
    "MATCH_IOU",
    "MAX_JUDGED",
    "SCORE_TOLERANCE",
    "BoxChanges",
    "CalibrationCheck",
    "Collapse",
    "Int8Photos",
    "LevelReach",
    "Verdict",
    "box_changes",
    "detections_of",
    "int8_photos",
    "judge",
    "level_of",
    "level_tops",
    "split_photos",
    "uses_samples",
]

MATCH_IOU = 0.9  # a deployer's match: the same class and at least this IoU with fp32's box
SCORE_TOLERANCE = 0.05  # how far a kept box's score may move from fp32's
MAX_JUDGED = 8  # photos kept aside to judge on, at most (each variant runs on all of them)
COLLAPSE_LOGITS = 0.5  # boxes whose fp32 logits differ by this much cannot share one int8 score by rounding alone
COLLAPSE_SPAN = SCORE_TOLERANCE / 2  # ... and a collapse matters once their fp32 scores differ by this much
CLIP_MARGIN = 0.01  # a box scoring this much above what a calibrated range reaches is clipped to it


@dataclass(frozen=True)
class Int8Photos:
    """The photos int8 is calibrated on and the photos it is judged on, none of them in both, letterboxed to the
    export's size ((1, 3, H, W) float32 each), with a label for each.

    Attributes:
        mirrored: there was one photo only: it calibrates, and it is judged on mirrored (a weaker test, said so).
        samples: the built-in sample photos are among them.
        truths: the objects of the photos that come with labels, by photo label, in the input's pixels.
    """

    calibrate: tuple[np.ndarray, ...] = field(repr=False)
    judged: tuple[np.ndarray, ...] = field(repr=False)
    calibrate_labels: tuple[str, ...]
    judged_labels: tuple[str, ...]
    mirrored: bool = False
    samples: bool = False
    truths: Mapping[str, tuple[Truth, ...]] = field(default_factory=dict, repr=False)

    @property
    def judged_truths(self) -> list[tuple[Truth, ...]] | None:
        """The truth boxes of every judged photo (in the input's pixels), in their order; None unless each has its
        labels (a photo without objects has an empty label file)."""
        if not self.judged_labels or any(label not in self.truths for label in self.judged_labels):
            return None
        return [self.truths[label] for label in self.judged_labels]

    def first(self, n: int | None) -> Int8Photos:
        """The same split with only the first `n` calibration photos (all when None).

        Raises:
            ValueError: more than there are, or fewer than one.
        """
        if n is None:
            return self
        if n < 1:
            raise ValueError(f"calibrate on at least 1 photo, not {n}")
        if n > len(self.calibrate):
            raise ValueError(f"the recipe calibrates on {n} photos, and there are {len(self.calibrate)}")
        return replace(self, calibrate=self.calibrate[:n], calibrate_labels=self.calibrate_labels[:n])


def uses_samples(*, trained: bool, detector: bool, names: Sequence[str] | None = None, classes: int = COCO_CLASS_COUNT) -> bool:
    """Whether the built-in samples (people, animals, things: COCO's world) belong among int8's photos: for random
    weights and a backbone yes, for a trained detector only when its classes are COCO's (`names` as the checkpoint
    gives them; an 80-class head without names is taken for COCO's, as the detections are)."""
    if not (trained and detector):
        return True
    return class_names(classes, names) == COCO_CLASSES


def split_photos(photos: Sequence[tuple[str, np.ndarray]], *, samples: bool = False) -> Int8Photos:
    """Every other photo (the 2nd, 4th, ..., 8 at most) kept aside to judge on, the rest to calibrate on; a photo
    given twice counts once. With one photo only, it calibrates and is judged on mirrored (`mirrored`).

    Raises:
        ValueError: no photo.
    """
    unique = _unique(photos)
    if not unique:
        raise ValueError("no photo to calibrate int8 on")
    if len(unique) == 1:
        label, photo = unique[0]
        mirror = np.ascontiguousarray(photo[..., ::-1])
        return Int8Photos((photo,), (mirror,), (label,), (f"{label}, mirrored",), mirrored=True, samples=samples)
    judged = list(range(1, len(unique), 2))[:MAX_JUDGED]
    calibrate = [unique[i] for i in range(len(unique)) if i not in judged]
    return _labelled(calibrate, [unique[i] for i in judged], samples)


def _labelled(calibrate: Sequence[tuple[str, np.ndarray]], judged: Sequence[tuple[str, np.ndarray]], samples: bool) -> Int8Photos:
    return Int8Photos(
        tuple(p for _, p in calibrate),
        tuple(p for _, p in judged),
        tuple(label for label, _ in calibrate),
        tuple(label for label, _ in judged),
        samples=samples,
    )


def _unique(photos: Sequence[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
    """The photos in their order, each set of pixels once (the first label kept)."""
    seen, unique = set(), []
    for label, photo in photos:
        digest = hashlib.sha256(np.ascontiguousarray(photo).tobytes()).digest()
        if digest not in seen:
            seen.add(digest)
            unique.append((label, photo))
    return unique


def int8_photos(
    own: Sequence[tuple[str, np.ndarray]],
    *,
    size: tuple[int, int],
    samples: bool,
    judged: Sequence[tuple[str, np.ndarray]] | None = None,
) -> Int8Photos:
    """The photos of the model's own domain first (`own`: the server's folder, the user's uploads, the photo at hand,
    letterboxed to `size`), then with `samples` the built-in samples, split by `split_photos`; or, when `judged` names
    the photos to judge on, all of them calibrate.

    Raises:
        ValueError: no photo to calibrate on, or `judged` empty.
    """
    from ..samples import SAMPLES
    from .onnx_models import calibration_images

    photos = list(own)
    if samples:
        photos += [(f"sample: {name}", photo) for name, photo in zip(SAMPLES, calibration_images(size), strict=True)]
    if judged is None:
        return split_photos(photos, samples=samples)
    if not judged:
        raise ValueError("no photo to judge int8 on")
    calibrate = _unique(photos)
    if not calibrate:
        raise ValueError("no photo to calibrate int8 on")
    return _labelled(calibrate, judged, samples)


@dataclass(frozen=True)
class LevelReach:
    """One level's class scores: the highest int8 can give there once calibrated (`cap`: the sigmoid of the top of
    the range calibration saw for its class logits), and fp32's boxes from that level on the judged photos.

    Attributes:
        scores: fp32's scores of the boxes this level predicted on the judged photos, best first.
        top: the highest class score fp32 gives anywhere on this level there (a box or not).
    """

    level: str
    cap: float
    top: float
    scores: tuple[float, ...] = ()

    @property
    def over(self) -> tuple[float, ...]:
        """The scores of fp32's boxes that int8's range cannot reach (above the cap by more than `CLIP_MARGIN`)."""
        return tuple(s for s in self.scores if s - self.cap > CLIP_MARGIN)

    @property
    def clipped(self) -> bool:
        """int8's range cuts this level's boxes: a quarter of them or more lie above it, or one by more than
        `SCORE_TOLERANCE` (in the scores between, their order is lost too: they all get the cap)."""
        over = self.over
        return bool(over) and (4 * len(over) >= len(self.scores) or max(over) - self.cap > SCORE_TOLERANCE)


@dataclass(frozen=True)
class CalibrationCheck:
    """What can be said of a detector's calibration before any variant is judged.

    Attributes:
        photos: calibration photos; judged: photos judged on; mirrored: the one photo, judged on mirrored.
        boxes: fp32's boxes (score above `conf`) on the calibration photos: none means the photos show the model
            nothing it was trained to find, and its score ranges are calibrated on background alone.
        reach: per level, the calibrated cap against fp32's top score on the judged photos.
    """

    photos: int
    judged: int
    mirrored: bool
    boxes: int
    reach: tuple[LevelReach, ...]
    conf: float

    @property
    def blind(self) -> bool:
        return self.boxes == 0

    @property
    def clipped(self) -> tuple[LevelReach, ...]:
        return tuple(r for r in self.reach if r.clipped)

    @property
    def sound(self) -> bool:
        return not (self.blind or self.clipped)

    def to_dict(self) -> dict:
        return {
            "photos": self.photos,
            "judged": self.judged,
            "mirrored": self.mirrored,
            "boxes": self.boxes,
            "conf": self.conf,
            "reach": [
                {"level": r.level, "cap": r.cap, "top": r.top, "boxes": len(r.scores), "over": len(r.over), "clipped": r.clipped}
                for r in self.reach
            ],
            "sound": self.sound,
        }


def level_tops(decoded: np.ndarray, levels: Sequence[tuple[str, int]]) -> dict[str, float]:
    """The highest class score of each level over a batch of decoded predictions (B, 4 + nc, A), the anchors in
    Detect's order (`levels`: each level's name and cell count)."""
    tops, start = {}, 0
    for name, cells in levels:
        part = decoded[:, 4:, start : start + cells]
        tops[name] = float(part.max()) if part.size else 0.0
        start += cells
    return tops


def level_of(anchor: int, levels: Sequence[tuple[str, int]]) -> str:
    """The level an anchor index (Detect's order) belongs to."""
    start = 0
    for name, cells in levels:
        start += cells
        if anchor < start:
            return name
    raise ValueError(f"anchor {anchor} is past the {start} predictions of the levels")


@dataclass(frozen=True)
class BoxChanges:
    """How another precision's boxes compare with float's on one photo: matched pairs (same class, IoU at least the
    threshold, best first), float's boxes it lost, and boxes it found that float did not."""

    kept: tuple[tuple[Detection, Detection, float], ...]
    lost: tuple[Detection, ...]
    new: tuple[Detection, ...]
    iou: float = MATCH_IOU


def box_changes(reference: Sequence[Detection], other: Sequence[Detection], iou: float = MATCH_IOU) -> BoxChanges:
    """Greedy matching: each of float's boxes, best score first, takes the unmatched box of its class that overlaps it
    most, when that IoU is at least `iou`."""
    free = list(other)
    kept, lost = [], []
    for ref in sorted(reference, key=lambda d: -d.score):
        candidates = [(box_iou(ref.box, o.box), i) for i, o in enumerate(free) if o.class_id == ref.class_id]
        best = max(candidates, default=(0.0, -1))
        if best[0] >= iou:
            kept.append((ref, free.pop(best[1]), best[0]))
        else:
            lost.append(ref)
    return BoxChanges(tuple(kept), tuple(lost), tuple(free), iou)


def _rows_to_detections(rows: torch.Tensor, anchors: Sequence[int]) -> list[Detection]:
    """NMS rows (x1, y1, x2, y2, score, class) as detections in the same pixels (named by class index)."""
    return [
        Detection((x1, y1, x2, y2), score, int(c), str(int(c)), anchor=a)
        for (x1, y1, x2, y2, score, c), a in zip(rows.tolist(), anchors, strict=True)
    ]


@dataclass(frozen=True)
class Collapse:
    """Boxes fp32 scores apart (their scores at least `COLLAPSE_SPAN` apart, their logits at least `COLLAPSE_LOGITS`)
    that int8 gives one and the same score: the range saturates there, and rounding alone cannot explain it. (Two boxes
    at 0.981 and 0.990 clipped onto 0.980 are not a collapse: their order is lost, their scores hardly move.)"""

    score: float
    boxes: int
    low: float  # fp32's lowest and highest score among them
    high: float


@dataclass(frozen=True)
class Verdict:
    """A variant's boxes against fp32's on the judged photos, as a deployer checks them.

    Attributes:
        photos: judged photos.
        reference: fp32's boxes on them (score above `conf`).
        pairs: per box kept (same class, IoU at least `iou`): fp32's score, the variant's score, their IoU.
        lost: fp32's scores of the boxes the variant lost; new: the variant's scores of boxes fp32 does not have.
        collapse: the largest group of boxes that collapsed onto one score, if any.
    """

    photos: int
    reference: int
    pairs: tuple[tuple[float, float, float], ...]
    lost: tuple[float, ...]
    new: tuple[float, ...]
    collapse: Collapse | None
    conf: float
    iou: float = MATCH_IOU

    @property
    def kept(self) -> int:
        return len(self.pairs)

    @property
    def recall(self) -> float | None:
        """The share of fp32's boxes the variant keeps at fp32's threshold (None when fp32 found none)."""
        return self.kept / self.reference if self.reference else None

    @property
    def changes(self) -> list[float]:
        return [abs(theirs - ours) for ours, theirs, _ in self.pairs]

    @property
    def median_change(self) -> float | None:
        return statistics.median(self.changes) if self.pairs else None

    @property
    def worst_change(self) -> float | None:
        return max(self.changes) if self.pairs else None

    @property
    def min_iou(self) -> float | None:
        return min((iou for *_, iou in self.pairs), default=None)

    @property
    def distinct_scores(self) -> int:
        return len({theirs for _, theirs, _ in self.pairs})

    def _near(self, score: float) -> bool:
        return score < self.conf + SCORE_TOLERANCE

    @property
    def status(self) -> str:
        """ "passes" (every box kept, none new, every score within `SCORE_TOLERANCE`, none collapsed), "borderline"
        (the same but boxes lost or found within `SCORE_TOLERANCE` of the threshold), "fails", or "unjudged" (fp32
        and the variant find nothing on the judged photos)."""
        if self.collapse is not None or (self.worst_change or 0.0) > SCORE_TOLERANCE:
            return "fails"
        if not all(self._near(s) for s in (*self.lost, *self.new)):
            return "fails"
        if self.lost or self.new:
            return "borderline"
        return "passes" if self.reference else "unjudged"

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "photos": self.photos,
            "conf": self.conf,
            "iou": self.iou,
            "reference": self.reference,
            "kept": self.kept,
            "lost": len(self.lost),
            "new": len(self.new),
            "recall": self.recall,
            "median_score_change": self.median_change,
            "worst_score_change": self.worst_change,
            "min_iou": self.min_iou,
            "distinct_scores": self.distinct_scores,
            "collapse": None if self.collapse is None else vars(self.collapse),
            "pairs": [list(p) for p in self.pairs],
        }


def judge(
    reference: Sequence[Sequence[Detection]], other: Sequence[Sequence[Detection]], *, conf: float, iou: float = MATCH_IOU
) -> Verdict:
    """fp32's boxes (`reference`, per photo) against a variant's (`other`), both at the threshold `conf`.

    Raises:
        ValueError: the two do not cover the same photos.
    """
    if len(reference) != len(other):
        raise ValueError(f"{len(reference)} photos of fp32's boxes and {len(other)} of the variant's")
    pairs, lost, new = [], [], []
    for ours, theirs in zip(reference, other, strict=True):
        changes = box_changes(ours, theirs, iou)
        pairs += [(a.score, b.score, overlap) for a, b, overlap in changes.kept]
        lost += [d.score for d in changes.lost]
        new += [d.score for d in changes.new]
    return Verdict(len(reference), sum(map(len, reference)), tuple(pairs), tuple(lost), tuple(new), _collapse(pairs), conf, iou)


def _collapse(pairs: Sequence[tuple[float, float, float]]) -> Collapse | None:
    """The largest group of kept boxes sharing one variant score whose fp32 scores span at least `COLLAPSE_SPAN` and
    their logits at least `COLLAPSE_LOGITS`."""
    groups: dict[float, list[float]] = {}
    for ours, theirs, _ in pairs:
        groups.setdefault(theirs, []).append(ours)
    found = None
    for score, fp32 in groups.items():
        low, high = min(fp32), max(fp32)
        if len(fp32) < 2 or high - low < COLLAPSE_SPAN or _logit(high) - _logit(low) < COLLAPSE_LOGITS:
            continue
        if found is None or len(fp32) > found.boxes:
            found = Collapse(score, len(fp32), min(fp32), max(fp32))
    return found


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def _logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def detections_of(decoded: np.ndarray, nms: Nms = PREDICT, *, branch: str = "one2many") -> list[list[Detection]]:
    """Each photo's boxes from a batch of decoded predictions (B, 4 + nc, A), in input pixels, with their anchors:
    through NMS (`branch` "one2many"), or an end-to-end head's one-to-one branch read by its top scores ("one2one")."""
    tensor = torch.from_numpy(np.ascontiguousarray(decoded))
    if branch == "one2one":
        rows, anchors = one_to_one(tensor, nms)
    elif branch == "one2many":
        rows, anchors = non_max_suppression(tensor, nms, return_anchors=True)
    else:
        raise ValueError(f"branch must be one2many or one2one, not {branch!r}")
    return [_rows_to_detections(r, a.tolist()) for r, a in zip(rows, anchors, strict=True)]
