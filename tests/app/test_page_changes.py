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
