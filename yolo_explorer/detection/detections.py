"""From a detector's decoded predictions to boxes on the photo: class-aware non-maximum suppression in
plain torch (the boxes Ultralytics' `non_max_suppression` keeps for the same tensor), boxes mapped back
through the letterbox, class names, and the per-level score maps shown when there is nothing to detect.

    result = detect(detector, image, 640, Nms(conf=0.5))
    for d in result.detections:
        d.name, d.score, d.box          # "person", 0.91, (x1, y1, x2, y2) in the photo's pixels
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from ..forward.features import extract_features
from ..forward.preprocess import Letterbox
from ..model.config import PYRAMID
from ..model.detector import Detector, DetectorOutput

__all__ = [
    "CLASS_COLORS",
    "COCO_CLASSES",
    "MAX_DET",
    "Detection",
    "Nms",
    "DetectionResult",
    "BRANCHES",
    "anchor_cells",
    "branch_output",
    "candidate_mask",
    "class_color",
    "class_names",
    "detect",
    "non_max_suppression",
    "one_to_one",
    "score_maps",
    "suppress",
    "to_photo",
]

MAX_WH = 7680  # class offset in pixels that keeps boxes of different classes apart (class-aware NMS)
MAX_DET = 300  # boxes kept per image at most, as Ultralytics' `max_det`
# one colour per class (cycling), for the boxes in the app and in the CLI's pictures
CLASS_COLORS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4", "#469990")

# The 80 COCO classes, in the order of a COCO-trained head's outputs
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip


@dataclass(frozen=True)
class Nms:
    """The settings of non-maximum suppression, one value from the Detections page's sliders or the CLI's flags to
    `non_max_suppression`, with Ultralytics' predict defaults (`conf`, `iou`, `agnostic_nms`, `classes`, `max_det`).
    Hashable: a cache key as it is.

    Raises:
        ValueError: a threshold outside 0..1, a `max_det` under 1 or a negative class.
    """

    conf: float = 0.25  # a box is a candidate when its best class score is above this
    iou: float = 0.7  # of two overlapping candidates, the lower-scored is dropped when their IoU is above this
    agnostic: bool = False  # suppress across classes (else only boxes of the same class)
    classes: tuple[int, ...] | None = None  # the classes kept (None: all); an anchor whose best class is another is dropped
    max_det: int = MAX_DET  # boxes kept per image at most

    def __post_init__(self) -> None:
        if not 0 <= self.conf <= 1 or not 0 <= self.iou <= 1:
            raise ValueError(f"score and IoU thresholds must be from 0 to 1, got {self.conf} and {self.iou}")
        if self.max_det < 1:
            raise ValueError(f"max_det must be at least 1, got {self.max_det}")
        if self.classes is not None:
            classes = tuple(int(c) for c in self.classes)
            if any(c < 0 for c in classes):
                raise ValueError(f"class indices are 0 or more, got {list(classes)}")
            object.__setattr__(self, "classes", classes)

    def to_dict(self) -> dict:
        return {
            "conf": self.conf,
            "iou": self.iou,
            "agnostic": self.agnostic,
            "classes": list(self.classes) if self.classes is not None else None,
            "max_det": self.max_det,
        }


PREDICT = Nms()  # Ultralytics' `yolo predict` defaults


def class_color(class_id: int) -> str:
    """The colour of a class's boxes, "#rrggbb"."""
    return CLASS_COLORS[class_id % len(CLASS_COLORS)]


def class_names(num_classes: int, names: Sequence[str] | None = None) -> tuple[str, ...]:
    """The names of a head's classes: the trained weights' own (`names`, when there is one per class), else
    COCO's for an 80-class head and "class k" for any other."""
    if names is not None and len(names) == num_classes:
        return tuple(names)
    return COCO_CLASSES if num_classes == len(COCO_CLASSES) else tuple(f"class {k}" for k in range(num_classes))


