"""The error boundary of every page: a clear message that says what to do, never a traceback.

    with guard("running the backbone"):
        result = features_for(settings)

On an error the message is shown and the page stops; the sidebar and other pages keep working, and
so does every other user's session.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
import torch

from yolo_explorer import ImageLoadError
from yolo_explorer.latency import CompileError
from yolo_explorer.memory import InsufficientMemoryError

log = logging.getLogger("yolo_explorer.app")


def explain(error: BaseException, doing: str) -> str:
    """The message a user sees for an error raised while `doing` something."""
    if isinstance(error, ImageLoadError):
        return f"This image cannot be used: {error}. Pick a sample or another file."
    if isinstance(error, InsufficientMemoryError):
        return f"Not enough memory: {error}"
    if isinstance(error, torch.OutOfMemoryError):
        return (
            f"The device ran out of memory while {doing}. The memory was released; lower the width, "
            "the input size or the batch size, or try again when the server is less busy."
        )
    if isinstance(error, CompileError):
        return f"{error}."
    if isinstance(error, (ValueError, KeyError)):
        text = error.args[0] if error.args else str(error)
        return f"Could not finish {doing}: {text}"
    return f"Something went wrong while {doing} ({type(error).__name__}). It has been logged on the server; try another setting."


@contextmanager
def guard(doing: str) -> Iterator[None]:
    """Show any error raised inside as an `st.error` and stop this page's run."""
    try:
        yield
    except Exception as error:  # the page's last line of defence; Streamlit's stop/rerun are BaseExceptions
        if isinstance(error, torch.OutOfMemoryError) and torch.cuda.is_available():
            torch.cuda.empty_cache()
        log.warning(
            "error while %s",
            doing,
            exc_info=not isinstance(error, (ImageLoadError, InsufficientMemoryError, ValueError, KeyError)),
        )
        st.error(explain(error, doing), icon=":material/error:")
        st.stop()
