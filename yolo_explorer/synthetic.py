"""Synthetic photos of coloured shapes on cluttered backgrounds, with their true boxes: the data set the test
detector (`tests/data/synthetic_yolo11n.pt`) was trained on by Ultralytics, the new photos the tests check it on,
and the photos the benchmarks send. numpy and Pillow only (this module imports nothing else of the package), so
Ultralytics' scratch environment loads it by path and draws the same scenes.

The classes differ by colour as well as by shape (a red and a blue disc are two classes), so a model fed
BGR instead of RGB swaps them, and photos are rarely square, so swapped x and y put boxes off the shapes.

    image, objects = scene(seed=7, width=1280, height=720)
    objects[0].class_id, objects[0].box     # 2, (x1, y1, x2, y2) in pixels
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = ("red disc", "blue disc", "yellow square", "green triangle")
_COLOURS = ((220, 30, 35), (30, 60, 220), (235, 205, 20), (35, 170, 60))  # RGB of each class
_SHAPES = ("disc", "disc", "square", "triangle")
# shapes that are no class: a model must look at the colour, not only the outline
_DISTRACTORS = (("disc", (235, 235, 235)), ("square", (120, 120, 120)), ("triangle", (120, 80, 50)))


@dataclass(frozen=True)
class Shape:
    """One drawn object: its class and its box (x1, y1, x2, y2) in the photo's pixels."""

    class_id: int
    box: tuple[float, float, float, float]


def scene(
    seed: int, width: int, height: int, *, objects: tuple[int, int] = (2, 6), size: tuple[float, float] = (0.08, 0.32)
) -> tuple[Image.Image, list[Shape]]:
    """An RGB photo of `width` x `height` with a few class shapes (and a distractor or two) that do not overlap.

    Args:
        seed: the scene (the same seed draws the same photo).
        objects: fewest and most class shapes.
        size: smallest and largest side of a shape, as a fraction of the photo's shorter side.

    Returns:
        The photo and its class shapes (distractors are not listed).
    """
    rng = np.random.default_rng(seed)
    image = _background(rng, width, height)
    draw = ImageDraw.Draw(image)
    short = min(width, height)
    placed: list[tuple[float, float, float, float]] = []
    shapes = []
    wanted = int(rng.integers(objects[0], objects[1] + 1))
    distractors = int(rng.integers(0, 3))
    for index in range(wanted + distractors):
        side = float(rng.uniform(*size)) * short
        box = _free_spot(rng, width, height, side, placed)
        if box is None:
            continue
        placed.append(box)
        if index < wanted:
            class_id = int(rng.integers(len(CLASSES)))
            kind, colour = _SHAPES[class_id], _jitter(rng, _COLOURS[class_id])
            shapes.append(Shape(class_id, box))
        else:
            kind, colour = _DISTRACTORS[int(rng.integers(len(_DISTRACTORS)))]
        _draw(draw, kind, box, colour, rng)
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, 6, (height, width, 3))  # sensor-like noise
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)), shapes


def _background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A smooth random field of muted colours with clutter: strokes and blurred blobs."""
    coarse = rng.uniform(60, 190, (4, 6, 3)).astype(np.uint8)
    image = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    short = min(width, height)
    for _ in range(int(rng.integers(6, 14))):
        tone = tuple(int(v) for v in rng.uniform(50, 200) + rng.uniform(-25, 25, 3))
        x0, y0, x1, y1 = (float(v) for v in rng.uniform(0, 1, 4) * (width, height, width, height))
        draw.line((x0, y0, x1, y1), fill=tone, width=max(1, int(rng.uniform(0.003, 0.02) * short)))
    for _ in range(int(rng.integers(2, 6))):
        tone = tuple(int(v) for v in rng.uniform(70, 180) + rng.uniform(-20, 20, 3))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.05, 0.25, 2) * short
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=tone)
    return image.filter(ImageFilter.GaussianBlur(radius=max(1.0, short / 300)))


def _free_spot(
    rng: np.random.Generator, width: int, height: int, side: float, placed: list[tuple[float, float, float, float]]
) -> tuple[float, float, float, float] | None:
    """A box of `side` inside the photo that keeps a margin from every placed box (None after 50 tries)."""
    for _ in range(50):
        x1, y1 = rng.uniform(0, width - side), rng.uniform(0, height - side)
        box = (float(x1), float(y1), float(x1 + side), float(y1 + side))
        m = 0.1 * side  # a margin between shapes
        if all(box[2] + m < b[0] or b[2] + m < box[0] or box[3] + m < b[1] or b[3] + m < box[1] for b in placed):
            return box
    return None


def _jitter(rng: np.random.Generator, colour: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in colour)


def _draw(draw: ImageDraw.ImageDraw, kind: str, box: tuple[float, float, float, float], colour, rng) -> None:
    x1, y1, x2, y2 = box
    if kind == "disc":
        draw.ellipse(box, fill=colour)
    elif kind == "square":
        draw.rectangle(box, fill=colour)
    elif rng.uniform() < 0.5:  # a triangle pointing up or down, its box the shape's own
        draw.polygon([(x1, y2), (x2, y2), ((x1 + x2) / 2, y1)], fill=colour)
    else:
        draw.polygon([(x1, y1), (x2, y1), ((x1 + x2) / 2, y2)], fill=colour)


def yolo_labels(shapes: list[Shape], width: int, height: int) -> str:
    """Ultralytics' label file for a photo: one "class cx cy w h" line per shape, normalised to 0..1."""
    lines = []
    for s in shapes:
        x1, y1, x2, y2 = s.box
        cx, cy, w, h = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height
        lines.append(f"{s.class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return "\n".join(lines) + "\n"
