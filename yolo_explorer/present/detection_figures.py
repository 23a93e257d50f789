"""Figures of detection and its lenses: boxes on the photo, box selection, object size per level, NMS step by step,
label assignment, the DFL's distributions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from ..detection.detections import class_color
from .figure_style import base_layout, jpeg_source, plotly_text

if TYPE_CHECKING:
    from ..detection.two_heads import Reliability

__all__ = [
    "reliability_figure",
    "branch_scores_figure",
    "assignment_figure",
    "box_select_figure",
    "detections_figure",
    "dfl_figure",
    "nms_step_figure",
    "sizes_plot",
]


def _cell(detection) -> str:
    """A box's hover line about the cell that predicted it, if known."""
    cell = getattr(detection, "cell", None)
    return "" if cell is None else f"<br>{cell.level} (stride {cell.stride}), cell {cell.row}, {cell.col}"


def detections_figure(photo: Image.Image, detections: Sequence, *, max_side: int = 1280, title: str = "") -> go.Figure:
    """The photo with one box per detection, coloured by class and labelled "name score"; hover a box for its
    coordinates. `detections` hold `box` (x1, y1, x2, y2 in the photo's pixels), `score`, `class_id`, `name`.
    The photo travels as a JPEG (at most `max_side` pixels a side), the boxes are scaled to it."""
    image = photo.convert("RGB")
    scale = min(1.0, max_side / max(image.size))
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
    fig = go.Figure(go.Image(source=jpeg_source(image), hoverinfo="skip"))
    annotations = []
    for d in detections:
        x1, y1, x2, y2 = (v * scale for v in d.box)
        color, name = class_color(d.class_id), plotly_text(d.name)
        fig.add_trace(
            go.Scatter(
                x=[x1, x2, x2, x1, x1],
                y=[y1, y1, y2, y2, y1],
                mode="lines",
                line=dict(color=color, width=2.5),
                hoveron="points+fills",
                hovertemplate=(
                    f"<b>{name}</b> {d.score:.2f}<br>x {d.box[0]:.0f}-{d.box[2]:.0f}, "
                    f"y {d.box[1]:.0f}-{d.box[3]:.0f}{_cell(d)}<extra></extra>"
                ),
                showlegend=False,
            )
        )
        annotations.append(
            dict(x=x1, y=y1, text=f"{name} {d.score:.2f}", showarrow=False, xanchor="left", yanchor="bottom",
                 bgcolor=color, font=dict(color="white", size=11), borderpad=1)
        )  # fmt: skip
    width, height = image.size
    fig.update_xaxes(visible=False, range=[-0.5, width - 0.5])
    fig.update_yaxes(visible=False, range=[height - 0.5, -0.5], scaleanchor="x")
    fig.update_layout(annotations=annotations)
    return base_layout(fig, max(300, min(680, int(620 * height / width) + 60)), title=dict(text=title, x=0, font=dict(size=14)))


def box_select_figure(photo: Image.Image, boxes: Sequence[Sequence[float]], *, max_side: int = 1024) -> go.Figure:
    """The photo with boxes drawn on it ((x1, y1, x2, y2) in its pixels; the first orange, the others in their own
    colours), ready for Plotly's box-select tool: a grid of invisible points over the photo makes every dragged
    rectangle a selection. The photo travels as a JPEG of at most `max_side` pixels a side; `layout.meta["scale"]` is
    that factor (the figure's coordinates over the photo's pixels)."""
    image = photo.convert("RGB")
    scale = min(1.0, max_side / max(image.size))
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
    width, height = image.size
    step = max(width, height) / 48
    xs = np.arange(step / 2, width, step)
    ys = np.arange(step / 2, height, step)
    gx, gy = np.meshgrid(xs, ys)
    outlines = []
    for i, box in enumerate(boxes):
        x1, y1, x2, y2 = (v * scale for v in box)
        outlines.append(
            go.Scatter(
                x=[x1, x2, x2, x1, x1],
                y=[y1, y1, y2, y2, y1],
                mode="lines",
                line=dict(color="#f58518" if len(boxes) == 1 else class_color(i), width=3),
                hoverinfo="skip",
                showlegend=False,
            )
        )
    fig = go.Figure(
        [
            go.Image(source=jpeg_source(image), hoverinfo="skip"),
            go.Scatter(
                x=gx.ravel().round(1),
                y=gy.ravel().round(1),
                mode="markers",
                marker=dict(size=step, opacity=0),
                hoverinfo="skip",
                showlegend=False,
            ),
            *outlines,
        ]
    )
    fig.update_xaxes(visible=False, range=[-0.5, width - 0.5])
    fig.update_yaxes(visible=False, range=[height - 0.5, -0.5], scaleanchor="x")
    fig.update_layout(dragmode="select", meta={"scale": scale}, selectdirection="any")
    return base_layout(fig, max(300, min(620, int(560 * height / width) + 40)))


