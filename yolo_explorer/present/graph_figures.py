"""The model graph drawn: nodes painted by one number on one colour scale (its legend a colour bar, the value on
hover), edges as the layout routes them with their tensor shapes, the levels the head reads ringed and named.

    fig = graph_figure(graph, "macs", selected="16")
    fig.to_html(include_plotlyjs=True)        # the view as one file that opens offline
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

import plotly.graph_objects as go

from ..model.graph import METRICS, PAINTS, ModelGraph
from .figure_style import base_layout, plotly_text
from .formatting import human_bytes, human_count, human_ms

__all__ = ["ROW_PX", "graph_figure", "metric_text"]

ROW_PX = 46  # height of one layer of the layout
FEATURE_COLOR = "#f58518"  # the ring of a level the head reads (P3, P4, P5)
LOGARITHMIC = ("int8", "drift")  # numbers that span decades (an error of 1e-4 beside one of 1): a logarithmic scale
LOG_FLOOR = 1e-6  # the least value such a scale shows
GREY = "#9aa5b1"  # a node with no value: the input, or a layer a measurement says nothing of
DIFFERENT_COLOR = "#d62728"  # the ring of a layer another model has otherwise (its block, its shape) or not at all


def metric_text(metric: str, value: float | None) -> str:
    """A node's value as the other pages write it ("none" where a measurement has none for it)."""
    if value is None:
        return "none"
    if metric == "time":
        return human_ms(value)
    if metric == "why":
        return f"{value:.0%}"
    if metric in ("int8", "drift"):
        return f"{value:.2g}"
    if metric == "activation":
        return f"{value:.3g}"
    if metric == "activation_bytes":
        return human_bytes(value)
    if metric in ("receptive_field", "stride"):
        return f"{value:,.0f}" + (" px" if metric == "receptive_field" else "")
    return human_count(value)


def _label(node) -> str:
    return plotly_text(node.label) + (f"  <b>{node.feature}</b>" if node.feature else "")


def _hover(graph: ModelGraph) -> list[str]:
    lines = []
    for node in graph.nodes:
        shape = "×".join(map(str, node.shape))
        parts = [f"<b>{plotly_text(node.label)}</b>", f"{plotly_text(node.block)}, {node.part}", f"output {shape}"]
        if node.feature:
            parts.append(f"the head reads it as {node.feature}")
        parts += [f"{PAINTS[m]}: {metric_text(m, node.values[m])}" for m in PAINTS if m in node.values]
        if len(node.layers) > 1:
            parts.append(f"layers {', '.join(node.layers)}")
        lines.append("<br>".join(parts))
    return lines


