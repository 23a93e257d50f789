"""Figures of speed and deployment: latency runs and history, batch sweeps, time against MACs, the roofline,
int8 sensitivity."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from .figure_style import BLOCK_COLORS, OTHER_COLOR, base_layout

if TYPE_CHECKING:
    from ..deployment.int8_scores import ScoreSpread

__all__ = [
    "int8_scores_figure",
    "latency_box",
    "latency_history",
    "roofline",
    "sensitivity_bars",
    "sweep_plot",
    "time_vs_macs",
]


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
    return base_layout(fig, max(300, 24 * len(labels) + 120), legend=dict(orientation="h", y=1.08))


def latency_box(times_by_run: dict[str, Sequence[float]]) -> go.Figure:
    """Distribution of the timed runs: one box (with every run as a point) per measurement."""
    fig = go.Figure()
    for label, times in times_by_run.items():
        fig.add_trace(
            go.Box(y=list(times), name=label, boxpoints="all", jitter=0.4, pointpos=0, hovertemplate="%{y:.2f} ms<extra></extra>")
        )
    fig.update_yaxes(title="ms per batch", rangemode="tozero")
    return base_layout(fig, 380, showlegend=False)


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
    return base_layout(fig, 380)


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
    return base_layout(fig, 360)


def time_vs_macs(
    names: Sequence[str], blocks: Sequence[str], time_share: Sequence[float], macs_share: Sequence[float]
) -> go.Figure:
    """Each layer's share of the forward's time beside its share of the MACs: where the two differ, MACs do
    not predict time."""
    colors = [BLOCK_COLORS.get(b, OTHER_COLOR) for b in blocks]
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
    return base_layout(fig, 360, legend=dict(orientation="h", y=1.12))


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
                marker=dict(size=11, color=BLOCK_COLORS.get(block, OTHER_COLOR)),
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
    return base_layout(go.Figure(data, layout=layout), 460, legend=dict(orientation="h", y=-0.2))


INT8_COLORS = {"int8": "#e45756", "weighted": "#4c78a8", "mixed": "#54a24b"}


def int8_scores_figure(spreads: Mapping[str, ScoreSpread], conf: float) -> go.Figure:
    """Each int8 variant's score of a cell against fp32's score of the same cell (the cells either scores at least
    `int8_scores.FLOOR`, on the judged photos): on the diagonal the score is kept, under it compressed, on a horizontal
    line collapsed onto one value; the threshold drawn on both axes."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1.3], y=[0, 1.3], mode="lines", line=dict(color="#999", dash="dot"), name="the same score"))
    for name, spread in spreads.items():
        ratio = f"median ×{spread.compression:.3f}" if spread.compression is not None else "no box"
        fig.add_trace(
            go.Scattergl(
                x=spread.fp32,
                y=spread.variant,
                mode="markers",
                marker=dict(size=5, color=INT8_COLORS.get(name, "#b279a2"), opacity=0.6),
                name=f"{name}: {ratio}, {spread.distinct} value{'' if spread.distinct == 1 else 's'} over {conf:g}",
                hovertemplate="fp32 %{x:.3f}<br>" + name + " %{y:.3f}<extra></extra>",
            )
        )
    top = max([1.0, *(float(s.variant.max()) for s in spreads.values() if s.variant.size)]) + 0.02
    for axis in ("x", "y"):
        getattr(fig, f"add_{'v' if axis == 'x' else 'h'}line")(conf, line=dict(color="#666", width=1, dash="dash"))
    fig.update_xaxes(title="fp32's score of the cell", range=[0, 1.02])
    fig.update_yaxes(title="int8's score of the same cell", range=[0, top])
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, x=0))
    return base_layout(fig, 440, title="Scores, cell by cell: fp32 against int8")
