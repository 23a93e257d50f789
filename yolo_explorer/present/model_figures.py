"""Figures of a model's architecture and cost: the data flow, per-layer costs, stage shares, scaling laws."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..model.stats import ModelStats
from .figure_style import BLOCK_COLORS, OTHER_COLOR, base_layout
from .formatting import human_bytes, human_count, shape_str

__all__ = [
    "change_waterfall",
    "cost_bars",
    "detector_flow_diagram",
    "flow_diagram",
    "scaling_plot",
    "stage_share_bars",
]


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
        color = BLOCK_COLORS.get(block, OTHER_COLOR)
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
    return base_layout(fig, 300, legend=dict(orientation="h", x=0, y=1.12), margin=dict(l=10, r=10, t=30, b=10))


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
                fillcolor=BLOCK_COLORS.get(block, OTHER_COLOR),
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
    return base_layout(fig, 430, legend=dict(orientation="h", x=0, y=1.1), margin=dict(l=10, r=10, t=30, b=10))


def cost_bars(stats: ModelStats) -> go.Figure:
    """Parameters and MACs of every layer, side by side, coloured by block type."""
    names = [s.name for s in stats.layers]
    colors = [BLOCK_COLORS.get(s.block, OTHER_COLOR) for s in stats.layers]
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
    return base_layout(fig, 380)


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
    return base_layout(fig, 320, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.15))


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
    return base_layout(fig, 380, title=dict(text=title, x=0, font=dict(size=14)))


def change_waterfall(
    start: tuple[str, float], changes: Sequence[tuple[str, float]], end: tuple[str, float], *, title: str, unit: str = ""
) -> go.Figure:
    """A waterfall from one model to another: the first model's total, one bar per change (up: it costs, down: it
    saves), and the second model's total, which the bars reach exactly.

    Args:
        start, end: (label, total) of the two models.
        changes: (label, signed amount) of each change, in order.
        title: the figure's title.
        unit: a suffix for hover values ("ms"); counts are written with SI prefixes.
    """

    def text(value: float, signed: bool) -> str:
        amount = abs(value) if signed else value
        shown = f"{amount:.2f} {unit}" if unit else human_count(amount)
        return ("+" if value > 0 else "−" if value < 0 else "±") + shown if signed else shown

    labels = [textwrap.fill(label, 22).replace("\n", "<br>") for label in (start[0], *(label for label, _ in changes), end[0])]
    values = [start[1], *(value for _, value in changes), end[1]]
    fig = go.Figure(
        go.Waterfall(
            x=labels,
            y=values,
            measure=["absolute", *(["relative"] * len(changes)), "total"],
            text=[text(start[1], False), *(text(v, True) for _, v in changes), text(end[1], False)],
            textposition="outside",
            hovertemplate="%{x}<br>%{text}<extra></extra>",
            increasing=dict(marker=dict(color="#e45756")),
            decreasing=dict(marker=dict(color="#54a24b")),
            totals=dict(marker=dict(color="#4c78a8")),
            connector=dict(line=dict(color="#9aa5b1", width=1)),
        )
    )
    running = [start[1] + sum(v for _, v in changes[: i + 1]) for i in range(len(changes))]
    lowest, highest = min(start[1], end[1], *running), max(start[1], end[1], *running)
    if lowest > 0:  # start near the smallest total: the changes are a few percent of it
        fig.update_yaxes(range=[0.8 * lowest, highest + 0.15 * (highest - 0.8 * lowest)])
    fig.update_yaxes(title=unit or None)
    fig.update_xaxes(tickangle=0)
    return base_layout(fig, 440, title=title, showlegend=False)
