"""Feature maps: the letterboxed input, a grid of channels, one channel enlarged, and an overlay on the photo.

The forward runs once per (config, image, size) and is cached; everything below the input is a
fragment, so changing a view control (layer, channels, colours, opacity) reruns no model code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st
import torch
from PIL import Image, ImageDraw

from pages import ui
from yolo_explorer import FeatureResult, list_layers
from yolo_explorer.forward.attention import attention_blocks
from yolo_explorer.forward.heatmaps import RANKINGS, REDUCTIONS, ChannelStats, map_to_original, rank_channels
from yolo_explorer.model.config import PYRAMID
from yolo_explorer.present.formatting import escape_markdown
from yolo_explorer.present.rendering import grid_image, heat_image, npy_bytes, png_bytes

GRID_SIZES = [4, 9, 16, 25, 36, 49, 64]
COLORSCALES = ["Viridis", "Inferno", "Cividis", "Magma", "Greys", "RdBu"]


def main() -> None:
    settings = ui.current_settings()
    st.title("Feature maps")

    with ui.guard(f"running the {settings.part} on the image"):
        image = ui.image_for(settings.photo)
        base = ui.features_for(settings)
    box = base.box

    left, middle, right = st.columns([1, 1, 2])
    left.image(
        ui.views.jpeg(("photo", settings.photo.digest), image),
        caption=f"Original: {settings.photo.label}, {image.width}×{image.height}",
        width="stretch",
    )
    middle.image(
        ui.views.jpeg(("letterboxed", settings.photo.digest, settings.size), box.image),
        caption=f"Model input, {settings.size_label}",
        width="stretch",
    )
    right.markdown(
        f"**Letterbox.** The photo is resized by ×{box.scale:.3g} to {box.resized[0]}×{box.resized[1]} so that it fits "
        f"{settings.size_label} without distortion (OpenCV's bilinear filter), then padded with gray 114 ({box.left} px left, "
        f"{box.top} px top): the input Ultralytics' models are trained and run with."
    )
    right.markdown(
        f"**One forward** of {settings.config.label} gives "
        + (
            f"the neck's P3, P4 and P5 (layers {', '.join(layer for _, layer in settings.config.outputs)}, the head's inputs)"
            if settings.detector
            else "P3, P4 and P5"
        )
        + " below; changing the channels, the colours or the "
        "opacity reuses it, and any other layer costs one more forward, kept for next time."
    )
    bn_mode = {"batch": "batch statistics, as the tutorial's figures", "running": "running statistics (eval mode)"}[
        settings.batch_norm
    ]
    right.caption(f"{settings.weights_label.capitalize()}; BatchNorm uses {bn_mode}. Change it under *More backbone settings*.")
    model = ui.model_for(settings)
    explorer(settings, model, base, image)
    blocks = attention_blocks(model)
    if blocks:
        where_attention_looks(settings, blocks, image)


def where_attention_looks(settings: ui.Settings, blocks: dict[str, str], image: Image.Image) -> None:
    """For a cell of an attention block's map, its softmax row over the photo: where that cell looks (a fragment: moving
    the cell reruns only this)."""
    st.subheader("Where attention looks")
    left, middle, right = st.columns([2, 1, 1])
    block = left.selectbox(
        "Attention block",
        list(blocks),
        key="fm_attn_block",
        format_func=lambda name: f"{name} ({blocks[name]})",
        help="Every attention module of the model: C2PSA's at P5 (YOLO11, YOLO26), YOLO26's PSABlock in its last C3k2, "
        "YOLO12's area attention (strips of rows at P4, global at P5).",
    )
    with ui.guard("reading the attention"):
        grid = ui.attention_for(settings, block, (0, 0)).grid
    row = middle.slider("Cell row", 0, grid[0] - 1, grid[0] // 2, key=f"fm_attn_row_{grid[0]}")
    col = right.slider("Cell column", 0, grid[1] - 1, grid[1] // 2, key=f"fm_attn_col_{grid[1]}")
    with ui.guard("reading the attention"):
        found = ui.attention_for(settings, block, (row, col))
    heat = map_to_original(found.mean, found.box)
    picture = heat_image(image, heat)
    (h, w), (first, last) = found.grid, found.strip_rows
    step = found.box.size[0] / h  # the cell in input pixels, then on the photo: a cyan square marks the query
    corners = [found.box.to_original(col * step + dx, row * step + dy) for dx, dy in ((0, 0), (step, step))]
    ImageDraw.Draw(picture).rectangle([*corners[0], *corners[1]], outline="#00e5ff", width=max(2, image.width // 300))
    st.image(
        picture,
        caption=f"{block}: where cell ({row}, {col}) of its {h}×{w} map (the cyan square) looks, "
        f"{found.heads.shape[0]} heads averaged",
        width="stretch",
    )
    strips = (
        f" This block cuts the map into {found.strips} strips and attends within each: the cell sees rows {first} to {last} "
        "only, the rest of the photo is dark."
        if found.strips > 1
        else " Global attention: every cell can look anywhere on the photo."
    )
    st.caption(
        f"The softmax row of the cell's query over every key: {found.share_within(1):.0%} of its attention falls on its own "
        f"3×3 neighbourhood.{strips} The weights are the block's own (what its forward multiplies the values by)."
    )


def pick_map(settings: ui.Settings, model: torch.nn.Module, base: FeatureResult) -> tuple[str, torch.Tensor]:
    """The layer control; returns (name, (C, H, W) map), running one extra cached forward for sub-layers."""
    head = getattr(model, "head_name", None)  # a detector's head returns predictions, not maps; so does its DFL
    not_maps = set(PYRAMID) | ({head, f"{head}.dfl", f"{head}.dfl.conv"} if head else set())
    names = [n for n in list_layers(model) if n not in not_maps]
    linked = ui.links.linked("layer")  # the layer a link to this view names
    if linked in PYRAMID:
        st.session_state["fm_layer"] = linked
    elif linked in names:
        st.session_state["fm_layer"], st.session_state["fm_any"] = "Any layer", linked
    elif linked is not None:
        st.caption(f":material/link: The link's layer {escape_markdown(linked[:60])} is not a layer of {settings.config.label}.")
    choice = st.segmented_control("Layer", [*PYRAMID, "Any layer"], default=PYRAMID[0], required=True, key="fm_layer")
    if choice != "Any layer":
        ui.links.publish_page("layer", None if choice == PYRAMID[0] else choice)
        return choice, base.maps[choice]
    name = st.selectbox(
        "Layer",
        names,
        key="fm_any",
        help="Any module of the model, by its path (YOLO11's layers by Ultralytics' index); one more forward, cached.",
    )
    ui.links.publish_page("layer", name)
    with ui.guard(f"capturing {name}"):
        value = ui.features_for(settings, (name,)).maps[name]
    if isinstance(value, tuple):  # a module called several times per forward (SPPF's pool)
        call = st.radio(
            "Call", range(len(value)), format_func=lambda i: f"call {i + 1} of {len(value)}", horizontal=True, key="fm_call"
        )
        return f"{name} (call {call + 1})", value[call]
    return name, value


@st.fragment
def explorer(settings: ui.Settings, model: torch.nn.Module, base: FeatureResult, image: Image.Image) -> None:
    """Everything below the input: a fragment, so a view control reruns only this (and no model code)."""
    with ui.guard("drawing the feature maps"):  # a fragment's errors do not reach the page's guard
        views(settings, model, base, image)


def views(settings: ui.Settings, model: torch.nn.Module, base: FeatureResult, image: Image.Image) -> None:
    """The layer, the grid of channels, one channel enlarged, and the overlay on the photo."""
    name, fmap = pick_map(settings, model, base)
    c, h, w = fmap.shape
    st.caption(f"**{name}**: {c} channels of {h}×{w}, one cell per {round(settings.size[0] / h)} input pixels")
    stats = ui.views.stats_of(settings.forward_key, name, fmap)  # rankings and the statistics table share it
    grid = grid_controls(stats, c)
    draw_grid(settings, name, fmap, grid)
    channel = draw_channel(settings, name, fmap, stats, grid)
    draw_overlay(settings, name, fmap, channel, image, base.box)


@dataclass(frozen=True)
class Grid:
    """How the grid of channels is drawn: which channels (and by which ranking), on one colour scale or each its own."""

    channels: list[int]
    ranking: str | None  # the ranking that picked them, or None for a range
    shared: bool
    clip: float  # the share of extreme cells clipped from the colour range
    colorscale: str


def grid_controls(stats: ChannelStats, c: int) -> Grid:
    """Which channels the grid shows (the strongest by a ranking, or a range) and how it colours them."""
    cols = st.columns([1.2, 1.2, 1.3, 1, 1.1, 1])
    mode = cols[0].radio("Channels", ["Strongest", "Range"], key="fm_mode", horizontal=True)
    count = cols[2].select_slider("How many", GRID_SIZES, value=16, key="fm_count")
    ranking = None
    if mode == "Strongest":
        ranking = cols[1].selectbox(
            "Ranked by", list(RANKINGS), index=list(RANKINGS).index("energy"), format_func=RANKINGS.get, key="fm_rank"
        )
        channels = [int(i) for i in rank_channels(stats, ranking)[:count]]
    else:
        start = int(cols[1].number_input("First channel", 0, c - 1, 0, key="fm_start"))
        channels = list(range(start, min(c, start + count)))
    shared = cols[3].radio("Colour scale", ["per channel", "shared"], key="fm_scale") == "shared"
    contrast = cols[4].radio(
        "Contrast",
        ["1st–99th pct", "min–max"],
        key="fm_contrast",
        help="Clip the colour range to the 1st–99th percentile so that a few extreme cells do not darken the rest.",
    )
    clip = 1.0 if contrast.startswith("1st") else 0.0
    colorscale = cols[5].selectbox("Colours", COLORSCALES, key="fm_colors")
    return Grid(channels, ranking, shared, clip, colorscale)


def draw_grid(settings: ui.Settings, name: str, fmap: torch.Tensor, grid: Grid) -> None:
    channels, shared, colorscale = grid.channels, grid.shared, grid.colorscale
    c, h, w = fmap.shape
    title = f"{name}: {len(channels)} channels" + (f" ranked by {RANKINGS[grid.ranking]}" if grid.ranking else "")
    chart = ui.views.grid_chart(settings.forward_key, name, tuple(channels), shared, grid.clip, colorscale, title, fmap)
    ui.show(chart, key="fm_grid")
    st.caption(
        "Colours are scaled per channel unless 'shared' is chosen; the shared colour bar is in the map's own units. "
        "Bright cells are where a channel responds; compare how P3 follows edges and P5 whole regions."
    )
    safe = name.replace(" ", "_").replace("(", "").replace(")", "")
    d1, d2, _ = st.columns([1, 1, 3])
    d1.download_button(
        "Grid as PNG",
        lambda: png_bytes(
            grid_image(fmap[channels].numpy(), [f"ch {i}" for i in channels], shared=shared, colorscale=colorscale)
        ),
        file_name=f"{safe}_grid.png",
        mime="image/png",
        on_click="ignore",
        icon=":material/download:",
    )
    d2.download_button(
        f"{name} as .npy",
        lambda: npy_bytes(fmap.numpy()),
        file_name=f"{safe}.npy",
        mime="application/octet-stream",
        on_click="ignore",
        icon=":material/download:",
        help=f"float32, shape ({c}, {h}, {w})",
    )


def draw_channel(settings: ui.Settings, name: str, fmap: torch.Tensor, stats: ChannelStats, grid: Grid) -> int:
    """One channel enlarged beside its statistics; returns the channel."""
    channels, c = grid.channels, fmap.shape[0]
    st.subheader("One channel")
    channel = int(
        st.columns([1, 3])[0].selectbox(
            "Channel",
            channels + [i for i in range(c) if i not in channels],
            key="fm_channel",
            help="The grid's channels first, then all others.",
        )
    )
    big, numbers = st.columns([2, 1])
    with big:
        ui.show(ui.views.channel_chart(settings.forward_key, name, channel, grid.colorscale, fmap), key="fm_channel_map")
    row = stats.row(channel)
    rank = int(np.nonzero(rank_channels(stats, "energy") == channel)[0][0]) + 1
    numbers.dataframe(
        pd.DataFrame(
            {
                "statistic": ["mean", "std", "min", "max", "share ≤ 0", "L2 energy", "energy rank"],
                "value": [
                    f"{row['mean']:.4g}",
                    f"{row['std']:.4g}",
                    f"{row['min']:.4g}",
                    f"{row['max']:.4g}",
                    f"{row['frac_nonpositive']:.1%}",
                    f"{row['energy']:.4g}",
                    f"{rank} of {c}",
                ],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    return channel


def draw_overlay(settings: ui.Settings, name: str, fmap: torch.Tensor, channel: int, image: Image.Image, box) -> None:
    """A reduction of the channels (or the one channel) over the photo, the letterbox undone."""
    c = fmap.shape[0]
    st.subheader("On the photo")
    o1, o2, o3 = st.columns([2, 1, 2])
    options = {"mean": "mean", "max": "max", "topk": "top-k mean", "channel": f"channel {channel}"}
    how = o1.segmented_control(
        "Show",
        list(options),
        format_func=options.get,
        default="mean",
        required=True,
        key="fm_reduce",
        help="Over the channels at every position: " + "; ".join(REDUCTIONS.values()) + "; or the one channel above.",
    )
    k = o2.number_input("k (top-k mean)", 1, c, min(8, c), key="fm_k", disabled=how != "topk")
    opacity = o3.slider("Heatmap opacity", 0.0, 1.0, 0.55, 0.05, key="fm_opacity")
    label = REDUCTIONS.get(how, f"channel {channel}").replace("top-k", f"top-{int(k)}")
    title = f"{name}: {label}, letterbox undone"
    # only what the reduction depends on is in the key: k counts for top-k, the channel for "channel"
    k_used, channel_used = (int(k) if how == "topk" else 0), (channel if how == "channel" else -1)
    chart = ui.views.overlay_chart(settings.forward_key, name, how, k_used, channel_used, opacity, title, fmap, image, box)
    ui.show(chart, key="fm_overlay")
    st.caption(
        "The padding is cut away and the resize undone, so every cell sits over the part of the photo it was computed from."
    )


main()
