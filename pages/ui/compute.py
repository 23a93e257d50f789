"""Cached calls into the engine. Caching lives here, in the UI layer, keyed by plain values.

- Models: `st.cache_resource`, one per (architecture, device, precision, seed), shared by every
  browser session; the engine's per-model lock keeps concurrent captures apart.
- Forward results: `st.cache_resource` too, so a rerun reads the maps without copying tens of MB;
  they are never mutated. One forward per (config, image, size) serves every view.
- Statistics, summaries, decoded images: `st.cache_data`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st
from PIL import Image

from yolo_explorer import (
    build_backbone,
    extract_features,
    load_image,
    make_config,
    model_stats,
    model_summary,
    supported_dtypes,
)
from yolo_explorer.devices import dtype_from_name
from yolo_explorer.memory import MemoryEstimate, check_fits, estimate_forward_memory

if TYPE_CHECKING:
    from yolo_explorer import Backbone, FeatureResult, ModelStats, Summary

    from .settings import Settings


@st.cache_data(show_spinner=False)
def supported_dtypes_cached(device: str) -> list[str]:
    return supported_dtypes(device)


@st.cache_resource(max_entries=4, show_spinner="Building the backbone…")
def model_for(arch: str, width: int, depth: int, seed: int, device: str, dtype: str) -> Backbone:
    """The model for a config on a device, shared by every session (bounded: 4 models)."""
    return build_backbone(arch, width=width, depth=depth, seed=seed, device=device, dtype=dtype_from_name(dtype))


@st.cache_data(max_entries=64, show_spinner=False)
def stats_for(arch: str, width: int, depth: int, size: tuple[int, int], dtype: str) -> ModelStats:
    return model_stats(make_config(arch, width=width, depth=depth), size, dtype)


@st.cache_data(max_entries=32, show_spinner="Running torchinfo on a weightless copy…")
def summary_for(
    arch: str, width: int, depth: int, size: tuple[int, int], levels: int, columns: tuple[str, ...], dtype: str
) -> Summary:
    return model_summary(make_config(arch, width=width, depth=depth), size, depth=levels, columns=columns, dtype=dtype)


@st.cache_data(max_entries=64, show_spinner=False)
def memory_for(arch: str, width: int, depth: int, size: tuple[int, int], batch: int, dtype: str) -> MemoryEstimate:
    return estimate_forward_memory(make_config(arch, width=width, depth=depth), size, batch=batch, dtype=dtype)


@st.cache_data(max_entries=16, show_spinner=False)
def image_for(data: bytes) -> Image.Image:
    """The decoded RGB image (typed errors from `load_image` propagate)."""
    return load_image(data)


def check_memory(settings: Settings, batch: int = 1, what: str = "this forward") -> None:
    """Refuse at once a forward that would not fit the device (raises InsufficientMemoryError)."""
    estimate = memory_for(settings.arch, settings.width, settings.depth, settings.size, batch, settings.dtype)
    check_fits(estimate, settings.device, what=what)


@st.cache_resource(max_entries=8, show_spinner="Running the backbone on the image…")
def _features(
    arch: str,
    width: int,
    depth: int,
    seed: int,
    device: str,
    dtype: str,
    image_bytes: bytes,
    size: tuple[int, int],
    layers: tuple[str, ...],
    batch_norm: str,
) -> FeatureResult:
    model = model_for(arch, width, depth, seed, device, dtype)
    return extract_features(model, image_for(image_bytes), size, layers, batch_norm=batch_norm)


def features_for(settings: Settings, layers: tuple[str, ...] = ("P3", "P4", "P5")) -> FeatureResult:
    """One forward of the current image with the current settings, capturing `layers` (cached)."""
    image_for(settings.image_bytes)  # a bad image fails here, before any model work
    check_memory(settings, what=f"a forward of width {settings.width} at {settings.size_label}")
    return _features(*settings.model_key, settings.image_bytes, settings.size, layers, settings.batch_norm)
