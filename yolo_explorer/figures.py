"""Pure Plotly builders: numbers in, `go.Figure` out. No state, no Streamlit."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from .detections import class_color
from .formatting import human_bytes, human_count, shape_str
from .heatmaps import Quantized
from .stats import ModelStats

__all__ = [
    "BLOCK_COLORS",
    "assignment_figure",
    "box_select_figure",
    "channel_grid",
    "channel_heatmap",
    "cost_bars",
    "detections_figure",
    "detector_flow_diagram",
    "dfl_figure",
    "flow_diagram",
    "latency_box",
    "latency_history",
    "nms_step_figure",
    "overlay",
    "plotly_text",
    "roofline",
    "scaling_plot",
    "sensitivity_bars",
    "sizes_plot",
    "stage_share_bars",
    "sweep_plot",
    "time_vs_macs",
]

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
_OTHER_COLOR = "#b279a2"
_FONT = dict(family="Inter, Segoe UI, sans-serif", size=12)


def _jpeg_source(image: Image.Image) -> str:
    """The image as a JPEG data URI (quality 85): how every figure here carries a photo."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _base_layout(fig: go.Figure, height: int, **kwargs) -> go.Figure:
    layout = {"height": height, "margin": dict(l=10, r=10, t=40, b=10), "font": _FONT, "template": "plotly_white"}
    fig.update_layout(**(layout | kwargs))
    return fig


def _block_legend(stats: ModelStats) -> list[go.Scatter]:
    """One legend entry per kind of block the model has, in its colour."""
    return [
        go.Scatter(x=[None], y=[None], mode="markers", marker=dict(size=12, color=color, symbol="square"), name=block)
        for block, color in BLOCK_COLORS.items()
        if block != "input" and any(s.block == block for s in stats.layers)
    ]


def flow_diagram(stats: ModelStats) -> go.Figure:
    """The data flow: input -> every layer -> P3/P4/P5, each box labelled with its output shape.

    Box height grows with the channel count (log scale), so widening stages are visible at a glance;
    hovering a box gives its parameters, MACs and receptive field. Boxes and labels are handed to the
    layout as one list each: adding them one by one re-validates the whole list every time (~10x slower).
    """
    c, h, w = stats.input_shape
    nodes = [("input", "input", (c, h, w), "")] + [(s.name, s.block, s.output_shape, s.feature) for s in stats.layers]
    max_c = max(shape[0] for _, _, shape, _ in nodes)
    shapes, annotations, hover_text = [], [], []
    arrow = dict(xref="x", yref="y", axref="x", ayref="y", showarrow=True, arrowhead=2, arrowwidth=1.5)
    for i, (name, block, shape, feature) in enumerate(nodes):
        half = 0.18 + 0.32 * math.log2(shape[0] + 1) / math.log2(max_c + 1)
        color = BLOCK_COLORS.get(block, _OTHER_COLOR)
        shapes.append(
            dict(
                type="rect",
                x0=i - 0.42,
                x1=i + 0.42,
                y0=-half,
                y1=half,
                fillcolor=color,
                opacity=0.9,
                line=dict(width=0),
                layer="below",
            )
        )
        annotations.append(dict(x=i, y=half + 0.08, text=f"<b>{name}</b>", showarrow=False, yanchor="bottom", font=dict(size=11)))
        annotations.append(
            dict(x=i, y=0, text=shape_str(shape).replace("×", "×<br>", 1), showarrow=False, font=dict(size=11, color="white"))
        )
        if i:
            annotations.append(dict(arrow, x=i - 0.42, y=0, ax=i - 0.58, ay=0, arrowsize=1, arrowcolor="#555", text=""))
        if feature:
            annotations.append(
                dict(
                    arrow,
                    x=i,
                    y=-0.95,
                    ax=i,
                    ay=-half,
                    text=f"<b>{feature}</b><br>stride {stats.layers[i - 1].stride}",
                    arrowcolor="#d62728",
                    font=dict(color="#d62728", size=12),
                    yanchor="top",
                )
            )
        if i:
            s = stats.layers[i - 1]
            hover_text.append(
                f"<b>{s.name}</b> ({s.block})<br>output {shape_str(s.output_shape)}, stride {s.stride}<br>"
                f"params {s.params:,}<br>MACs {human_count(s.macs)}<br>activations {human_bytes(s.activation_bytes)}<br>"
                f"receptive field {s.receptive_field} px"
            )
        else:
            hover_text.append(f"<b>input image</b><br>{shape_str(shape)}")
    data = [
        go.Scatter(
            x=list(range(len(nodes))),
            y=[0] * len(nodes),
            mode="markers",
            marker=dict(size=40, opacity=0),
            hovertext=hover_text,
            hoverinfo="text",
            showlegend=False,
        )
    ]
    data += _block_legend(stats)
    layout = dict(
        shapes=shapes,
        annotations=annotations,
        xaxis=dict(visible=False, range=[-0.6, len(nodes) - 0.4]),
        yaxis=dict(visible=False, range=[-1.45, 1.0]),
    )
    fig = go.Figure(data=data, layout=layout)
    return _base_layout(fig, 300, legend=dict(orientation="h", x=0, y=1.12), margin=dict(l=10, r=10, t=30, b=10))


