"""What the pages draw, built once per everything it depends on and shared by every session.

Building a Plotly figure runs plotly's validators on every property it sets (milliseconds to tens of
milliseconds a chart); drawing one that is already built costs Streamlit a serialisation (1-2 ms). A
class looks at the same few configs, photos and views, so each figure, table and picture here is made
once per key (a config and size, or a forward's `Settings.forward_key`, plus the view's own controls)
into `st.cache_resource`, and every rerun of every session draws the same object. Shared objects are
never mutated: `st.plotly_chart` serialises a copy, and pages only read tables.

Arguments starting with "_" are not hashed: each is determined by the key arguments before it.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch
from PIL import Image

from yolo_explorer.deployment.onnx_runtime import quantized_channel
from yolo_explorer.detection.object_size import ObjectSize, over_sizes
from yolo_explorer.forward.heatmaps import ChannelStats, channel_stats, map_to_original, quantize, reduce_channels
from yolo_explorer.forward.preprocess import letterbox
from yolo_explorer.model.compare import CompareRow, DetectorRow, compare_detectors, compare_grid, fit_laws
from yolo_explorer.model.config import COCO_CLASS_COUNT
from yolo_explorer.model.published import counted_as_published, published
from yolo_explorer.model.versus import stage_rows
from yolo_explorer.present.detection_figures import assignment_figure, box_select_figure, detections_figure, sizes_plot
from yolo_explorer.present.formatting import human_bytes, human_count, stats_csv, stats_rows
from yolo_explorer.present.forward_figures import channel_grid, channel_heatmap, overlay
from yolo_explorer.present.model_figures import cost_bars, detector_flow_diagram, flow_diagram, scaling_plot, stage_share_bars

from .compute import stats_for

if TYPE_CHECKING:
    from torch import nn

    from yolo_explorer import Letterbox
    from yolo_explorer.deployment.onnx_models import OnnxModel
    from yolo_explorer.detection.assignment import Assignment
    from yolo_explorer.detection.explain import Explanation
    from yolo_explorer.model.config import BackboneConfig

PHOTO_SIDE = 800  # longest side of a photo shown beside the maps (the column is narrower)
OVERLAY_PHOTO_SIDE = 640  # longest side of the photo under the overlay
OVERLAY_HEAT_SIDE = 240  # longest side of the overlay's heat grid (smoothed in the browser)

shared = st.cache_resource(max_entries=64, show_spinner=False)


# Overview: the statistics of a config at a size


@shared
def flow_chart(config: BackboneConfig, size: tuple[int, int], dtype: str) -> go.Figure:
    draw = detector_flow_diagram if getattr(config, "detector", False) else flow_diagram
    return draw(stats_for(config, size, dtype))


@shared
def cost_chart(config: BackboneConfig, size: tuple[int, int], dtype: str) -> go.Figure:
    return cost_bars(stats_for(config, size, dtype))


@shared
def layer_table(config: BackboneConfig, size: tuple[int, int], dtype: str) -> pd.DataFrame:
    """The per-layer table with its total row, as the Overview shows it."""
    table = pd.DataFrame(stats_rows(stats_for(config, size, dtype)))
    for column in ("stride", "receptive field px"):  # blank in the total row (Streamlit would print "None")
        table[column] = [f"{v:.0f}" if pd.notna(v) else "" for v in table[column]]
    return table


@shared
def detector_rows(archs: tuple[str, ...], sides: tuple[int, ...], dtype: str) -> list[DetectorRow]:
    """The Compare page's whole-detector totals for every model x square size."""
    return compare_detectors(archs, [(side, side) for side in sides], dtype=dtype)


