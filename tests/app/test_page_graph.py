"""Model graph: the graph painted by the statistics the Overview shows, a layer's detail opened from a link (its
numbers, its output on the photo, its block's forward), the parts view, and the view in the page's link."""

from __future__ import annotations

import json

from helpers import APP, no_problems
from streamlit.testing.v1 import AppTest

from yolo_explorer import model_stats
from yolo_explorer.model.config import config_for
from yolo_explorer.model.graph import METRICS
from yolo_explorer.present.formatting import human_count

PAGE = "graph.py"


def _linked(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update(query)
    at.run()
    at.switch_page(PAGE).run()
    return at


def _nodes(at) -> dict:
    """The painted nodes of the graph's chart: name -> colour value."""
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    trace = next(t for t in spec["data"] if len(t.get("customdata") or []) > 1)
    return dict(zip(trace["customdata"], trace["marker"]["color"], strict=True))


def test_a_link_paints_the_detector_by_its_parameters_and_opens_a_layer():
    at = _linked(arch="yolo11n", part="detector", size="320", paint="params", layer="16")
    no_problems(at)
    assert at.title[0].value == "Model graph"
    assert at.get_by_key("graph_metric").value == METRICS["params"]
    stats = model_stats(config_for("yolo11n", detector=True), (320, 320), "fp32")
    assert _nodes(at) == {layer.name: layer.params for layer in stats.layers}  # the Overview's numbers, one source
    layer = next(layer for layer in stats.layers if layer.name == "16")
    assert at.subheader[0].value == "16 C3k2"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters"] == human_count(layer.params) and metrics["MACs"] == human_count(layer.macs)
    assert any("the head reads it as **P3**" in m.value for m in at.markdown)
    assert any("def forward" in c.value for c in at.code)  # the block's own forward
    assert len(at.get("plotly_chart")) == 2  # the graph, and the layer's output over the photo
    assert at.query_params["paint"] == "params" and at.query_params["layer"] == "16"

    at.get_by_key("graph_parts").set_value(True).run()
    no_problems(at)
    parts = stats.part_totals()
    assert _nodes(at) == {part: totals["params"] for part, totals in parts.items()}
    assert any("Click a layer" in i.value for i in at.info) and "layer" not in at.query_params


def test_the_tutorial_backbone_paints_by_macs_and_a_bad_link_is_said():
    at = _linked(paint="watts", layer="nowhere")
    no_problems(at)
    stats = model_stats(config_for("tutorial"), (640, 640), "fp32")
    assert _nodes(at) == {layer.name: layer.macs for layer in stats.layers}
    captions = " ".join(c.value for c in at.caption)
    assert "paint=watts is not" in captions and "layer nowhere is not a node" in captions
    assert len(at.get("download_button")) == 2


def test_yolo11n_beside_yolo26n_rings_the_changed_layers_and_paints_the_difference():
    from yolo_explorer.model.graph import align, model_graph

    at = _linked(arch="yolo11n", part="detector", size="320", beside="yolo26n")
    no_problems(at)
    assert at.get_by_key("graph_beside").value == "yolo26n" and at.query_params["beside"] == "yolo26n"
    graphs = {}
    for arch in ("yolo11n", "yolo26n"):
        config = config_for(arch, detector=True)
        graphs[arch] = model_graph(model_stats(config, (320, 320), "fp32"), config.label, config.layers())
    pairs = align(graphs["yolo11n"], graphs["yolo26n"])
    differ = [p for p in pairs if not p.same]
    table = at.dataframe[0].value
    assert list(table["layer"]) == [p.left.name for p in differ] == ["9", "13", "16", "19", "22", "23"]
    assert any(f"{len(pairs) - len(differ)} of {len(pairs)} places hold the same layer" in c.value for c in at.caption)
    at.get_by_key("graph_difference").set_value(True).run()
    no_problems(at)
    left = _nodes(at)
    assert left == {p.left.name: p.difference("macs") for p in pairs if p.left.name != "input"}
    assert left["23"] > 0 and left["9"] == 0  # the DFL head costs YOLO11 more; SPPF's change costs nothing
