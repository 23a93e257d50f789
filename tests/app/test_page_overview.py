"""AppTest of the Overview page (the default page): numbers, controls, inputs, downloads, errors."""

from __future__ import annotations

import json

from helpers import image_bytes, image_captions, no_problems
from spec import MACS_W64_640, PARAMS_W64, TOTALS


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_opens_without_upload_on_the_sample_with_spec_numbers(app):
    at = app()
    no_problems(at)
    assert metrics(at)["Parameters"] == "25.6 M" and metrics(at)["MACs per image"] == "28.9 G"
    table = at.dataframe[0].value
    assert dict(zip(table["layer"][:10], table["params"][:10], strict=True)) == PARAMS_W64
    assert table["params"].iloc[-1] == TOTALS[64] and table["MACs"].iloc[-1] == MACS_W64_640
    charts = at.get("plotly_chart")
    assert len(charts) == 5  # flow, P3/P4/P5 glance, costs
    glance = [json.loads(c.proto.spec) for c in charts[1:4]]
    assert [len(g["data"][0]["z"]["shape"].split(",")) for g in glance] == [2, 2, 2]
    assert image_captions(at) == ["Model input (sample: astronaut, letterboxed)"]


def test_width_and_size_change_the_numbers(app):
    at = app(width=32)
    no_problems(at)
    assert metrics(at)["Parameters"] == "6.41 M"
    assert at.dataframe[0].value["params"].iloc[-1] == TOTALS[32]
    at.get_by_key("side").set_value(320).run()
    assert at.dataframe[0].value["output shape"].iloc[4] == "128×40×40"  # P3 at w = 32, 320 px
    at.get_by_key("square").set_value(False).run()
    at.get_by_key("height").set_value(480).run()
    shapes = at.dataframe[0].value["output shape"]
    assert shapes.iloc[4] == "128×60×80" and shapes.iloc[9] == "512×15×20"


def test_repeats_change_the_c3k2_parameters(app):
    at = app(depth=1)
    no_problems(at)
    table = at.dataframe[0].value
    assert table.set_index("layer").loc["stage1_c3k2", "params"] < 197_632


def test_upload_and_camera_inputs(app):
    at = app(source="Upload")
    no_problems(at)
    at.file_uploader(key="upload").set_value(("wide.png", image_bytes((300, 100)), "image/png")).run()
    no_problems(at)
    assert image_captions(at) == ["Model input (upload: wide.png, letterboxed)"]
    at.get_by_key("source").set_value("Camera").run()
    at.camera_input[0].upload("snap.jpg", image_bytes((160, 120), fmt="JPEG")).run()
    no_problems(at)
    assert image_captions(at) == ["Model input (camera snapshot, letterboxed)"]


def test_broken_upload_is_an_error_and_the_next_interaction_works(app):
    at = app(source="Upload")
    at.file_uploader(key="upload").set_value(("photo.png", b"this is not a png", "image/png")).run()
    assert not at.exception
    assert len(at.error) == 1 and "This image cannot be used" in at.error[0].value and "not an image" in at.error[0].value
    assert "Traceback" not in at.error[0].value
    assert [m.label for m in at.metric]  # the statistics above the image still show
    assert at.dataframe[0].value["params"].iloc[-1] == TOTALS[64]  # and so do the table and the charts below it
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 2 and [t["y"] for t in charts[1]["data"][:1]] == [list(PARAMS_W64.values())]
    at.get_by_key("source").set_value("Sample").run()
    no_problems(at)