def sizes_plot(sizes: Sequence[int], cells_wide: dict[str, Sequence[float]]) -> go.Figure:
    """An object's width in cells of each level (one line per level) against the input size, with one cell marked."""
    fig = go.Figure(
        [
            go.Scatter(
                x=list(sizes),
                y=list(values),
                mode="lines+markers",
                name=level,
                hovertemplate=f"{level} at %{{x}} px: %{{y:.2f}} cells wide<extra></extra>",
            )
            for level, values in cells_wide.items()
        ]
    )
    fig.add_hline(y=1, line=dict(color="#888", dash="dot"), annotation_text="one cell", annotation_position="top left")
    fig.update_layout(xaxis=dict(title="input size (px, square)"), yaxis=dict(title="object width in cells", type="log"))
    return base_layout(fig, 340, legend=dict(orientation="h", y=1.15))


def nms_step_figure(
    image: Image.Image,
    kept: Sequence[tuple[float, float, float, float]],
    current: tuple[float, float, float, float],
    suppressed: Sequence[tuple[float, float, float, float]],
    *,
    title: str = "",
) -> go.Figure:
    """One step of NMS on the model input: the boxes kept before it (grey), the one kept now (orange) and the ones it
    suppresses (red, dashed); boxes in the input's pixels."""
    fig = go.Figure(go.Image(source=jpeg_source(image), hoverinfo="skip"))
    for boxes, color, dash, width, name in (
        (kept, "#9aa5b1", "solid", 1.5, "kept before"),
        (suppressed, "#d62728", "dash", 1.5, "suppressed now"),
        ([current], "#f58518", "solid", 3.0, "kept now"),
    ):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for x1, y1, x2, y2 in boxes:
            xs += [x1, x2, x2, x1, x1, None]
            ys += [y1, y1, y2, y2, y1, None]
        fig.add_trace(
            go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=color, width=width, dash=dash), name=name, hoverinfo="skip")
        )
    width, height = image.size
    fig.update_xaxes(visible=False, range=[-0.5, width - 0.5])
    fig.update_yaxes(visible=False, range=[height - 0.5, -0.5], scaleanchor="x")
    return base_layout(
        fig, max(300, min(560, int(520 * height / width) + 60)), title=dict(text=title, x=0, font=dict(size=14)),
        legend=dict(orientation="h", y=-0.05),
    )  # fmt: skip


def assignment_figure(image: Image.Image, assignment, crop: tuple[float, float, float, float] | None = None) -> go.Figure:
    """Label assignment on the model input, one panel per level: each ground-truth box (its own colour), the cells whose
    centre lies inside it (grey rings), those that learn it (filled, in its colour, larger for a larger target) and
    those it picked but another box took (crosses). Hover a cell for its metric's parts. `assignment` is an
    `assignment.Assignment`; `crop` (x1, y1, x2, y2 in input pixels) is the part shown (the photo without the
    letterbox's padding; zoom out to see the rest)."""
    levels = assignment.levels
    fig = make_subplots(
        rows=1,
        cols=len(levels),
        subplot_titles=[
            f"{name}: stride {stride}, {grid[0]}×{grid[1]}: {sum(t.count('positives')[name] for t in assignment.truths)} learn"
            for name, stride, grid in levels
        ],
        horizontal_spacing=0.02,
    )
    source = jpeg_source(image)
    height, width = assignment.input_size
    for col, (level, _, _) in enumerate(levels, start=1):
        fig.add_trace(go.Image(source=source, hoverinfo="skip"), row=1, col=col)
        for truth in assignment.truths:
            color = class_color(truth.index)
            x1, y1, x2, y2 = truth.box
            name = plotly_text(f"box {truth.index + 1}: {truth.name}")
            fig.add_trace(
                go.Scatter(x=[x1, x2, x2, x1, x1], y=[y1, y1, y2, y2, y1], mode="lines", line=dict(color=color, width=2),
                           name=name, legendgroup=name, showlegend=col == 1, hoverinfo="skip"),
                row=1, col=col,
            )  # fmt: skip
            here = [c for c in truth.candidates if c.cell.level == level]
            groups = (
                ([c for c in here if not c.picked and not c.positive], "circle-open", "#d0d0d0", "inside, not picked"),
                ([c for c in here if c.taken_by is not None], "x-thin-open", color, "picked, taken by a box it overlaps more"),
                ([c for c in here if c.positive], "circle", color, "learns this box"),
            )
            for cells, symbol, marker_color, what in groups:
                if not cells:
                    continue
                sizes = [6 + 10 * c.target for c in cells] if symbol == "circle" else 6
                fig.add_trace(
                    go.Scatter(
                        x=[c.point[0] for c in cells],
                        y=[c.point[1] for c in cells],
                        mode="markers",
                        marker=dict(symbol=symbol, size=sizes, color=marker_color, line=dict(width=1.5, color=marker_color)),
                        customdata=[[c.cell.row, c.cell.col, c.score, c.iou, c.metric, c.rank, c.target] for c in cells],
                        hovertemplate=(
                            f"<b>{name}</b>, {level} cell (%{{customdata[0]}}, %{{customdata[1]}}): {what}<br>"
                            "score %{customdata[2]:.3f}, CIoU %{customdata[3]:.3f}<br>"
                            "metric %{customdata[4]:.3g} (rank %{customdata[5]}), target %{customdata[6]:.3f}<extra></extra>"
                        ),
                        legendgroup=name,
                        showlegend=False,
                    ),
                    row=1,
                    col=col,
                )
    left, top, right, bottom = crop or (0, 0, width, height)
    fig.update_xaxes(visible=False, range=[left - 0.5, right - 0.5])
    fig.update_yaxes(visible=False, range=[bottom - 0.5, top - 0.5])
    for col in range(1, len(levels) + 1):
        fig.update_yaxes(scaleanchor="x" if col == 1 else f"x{col}", row=1, col=col)
    panel = 1200 / len(levels)
    shown = (bottom - top) / max(right - left, 1)
    return base_layout(fig, max(300, int(panel * shown) + 90), legend=dict(orientation="h", y=-0.04))


