"""AppTest of the Compare page."""

from __future__ import annotations

import json

from helpers import no_problems

from yolo_explorer import make_config, model_stats

PAGE = "compare.py"


def test_grid_table_and_scaling_plots(app):
    at = app(PAGE)
    no_problems(at)
    table = at.dataframe[0].value
    assert len(table) == 12  # 4 widths x 3 sizes
    row = table[(table["width"] == 32) & (table["input"] == "640")].iloc[0]
    assert row["MACs"] == model_stats(make_config(width=32), 640).macs
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 4
    params = next(t for t in charts[0]["data"] if t.get("mode") == "markers")
    assert len(params["x"]) == 4


def test_changing_the_selection(app):
    at = app(PAGE, cmp_widths=[8, 24], cmp_sizes=[256])
    no_problems(at)
    assert list(at.dataframe[0].value["width"]) == [8, 24]
    at.get_by_key("cmp_widths").set_value([]).run()
    assert "Pick at least one" in at.info[0].value


def test_latency_on_demand(app):
    at = app(PAGE, cmp_widths=[8], cmp_sizes=[128, 160], cmp_iters=1)
    at.button[0].click().run()
    no_problems(at)
    lat = at.dataframe[1].value
    assert list(lat["input"]) == ["128", "160"] and (lat["median ms"] > 0).all()
