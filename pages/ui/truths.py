"""The photo's objects as the user gave them, for the pages that judge boxes against them: drawn on Label assignment
(kept per photo and head once edited: its table starts as the detector's own boxes, which judge nothing), or a YOLO
label file uploaded on the page that asks."""

from __future__ import annotations

import streamlit as st

from yolo_explorer.detection.assignment import Truth
from yolo_explorer.detection.labels import parse_labels

from .settings import Settings

__all__ = ["drawn", "keep_drawn", "uploaded"]


def _key(settings: Settings) -> str:
    return f"truths_{settings.photo.digest}_{len(settings.class_names)}"


def keep_drawn(settings: Settings, truths: tuple[Truth, ...], edited: bool) -> None:
    """Label assignment's boxes for this photo, kept for other pages once the user changed them (None until then)."""
    st.session_state[_key(settings)] = truths if edited else None


def drawn(settings: Settings) -> tuple[Truth, ...] | None:
    """The boxes the user drew or edited on Label assignment for this photo and head (None when none)."""
    return st.session_state.get(_key(settings))


def uploaded(settings: Settings, size: tuple[int, int], key: str) -> tuple[tuple[Truth, ...] | None, str | None]:
    """A YOLO label file for the photo (`size`: its width and height), read into boxes in its pixels. Returns the boxes
    (None when no file) and what is wrong with the file (None when nothing)."""
    file = st.file_uploader(
        "The photo's objects: a YOLO label file",
        type=["txt"],
        key=f"{key}_{settings.photo.digest}",
        help="Ultralytics' label format: one line per object, `class cx cy w h`, as fractions of the photo's width and "
        "height (the file beside the photo in a data set's labels/ folder).",
    )
    if file is None:
        return None, None
    text = file.getvalue()[:1_000_000].decode("utf-8", errors="replace")
    try:
        return parse_labels(text, file.name, size, (size[1], size[0]), len(settings.class_names)), None
    except ValueError as err:
        return None, str(err)
