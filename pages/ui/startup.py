"""Warm-up when the server starts, before the first visitor: `app.py` hands this to `st.App` as its
lifespan, so `streamlit run app.py` finishes importing torch and the engine, and PyTorch's lazily loaded
meta-device and CPU kernels, before it answers its first request. Without it the first visitor after a
restart paid about 3 s of it."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger("yolo_explorer.app")


def warm_up() -> float:
    """Import what every page needs and run the engine once on the meta device and the CPU; returns seconds."""
    start = time.perf_counter()
    import pandas  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    import torch

    from yolo_explorer import build_backbone, make_config, model_stats
    from yolo_explorer.deployment.memory import estimate_forward_memory

    config = make_config("tutorial")
    model_stats(config, 640)  # the meta device's kernels load on first use (about 1 s)
    estimate_forward_memory(config, 640)
    with torch.inference_mode():
        build_backbone(width=8)(torch.rand(1, 3, 64, 64))  # the CPU convolution kernels
    _first_page()
    # Streamlit collects garbage after every script run (runner.postScriptGC): with torch, plotly and pandas
    # loaded that walks ~370,000 objects, about 0.18 s of CPU per rerun. Move what exists now (modules, the
    # warmed caches) to the permanent generation; collections then walk only what was made since.
    gc.collect()
    gc.freeze()
    return time.perf_counter() - start


def _first_page() -> None:
    """Read the server's configuration and its weights folder (refusals go to the log now) and compute, into the
    shared caches, what the first visitor's first page (the Overview) shows."""
    from pages.ui import compute, views
    from pages.ui.server import environment
    from pages.ui.settings import Settings
    from pages.ui.weights import server_weights

    try:
        environment()  # the server's configuration, read once for every session
    except ValueError as err:
        log.error("%s", err)  # every page says it too, until the server is restarted with the variable corrected
        return
    server_weights()  # read once, before anyone asks

    settings = Settings.first_visit()
    key = (settings.config, settings.size, settings.dtype)
    compute.stats_for(*key)
    for view in (views.flow_chart, views.cost_chart, views.layer_table, views.stats_files):
        view(*key)
    result = compute.features_for(settings)
    views.jpeg(("letterboxed", settings.photo.digest, settings.size), result.box.image)


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    seconds = await asyncio.to_thread(warm_up)
    log.info("yolo-explorer warmed up in %.1f s", seconds)
    yield
