"""One forward of one image that yields every map the views need."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..model.backbone import Backbone
from ..model.config import PYRAMID
from ..model.detector import DetectorOutput, pyramid
from ..model.stats import parse_size
from .capture import BatchNormStats, run_with_capture
from .preprocess import Letterbox, letterbox

__all__ = ["FeatureResult", "extract_features", "max_stride"]


@dataclass(frozen=True)
class FeatureResult:
    """The letterboxed input and the captured maps of one forward.

    Attributes:
        box: the letterboxed input and its mapping to the original image.
        maps: layer name -> (C, H, W) float32 CPU tensor (batch dimension dropped). A layer called
            several times in the forward (SPPF's pool) maps to a tuple of such tensors.
        outputs: the forward's pyramid outputs (a detector's: its neck's), (C, H, W) float32 each, in
            `feature_info` order.
        predictions: a detector's whole output on the CPU, batch dimension kept (what `detections` reads);
            None for a backbone.
    """

    box: Letterbox
    maps: dict[str, Any]
    outputs: tuple[torch.Tensor, ...]
    predictions: DetectorOutput | None = None


def extract_features(
    model: Backbone,
    image: Image.Image | np.ndarray,
    size: int | str | Sequence[int],
    layers: Sequence[str] = PYRAMID,
    *,
    batch_norm: BatchNormStats = "running",
    rect: bool = False,
) -> FeatureResult:
    """Letterbox `image` to `size`, run one forward on the model's device and dtype, capture `layers`.

    Args:
        model: the backbone (its lock is held during the forward).
        image: an RGB image (see `load_image`), or its (H, W, 3) uint8 pixels.
        size: model input size, S or (H, W); with `rect`, the largest it may be.
        layers: names from `list_layers(model)`.
        batch_norm: "running" (eval, as deployed) or "batch" (the tutorial's figures).
        rect: pad only up to a multiple of the model's largest stride, as Ultralytics' predict does (a
            1920x1080 photo at 640 runs at 384x640); else the whole `size`.

    Raises:
        KeyError: an unknown layer name, before any work.
    """
    box = letterbox(image, parse_size(size), rect=rect, stride=max_stride(model))
    param = next(model.parameters())
    x = box.tensor().to(param.device, param.dtype)
    outputs, captures = run_with_capture(model, x, layers, to_cpu=True, batch_norm=batch_norm)
    maps = {name: _first_image(value) for name, value in captures.items()}
    predictions = outputs if isinstance(outputs, DetectorOutput) else None
    return FeatureResult(box, maps, tuple(_first_image(o) for o in pyramid(outputs)), predictions)


def _first_image(value: Any) -> Any:
    """The first image of a captured output (a tuple's, each of its tensors'; a head's missing branch stays None)."""
    if isinstance(value, tuple):
        return tuple(_first_image(v) for v in value)
    return value[0].float() if isinstance(value, torch.Tensor) else value


def max_stride(model: Backbone) -> int:
    """The largest stride of the model's outputs (32 for every architecture here): input sides are multiples of it."""
    return max(info.stride for info in model.feature_info)
