"""Streamlit glue shared by the pages: the sidebar, cached engine calls and views, the error boundary."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from . import int8, links, truths, views
from .compute import (
    assignment_for,
    attention_for,
    change_effect_for,
    check_memory,
    closest_widths_for,
    compile_times,
    detections_for,
    differences_for,
    explanation_for,
    features_for,
    graph_for,
    image_for,
    int8_lab_for,
    memory_for,
    model_for,
    model_for_config,
    onnx_errors,
    onnx_for,
    parts_for,
    peaks_for,
    sensitivity_for,
    stats_for,
    summary_for,
    supported_dtypes_cached,
    two_heads_for,
    walk_for,
)
from .entrypoint import current_settings, frame
from .guard import attempt, explain, guard
from .server import environment
from .settings import SIZES, WIDTHS, Photo, Settings, compile_modes
from .sidebar import sidebar_controls

__all__ = [
    "SIZES",
    "WIDTHS",
    "Photo",
    "Settings",
    "assignment_for",
    "attention_for",
    "change_effect_for",
    "attempt",
    "check_memory",
    "closest_widths_for",
    "compile_modes",
    "compile_times",
    "current_settings",
    "environment",
    "detections_for",
    "differences_for",
    "explain",
    "explanation_for",
    "features_for",
    "graph_for",
    "frame",
    "guard",
    "image_for",
    "int8",
    "int8_lab_for",
    "links",
    "memory_for",
    "model_for",
    "model_for_config",
    "onnx_errors",
    "onnx_for",
    "parts_for",
    "peaks_for",
    "sensitivity_for",
    "show",
    "sidebar_controls",
    "stats_for",
    "summary_for",
    "supported_dtypes_cached",
    "views",
    "truths",
    "two_heads_for",
    "walk_for",
]

_PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def show(fig: go.Figure, key: str | None = None) -> None:
    """Draw a Plotly figure at the container's width (a shared figure from `views` is only read)."""
    st.plotly_chart(fig, width="stretch", config=_PLOTLY_CONFIG, key=key)
