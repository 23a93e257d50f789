"""Figures of what one forward reveals: channel grids, one channel's heatmap, a heatmap over the photo."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from ..forward.heatmaps import Quantized
from .figure_style import base_layout, jpeg_source

__all__ = [
    "channel_grid",
    "channel_heatmap",
    "overlay",
]


def channel_grid(
    q: Quantized,
    channels: Sequence[int],
    *,
    shared: bool,
    colorscale: str = "Viridis",
    cols: int | None = None,
    title: str = "",
) -> go.Figure:
    """A grid of channel heatmaps from uint8 levels (light payload), one small plot per channel.

    Built as plain dicts with the axis domains computed here: `make_subplots` and per-cell updates
    take ~15x longer for the same figure, and this one is rebuilt on every view change.

    Args:
        q: the quantised maps, one per channel shown (same order as `channels`).
        channels: channel indices, for the captions.
        shared: all maps share one value range; the colour bar is then in real units. Otherwise each
            map spans its own range and the colour bar reads "low .. high".
        colorscale: a Plotly colour scale name.
        cols: maps per row; default about square.
        title: figure title.
    """
    n = len(channels)
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    gap_x, gap_y = 0.012, 0.05 if rows > 1 else 0.0
    cell_w, cell_h = (1 - gap_x * (cols - 1)) / cols, (1 - gap_y * (rows - 1)) / rows
    data, annotations = [], []
    layout: dict = {}
    for i, channel in enumerate(channels):
        r, c = divmod(i, cols)
        k = "" if i == 0 else str(i + 1)
        x0, top = c * (cell_w + gap_x), 1 - r * (cell_h + gap_y)
        data.append(
            dict(
                type="heatmap",
                z=q.levels[i],
                coloraxis="coloraxis",
                xaxis=f"x{k}",
                yaxis=f"y{k}",
                name=f"ch {channel}",
                hovertemplate=f"ch {channel}<br>x %{{x}}, y %{{y}}<br>level %{{z}} of 255<extra></extra>",
            )
        )
        layout[f"xaxis{k}"] = dict(domain=_unit(x0, x0 + cell_w), anchor=f"y{k}", visible=False, constrain="domain")
        layout[f"yaxis{k}"] = dict(
            domain=_unit(top - cell_h, top),
            anchor=f"x{k}",
            visible=False,
            autorange="reversed",
            scaleanchor=f"x{k}",
            constrain="domain",
        )
        annotations.append(
            dict(
                text=f"ch {channel}",
                x=x0 + cell_w / 2,
                y=top,
                xref="paper",
                yref="paper",
                showarrow=False,
                yanchor="bottom",
                font=dict(size=10),
            )
        )
    if shared and n:
        lo, hi = float(q.lo[0]), float(q.hi[0])
        ticks = np.linspace(0, 255, 5)
        colorbar = dict(title="value", tickvals=ticks.tolist(), ticktext=[f"{lo + t / 255 * (hi - lo):.3g}" for t in ticks])
    else:
        colorbar = dict(title="per channel", tickvals=[0, 255], ticktext=["low", "high"])
    layout.update(coloraxis=dict(colorscale=colorscale, cmin=0, cmax=255, colorbar=colorbar), annotations=annotations)
    fig = go.Figure(data=data, layout=layout)
    return base_layout(fig, 70 + rows * max(90, 600 // cols), title=dict(text=title, x=0, font=dict(size=14)))


def _unit(lo: float, hi: float) -> list[float]:
    """An axis domain clamped to [0, 1] (sums of gaps and cells drift by 1e-16)."""
    return [min(max(lo, 0.0), 1.0), min(max(hi, 0.0), 1.0)]


def channel_heatmap(
    fmap: np.ndarray,
    *,
    title: str,
    colorscale: str = "Viridis",
    zmin: float | None = None,
    zmax: float | None = None,
    height: int = 420,
) -> go.Figure:
    """One map at full precision: hover gives the real value at every position."""
    fig = go.Figure(
        go.Heatmap(
            z=np.asarray(fmap, dtype=np.float32),
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
            colorbar=dict(thickness=10, len=0.75, exponentformat="e"),
            hovertemplate="x %{x}, y %{y}<br>value %{z:.4g}<extra></extra>",
        )
    )
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    return base_layout(fig, height, title=dict(text=title, x=0, font=dict(size=13)), margin=dict(l=0, r=0, t=30, b=0))


def overlay(photo: Image.Image, heat: np.ndarray, *, opacity: float, colorscale: str = "Inferno", title: str = "") -> go.Figure:
    """A heatmap laid over a photo. `heat` covers the photo exactly, at any (lower) resolution.

    The photo travels as a JPEG data URI and the heat at its own resolution, smoothed in the
    browser, so the chart stays light whatever the photo's size.
    """
    source = jpeg_source(photo)
    width, height = photo.size
    hh, hw = heat.shape
    dx, dy = width / hw, height / hh
    fig = go.Figure(go.Image(source=source, hoverinfo="skip"))
    fig.add_trace(
        go.Heatmap(
            z=np.asarray(heat, dtype=np.float32),
            x0=dx / 2 - 0.5,
            dx=dx,
            y0=dy / 2 - 0.5,
            dy=dy,
            colorscale=colorscale,
            opacity=opacity,
            zsmooth="best",
            colorbar=dict(title="value", thickness=12, exponentformat="e"),
            hovertemplate="x %{x:.0f}, y %{y:.0f}<br>value %{z:.4g}<extra></extra>",
        )
    )
    fig.update_xaxes(visible=False, range=[-0.5, width - 0.5])
    fig.update_yaxes(visible=False, range=[height - 0.5, -0.5], scaleanchor="x")
    return base_layout(fig, max(300, min(620, int(560 * height / width) + 60)), title=dict(text=title, x=0, font=dict(size=14)))