def graph_figure(
    graph: ModelGraph,
    metric: str,
    *,
    selected: str | None = None,
    shapes: bool = True,
    height: int | None = None,
    scale: tuple[float, float] | None = None,
    marked: Collection[str] = (),
    difference: Mapping[str, float | None] | None = None,
    title: str | None = None,
) -> go.Figure:
    """The graph painted by `metric` (a key of `PAINTS`; a measured one once `painted`): each node's colour on one scale
    from the smallest value to the largest (or `scale`, shared with another graph; a node with no value, the input
    among them, grey), `selected` ringed, `marked` nodes ringed in red (where another model differs), each edge labelled
    with its tensor's shape (`shapes`). With `difference` (node -> this model's value less another's, None where it has
    no counterpart: grey) the nodes are painted by it on a diverging scale centred on 0. A node's name is its point's
    `customdata`, for a click to say which it was."""
    layout = graph.layout
    values = graph.values(metric)
    if difference is not None:
        values = dict(difference)  # None: no counterpart, drawn grey
    fig = go.Figure()
    xs, ys, label_x, label_y, label_text = [], [], [], [], []
    for edge in graph.edges:
        path = layout.paths[(edge.source, edge.target)]
        xs += [x for x, _ in path] + [None]
        ys += [y for _, y in path] + [None]
        (x0, y0), (x1, y1) = path[-2], path[-1]
        label_x.append((x0 + x1) / 2)
        label_y.append((y0 + y1) / 2)
        label_text.append("×".join(map(str, edge.shape)))
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="#b8c0cc", width=1.4), hoverinfo="skip", showlegend=False))
    if shapes:
        fig.add_trace(
            go.Scatter(
                x=label_x, y=label_y, mode="text", text=label_text, textfont=dict(size=9, color="#7a8494"),
                textposition="middle left", hoverinfo="skip", showlegend=False,
            )
        )  # fmt: skip
    names = [n.name for n in graph.nodes]
    painted = [n for n in graph.nodes if n.part != "input" and values.get(n.name) is not None]
    grey = [n for n in graph.nodes if n not in painted]  # the input, and what a measurement has no value for
    numbers = [values[n.name] for n in painted]
    low, high = scale or ((min(numbers), max(numbers)) if numbers else (0.0, 1.0))
    if difference is not None:
        reach = max([abs(v) for v in numbers] + [1.0 if metric in METRICS else 1e-9])
        low, high = -reach, reach
    hover = dict(zip(names, _hover(graph), strict=True))
    ticks = [low + (high - low) * i / 4 for i in range(5)]
    diverging = difference is not None
    shown = ticks
    if metric in LOGARITHMIC and not diverging and numbers:  # decades apart: coloured by their logarithm
        numbers = [math.log10(max(v, LOG_FLOOR)) for v in numbers]
        low, high = math.log10(max(low, LOG_FLOOR)), math.log10(max(high, LOG_FLOOR))
        ticks = [float(t) for t in range(math.ceil(low), math.floor(high) + 1)] or [low, high]
        shown = [10**t for t in ticks]
    colorbar = dict(
        title=dict(
            text=("difference in " if diverging else "") + PAINTS[metric] + (" (log)" if shown is not ticks else ""), side="right"
        ),
        thickness=12,
        len=0.5,
        y=0.75,
        tickvals=ticks,
        ticktext=[("+" if diverging and t > 0 else "") + metric_text(metric, t) for t in shown],
    )
    outline = dict(
        width=[3 if n.feature else 1 for n in painted], color=[FEATURE_COLOR if n.feature else "#ffffff" for n in painted]
    )
    fig.add_trace(
        go.Scatter(
            x=[layout.positions[n.name][0] for n in painted],
            y=[layout.positions[n.name][1] for n in painted],
            mode="markers+text",
            marker=dict(
                symbol="square", size=22, color=numbers, colorscale="RdBu_r" if diverging else "Viridis", cmin=low,
                cmax=high if high > low else low + 1, line=outline, colorbar=colorbar,
            ),
            text=[_label(n) for n in painted],
            textposition="middle right",
            textfont=dict(size=11),
            customdata=[n.name for n in painted],
            hovertext=[hover[n.name] for n in painted],
            hovertemplate="%{hovertext}<extra></extra>",
            showlegend=False,
        )
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=[layout.positions[n.name][0] for n in grey], y=[layout.positions[n.name][1] for n in grey],
            mode="markers+text", marker=dict(symbol="square", size=22, color=GREY), text=[_label(n) for n in grey],
            textposition="middle right", textfont=dict(size=11), customdata=[n.name for n in grey],
            hovertext=[hover[n.name] for n in grey], hovertemplate="%{hovertext}<extra></extra>", showlegend=False,
        )
    )  # fmt: skip
    rings = [n for n in marked if n in layout.positions]
    if rings:
        fig.add_trace(
            go.Scatter(
                x=[layout.positions[n][0] for n in rings], y=[layout.positions[n][1] for n in rings], mode="markers",
                marker=dict(symbol="square-open", size=30, color=DIFFERENT_COLOR, line=dict(width=2)),
                hoverinfo="skip", showlegend=False,
            )
        )  # fmt: skip
    if selected is not None and selected in layout.positions:
        x, y = layout.positions[selected]
        fig.add_trace(
            go.Scatter(
                x=[x],
                y=[y],
                mode="markers",
                marker=dict(symbol="square-open", size=34, color="#e45756", line=dict(width=3)),
                hoverinfo="skip",
                showlegend=False,
            )  # fmt: skip
        )
    fig.update_xaxes(visible=False, range=[-0.6, layout.width + 0.9])
    fig.update_yaxes(visible=False, autorange="reversed")
    height = height or int(ROW_PX * layout.depth + 80)
    title = plotly_text(title or f"{graph.title}, painted by {PAINTS[metric]}")
    return base_layout(fig, height, title=title, dragmode=False, hovermode="closest")