@shared
def published_comparison(config: BackboneConfig) -> pd.DataFrame | None:
    """A shipped 80-class detector's parameters and GFLOPs at 640x640 counted here, as trained and the way Ultralytics
    counts them (deployed with one head branch, attention's matrix products left out), beside Ultralytics' published
    figures (`model.published`, sourced); None for a backbone, a user's table or another class count."""
    if not getattr(config, "detector", False) or config.num_classes != COCO_CLASS_COUNT or not config.shipped:
        return None
    figures = published(config.family, config.scale)
    if figures is None:
        return None
    stats = stats_for(config, (640, 640), "fp32")
    params, gflops = counted_as_published(config.family, config.scale)
    speed = f"{figures.cpu_onnx_ms} ms CPU ONNX, " if figures.cpu_onnx_ms else ""
    e2e = f" ({figures.map50_95_e2e} without NMS)" if figures.map50_95_e2e else ""
    return pd.DataFrame(
        [
            {"": "counted here", "parameters": f"{stats.params:,}", "GFLOPs at 640×640": f"{stats.flops / 1e9:.2f}", "COCO": ""},
            {
                "": "counted as Ultralytics counts",
                "parameters": f"{params * 1e6:,.0f}",
                "GFLOPs at 640×640": f"{gflops:.2f}",
                "COCO": "",
            },
            {
                "": "Ultralytics' table",
                "parameters": f"{figures.params_m} M",
                "GFLOPs at 640×640": f"{figures.flops_b}",
                "COCO": f"mAP50-95 {figures.map50_95}{e2e}; {speed}{figures.t4_ms} ms T4",
            },
        ]
    )


@shared
def stats_files(config: BackboneConfig, size: tuple[int, int], dtype: str) -> tuple[str, str]:
    """The statistics as (CSV, JSON) text, for the downloads."""
    stats = stats_for(config, size, dtype)
    return stats_csv(stats), json.dumps(stats.to_dict(), indent=2)


# Pictures


@shared
def jpeg(key: tuple, _image: Image.Image, max_side: int = PHOTO_SIDE) -> bytes:
    """`_image` (identified by `key`) as JPEG bytes of at most `max_side` pixels a side: `st.image` then sends
    them as they are, instead of encoding the picture again at every rerun."""
    image = _image.convert("RGB")
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


# Feature maps: views of one forward's maps, keyed by `Settings.forward_key` and the layer shown


@shared
def mean_chart(forward_key: tuple, layer: str, title: str, height: int, _fmap: torch.Tensor) -> go.Figure:
    """The mean over channels of one map."""
    return channel_heatmap(reduce_channels(_fmap, "mean"), title=title, height=height)


@shared
def stats_of(forward_key: tuple, layer: str, _fmap: torch.Tensor) -> ChannelStats:
    """Per-channel statistics of one map (the rankings and the statistics table share them)."""
    return channel_stats(_fmap)


@shared
def grid_chart(
    forward_key: tuple,
    layer: str,
    channels: tuple[int, ...],
    shared_scale: bool,
    clip: float,
    colorscale: str,
    title: str,
    _fmap: torch.Tensor,
) -> go.Figure:
    q = quantize(_fmap[list(channels)].numpy(), shared=shared_scale, clip=clip)
    return channel_grid(q, channels, shared=shared_scale, colorscale=colorscale, title=title)


@shared
def channel_chart(forward_key: tuple, layer: str, channel: int, colorscale: str, _fmap: torch.Tensor) -> go.Figure:
    return channel_heatmap(_fmap[channel].numpy(), title=f"{layer}, channel {channel} (hover for values)", colorscale=colorscale)


@shared
def overlay_chart(
    forward_key: tuple,
    layer: str,
    how: str,
    k: int,
    channel: int,
    opacity: float,
    title: str,
    _fmap: torch.Tensor,
    _image: Image.Image,
    _box: Letterbox,
) -> go.Figure:
    """A reduction of the map (or one channel) over the original photo, the letterbox undone."""
    photo, heat = _overlay_parts(forward_key, layer, how, k, channel, _fmap, _image, _box)
    return overlay(photo, heat, opacity=opacity, title=title)


@shared
def _overlay_parts(
    forward_key: tuple, layer: str, how: str, k: int, channel: int, _fmap: torch.Tensor, _image: Image.Image, _box: Letterbox
) -> tuple[Image.Image, np.ndarray]:
    """The photo at the overlay's size and the heat mapped onto it: an opacity change reuses both."""
    heat = _fmap[channel].numpy() if how == "channel" else reduce_channels(_fmap, how, k=k)
    photo = _image.copy()
    photo.thumbnail((OVERLAY_PHOTO_SIDE, OVERLAY_PHOTO_SIDE))
    ratio = OVERLAY_HEAT_SIDE / max(_image.size)
    heat_size = (max(1, round(_image.width * ratio)), max(1, round(_image.height * ratio)))
    return photo, map_to_original(heat[None], _box, out_size=heat_size)[0]