def _detector_places(parts: dict[str, tuple[str, ...]]) -> dict[str, tuple[float, int | float]]:
    """Where each layer of a YOLO11 detector sits in its drawing, from the statistics' parts (backbone, neck, head):
    (x, row); row 0 the backbone, left to right; row 1 the neck's top-down half (FPN), right to left; row 2 its
    bottom-up half (PAN), left to right; then the head."""
    backbone, neck, head = parts["backbone"], parts["neck"], parts["head"]
    top_down, bottom_up = neck[: len(neck) // 2], neck[len(neck) // 2 :]
    places: dict[str, tuple[float, int | float]] = {"input": (0.0, 0)}
    places |= {name: (1.3 * (i + 1), 0) for i, name in enumerate(backbone)}
    places |= {name: (14.3 - 1.7 * k, 1) for k, name in enumerate(top_down)}
    places |= {name: (5.8 + 1.7 * k, 2) for k, name in enumerate(bottom_up)}
    return places | {head[0]: (16.0, 1.5)}


def detector_flow_diagram(stats: ModelStats) -> go.Figure:
    """A YOLO11 detector's data flow: the backbone on top, the neck's top-down path (FPN: upsample, concatenate
    with backbone layers 6 and 4) and its bottom-up path (PAN: stride-2 convs, concatenate with layers 13 and
    10), and the Detect head taking P3, P4 and P5 (layers 16, 19, 22). Each box shows its output shape; hover
    for its costs."""
    c, h, w = stats.input_shape
    nodes = {"input": ("input", (c, h, w), "", "input image")}
    for s in stats.layers:
        hover = (
            f"<b>{s.name}</b> ({s.block})<br>output {shape_str(s.output_shape)}, stride {s.stride}<br>"
            f"params {s.params:,}<br>MACs {human_count(s.macs)}<br>activations {human_bytes(s.activation_bytes)}<br>"
            f"receptive field {s.receptive_field} px"
        )
        nodes[s.name] = (s.block, s.output_shape, s.feature, hover)
    rows = {0: 0.0, 1: -1.25, 2: -2.5, 1.5: -1.875}
    places = _detector_places(dict(stats.parts))
    shapes, annotations, xs, ys, hover_text = [], [], [], [], []
    for name, (block, shape, feature, hover) in nodes.items():
        x, row = places[name]
        y = rows[row]
        shapes.append(
            dict(
                type="rect",
                x0=x - 0.58,
                x1=x + 0.58,
                y0=y - 0.33,
                y1=y + 0.33,
                fillcolor=BLOCK_COLORS.get(block, _OTHER_COLOR),
                line=dict(width=0),
                layer="below",
            )
        )
        label = "Detect" if block == "Detect" else shape_str(shape)
        annotations.append(dict(x=x, y=y + 0.1, text=f"<b>{name}</b>", showarrow=False, font=dict(size=11, color="white")))
        annotations.append(dict(x=x, y=y - 0.12, text=label, showarrow=False, font=dict(size=10, color="white")))
        if feature:
            annotations.append(
                dict(x=x, y=y - 0.45, text=f"<b>{feature}</b>", showarrow=False, font=dict(color="#d62728", size=12))
            )
        xs.append(x)
        ys.append(y)
        hover_text.append(hover)
    order = list(nodes)
    arrow = dict(xref="x", yref="y", axref="x", ayref="y", showarrow=True, arrowhead=2, arrowwidth=1.3, arrowsize=1, text="")
    for i, s in enumerate(stats.layers, start=1):
        for source in s.sources or (order[i - 1],):
            (x0, r0), (x1, r1) = places[source], places[s.name]
            lateral = bool(s.sources) and source != order[i - 1]
            annotations.append(
                dict(
                    arrow,
                    x=x1,
                    y=rows[r1],
                    ax=x0,
                    ay=rows[r0],
                    standoff=16,
                    startstandoff=16,
                    arrowcolor="#d62728" if lateral else "#555",
                )
            )
    for text, x, row in (("backbone", -0.6, 0), ("neck: top-down (FPN)", 14.9, 1), ("neck: bottom-up (PAN)", 5.2, 2)):
        anchor = "left" if row != 1 else "right"
        annotations.append(
            dict(x=x, y=rows[row] + 0.5, text=f"<i>{text}</i>", showarrow=False, xanchor=anchor, font=dict(size=11, color="#555"))
        )
    data = [
        go.Scatter(
            x=xs, y=ys, mode="markers", marker=dict(size=36, opacity=0), hovertext=hover_text, hoverinfo="text", showlegend=False
        )
    ]
    data += _block_legend(stats)
    layout = dict(
        shapes=shapes,
        annotations=annotations,
        xaxis=dict(visible=False, range=[-0.8, 16.8]),
        yaxis=dict(visible=False, range=[-3.0, 0.75]),
    )
    fig = go.Figure(data=data, layout=layout)
    return _base_layout(fig, 430, legend=dict(orientation="h", x=0, y=1.1), margin=dict(l=10, r=10, t=30, b=10))


def cost_bars(stats: ModelStats) -> go.Figure:
    """Parameters and MACs of every layer, side by side, coloured by block type."""
    names = [s.name for s in stats.layers]
    colors = [BLOCK_COLORS.get(s.block, _OTHER_COLOR) for s in stats.layers]
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("Parameters per layer", "MACs per layer (one image)"), horizontal_spacing=0.08
    )
    for col, (values, total, label) in enumerate(
        (([s.params for s in stats.layers], stats.params, "params"), ([s.macs for s in stats.layers], stats.macs, "MACs")),
        start=1,
    ):
        fig.add_trace(
            go.Bar(
                x=names,
                y=values,
                marker_color=colors,
                showlegend=False,
                text=[human_count(v) for v in values],
                textposition="outside",
                cliponaxis=False,
                customdata=[[f"{v:,}", v / total if total else 0] for v in values],
                hovertemplate=f"%{{x}}<br>{label} %{{customdata[0]}}<br>%{{customdata[1]:.1%}} of the total<extra></extra>",
            ),
            row=1,
            col=col,
        )
    fig.update_yaxes(showticklabels=False, showgrid=False)
    fig.update_xaxes(tickangle=-40)
    return _base_layout(fig, 380)


