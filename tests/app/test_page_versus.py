"""AppTest of the Tutorial vs YOLO11 page, and of the YOLO11 architectures and trained weights on every page."""

from __future__ import annotations

import io

import pytest
import torch
from helpers import no_problems
from spec import YOLO11N_BACKBONE_PARAMS

from pages.ui.entrypoint import PAGES as ENTRIES
from yolo_explorer import build_backbone, make_config, model_stats
from yolo_explorer.model.versus import closest_widths, differences

PAGE = "versus.py"
PAGES = [entry.file for entry in ENTRIES]  # every page, Detections included (it says what a backbone lacks)


@pytest.mark.slow  # every YOLO11 design choice measured
def test_side_by_side_numbers_come_from_the_engine(app):
    at = app(PAGE, vs_width=32, vs_scale="s")
    no_problems(at)
    table = at.dataframe[0].value
    assert list(table["stage"]) == ["stem", "stage 1", "stage 2 (P3)", "stage 3 (P4)", "stage 4 (P5)"]
    assert table["tutorial params"].sum() == 6_412_064
    assert table["YOLO11 params"].sum() == model_stats(make_config("yolo11s"), 640).params
    assert list(table["YOLO11 C×H×W"])[2:] == ["256×80×80", "256×40×40", "512×20×20"]
    assert list(table["out"])[2:] == ["P3", "P4", "P5"]
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert len(titles) == len(differences(make_config("yolo11s"), 640)) == 6
    assert any("C2PSA attention" in t for t in titles) and any("Expansion 0.25" in t for t in titles)
    matches = at.dataframe[1].value
    assert list(matches["tutorial w (params)"]) == [m.width_by_params for m in closest_widths((640, 640))]


@pytest.mark.slow  # every YOLO11 design choice measured at two sizes
def test_page_follows_the_sidebar_and_size(app):
    at = app(PAGE, arch="yolo11m", side=320)
    no_problems(at)
    assert at.get_by_key("vs_scale").value == "m"
    assert list(at.dataframe[0].value["YOLO11 C×H×W"])[-1] == "512×10×10"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_works_for_yolo11(app, page):
    at = app(page, arch="yolo11n", side=256)
    no_problems(at)


def test_overview_of_yolo11_has_eleven_layers_and_counts_attention(app):
    at = app(arch="yolo11n")
    no_problems(at)
    table = at.dataframe[0].value
    assert list(table["layer"][:11]) == [str(i) for i in range(11)]
    assert table["params"].iloc[-1] == YOLO11N_BACKBONE_PARAMS
    stats = model_stats(make_config("yolo11n"), 640)
    assert table["MACs"].iloc[-1] == stats.macs
    assert any("attention products" in (c.value or "") for c in at.caption)


def _state_bytes(model: torch.nn.Module, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    torch.save({f"{prefix}{k}": v for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def test_uploaded_weights_are_used_and_a_mismatch_is_explained(app):
    at = app(width=8, side=128)
    source = build_backbone(width=8, seed=77)
    at.file_uploader(key="weights_upload").set_value(("trained.pt", _state_bytes(source), "application/octet-stream")).run()
    no_problems(at)
    assert "trained weights (trained.pt)" in at.caption[0].value
    assert at.get_by_key("batch_norm").value == "running"  # trained statistics are used
    at.get_by_key("width").set_value(16).run()  # no longer fits
    no_problems(at)
    assert "Using random weights: these weights do not fit tutorial w=16" in at.warning[0].value
    assert "random weights (seed 0)" in at.caption[0].value


def test_an_uploaded_checkpoint_picks_the_model_its_table_describes(app):
    """A YOLO26 checkpoint as Ultralytics 8.4 saves it, at its own width (1/16) and class count: the sidebar builds the
    model from the table the file carries, loads both branches of its head, and steps back when the upload goes."""
    from pathlib import Path

    data = (Path(__file__).parents[1] / "data" / "ultralytics_tiny_yolo26.pt").read_bytes()
    at = app(arch="yolo11n", side=128)
    at.file_uploader(key="weights_upload").set_value(("yolo26n.pt", data, "application/octet-stream")).run()
    no_problems(at)
    assert not [w.value for w in at.warning if "Using random weights" in w.value]
    built = "Built from the table the uploaded checkpoint carries: **yolo26-n (its own table) detector, 1 class**"
    assert any(built in c.value for c in at.caption)
    assert any("Using yolo26n\\.pt from your upload (708 tensors, a head of 1 class)" in c.value for c in at.caption)
    assert at.selectbox(key="arch").disabled and at.session_state["part"] == "Whole detector"
    at.file_uploader(key="weights_upload").set_value(None).run()
    no_problems(at)
    assert not at.selectbox(key="arch").disabled and at.selectbox(key="arch").value == "yolo11n"


def test_ultralytics_weights_for_yolo11n_load(app):
    at = app(arch="yolo11n", side=128)
    data = _state_bytes(build_backbone("yolo11n", seed=5), prefix="model.")
    at.file_uploader(key="weights_upload").set_value(("yolo11n_sd.pt", data, "application/octet-stream")).run()
    no_problems(at)
    assert "trained weights (yolo11n_sd.pt)" in at.caption[0].value


def test_hostile_weights_are_refused_in_the_sidebar(app):
    import os
    import pickle

    class RunsCode:
        def __reduce__(self):
            return (os.system, ("true",))

    buffer = io.BytesIO()
    torch.save({"stem.conv.weight": RunsCode()}, buffer, pickle_module=pickle)
    at = app(width=8, side=128)
    at.file_uploader(key="weights_upload").set_value(("evil.pt", buffer.getvalue(), "application/octet-stream")).run()
    assert not at.exception
    assert len(at.error) == 1 and "evil.pt cannot be used: refused" in at.error[0].value
    assert "random weights" in at.caption[0].value  # the page still works