# Latency: what int8 does to one channel


@dataclass(frozen=True)
class QuantizationPair:
    """One channel of the photo's P3 from the fp32 model (torch) and from the int8 model (ONNX Runtime)."""

    layer: str
    channel: int
    fp32: go.Figure
    int8: go.Figure
    relative_error: float


@shared
def quantization_pair(
    int8_digest: str, photo_digest: str, _reference: nn.Module, _int8: OnnxModel, _image: Image.Image
) -> QuantizationPair:
    """The strongest channel of P3 for the photo, as the fp32 model and the int8 model compute it, on one colour scale."""
    q = quantized_channel(_reference, _int8, letterbox(_image, _int8.size).tensor())
    lo, hi = float(min(q.reference.min(), q.onnx.min())), float(max(q.reference.max(), q.onnx.max()))
    return QuantizationPair(
        q.output,
        q.channel,
        channel_heatmap(q.reference, title=f"fp32 (torch): {q.output} channel {q.channel}", zmin=lo, zmax=hi, height=360),
        channel_heatmap(q.onnx, title=f"int8 (ONNX Runtime): {q.output} channel {q.channel}", zmin=lo, zmax=hi, height=360),
        q.relative_error,
    )


# Object size: the photo with its box, and the box over input sizes


@shared
def box_chart(photo_digest: str, _image: Image.Image, box: tuple[float, float, float, float]) -> go.Figure:
    """The photo with the current box, for dragging a new one."""
    return box_select_figure(_image, [box])


def dragged_box(event, figure: go.Figure) -> tuple[float, float, float, float] | None:
    """The box a user dragged with the box select on a `box_select_figure`, in the photo's pixels (the figure shows the
    photo scaled by its `meta` factor), or None."""
    boxes = (event or {}).get("selection", {}).get("box") or []
    if not boxes:
        return None
    xs, ys = boxes[-1].get("x", []), boxes[-1].get("y", [])
    if len(xs) < 2 or len(ys) < 2:
        return None
    scale = float((figure.layout.meta or {}).get("scale", 1.0))
    return (min(xs) / scale, min(ys) / scale, max(xs) / scale, max(ys) / scale)


@shared
def truths_chart(photo_digest: str, _image: Image.Image, boxes: tuple[tuple[float, float, float, float], ...]) -> go.Figure:
    """The photo with the ground-truth boxes drawn so far, for dragging another."""
    return box_select_figure(_image, boxes)


@shared
def assignment_chart(key: tuple, _image: Image.Image, _assignment: Assignment, crop: tuple[int, int, int, int]) -> go.Figure:
    """The assignment on the model input, one panel per level, showing `crop` of it (`key`: the forward, its input size
    and the boxes)."""
    return assignment_figure(_image, _assignment, crop)


@shared
def object_sizes(
    config: BackboneConfig, photo: tuple[int, int], box: tuple[float, float, float, float], sizes: tuple[int, ...]
) -> list[ObjectSize]:
    """The box as each level sees it at every input size of `sizes` (the statistics are the shared, cached ones)."""
    return over_sizes(config, photo, box, sizes, stats_for=lambda c, size: stats_for(c, size, "fp32"))


def sizes_chart(views: list[ObjectSize]) -> go.Figure:
    """The box's width in cells of each level against the input size."""
    levels = [level.name for level in views[0].levels]
    cells = {name: [next(lv.width_cells for lv in v.levels if lv.name == name) for v in views] for name in levels}
    return sizes_plot([v.input_size[0] for v in views], cells)


# Compare: the tutorial over a grid of widths and sizes


@shared
def compare_rows(widths: tuple[int, ...], sides: tuple[int, ...], depth: int, dtype: str) -> list[CompareRow]:
    return compare_grid(widths, [(s, s) for s in sides], depth=depth, dtype=dtype)


