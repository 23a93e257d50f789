"""AppTest of the Feature maps page: the grid, one channel, the overlay, layers, inputs, one forward."""

from __future__ import annotations

import json

import pytest
import streamlit as st
from helpers import image_bytes, image_captions, no_problems

PAGE = "feature_maps.py"


def specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def grid_shapes(spec: dict) -> list[str]:
    return [t["z"]["shape"] for t in spec["data"] if t["type"] == "heatmap"]


def test_default_view_is_light_and_complete(app):
    at = app(PAGE)
    no_problems(at)
    grid, channel, over = specs(at)
    assert grid_shapes(grid) == ["80, 80"] * 16  # 16 P3 channels at 640 px
    assert all(t["z"]["dtype"] == "u1" for t in grid["data"] if t["type"] == "heatmap")
    assert len(at.get("plotly_chart")[0].proto.spec) < 1_000_000
    assert channel["data"][0]["z"]["dtype"] == "f4"  # one channel in real units
    assert over["data"][0]["type"] == "image" and over["data"][1]["opacity"] == 0.55
    captions = image_captions(at)
    assert captions[0].startswith("Original: sample: astronaut, 512×512") and captions[1] == "Model input, 640×640"
    stats = at.dataframe[0].value
    assert list(stats["statistic"]) == ["mean", "std", "min", "max", "share ≤ 0", "L2 energy", "energy rank"]
    assert stats["value"].iloc[-1] == "1 of 256"  # the strongest channel is shown first
    assert [d.proto.label for d in at.get("download_button")] == ["Grid as PNG", "P3 as .npy"]


def test_layers_channels_and_colours(app):
    at = app(PAGE, width=16, fm_layer="P5")
    no_problems(at)
    assert grid_shapes(specs(at)[0]) == ["20, 20"] * 16
    at.get_by_key("fm_mode").set_value("Range").run()
    at.get_by_key("fm_start").set_value(10).run()
    at.get_by_key("fm_count").set_value(4).run()
    titles = [a["text"] for a in specs(at)[0]["layout"]["annotations"]]
    assert titles == ["ch 10", "ch 11", "ch 12", "ch 13"]
    at.get_by_key("fm_scale").set_value("shared").run()
    ticks = specs(at)[0]["layout"]["coloraxis"]["colorbar"]["ticktext"]
    assert len(ticks) == 5 and all(t.replace(".", "").replace("-", "").replace("e", "").isdigit() for t in ticks)
    at.get_by_key("fm_channel").set_value(12).run()
    assert specs(at)[1]["layout"]["title"]["text"].startswith("P5, channel 12")


def test_any_layer_including_the_shared_pool(app):
    at = app(PAGE, width=16, side=320, fm_layer="Any layer")
    at.get_by_key("fm_any").set_value("stage1_c3k2.cv1").run()
    no_problems(at)
    assert grid_shapes(specs(at)[0])[0] == "80, 80"
    assert any("32 channels of 80×80" in (c.value or "") for c in at.caption)
    at.get_by_key("fm_any").set_value("sppf.pool").run()
    no_problems(at)
    assert at.get_by_key("fm_call").value == 0
    at.get_by_key("fm_call").set_value(2).run()
    assert any("sppf.pool (call 3)" in (c.value or "") for c in at.caption)


def test_view_changes_run_no_model_code(app, monkeypatch):
    from pages.ui import compute

    forwards = []
    real = compute.extract_features
    monkeypatch.setattr(compute, "extract_features", lambda *a, **k: forwards.append(a[2:]) or real(*a, **k))
    st.cache_resource.clear()
    at = app(PAGE, width=8, side=256)  # setup: first run at the defaults, then width 8 at 256 px
    assert forwards[-1][0] == (256, 256)
    forwards.clear()
    for key, value in (
        ("fm_opacity", 0.9),
        ("fm_rank", "max"),
        ("fm_reduce", "topk"),
        ("fm_colors", "Inferno"),
        ("fm_layer", "P4"),
        ("fm_scale", "shared"),
        ("fm_contrast", "min–max"),
        ("fm_count", 36),
    ):
        at.get_by_key(key).set_value(value).run()
        no_problems(at)
    assert forwards == []  # every view above came from the one forward
    assert specs(at)[2]["data"][1]["opacity"] == 0.9
    at.switch_page("overview.py").run()
    assert forwards == []  # the Overview's P3/P4/P5 are the same forward
    at.get_by_key("width").set_value(16).run()
    assert len(forwards) == 1  # a new config is a new forward


def test_overlay_undoes_the_letterbox_of_an_upload(app):
    at = app(PAGE, width=8, source="Upload")
    at.file_uploader(key="upload").set_value(("wide.png", image_bytes((300, 100)), "image/png")).run()
    no_problems(at)
    assert image_captions(at)[0] == "Original: upload: wide.png, 300×100"
    assert any("213 px top" in (m.value or "") for m in at.markdown)  # 640 / 300 x 100 = 213 rows, 213 px padding above
    over = specs(at)[2]
    assert over["layout"]["xaxis"]["range"] == [-0.5, 299.5] and over["layout"]["yaxis"]["range"] == [99.5, -0.5]


def test_camera_snapshot(app):
    at = app(PAGE, width=8, source="Camera")
    at.camera_input[0].upload("snap.jpg", image_bytes((320, 240), fmt="JPEG")).run()
    no_problems(at)
    assert image_captions(at)[0] == "Original: camera snapshot, 320×240"


@pytest.mark.parametrize(
    "name, data", [("empty.png", b""), ("notes.jpg", b"meeting notes, not a photo"), ("cut.png", image_bytes((64, 64))[:60])]
)
def test_bad_uploads_are_explained(app, name, data):
    at = app(PAGE, width=8, source="Upload")
    at.file_uploader(key="upload").set_value((name, data, "image/png")).run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("This image cannot be used:")
    assert not at.get("plotly_chart")
    at.get_by_key("source").set_value("Sample").run()
    no_problems(at)


def test_where_attention_looks_is_the_engines_row(app):
    """YOLO12n's area attention at P4: the cell chosen, its strip named, the share said the engine's."""
    from yolo_explorer import build_model, load_image, make_config
    from yolo_explorer.forward.attention import attention_row
    from yolo_explorer.samples import sample_bytes

    at = app("feature_maps.py", arch="yolo12n", side=256)
    at.get_by_key("part").set_value("Whole detector").run()
    no_problems(at)
    block = at.get_by_key("fm_attn_block")
    assert block.options[0].startswith("6.m.0.0.attn") and "4 strips" in block.options[0]
    block.set_value("6.m.0.0.attn").run()
    at.get_by_key("fm_attn_row_16").set_value(5).run()  # a 256x256 input: P4 is 16x16, strips of 4 rows
    at.get_by_key("fm_attn_col_16").set_value(3).run()
    no_problems(at)
    model = build_model(make_config("yolo12n", detector=True), seed=0).eval()
    found = attention_row(model, load_image(sample_bytes("astronaut")), (256, 256), "6.m.0.0.attn", (5, 3))
    said = next(c.value for c in at.caption if "of its attention falls on its own" in c.value)
    assert f"{found.share_within(1):.0%} of its attention" in said and "rows 4 to 7 only" in said
