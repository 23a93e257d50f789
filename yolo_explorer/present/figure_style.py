"""What every figure shares: the colour of each kind of block, the font and layout, photos as JPEG data URIs,
user text made literal in Plotly labels."""

from __future__ import annotations

import base64
import html
import io

import plotly.graph_objects as go
from PIL import Image

__all__ = ["BLOCK_COLORS", "FONT", "OTHER_COLOR", "base_layout", "jpeg_source", "plotly_text"]

# one colour per block type, used by every chart so a C3k2 looks the same everywhere
BLOCK_COLORS = {
    "input": "#9aa5b1",
    "ConvBNSiLU": "#4c78a8",
    "C3k2": "#f58518",
    "SPPF": "#54a24b",
    "C2PSA": "#e45756",
    "Upsample": "#72b7b2",
    "Concat": "#bab0ac",
    "Detect": "#9d755d",
}
OTHER_COLOR = "#b279a2"
FONT = dict(family="Inter, Segoe UI, sans-serif", size=12)


def jpeg_source(image: Image.Image) -> str:
    """The image as a JPEG data URI (quality 85): how every figure here carries a photo."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def base_layout(fig: go.Figure, height: int, **kwargs) -> go.Figure:
    layout = {"height": height, "margin": dict(l=10, r=10, t=40, b=10), "font": FONT, "template": "plotly_white"}
    fig.update_layout(**(layout | kwargs))
    return fig


def plotly_text(text: str) -> str:
    """Text from a file (a class name) made literal in a Plotly label or hover template: HTML's special characters
    as entities (Plotly draws a subset of HTML), and "%" as one too (a template would read "%{x}" as a field)."""
    return html.escape(text).replace("%", "&#37;")