def stage_share_bars(stages: Sequence[str], macs: dict[str, tuple[Sequence[int], int]]) -> go.Figure:
    """Each model's share of its backbone's MACs per stage, grouped by stage.

    Args:
        stages: the stage names, in order (the x axis).
        macs: model label -> (its MACs per stage, its total MACs).
    """
    colors = ["#4c78a8", "#e45756", "#54a24b", "#f58518"]
    data = [
        go.Bar(
            name=label,
            x=list(stages),
            y=[m / total for m in per_stage],
            marker_color=colors[i % len(colors)],
            customdata=[human_count(m) for m in per_stage],
            hovertemplate="%{x}: %{y:.0%} of the MACs (%{customdata})<extra>" + label + "</extra>",
        )
        for i, (label, (per_stage, total)) in enumerate(macs.items())
    ]
    fig = go.Figure(data, layout=dict(barmode="group", yaxis=dict(title="share of the backbone's MACs", tickformat=".0%")))
    return _base_layout(fig, 320, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.15))


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
    return _base_layout(fig, 70 + rows * max(90, 600 // cols), title=dict(text=title, x=0, font=dict(size=14)))


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
    return _base_layout(fig, height, title=dict(text=title, x=0, font=dict(size=13)), margin=dict(l=0, r=0, t=30, b=0))


def detections_figure(photo: Image.Image, detections: Sequence, *, max_side: int = 1280, title: str = "") -> go.Figure:
    """The photo with one box per detection, coloured by class and labelled "name score"; hover a box for its
    coordinates. `detections` hold `box` (x1, y1, x2, y2 in the photo's pixels), `score`, `class_id`, `name`.
    The photo travels as a JPEG (at most `max_side` pixels a side), the boxes are scaled to it."""
    image = photo.convert("RGB")
    scale = min(1.0, max_side / max(image.size))
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
    fig = go.Figure(go.Image(source=_jpeg_source(image), hoverinfo="skip"))
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
    return _base_layout(fig, max(300, min(680, int(620 * height / width) + 60)), title=dict(text=title, x=0, font=dict(size=14)))


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
            go.Image(source=_jpeg_source(image), hoverinfo="skip"),
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
    return _base_layout(fig, max(300, min(620, int(560 * height / width) + 40)))


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
    return _base_layout(fig, 340, legend=dict(orientation="h", y=1.15))


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
    fig = go.Figure(go.Image(source=_jpeg_source(image), hoverinfo="skip"))
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
    return _base_layout(
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
    source = _jpeg_source(image)
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
    return _base_layout(fig, max(300, int(panel * shown) + 90), legend=dict(orientation="h", y=-0.04))


def sensitivity_bars(labels: Sequence[str], alone: Sequence[float], all_but: Sequence[float], outputs: str) -> go.Figure:
    """Per unit, what int8 costs: 1 - the worst cosine with float when only that unit is int8 (its own damage), and
    when every unit but it is (what leaving it in float saves), on a log axis; the worst unit on top."""
    floor = 1e-7  # a loss this small is drawn at the axis' edge (log scale has no 0)
    fig = go.Figure(
        [
            go.Bar(y=list(labels), x=[max(v, floor) for v in alone], orientation="h", name="int8 alone",
                   marker_color="#e45756", hovertemplate="%{y}: 1 − cosine %{x:.2e} in int8 alone<extra></extra>"),
            go.Bar(y=list(labels), x=[max(v, floor) for v in all_but], orientation="h", name="all but it in int8",
                   marker_color="#9aa5b1", hovertemplate="%{y}: 1 − cosine %{x:.2e} with all but it in int8<extra></extra>"),
        ]
    )  # fmt: skip
    fig.update_layout(
        barmode="group",
        xaxis=dict(type="log", title=f"1 − worst cosine with float ({outputs})", exponentformat="e"),
        yaxis=dict(autorange="reversed"),
    )
    return _base_layout(fig, max(300, 24 * len(labels) + 120), legend=dict(orientation="h", y=1.08))


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
    return _base_layout(fig, 260)


def plotly_text(text: str) -> str:
    """Text from a file (a class name) made literal in a Plotly label or hover template: HTML's special characters
    as entities (Plotly draws a subset of HTML), and "%" as one too (a template would read "%{x}" as a field)."""
    return html.escape(text).replace("%", "&#37;")


def _cell(detection) -> str:
    """A box's hover line about the cell that predicted it, if known."""
    cell = getattr(detection, "cell", None)
    return "" if cell is None else f"<br>{cell.level} (stride {cell.stride}), cell {cell.row}, {cell.col}"


def overlay(photo: Image.Image, heat: np.ndarray, *, opacity: float, colorscale: str = "Inferno", title: str = "") -> go.Figure:
    """A heatmap laid over a photo. `heat` covers the photo exactly, at any (lower) resolution.

    The photo travels as a JPEG data URI and the heat at its own resolution, smoothed in the
    browser, so the chart stays light whatever the photo's size.
    """
    source = _jpeg_source(photo)
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
    return _base_layout(fig, max(300, min(620, int(560 * height / width) + 60)), title=dict(text=title, x=0, font=dict(size=14)))


def latency_box(times_by_run: dict[str, Sequence[float]]) -> go.Figure:
    """Distribution of the timed runs: one box (with every run as a point) per measurement."""
    fig = go.Figure()
    for label, times in times_by_run.items():
        fig.add_trace(
            go.Box(y=list(times), name=label, boxpoints="all", jitter=0.4, pointpos=0, hovertemplate="%{y:.2f} ms<extra></extra>")
        )
    fig.update_yaxes(title="ms per batch", rangemode="tozero")
    return _base_layout(fig, 380, showlegend=False)


def latency_history(
    labels: Sequence[str], median_ms: Sequence[float], p90_ms: Sequence[float], min_ms: Sequence[float]
) -> go.Figure:
    """Median latency of each run in this session, whiskers from min to p90."""
    fig = go.Figure(
        go.Bar(
            x=list(labels),
            y=list(median_ms),
            error_y=dict(
                type="data",
                symmetric=False,
                array=[p - m for p, m in zip(p90_ms, median_ms, strict=True)],
                arrayminus=[m - lo for m, lo in zip(median_ms, min_ms, strict=True)],
            ),
            marker_color="#4c78a8",
            hovertemplate="%{x}<br>median %{y:.2f} ms<extra></extra>",
        )
    )
    fig.update_yaxes(title="median ms per batch (whiskers: min to p90)", rangemode="tozero")
    return _base_layout(fig, 380)


def sweep_plot(batches: Sequence[int], images_per_s: Sequence[float], tflops: Sequence[float]) -> go.Figure:
    """Throughput of a batch sweep: images/s (bars, left axis) and achieved TFLOP/s (line, right axis)."""
    labels = [str(b) for b in batches]
    fig = go.Figure(
        [
            go.Bar(
                x=labels,
                y=list(images_per_s),
                name="images/s",
                marker_color="#4c78a8",
                hovertemplate="%{y:,.1f} images/s<extra></extra>",
            ),
            go.Scatter(
                x=labels,
                y=list(tflops),
                name="TFLOP/s",
                yaxis="y2",
                mode="lines+markers",
                line=dict(color="#f58518"),
                hovertemplate="%{y:.3g} TFLOP/s<extra></extra>",
            ),
        ]
    )
    fig.update_layout(
        xaxis=dict(title="batch size", type="category"),
        yaxis=dict(title="images/s", rangemode="tozero"),
        yaxis2=dict(title="TFLOP/s", overlaying="y", side="right", rangemode="tozero", showgrid=False, tickformat=".3~f"),
        legend=dict(orientation="h", y=1.12),
    )
    return _base_layout(fig, 360)


def scaling_plot(
    x: Sequence[float],
    series: dict[str, Sequence[float]],
    law: dict[str, Sequence[float]],
    *,
    x_title: str,
    y_title: str,
    title: str,
) -> go.Figure:
    """Computed points per series (markers) and the scaling law fitted through them (dotted line), log-log."""
    fig = go.Figure()
    palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"]
    for i, (name, ys) in enumerate(series.items()):
        color = palette[i % len(palette)]
        if name in law:
            fig.add_trace(
                go.Scatter(
                    x=list(x),
                    y=list(law[name]),
                    mode="lines",
                    name=f"{name}: law",
                    line=dict(color=color, width=1.5, dash="dot"),
                    legendgroup=name,
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=list(x),
                y=list(ys),
                mode="markers" if name in law else "lines+markers",
                name=name,
                marker=dict(color=color, size=9),
                line=dict(color=color),
                legendgroup=name,
            )
        )
    fig.update_xaxes(type="log", title=x_title, exponentformat="SI")
    fig.update_yaxes(type="log", title=y_title, exponentformat="SI")
    return _base_layout(fig, 380, title=dict(text=title, x=0, font=dict(size=14)))


def time_vs_macs(
    names: Sequence[str], blocks: Sequence[str], time_share: Sequence[float], macs_share: Sequence[float]
) -> go.Figure:
    """Each layer's share of the forward's time beside its share of the MACs: where the two differ, MACs do
    not predict time."""
    colors = [BLOCK_COLORS.get(b, _OTHER_COLOR) for b in blocks]
    fig = go.Figure(
        [
            go.Bar(
                x=list(names),
                y=list(time_share),
                name="share of the time",
                marker_color=colors,
                hovertemplate="%{x}: %{y:.1%} of the time<extra></extra>",
            ),
            go.Bar(
                x=list(names),
                y=list(macs_share),
                name="share of the MACs",
                marker=dict(color="rgba(0,0,0,0)", line=dict(color="#333", width=1.5)),
                hovertemplate="%{x}: %{y:.1%} of the MACs<extra></extra>",
            ),
        ],
        layout=dict(barmode="group", yaxis=dict(tickformat=".0%", title="share of the forward"), xaxis=dict(tickangle=-40)),
    )
    return _base_layout(fig, 360, legend=dict(orientation="h", y=1.12))


def roofline(
    names: Sequence[str],
    blocks: Sequence[str],
    intensity: Sequence[float],
    gflops_per_s: Sequence[float],
    *,
    peak_tflops: float,
    peak_gbps: float,
    peak_label: str = "compute peak",
) -> go.Figure:
    """The roofline: each layer at its arithmetic intensity (FLOPs per byte) and achieved GFLOP/s, under the
    device's two ceilings, memory bandwidth x intensity (slanted) and the compute peak (flat), log-log."""
    ridge = peak_tflops * 1e3 / peak_gbps  # FLOP/byte where the ceilings meet
    lo, hi = min([*intensity, ridge]) / 2, max([*intensity, ridge]) * 2
    xs = [lo, ridge, hi]
    ceiling = [min(peak_tflops * 1e3, x * peak_gbps) for x in xs]
    data = [
        go.Scatter(
            x=xs,
            y=ceiling,
            mode="lines",
            line=dict(color="#888", width=2),
            name=f"ceiling: {peak_gbps:.3g} GB/s, {peak_tflops * 1e3:.3g} GFLOP/s",
            hovertemplate="%{x:.3g} FLOP/B: at most %{y:.3g} GFLOP/s<extra></extra>",
        )
    ]
    for block in dict.fromkeys(blocks):
        idx = [i for i, b in enumerate(blocks) if b == block]
        data.append(
            go.Scatter(
                x=[intensity[i] for i in idx],
                y=[gflops_per_s[i] for i in idx],
                mode="markers+text",
                text=[names[i] for i in idx],
                textposition=["top center" if i % 2 else "bottom center" for i in idx],  # neighbours alternate
                textfont=dict(size=10),
                marker=dict(size=11, color=BLOCK_COLORS.get(block, _OTHER_COLOR)),
                name=block,
                hovertemplate="%{text}: %{x:.3g} FLOP/B, %{y:.3g} GFLOP/s<extra>" + block + "</extra>",
            )
        )
    low = min([*gflops_per_s, ceiling[0]]) / 2
    data.append(  # the ridge: where the two ceilings meet
        go.Scatter(
            x=[ridge, ridge],
            y=[low, peak_tflops * 1e3],
            mode="lines",
            line=dict(color="#bbb", dash="dot"),
            showlegend=False,
            hovertemplate=f"ridge: {ridge:.3g} FLOP/B<extra></extra>",
        )
    )
    layout = dict(
        xaxis=dict(type="log", dtick=1, title="arithmetic intensity (FLOPs per byte moved)"),  # ticks at powers of 10
        yaxis=dict(type="log", dtick=1, title="achieved GFLOP/s"),
        annotations=[  # on log axes an annotation's position is given in powers of ten
            dict(x=math.log10(ridge), y=math.log10(low), text=f"ridge {ridge:.3g} FLOP/B", showarrow=False, yanchor="bottom"),
            dict(
                x=math.log10(hi),
                y=math.log10(peak_tflops * 1e3),
                text=peak_label,
                showarrow=False,
                xanchor="right",
                yanchor="bottom",
            ),
        ],
    )
    return _base_layout(go.Figure(data, layout=layout), 460, legend=dict(orientation="h", y=-0.2))
