"""How large an object is to each level of the pyramid: a box on the photo, through the letterbox into the model
input, measured in each level's cells and against each level's receptive field, at this input size and at others.

    view = object_size(make_config("yolo11n", detector=True), photo=(1920, 1080), box=(800, 400, 860, 470), size=640)
    for level in view.levels:
        level.name, level.stride, level.width_cells, level.cells_inside, level.receptive_field
    views = over_sizes(config, (1920, 1080), box, sizes=range(320, 1281, 160))   # "at 320 it is 1.4 P3 cells wide"

Every number comes from the model's own statistics (`stats.model_stats`: each level's stride, grid and receptive
field) and the letterbox's arithmetic (`preprocess.letterbox_size`, `letterbox_offset`); nothing is a rule of thumb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..forward.preprocess import letterbox_offset, letterbox_size
from ..model.config import BackboneConfig
from ..model.stats import ModelStats, model_stats, parse_size

__all__ = ["LevelView", "ObjectSize", "best_match", "box_iou", "object_size", "over_sizes"]

Box = tuple[float, float, float, float]  # (x1, y1, x2, y2)


@dataclass(frozen=True)
class LevelView:
    """One level of the pyramid as an object sees it.

    Attributes:
        name: "P3", "P4" or "P5".
        stride: input pixels per cell.
        grid: (rows, columns) of the level's cells.
        width_cells, height_cells: the box's size in cells (its input size over the stride).
        cells_inside: cells whose centre lies inside the box: the anchor points YOLO11 may give it (its assigner picks
            among cells whose centre is in the box).
        receptive_field: input pixels a cell's value can depend on (the statistics' theoretical window).
    """

    name: str
    stride: int
    grid: tuple[int, int]
    width_cells: float
    height_cells: float
    cells_inside: int
    receptive_field: int
    first_cell: tuple[int, int] | None  # (row, col) of the first cell inside, None when none is

    @property
    def field_over_object(self) -> float:
        """The receptive field over the box's longer side: below 1 a cell cannot see the whole object."""
        return self.receptive_field / max(self.width_cells * self.stride, self.height_cells * self.stride, 1e-9)


@dataclass(frozen=True)
class ObjectSize:
    """A box on the photo as the model gets it at one input size, and as each level sees it."""

    photo_box: Box  # in the photo's pixels
    input_box: Box  # in the model input's pixels, after the letterbox
    input_size: tuple[int, int]  # (H, W) of the model input
    scale: float  # the letterbox's resize
    levels: tuple[LevelView, ...]

    @property
    def width(self) -> float:
        return self.input_box[2] - self.input_box[0]

    @property
    def height(self) -> float:
        return self.input_box[3] - self.input_box[1]


def object_size(
    config: BackboneConfig,
    photo: tuple[int, int],
    box: Sequence[float],
    size: int | str | Sequence[int],
    *,
    rect: bool = False,
    stats_for: Callable[[BackboneConfig, tuple[int, int]], ModelStats] | None = None,
) -> ObjectSize:
    """Where a box of the photo lands in the model input and how each level of `config` sees it.

    Args:
        config: the architecture (its P3, P4, P5: a backbone's, or a detector's neck outputs).
        photo: (width, height) of the photo.
        box: (x1, y1, x2, y2) in the photo's pixels; clipped to the photo.
        size: the model input, S or (H, W); with `rect`, the largest it may be (Ultralytics' predict).
        stats_for: how to get the statistics of `config` at an input size (the app passes its cached copy);
            by default `stats.model_stats`.

    Raises:
        ValueError: an empty box, or one outside the photo.
    """
    w0, h0 = photo
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = sorted((min(max(x1, 0.0), w0), min(max(x2, 0.0), w0)))
    y1, y2 = sorted((min(max(y1, 0.0), h0), min(max(y2, 0.0), h0)))
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        raise ValueError(f"the box ({', '.join(f'{v:g}' for v in box)}) has no area inside the {w0}x{h0} photo")
    canvas, resized, scale = letterbox_size(photo, parse_size(size), rect=rect)
    left, top = letterbox_offset(canvas, resized)
    sx, sy = resized[0] / w0, resized[1] / h0
    input_box = (x1 * sx + left, y1 * sy + top, x2 * sx + left, y2 * sy + top)
    stats = (stats_for or model_stats)(config, canvas)
    levels = []
    for layer in (s for s in stats.layers if s.feature):
        _, rows, cols = layer.output_shape
        stride = canvas[0] // rows
        rows_in = _centres_inside(input_box[1], input_box[3], stride, rows)
        cols_in = _centres_inside(input_box[0], input_box[2], stride, cols)
        levels.append(
            LevelView(
                name=layer.feature,
                stride=stride,
                grid=(rows, cols),
                width_cells=(input_box[2] - input_box[0]) / stride,
                height_cells=(input_box[3] - input_box[1]) / stride,
                cells_inside=len(rows_in) * len(cols_in),
                receptive_field=layer.receptive_field,
                first_cell=(rows_in[0], cols_in[0]) if rows_in and cols_in else None,
            )
        )
    return ObjectSize((x1, y1, x2, y2), input_box, canvas, scale, tuple(levels))


def over_sizes(
    config: BackboneConfig,
    photo: tuple[int, int],
    box: Sequence[float],
    sizes: Iterable[int],
    *,
    rect: bool = False,
    stats_for: Callable[[BackboneConfig, tuple[int, int]], ModelStats] | None = None,
) -> list[ObjectSize]:
    """`object_size` at each square input size of `sizes` (multiples of 32): how the same object shrinks or grows."""
    return [object_size(config, photo, box, s, rect=rect, stats_for=stats_for) for s in sizes]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def best_match(box: Sequence[float], detections: Sequence, min_iou: float = 0.3) -> tuple[object, float] | None:
    """The detection (anything with a photo-pixel `box`) that overlaps `box` most, and that IoU; None below `min_iou`."""
    scored = [(d, box_iou(box, d.box)) for d in detections]
    best = max(scored, key=lambda pair: pair[1], default=None)
    return best if best is not None and best[1] >= min_iou else None


def _centres_inside(low: float, high: float, stride: int, count: int) -> list[int]:
    """The cells i of a row (or column) of `count` whose centre (i + 0.5) * stride lies in [low, high]."""
    first = max(0, math.ceil(low / stride - 0.5))
    last = min(count - 1, math.floor(high / stride - 0.5))
    return list(range(first, last + 1))
