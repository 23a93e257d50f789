"""The error boundary every page shares: a message that says what to do, never a traceback."""

from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest

from pages.ui.guard import explain
from yolo_explorer.deployment.memory import InsufficientMemoryError
from yolo_explorer.deployment.modes import CompileError
from yolo_explorer.forward.preprocess import TruncatedImageError


@pytest.mark.parametrize(
    "error, words",
    [
        (TruncatedImageError("the PNG file is truncated"), "This image cannot be used: the PNG file is truncated"),
        (InsufficientMemoryError("a forward needs about 9 GiB but cpu has 2 GiB free"), "Not enough memory"),
        (
            torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
            "ran out of memory while running it. The memory was released",
        ),
        (
            ValueError("device 'cuda:1' is not present on this machine; present: cpu, cuda:0"),
            "Could not finish running it: device 'cuda:1' is not present",
        ),
        (
            CompileError("torch.compile (fp32 + compile default) failed on this machine: no C++ compiler; time the eager modes"),
            "failed on this machine: no C++ compiler; time the eager modes.",
        ),
        (RuntimeError("boom"), "Something went wrong while running it (RuntimeError)"),
    ],
)
def test_messages(error, words):
    assert words in explain(error, "running it")


def _page_that_fails():
    import streamlit as st
    import torch

    from pages.ui.guard import guard

    st.write("before")
    kind = st.session_state.get("kind", "oom")
    with guard("running the backbone"):
        if kind == "oom":
            raise torch.OutOfMemoryError("CUDA out of memory")
        raise ZeroDivisionError("hidden detail")
    st.write("never shown")


@pytest.mark.parametrize("kind, words", [("oom", "ran out of memory"), ("other", "Something went wrong")])
def test_guard_shows_an_error_and_stops_the_page(kind, words):
    at = AppTest.from_function(_page_that_fails, default_timeout=60)
    at.session_state["kind"] = kind
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and words in at.error[0].value
    assert "hidden detail" not in at.error[0].value and "Traceback" not in at.error[0].value
    assert [m.value for m in at.markdown] == ["before"]


def test_the_servers_memory_cap_refuses_a_forward_with_the_estimate(app, server_env):
    server_env("YOLO_EXPLORER_MAX_FORWARD_MB", "50")
    at = app()  # width 64 at 640: about 150 MiB with the margin
    assert not at.exception
    assert len(at.error) == 1 and "this server allows 50.0 MiB per forward" in at.error[0].value
    assert "Lower the width, the input size or the batch size" in at.error[0].value
    assert at.metric  # the statistics above the forward are still shown
    at.get_by_key("width").set_value(8).run()
    assert not at.error  # a smaller config fits


def test_a_misconfigured_server_says_so_on_every_page_and_keeps_serving(app, server_env):
    server_env("YOLO_EXPLORER_MAX_FORWARD_MB", "lots")
    at = app()
    assert not at.exception and len(at.error) == 1
    assert "the server is misconfigured: YOLO_EXPLORER_MAX_FORWARD_MB must be a number of MiB, got 'lots'" in at.error[0].value
    server_env("YOLO_EXPLORER_MAX_FORWARD_MB", None)  # corrected and restarted: the app works again
    at.run()
    assert not at.exception and not at.error and at.metric