@shared
def compare_table(widths: tuple[int, ...], sides: tuple[int, ...], depth: int, dtype: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "width": r.width,
                "input": r.size_label,
                "params": r.params,
                "MACs": r.macs,
                "activation bytes": r.activation_bytes,
                "params (human)": human_count(r.params),
                "MACs (human)": human_count(r.macs),
                "activations (human)": human_bytes(r.activation_bytes),
            }
            for r in compare_rows(widths, sides, depth, dtype)
        ]
    )


@shared
def compare_charts(widths: tuple[int, ...], sides: tuple[int, ...], depth: int, dtype: str) -> dict[str, go.Figure]:
    """The four scaling charts: parameters ~ w², MACs ~ w² (per size), MACs ~ H·W (per width), activations ~ w."""
    rows = compare_rows(widths, sides, depth, dtype)
    by_size = {s: [r for r in rows if r.height == s] for s in sides}
    by_width = {w: [r for r in rows if r.width == w] for w in widths}
    params = {"params": [by_width[w][0].params for w in widths]}
    macs = {f"{s} px": [r.macs for r in by_size[s]] for s in sides}
    pixels = [s * s for s in sides]
    per_width = {f"w={w}": [r.macs for r in by_width[w]] for w in widths}
    acts = {f"{s} px": [r.activation_bytes for r in by_size[s]] for s in sides}
    return {
        "params": scaling_plot(
            widths, params, fit_laws(widths, params, 2), x_title="base width w", y_title="parameters", title="Parameters ~ w²"
        ),
        "macs_w": scaling_plot(
            widths, macs, fit_laws(widths, macs, 2), x_title="base width w", y_title="MACs per image", title="MACs ~ w² · H · W"
        ),
        "macs_px": scaling_plot(
            pixels,
            per_width,
            fit_laws(pixels, per_width, 1),
            x_title="pixels H·W",
            y_title="MACs per image",
            title="MACs ~ H · W",
        ),
        "acts": scaling_plot(
            widths,
            acts,
            fit_laws(widths, acts, 1),
            x_title="base width w",
            y_title=f"bytes ({dtype})",
            title="Activation memory ~ w · H · W",
        ),
    }


# Tutorial vs YOLO11


@shared
def stage_share_chart(tutorial: BackboneConfig, yolo: BackboneConfig, size: tuple[int, int], dtype: str) -> go.Figure:
    series = {}
    for config in (tutorial, yolo):
        stats = stats_for(config, size, dtype)
        rows = stage_rows(config, stats)
        series[config.label] = ([r.macs for r in rows], stats.macs)
    return stage_share_bars([r.stage for r in rows], series)


# Detections


@shared
def detections_chart(key: tuple, _image: Image.Image, _detections: tuple) -> go.Figure:
    """The photo with the kept boxes, for one forward and pair of thresholds (`key`)."""
    return detections_figure(_image, _detections)


@shared
def explanation_charts(
    key: tuple, _photo: Image.Image, _why: Explanation, _box: Letterbox, photo_box: tuple[float, float, float, float]
) -> tuple[go.Figure, go.Figure]:
    """One box's HiResCAM (its level's grid) and input gradient (averaged over 4x4 pixels), each laid over the photo with
    the letterbox undone, the box drawn (`key`: the forward, the anchor and the class)."""
    thumb = _photo.convert("RGB")
    thumb.thumbnail((640, 640))
    scale = thumb.width / _photo.width
    saliency = torch.nn.functional.avg_pool2d(_why.saliency[None, None], 4)[0, 0]
    figures = []
    for heat, title in (
        (map_to_original(_why.cam, _box, thumb.size), f"{_why.level} cells that raised it (HiResCAM)"),
        (map_to_original(saliency, _box, thumb.size), "Pixels it is most sensitive to (input gradient)"),
    ):
        fig = overlay(thumb, heat, opacity=0.6, title=title)
        x1, y1, x2, y2 = (v * scale for v in photo_box)
        fig.add_shape(type="rect", x0=x1, y0=y1, x1=x2, y1=y2, line=dict(color="#42d4f4", width=2))
        fig.update_traces(showscale=False, selector=dict(type="heatmap"))
        figures.append(fig)
    return figures[0], figures[1]


@shared
def score_chart(key: tuple, title: str, _scores: torch.Tensor) -> go.Figure:
    """One level's best class score per cell."""
    return channel_heatmap(_scores.numpy(), title=title, height=300)
