"""The error boundary of every page: a clear message that says what to do, never a traceback.

    with guard("running the backbone"):
        result = features_for(settings)

On an error the message is shown and the page stops; the sidebar and other pages keep working, and
so does every other user's session. Where the rest of the page does not depend on the failing part,
`attempt` shows the message in its place and lets the page go on:

    result = attempt("running the backbone on the image", lambda: features_for(settings))  # None on an error
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import streamlit as st
import torch

from yolo_explorer import ImageLoadError
from yolo_explorer.deployment.memory import InsufficientMemoryError
from yolo_explorer.deployment.modes import CompileError
from yolo_explorer.deployment.onnx_models import OnnxExportError, RuntimeUnavailableError

log = logging.getLogger("yolo_explorer.app")
T = TypeVar("T")


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
    if isinstance(error, RuntimeUnavailableError):
        return f"{error}."
    if isinstance(error, OnnxExportError):
        return f"{error}. The torch runtime times it as it is."
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
        _report(error, doing)
        st.stop()


def attempt(doing: str, compute: Callable[[], T]) -> T | None:
    """`compute()`, or None after showing why it failed (as `guard` does) where its result would have been:
    the rest of the page, which does not need it, goes on."""
    try:
        return compute()
    except Exception as error:  # as guard, without stopping the page
        _report(error, doing)
        return None


def _report(error: Exception, doing: str) -> None:
    if isinstance(error, torch.OutOfMemoryError) and torch.cuda.is_available():
        torch.cuda.empty_cache()
    log.warning(
        "error while %s",
        doing,
        exc_info=not isinstance(error, (ImageLoadError, InsufficientMemoryError, ValueError, KeyError)),
    )
    st.error(explain(error, doing), icon=":material/error:")
