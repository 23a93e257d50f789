"""Cached calls into the engine. Caching lives here, in the UI layer, keyed by plain values.

- Models: `st.cache_resource`, one per (config, seed, device, precision, weights), shared by every
  browser session; the engine's per-model lock keeps concurrent captures apart, and its per-device
  lock runs one forward at a time on a device.
- Forward results: `st.cache_resource` too, so a rerun reads the maps without copying tens of MB;
  they are never mutated. One forward per (config, image, size) serves every view.
- Statistics, summaries, decoded images: `st.cache_data`. Configs are frozen dataclasses: hashable keys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st
import torch
from PIL import Image

from yolo_explorer import (
    build_backbone,
    extract_features,
    load_image,
    model_stats,
    model_summary,
    supported_dtypes,
)
from yolo_explorer.devices import dtype_from_name
from yolo_explorer.latency import matmul_peak_tflops
from yolo_explorer.memory import MemoryEstimate, check_fits, estimate_forward_memory
from yolo_explorer.versus import Difference, WidthMatch, closest_widths, differences
from yolo_explorer.weights import load_weights, match_state_dict, read_state_dict

if TYPE_CHECKING:
    from yolo_explorer import Backbone, FeatureResult, ModelStats, Summary
    from yolo_explorer.config import BackboneConfig, YOLO11Config

    from .settings import Settings


@dataclass(frozen=True)
class Weights:
    """Uploaded weights, read once: their file name, content digest (the cache key) and tensors."""

    name: str
    digest: str
    state: dict[str, torch.Tensor]

    @classmethod
    def read(cls, name: str, data: bytes) -> Weights:
        """Read an upload (raises `WeightsError` with a clear message on a bad file)."""
        return cls(name, hashlib.sha256(data).hexdigest()[:16], read_state_dict(data))

    def check(self, config: BackboneConfig) -> None:
        """Raise `WeightsMismatchError`, listing the keys, if these weights do not fit `config`."""
        _check_fit(config, self.digest, self.state)


@st.cache_data(max_entries=64, show_spinner=False)
def _check_fit(config: BackboneConfig, digest: str, _state: dict[str, torch.Tensor]) -> None:
    match_state_dict(build_backbone(config=config, device="meta"), _state)


@st.cache_resource
def compile_times() -> dict[tuple, float]:
    """Seconds torch.compile took on this server, by (config label, size, mode, frozen, device): shown before the
    next user waits for the same compile. Shared by every session."""
    return {}


@st.cache_data(show_spinner="Measuring the device's matmul peak…")
def peak_tflops(device: str, dtype: str) -> float:
    """The device's practical peak: TFLOP/s of a large matmul in `dtype`, measured once per server."""
    return matmul_peak_tflops(device, dtype)


@st.cache_data(show_spinner=False)
def supported_dtypes_cached(device: str) -> list[str]:
    return supported_dtypes(device)


@st.cache_resource(max_entries=4, show_spinner="Building the backbone…")
def _model(
    config: BackboneConfig, seed: int, device: str, dtype: str, weights_digest: str | None, _weights: Weights | None
) -> Backbone:
    model = build_backbone(config=config, seed=seed, device=device, dtype=dtype_from_name(dtype))
    if _weights is not None:
        load_weights(model, _weights.state)
    return model


def model_for_config(config: BackboneConfig, seed: int, device: str, dtype: str) -> Backbone:
    """A model with random weights for a config that is not the sidebar's (the Compare page's widths)."""
    return _model(config, seed, device, dtype, None, None)


def model_for(settings: Settings, dtype: str | None = None) -> Backbone:
    """The model for the current settings (trained weights if uploaded and fitting), shared by every
    session (bounded: 4 models)."""
    weights = settings.weights
    return _model(settings.config, settings.seed, settings.device, dtype or settings.dtype, weights and weights.digest, weights)


@st.cache_data(max_entries=64, show_spinner=False)
def stats_for(config: BackboneConfig, size: tuple[int, int], dtype: str) -> ModelStats:
    return model_stats(config, size, dtype)


@st.cache_data(max_entries=32, show_spinner="Running torchinfo on a weightless copy…")
def summary_for(config: BackboneConfig, size: tuple[int, int], levels: int, columns: tuple[str, ...], dtype: str) -> Summary:
    return model_summary(config, size, depth=levels, columns=columns, dtype=dtype)


@st.cache_data(max_entries=64, show_spinner=False)
def memory_for(config: BackboneConfig, size: tuple[int, int], batch: int, dtype: str) -> MemoryEstimate:
    return estimate_forward_memory(config, size, batch=batch, dtype=dtype)


@st.cache_data(max_entries=32, show_spinner="Measuring each YOLO11 design choice…")
def differences_for(config: YOLO11Config, size: tuple[int, int]) -> list[Difference]:
    return differences(config, size)


@st.cache_data(max_entries=16, show_spinner="Finding the closest tutorial widths…")
def closest_widths_for(size: tuple[int, int]) -> list[WidthMatch]:
    return closest_widths(size)


@st.cache_data(max_entries=16, show_spinner=False)
def image_for(data: bytes) -> Image.Image:
    """The decoded RGB image (typed errors from `load_image` propagate)."""
    return load_image(data)


def check_memory(settings: Settings, batch: int = 1, what: str = "this forward", dtype: str | None = None) -> None:
    """Refuse at once a forward that would not fit the device or the server's cap (raises InsufficientMemoryError)."""
    estimate = memory_for(settings.config, settings.size, batch, dtype or settings.dtype)
    check_fits(estimate, settings.device, what=what)  # the server's cap: YOLO_EXPLORER_MAX_FORWARD_MB


@st.cache_resource(max_entries=8, show_spinner="Running the backbone on the image…")
def _features(
    config: BackboneConfig,
    seed: int,
    device: str,
    dtype: str,
    weights_digest: str | None,
    image_bytes: bytes,
    size: tuple[int, int],
    layers: tuple[str, ...],
    batch_norm: str,
    _model: Backbone,
) -> FeatureResult:
    return extract_features(_model, image_for(image_bytes), size, layers, batch_norm=batch_norm)


def features_for(settings: Settings, layers: tuple[str, ...] = ("P3", "P4", "P5")) -> FeatureResult:
    """One forward of the current image with the current settings, capturing `layers` (cached)."""
    image_for(settings.image_bytes)  # a bad image fails here, before any model work
    check_memory(settings, what=f"a forward of {settings.config.label} at {settings.size_label}")
    weights = settings.weights
    return _features(
        settings.config,
        settings.seed,
        settings.device,
        settings.dtype,
        weights and weights.digest,
        settings.image_bytes,
        settings.size,
        layers,
        settings.batch_norm,
        model_for(settings),
    )
