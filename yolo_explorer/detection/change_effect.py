"""What one design change does to a trained model's result on a photo: the model run as it is and with that change
alone undone (`changes.without_change`: the same weights), the changed layer's output compared and the boxes each
keeps. YOLO26's SPPF computes its first conv without SiLU and adds a residual: with YOLO26's trained weights, how
much does that move P5, and the boxes?"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..forward.features import extract_features
from ..model.config import FamilyConfig
from ..model.detector import Detector, build_model
from .detections import DetectionResult, Nms, class_names, detections_from
from .two_heads import MATCH_IOU, match_boxes

__all__ = ["ChangeEffect", "change_effect"]


@dataclass(frozen=True)
class ChangeEffect:
    """A change's effect on one photo.

    Attributes:
        layers: the layers the change touched, with the relative change of each one's output,
            ||without - with|| / ||with||.
        with_change, without_change: the detections of the model as it is and with the change undone.
        same: boxes both keep (same class, IoU 0.5 or more).
        score_changes: |score without - score with| of each of those.
    """

    layers: tuple[tuple[str, float], ...]
    with_change: DetectionResult
    without_change: DetectionResult
    same: int
    score_changes: tuple[float, ...]

    @property
    def median_score_change(self) -> float | None:
        return statistics.median(self.score_changes) if self.score_changes else None

    def to_dict(self) -> dict:
        return {
            "layers": {name: change for name, change in self.layers},
            "boxes_with": len(self.with_change.detections),
            "boxes_without": len(self.without_change.detections),
            "same": self.same,
            "median_score_change": self.median_score_change,
        }


def change_effect(
    model: Detector,
    without: FamilyConfig,
    layers: Sequence[str],
    image: Image.Image | np.ndarray,
    size: int | tuple[int, int],
    nms: Nms,
    *,
    branch: str = "one2many",
) -> ChangeEffect:
    """Run `model` (trained; not modified) and a copy of its weights in `without` on the photo, as predict does.

    Raises:
        RuntimeError: `without` does not take the model's weights (a change that alters them).
    """
    other = build_model(without, device=next(model.parameters()).device).eval()
    other.load_state_dict(model.state_dict())
    other.class_names = model.class_names
    names = class_names(model.num_classes, model.class_names)
    runs = [extract_features(m, image, size, tuple(layers), batch_norm="running", rect=True) for m in (model, other)]
    changes = []
    for name in layers:
        a, b = (r.maps[name].double() for r in runs)
        changes.append((name, float((b - a).norm() / a.norm().clamp_min(1e-12))))
    found = [detections_from(r.predictions, r.box, names, nms, branch=branch) for r in runs]
    pairs, _, _ = match_boxes(found[0].detections, found[1].detections, MATCH_IOU)
    return ChangeEffect(tuple(changes), found[0], found[1], len(pairs), tuple(abs(a.score - b.score) for a, b, _ in pairs))