def dfl_figure(probabilities: Sequence[Sequence[float]], expected: Sequence[float], sides: Sequence[str]) -> go.Figure:
    """The distribution focal loss's four distributions of one box: for each side, the probability of each distance
    (in cells) and the expected distance the box uses (a dotted line)."""
    fig = make_subplots(
        rows=1, cols=len(sides), subplot_titles=[f"{s}: {e:.2f} cells" for s, e in zip(sides, expected, strict=True)]
    )
    for i, (probs, mean) in enumerate(zip(probabilities, expected, strict=True), start=1):
        fig.add_trace(
            go.Bar(x=list(range(len(probs))), y=list(probs), marker_color="#4c78a8", showlegend=False,
                   hovertemplate="%{x} cells: %{y:.3f}<extra></extra>"),
            row=1, col=i,
        )  # fmt: skip
        fig.add_vline(x=mean, line=dict(color="#f58518", dash="dot", width=2), row=1, col=i)
    fig.update_xaxes(title_text="distance (cells)", dtick=5)
    fig.update_yaxes(range=[0, 1], tickformat=".0%")  # one scale for the four sides
    return base_layout(fig, 260)


def branch_scores_figure(one2many: Sequence[float], one2one: Sequence[float], conf: float) -> go.Figure:
    """The scores each branch of a YOLO26's head gives over the threshold: the one-to-many branch's candidates (what
    NMS sorts through) beside the one-to-one branch's boxes (what it keeps), as two histograms over the same bins."""
    fig = go.Figure()
    bins = dict(start=conf, end=1.0, size=(1.0 - conf) / 20)
    for name, scores, color in (
        ("one-to-many candidates (before NMS)", one2many, "#4c78a8"),
        ("one-to-one boxes (no NMS)", one2one, "#f58518"),
    ):
        fig.add_trace(go.Histogram(x=list(scores), name=f"{name}: {len(scores)}", xbins=bins, marker_color=color, opacity=0.75))
    fig.update_layout(barmode="overlay", legend=dict(orientation="h", y=1.12, x=0))
    fig.update_xaxes(title="score", range=[conf, 1.0])
    fig.update_yaxes(title="boxes")
    return base_layout(fig, 300, title="Scores over the threshold, by branch")


def reliability_figure(reliable: Mapping[str, Reliability]) -> go.Figure:
    """Per branch, how often a box of a score finds an object: per score bin its boxes' mean score against the share
    that found one (on the diagonal a score means what it says; under it, boxes score more than they find), each
    marker sized by its boxes; every box drawn as a tick at 1 (found one) or 0 (did not)."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#999", dash="dot"), name="a score means what it says")
    )
    colors = {"one2many": "#4c78a8", "one2one": "#f58518"}
    names = {"one2many": "one-to-many + NMS", "one2one": "one-to-one, no NMS"}
    for branch, r in reliable.items():
        bins = [b for b in r.bins() if b[2]]
        color = colors.get(branch, "#54a24b")
        fig.add_trace(
            go.Scatter(
                x=[b[3] for b in bins],
                y=[b[4] for b in bins],
                mode="lines+markers",
                marker=dict(size=[8 + 3 * b[2] ** 0.5 for b in bins], color=color),
                line=dict(color=color),
                name=f"{names.get(branch, branch)}: {r.found} of {len(r.hits)} boxes find one of {r.truths} objects",
                customdata=[[b[0], b[1], b[2]] for b in bins],
                hovertemplate="scores %{customdata[0]:.2f}-%{customdata[1]:.2f}: %{customdata[2]} boxes, "
                "mean %{x:.3f}, %{y:.0%} find an object<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=list(r.scores),
                y=[1.04 if h else -0.04 for h in r.hits],
                mode="markers",
                marker=dict(symbol="line-ns-open", size=12, color=color),
                showlegend=False,
                hovertemplate="a box scored %{x:.3f}<extra></extra>",
            )
        )
    conf = min((r.conf for r in reliable.values()), default=0.0)
    fig.update_xaxes(title="score", range=[conf, 1.0])
    fig.update_yaxes(title="share that finds an object", range=[-0.08, 1.08], tickformat=".0%")
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, x=0))
    return base_layout(fig, 400, title="Reliability: does a score of 0.8 find an object 8 times in 10?")
