"""Feature maps and detections as PNG pictures (CLI output and downloads), drawn with Pillow and Plotly's
colour scales."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from plotly.colors import sample_colorscale

from ..detection.detections import class_color
from ..forward.heatmaps import quantize

__all__ = ["boxes_image", "colormap_lut", "grid_image", "heat_image", "npy_bytes", "png_bytes"]


def colormap_lut(name: str = "Viridis") -> np.ndarray:
    """A (256, 3) uint8 lookup table sampled from a Plotly colour scale ("Viridis", "Inferno", ...)."""
    colors = sample_colorscale(name, np.linspace(0, 1, 256).tolist(), colortype="tuple")
    return np.rint(np.asarray(colors, dtype=np.float64) * 255).astype(np.uint8)


def grid_image(
    maps: np.ndarray,
    labels: Sequence[str] | None = None,
    *,
    cols: int | None = None,
    cell: int = 128,
    colorscale: str = "Viridis",
    shared: bool = False,
) -> Image.Image:
    """Tile (N, H, W) maps into one RGB picture, each scaled to `cell` pixels wide, with a label.

    Args:
        maps: the maps, float.
        labels: one caption per map ("ch 17").
        cols: maps per row; default about square.
        cell: width in pixels of one tile (nearest-neighbour upscaling keeps the cells visible).
        colorscale: a Plotly colour scale name.
        shared: one value range for all maps instead of one per map.
    """
    q = quantize(maps, shared=shared)
    n, h, w = q.levels.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    tile_w = cell
    tile_h = max(1, round(cell * h / w))
    label_h = 14 if labels else 0
    gap = 4
    canvas = Image.new("RGB", (cols * (tile_w + gap) + gap, rows * (tile_h + label_h + gap) + gap), "white")
    draw = ImageDraw.Draw(canvas)
    lut = colormap_lut(colorscale)
    for i in range(n):
        r, c = divmod(i, cols)
        x, y = gap + c * (tile_w + gap), gap + r * (tile_h + label_h + gap)
        tile = Image.fromarray(lut[q.levels[i]], "RGB").resize((tile_w, tile_h), Image.Resampling.NEAREST)
        canvas.paste(tile, (x, y + label_h))
        if labels:
            draw.text((x + 2, y + 1), labels[i], fill="black")
    return canvas


def png_bytes(image: Image.Image) -> bytes:
    """The image encoded as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    """The array in NumPy's .npy format."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def boxes_image(photo: Image.Image, detections: Sequence) -> Image.Image:
    """A copy of the photo with one outlined box per detection in its class's colour, labelled "name score"
    on a band of that colour (above the box, or inside it at the photo's top edge). The best-scored box is
    drawn last, on top. `detections` hold `box` (x1, y1, x2, y2 in the photo's pixels), `score`,
    `class_id`, `name`."""
    image = photo.convert("RGB")  # a copy, also when the photo is RGB already
    draw = ImageDraw.Draw(image)
    side = max(image.size)
    line = max(2, round(side / 400))
    font = ImageFont.load_default(size=max(11, round(side / 60)))
    for d in sorted(detections, key=lambda d: d.score):
        color = class_color(d.class_id)
        x1, y1, x2, y2 = d.box
        draw.rectangle((x1, y1, x2, y2), outline=color, width=line)
        label = f"{d.name} {d.score:.2f}"
        left, top, right, bottom = draw.textbbox((x1, y1), label, font=font, anchor="lb")
        if top < 0:  # no room above: inside the box
            left, top, right, bottom = draw.textbbox((x1, y1), label, font=font, anchor="lt")
        draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=color)
        draw.text((left, top), label, fill="white", font=font, anchor="lt")
    return image


def heat_image(photo: Image.Image, heat: np.ndarray, *, opacity: float = 0.6, colorscale: str = "Inferno") -> Image.Image:
    """The photo with a heat map (any resolution, covering the photo exactly, scaled to its own 0..max) blended over it."""
    image = photo.convert("RGB")
    heat = np.asarray(heat, dtype=np.float32)
    top = float(heat.max()) if heat.size else 0.0
    levels = np.zeros(heat.shape, np.uint8) if top <= 0 else np.rint(np.clip(heat / top, 0, 1) * 255).astype(np.uint8)
    colours = Image.fromarray(colormap_lut(colorscale)[levels], "RGB").resize(image.size, Image.Resampling.BILINEAR)
    return Image.blend(image, colours, opacity)
