"""AppTest of the What changed page: the bill is the engine's, change by change; the sidebar's model picks the route
and scale; latency of the route fills the table and adds up; Ultralytics' published figures stand beside."""

from __future__ import annotations

import pytest
from helpers import no_problems

from yolo_explorer.model.changes import family_bill
from yolo_explorer.model.published import PUBLISHED

PAGE = "changes.py"


def test_the_bill_is_the_engines_and_adds_up(app):
    at = app(PAGE, side=320)
    no_problems(at)
    table = at.dataframe[0].value
    bill = family_bill("yolo11", "yolo26", "n", (320, 320))
    assert list(table["change"]) == ["YOLO11n detector", *(s.change.title for s in bill.steps), "YOLO26n detector"]
    assert list(table["params"]) == [bill.start.params, *(s.params for s in bill.steps), bill.end.params]
    assert list(table["deployed MACs"][1:-1]) == [s.deployed_macs for s in bill.steps]
    assert table["MACs"].iloc[0] + table["MACs"].iloc[1:-1].sum() == table["MACs"].iloc[-1]
    assert list(table["layers"][1:-1]) == ["9", "13, 16, 19", "22", "23", "23"]
    assert [e.label.split(" · ")[0] for e in at.main.expander] == [s.change.title for s in bill.steps]
    published = at.dataframe[1].value
    assert list(published["model"]) == ["YOLO11n", "YOLO26n"]
    assert list(published["mAP50-95"]) == [PUBLISHED["yolo11"]["n"].map50_95, PUBLISHED["yolo26"]["n"].map50_95]
    assert published["mAP50-95 without NMS"].iloc[1] == 40.1
    at.get_by_key("chg_measure").set_value("activation bytes").run()
    no_problems(at)


def test_the_sidebar_picks_the_route_and_the_page_keeps_its_own_pick(app):
    at = app(PAGE, arch="yolo12s", side=256)
    no_problems(at)
    assert at.get_by_key("chg_route").value == ("yolo11", "yolo12") and at.get_by_key("chg_scale").value == "s"
    assert at.dataframe[0].value["change"].iloc[-1] == "YOLO12s detector"
    assert "removed 9, 10" in at.dataframe[0].value["layers"].iloc[2]
    at.get_by_key("chg_route").set_value(("yolov8", "yolo26")).run()
    no_problems(at)
    table = at.dataframe[0].value
    assert table["change"].iloc[0] == "YOLOv8s detector" and len(table) == 2 + 11
    assert [r for r in at.dataframe[1].value["model"]] == ["YOLOv8s", "YOLO26s"]


@pytest.mark.slow  # times six models, twice each, in two runtimes
def test_latency_of_the_route_fills_the_table(app):
    at = app(PAGE, side=64)
    at.get_by_key("chg_runtimes").set_value(["torch", "onnxruntime"]).run()
    at.button(key="chg_time").click().run()
    no_problems(at)
    table = at.dataframe[0].value
    for runtime in ("torch", "onnxruntime"):
        ms = table[f"{runtime} ms"]
        assert ms.iloc[0] > 0 and ms.iloc[-1] > 0
        assert ms.iloc[0] + ms.iloc[1:-1].sum() == pytest.approx(ms.iloc[-1])
    at.get_by_key("chg_measure").set_value("onnxruntime latency").run()
    no_problems(at)
    at.get_by_key("chg_scale").set_value("s").run()  # another scale: no times for it yet
    assert "torch ms" not in at.dataframe[0].value.columns


def test_a_trained_yolo26_shows_what_the_sppf_change_does_on_the_photo(app):
    """With trained YOLO26n weights (Ultralytics trained them here on shapes) and one of its photos, the SPPF change,
    the one that keeps the weights, is undone on the same weights: the page says how far layer 9 moves and the boxes
    each keeps, the engine's (`change_effect`)."""
    from pathlib import Path

    from yolo_explorer import build_model, load_image, load_weights
    from yolo_explorer.detection.change_effect import change_effect
    from yolo_explorer.detection.detections import PREDICT
    from yolo_explorer.model.changes import without_change
    from yolo_explorer.model.checkpoints import read_checkpoint
    from yolo_explorer.model.weights import table_config

    data = Path(__file__).parents[1] / "data"
    photo = data / "photos" / "alpha_400x300.png"
    at = app(PAGE, side=320)
    weights = (data / "synthetic_yolo26n.pt").read_bytes()
    at.file_uploader(key="weights_upload").set_value(("synthetic_yolo26n.pt", weights, "application/octet-stream")).run()
    at.get_by_key("source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value((photo.name, photo.read_bytes(), "image/png")).run()
    no_problems(at)
    checkpoint = read_checkpoint(data / "synthetic_yolo26n.pt")
    model = build_model(table_config(checkpoint))
    load_weights(model, checkpoint)
    bill = family_bill("yolo11", "yolo26", "n", (320, 320), num_classes=4)
    effect = change_effect(model.eval(), without_change(bill, 0), ["9"], load_image(photo), (320, 320), PREDICT)
    said = next(m.value for m in at.markdown if m.value.startswith("**On your photo, with your weights:**"))
    assert f"layer 9's output by {effect.layers[0][1]:.0%}" in said
    assert f"{len(effect.with_change.detections)} boxes as it is and {len(effect.without_change.detections)} without" in said
    with pytest.raises(ValueError, match="changes the weights"):
        without_change(bill, 1)