def non_max_suppression(
    decoded: torch.Tensor,
    nms: Nms = PREDICT,
    *,
    max_nms: int = 30000,
    return_anchors: bool = False,
) -> list[torch.Tensor] | tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Detections per image, (n, 6) rows of (x1, y1, x2, y2, score, class), best score first.

    Each anchor keeps its best class if that score exceeds `nms.conf` (and, with `nms.classes`, if that class is
    one of them); boxes are then suppressed greedily (highest score first, a box is dropped when its IoU
    with a kept box of the same class exceeds `nms.iou`; any class when `nms.agnostic`). As Ultralytics does: at
    most `max_nms` candidates by score, `nms.max_det` kept.

    Args:
        decoded: (B, 4 + nc, A) from a detector: (cx, cy, w, h) in input pixels and sigmoid scores.
        return_anchors: also return, per image, the anchors the kept rows came from ((n,) indices into
            the A predictions, as Ultralytics' `return_idxs`): they say the level and cell of every box.

    Returns:
        The rows per image, or with `return_anchors` (rows per image, anchors per image).

    Raises:
        ValueError: a tensor that is not (B, 4 + nc, A).
    """
    if decoded.dim() != 3 or decoded.shape[1] < 5:
        raise ValueError(f"expected decoded predictions (B, 4 + nc, A), got {tuple(decoded.shape)}")
    kept, kept_anchors = [], []
    for prediction in decoded.transpose(1, 2).float():  # (A, 4 + nc) per image
        scores, best = prediction[:, 4:].max(dim=1)
        anchors = candidate_mask(scores, best, nms).nonzero().flatten()
        if anchors.numel() > max_nms:
            anchors = anchors[scores[anchors].argsort(descending=True)[:max_nms]]
        boxes, scores, best = _xyxy(prediction[anchors, :4]), scores[anchors], best[anchors]
        offset = 0 if nms.agnostic else best[:, None].to(boxes.dtype) * MAX_WH
        keep = suppress(boxes + offset, scores, nms.iou, nms.max_det)
        kept.append(torch.cat((boxes[keep], scores[keep, None], best[keep, None].to(boxes.dtype)), dim=1))
        kept_anchors.append(anchors[keep])
    return (kept, kept_anchors) if return_anchors else kept


def one_to_one(decoded: torch.Tensor, nms: Nms = PREDICT, *, top: int = MAX_DET) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Detections per image from an end-to-end head's one-to-one branch, without NMS: what Ultralytics' YOLO26 gives
    with `nms=False`. The `top` (300) anchors by best class score are taken, then the `top` best (anchor, class) pairs
    among them (one anchor may give two classes), then those above `nms.conf` (of `nms.classes`), at most
    `nms.max_det`. With `nms.agnostic` each anchor gives its best class only.

    Args:
        decoded: (B, 4 + nc, A) of the one-to-one branch: (cx, cy, w, h) in input pixels and sigmoid scores.
        top: the head's own cut (Ultralytics' `max_det` of the head, at least 300).

    Returns:
        (rows per image, (n, 6) of x1, y1, x2, y2, score, class, best score first; the anchor each came from).
    """
    if decoded.dim() != 3 or decoded.shape[1] < 5:
        raise ValueError(f"expected decoded predictions (B, 4 + nc, A), got {tuple(decoded.shape)}")
    kept, kept_anchors = [], []
    for prediction in decoded.transpose(1, 2).float():  # (A, 4 + nc) per image
        boxes, scores = _xyxy(prediction[:, :4]), prediction[:, 4:]  # (A, 4), (A, nc)
        k = min(top, len(scores))
        if nms.agnostic:
            score, best = scores.max(dim=1)
            score, anchors = score.topk(k)
            best = best[anchors]
        else:
            anchors = scores.max(dim=1).values.topk(k).indices  # the k anchors with the best scores
            score, pair = scores[anchors].flatten().topk(k)  # the k best (anchor, class) pairs among them
            best, anchors = pair % scores.shape[1], anchors[pair // scores.shape[1]]
        keep = candidate_mask(score, best, nms).nonzero().flatten()[: nms.max_det]
        rows = torch.cat((boxes[anchors[keep]], score[keep, None], best[keep, None].to(boxes.dtype)), dim=1)
        kept.append(rows)
        kept_anchors.append(anchors[keep])
    return kept, kept_anchors


def candidate_mask(scores: torch.Tensor, best: torch.Tensor, nms: Nms) -> torch.Tensor:
    """The anchors NMS considers (a mask): best class score above `nms.conf`, best class among `nms.classes` (if
    given)."""
    keep = scores > nms.conf
    if nms.classes is not None:
        keep &= torch.isin(best, torch.as_tensor(nms.classes, dtype=best.dtype))
    return keep


def _xyxy(xywh: torch.Tensor) -> torch.Tensor:
    centre, size = xywh[:, :2], xywh[:, 2:]
    return torch.cat((centre - size / 2, centre + size / 2), dim=1)


def suppress(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    threshold: float,
    limit: int,
    steps: list[tuple[int, list[tuple[int, float]]]] | None = None,
) -> torch.Tensor:
    """Greedy NMS, the one loop `non_max_suppression` and the step-by-step walk (`walkthrough`) both run: the
    highest-scored box left is kept, every box left whose IoU with it exceeds `threshold` is dropped, until none is
    left or `limit` are kept. Returns the kept indices into `boxes`, by descending score.

    Args:
        steps: when given, one (kept index, [(suppressed index, IoU with the kept box), ...]) is appended per box kept.
    """
    order = scores.argsort(descending=True)
    boxes = boxes[order]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    alive = torch.ones(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(i)
        if len(keep) == limit:
            if steps is not None:
                steps.append((int(order[i]), []))
            break
        rest = boxes[i + 1 :]
        width = (torch.minimum(boxes[i, 2], rest[:, 2]) - torch.maximum(boxes[i, 0], rest[:, 0])).clamp(min=0)
        height = (torch.minimum(boxes[i, 3], rest[:, 3]) - torch.maximum(boxes[i, 1], rest[:, 1])).clamp(min=0)
        inter = width * height
        overlap = inter / (area[i] + area[i + 1 :] - inter)
        stays = overlap <= threshold  # False for a NaN too (two empty boxes): dropped, as Ultralytics' NMS does
        dropped = alive[i + 1 :] & ~stays
        alive[i + 1 :] &= stays
        if steps is not None:
            gone = dropped.nonzero().flatten()
            steps.append((int(order[i]), [(int(order[i + 1 + j]), float(overlap[j])) for j in gone]))
    return order[torch.tensor(keep, dtype=torch.long)]


@dataclass(frozen=True)
class Detection:
    """One detected object: its box in the original photo's pixels (x1, y1, x2, y2), score and class, and the
    cell of the pyramid that predicted it, and that prediction's index among the head's (its `anchor`)."""

    box: tuple[float, float, float, float]
    score: float
    class_id: int
    name: str
    cell: Cell | None = None
    anchor: int | None = None

    def to_dict(self) -> dict:
        """The box as `detect --json` and the Detections page's JSON give it: its class, score, box in the photo's
        pixels, and the level, stride and cell that predicted it."""
        cell = {"level": self.cell.level, "stride": self.cell.stride, "cell": [self.cell.row, self.cell.col]} if self.cell else {}
        return {"class_id": self.class_id, "name": self.name, "score": self.score, "box": list(self.box), **cell}


@dataclass(frozen=True)
class Cell:
    """Where a box was predicted: a level of the pyramid ("P3"), its stride in input pixels, and the cell
    (row, column) of that level's grid."""

    level: str
    stride: int
    row: int
    col: int


def anchor_cells(
    anchors: Sequence[int],
    grids: Sequence[tuple[int, int]],
    input_size: tuple[int, int],
    names: Sequence[str] = PYRAMID,
) -> list[Cell]:
    """The cell of each anchor index: anchors run over P3's grid row by row, then P4's, then P5's
    (`grids`: each level's (H, W)); `input_size` (H, W) gives the strides.

    Raises:
        ValueError: an anchor beyond the last level's last cell.
    """
    starts, total = [], 0
    for h, w in grids:
        starts.append(total)
        total += h * w
    cells = []
    for anchor in anchors:
        if not 0 <= anchor < total:
            raise ValueError(f"anchor {anchor} is outside the {total} cells of {len(grids)} levels")
        level = bisect.bisect_right(starts, anchor) - 1
        row, col = divmod(anchor - starts[level], grids[level][1])
        cells.append(Cell(names[level], input_size[0] // grids[level][0], row, col))
    return cells


@dataclass(frozen=True)
class DetectionResult:
    """The detections on one photo, and what they came from.

    Attributes:
        box: the letterboxed input and its mapping to the photo.
        detections: kept boxes, best score first, in the photo's pixels (clipped to it).
        score_maps: per level (P3, P4, P5), the best class score of every cell, (H, W).
        best_score: the highest class score anywhere (a random head stays near its starting biases).
        candidates: anchors whose best score exceeded the threshold (and whose best class was asked
            for), before NMS.
        predictions: the detector's output they came from, when asked for (`keep_predictions`: for `walkthrough`);
            None otherwise, so that a cached result does not hold a forward's tensors.
    """

    box: Letterbox
    detections: tuple[Detection, ...]
    score_maps: dict[str, torch.Tensor]
    best_score: float
    candidates: int
    predictions: DetectorOutput | None = field(default=None, repr=False, compare=False)
    branch: str = "one2many"  # the head's branch read: "one2many" (+ NMS) or YOLO26's "one2one" (top-k, no NMS)

    def to_dict(self) -> dict:
        """The photo's and input's sizes (H, W), the candidates, the best score and every box kept."""
        return {
            "branch": self.branch,
            "image_size": [self.box.original[1], self.box.original[0]],
            "input_size": list(self.box.size),
            "candidates": self.candidates,
            "best_score": self.best_score,
            "detections": [d.to_dict() for d in self.detections],
        }


def to_photo(
    kept: torch.Tensor,
    box: Letterbox,
    names: Sequence[str],
    cells: Sequence[Cell] | None = None,
    anchors: Sequence[int] | None = None,
) -> tuple[Detection, ...]:
    """NMS rows (x1, y1, x2, y2, score, class) in letterboxed pixels -> detections in the photo's pixels,
    clipped to the photo (with the cell and the anchor each came from, when given)."""
    width, height = box.original
    detections = []
    cells = cells if cells is not None else [None] * len(kept)
    anchors = anchors if anchors is not None else [None] * len(kept)
    for (x1, y1, x2, y2, score, cls), cell, anchor in zip(kept.tolist(), cells, anchors, strict=True):
        (left, top), (right, bottom) = box.to_original(x1, y1), box.to_original(x2, y2)
        clipped = (
            min(max(left, 0.0), width),
            min(max(top, 0.0), height),
            min(max(right, 0.0), width),
            min(max(bottom, 0.0), height),
        )
        detections.append(Detection(clipped, score, int(cls), names[int(cls)], cell, anchor))
    return tuple(detections)


def score_maps(output: DetectorOutput, names: Sequence[str] = PYRAMID) -> dict[str, torch.Tensor]:
    """The best class score per cell of every level of the first image, (H, W) each, from the decoded scores."""
    best = output.decoded[0, 4:].max(dim=0).values.float().cpu()
    maps, start = {}, 0
    for name, level in zip(names, output.neck, strict=True):
        h, w = level.shape[2:]
        maps[name] = best[start : start + h * w].view(h, w)
        start += h * w
    return maps


BRANCHES: dict[str, str] = {  # a head's branch -> how its boxes are read
    "one2many": "the one-to-many branch and NMS",
    "one2one": "the one-to-one branch, top-k without NMS",
}


def branch_output(output: DetectorOutput, branch: str) -> DetectorOutput:
    """`output` with the given branch's boxes, scores and decoded predictions in front: itself for "one2many", the
    one-to-one branch's (YOLO26) for "one2one".

    Raises:
        ValueError: an unknown branch, or "one2one" for a head without one.
    """
    if branch not in BRANCHES:
        raise ValueError(f"a head's branch is one2many or one2one, not {branch!r}")
    if branch == "one2many":
        return output
    if output.one2one is None:
        raise ValueError("this head has one branch: the one-to-one branch is YOLO26's (end2end)")
    return output._replace(boxes=output.one2one.boxes, scores=output.one2one.scores, decoded=output.one2one.decoded)


def detections_from(
    output: DetectorOutput,
    box: Letterbox,
    names: Sequence[str],
    nms: Nms = PREDICT,
    *,
    keep_predictions: bool = False,
    branch: str = "one2many",
) -> DetectionResult:
    """Read the first image's predictions from `branch` (the one-to-many one through NMS, as `yolo predict` does by
    default, or YOLO26's one-to-one one by top-k without NMS, as with `nms=False`) and map the kept boxes back to the
    photo (with `keep_predictions`, the result also holds `output`)."""
    read = branch_output(output, branch)
    if branch == "one2one":
        (kept,), (anchors,) = one_to_one(read.decoded[:1], nms)
    else:
        (kept,), (anchors,) = non_max_suppression(read.decoded[:1], nms, return_anchors=True)
    cells = anchor_cells(anchors.tolist(), [tuple(level.shape[2:]) for level in output.neck], box.size)
    scores, best = read.decoded[0, 4:].max(dim=0)
    return DetectionResult(
        box=box,
        detections=to_photo(kept, box, names, cells, anchors.tolist()),
        score_maps=score_maps(read),
        best_score=float(scores.max()),
        candidates=int(candidate_mask(scores, best, nms).sum()),
        predictions=output if keep_predictions else None,
        branch=branch,
    )


def detect(
    model: Detector,
    image: Image.Image | np.ndarray,
    size: int | str | Sequence[int],
    nms: Nms = PREDICT,
    *,
    rect: bool = True,
    keep_predictions: bool = False,
    branch: str = "one2many",
) -> DetectionResult:
    """Letterbox the photo, run the detector once (under its device's lock), suppress, map back: what
    Ultralytics' `predict(imgsz=size)` does, and with the same weights the same boxes.

    Args:
        size: S or (H, W) the photo is fitted in.
        rect: as Ultralytics' predict, pad only up to a multiple of 32 (a 1920x1080 photo at 640 runs at
            384x640); False pads to the whole `size`.
        branch: "one2many" (NMS), what predict runs by default since Ultralytics 8.4.142, also for YOLO26; or
            "one2one", YOLO26's NMS-free branch (`predict(nms=False)`).
    """
    if branch == "one2one" and not getattr(model.get_submodule(model.head_name), "end2end", False):
        raise ValueError(f"{model.config.label} has one branch: the one-to-one branch is YOLO26's (end2end)")
    forward = extract_features(model, image, size, (), batch_norm="running", rect=rect)
    names = class_names(model.num_classes, model.class_names)
    return detections_from(forward.predictions, forward.box, names, nms, keep_predictions=keep_predictions, branch=branch)
