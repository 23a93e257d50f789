"""AppTest of the Profile page: every layer timed on a button, time against MACs, a roofline under the
device's measured peaks, a sentence computed from them."""

from __future__ import annotations

import json

import pytest
from helpers import no_problems
from helpers import run_latency as profile  # the same form submission

from yolo_explorer import make_config, model_stats

PAGE = "layer_profile.py"


def test_nothing_runs_until_the_button(app):
    at = app(PAGE)
    no_problems(at)
    assert "press **Profile**" in at.info[0].value and not at.get("plotly_chart")


def test_every_layer_against_its_macs_and_on_the_roofline(app):
    at = profile(app(PAGE, arch="yolo11n", side=128), prof_iters=3)
    no_problems(at)
    table = at.dataframe[0].value
    stats = model_stats(make_config("yolo11n"), 128)
    assert list(table["layer"]) == [s.name for s in stats.layers]
    assert list(table["share of MACs"]) == [s.macs / stats.macs for s in stats.layers]
    assert abs(table["share of time"].sum() - 1) < 1e-9 and set(table["bound"]) <= {"memory", "compute"}
    bars, roof = (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
    assert bars["data"][1]["y"] == list(table["share of MACs"])
    points = [t for t in roof["data"] if t.get("mode") == "markers+text"]
    assert sorted(n for t in points for n in t["text"]) == sorted(table["layer"])
    assert any("ridge" in c.value for c in at.caption) and any("of the MACs, at" in c.value for c in at.caption)
    assert [m.label for m in at.metric] == ["Layers, summed", "Plain forward", "Slowest layer", "Compute peak"]


@pytest.mark.slow  # bf16 on a CPU without native bf16: minutes
def test_bf16_channels_last_profile(app):
    at = profile(app(PAGE, width=8, side=128), prof_iters=3, prof_dtype="bf16", prof_channels_last=True, prof_fold_bn=True)
    no_problems(at)
    assert "bf16 + channels_last + BN folded" in at.subheader[0].value
