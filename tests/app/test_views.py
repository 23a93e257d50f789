"""What the pages draw is built once per key and shared: a second visitor builds no figure, a view-only
change builds only what it changes, and a different setting never gets another setting's figure."""

from __future__ import annotations

import json

import pytest
from helpers import no_problems

from pages.ui import views

BUILDERS = ["flow_diagram", "cost_bars", "channel_heatmap", "channel_grid", "overlay", "scaling_plot", "stage_share_bars"]
WALK = ["overview.py", "feature_maps.py", "compare.py", "versus.py"]


@pytest.fixture
def built(monkeypatch) -> list[str]:
    """The names of the figure builders called from now on (through the shared views)."""
    calls: list[str] = []
    for name in BUILDERS:
        real = getattr(views, name)
        monkeypatch.setattr(views, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    return calls


def walk(app, **widgets):
    """A visitor who opens every page that draws charts; returns the charts' specifications by page."""
    at = app(**widgets)
    charts = {}
    for page in WALK:
        at.switch_page(page).run()
        no_problems(at)
        charts[page] = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return at, charts


def test_a_second_visitor_builds_no_figure_and_sees_the_same_ones(app, built):
    _, first = walk(app, width=16, side=160)  # fills the shared caches (or finds them filled)
    built.clear()
    _, second = walk(app, width=16, side=160)
    assert built == []
    assert second == first


def test_a_view_only_change_builds_only_the_overlay(app, built):
    at, _ = walk(app, width=16, side=160)
    at.switch_page("feature_maps.py").run()
    built.clear()
    at.get_by_key("fm_opacity").set_value(0.8).run()
    no_problems(at)
    assert built == ["overlay"]
    assert json.loads(at.get("plotly_chart")[2].proto.spec)["data"][1]["opacity"] == 0.8
    built.clear()
    at.get_by_key("fm_opacity").set_value(0.55).run()  # back to a value drawn before: nothing is built
    assert built == []


def test_other_settings_get_their_own_figures(app):
    _, narrow = walk(app, width=16, side=160)
    _, wide = walk(app, width=24, side=160)
    for page in WALK[:2]:  # every figure of Overview and Feature maps depends on the width
        for a, b in zip(narrow[page], wide[page], strict=True):
            assert a != b, page
    texts = [a["text"] for a in wide["overview.py"][0]["layout"]["annotations"]]
    assert "96×<br>20×20" in texts  # P3 of w=24 at 160 px: 4w channels at stride 8
