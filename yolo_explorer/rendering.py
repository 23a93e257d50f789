"""Feature maps as PNG pictures (CLI output and downloads), drawn with Pillow and Plotly's colour scales."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw
from plotly.colors import sample_colorscale

from .heatmaps import quantize

__all__ = ["colormap_lut", "grid_image", "npy_bytes", "png_bytes"]


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
