"""The model graph: a node per layer Ultralytics builds (its types, the layers its Detect reads), the tensors between
them (a Concat's channels are its inputs', an Upsample doubles its input), every painted number the statistics' own,
and a layered layout in which every layer sits below what it reads and every edge runs down through the layers it
crosses."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from yolo_explorer import model_stats
from yolo_explorer.model.config import config_for
from yolo_explorer.model.graph import INPUT, METRICS, align, model_graph
from yolo_explorer.present.graph_figures import graph_figure

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "ultralytics_families.json").read_text())["models"]
BLOCKS = {"Conv": "ConvBNSiLU"}  # Ultralytics' class name -> ours, where they differ
SIZE = (480, 640)


def _graph(arch: str, detector: bool = True):
    config = config_for(arch, detector=detector)
    stats = model_stats(config, SIZE, "fp32")
    return model_graph(stats, config.label), stats


@pytest.mark.parametrize("arch", sorted(a for a in REFERENCE if a.endswith("n")) + ["yolo11x"])
def test_a_node_per_layer_ultralytics_builds_and_its_detect_reads_p3_p4_p5(arch):
    graph, _ = _graph(arch)
    reference = REFERENCE[arch]
    layers = [n for n in graph.nodes if n.part != INPUT]
    assert len(layers) == reference["layers"]
    assert [n.block for n in layers] == [BLOCKS.get(t.rsplit(".", 1)[1], t.rsplit(".", 1)[1]) for t in reference["types"]]
    head = layers[-1]
    assert [e.source for e in graph.edges if e.target == head.name] == [str(i) for i in reference["detect_from"]]
    assert [graph.node(str(i)).feature for i in reference["detect_from"]] == ["P3", "P4", "P5"]


@pytest.mark.parametrize("arch", ["yolo11n", "yolo26s", "yolo12n", "yolov8n", "tutorial"])
def test_the_tensors_between_layers_and_the_numbers_are_the_statistics(arch):
    graph, stats = _graph(arch, detector=arch != "tutorial")
    by_name = {layer.name: layer for layer in stats.layers}
    assert graph.nodes[0].name == INPUT and graph.nodes[0].shape == stats.input_shape
    for node in graph.nodes[1:]:
        layer = by_name[node.name]
        assert node.values == {m: float(getattr(layer, m)) for m in METRICS} and node.shape == layer.output_shape
        incoming = [e for e in graph.edges if e.target == node.name]
        assert incoming and all(e.shape == graph.node(e.source).shape for e in incoming)
        if node.block == "Concat":
            assert sum(e.shape[0] for e in incoming) == node.shape[0]
            assert all(e.shape[1:] == node.shape[1:] for e in incoming)
        if node.block == "Upsample":
            (edge,) = incoming
            assert node.shape == (edge.shape[0], 2 * edge.shape[1], 2 * edge.shape[2])
    fed = {e.source for e in graph.edges}
    assert [n.name for n in graph.nodes if n.name not in fed] == [graph.nodes[-1].name]  # only the last feeds nothing


@pytest.mark.parametrize("arch", ["yolo11n", "yolo26n", "yolo12n", "yolov8n"])
def test_every_layer_sits_below_what_it_reads_and_edges_run_down(arch):
    graph, _ = _graph(arch)
    layout = graph.layout
    assert set(layout.positions) == {n.name for n in graph.nodes}
    assert len(set(layout.positions.values())) == len(graph.nodes)  # no two nodes on one spot
    for edge in graph.edges:
        path = layout.paths[(edge.source, edge.target)]
        assert path[0] == layout.positions[edge.source] and path[-1] == layout.positions[edge.target]
        ys = [y for _, y in path]
        assert ys == sorted(ys) and len(set(ys)) == len(ys)  # one point per layer crossed, downwards
    assert layout.depth == max(y for _, y in layout.positions.values()) + 1
    xs = [x for path in layout.paths.values() for x, _ in path]
    assert min(xs) == 0 and max(xs) < layout.width  # what the figure's x range shows: every node and bend


def test_parts_sum_their_layers_as_the_overview_does():
    graph, stats = _graph("yolo11n")
    parts = graph.by_part()
    assert [n.name for n in parts.nodes] == [INPUT, "backbone", "neck", "head"]
    totals = stats.part_totals()
    for node in parts.nodes[1:]:
        assert {m: node.values[m] for m in ("params", "macs", "activation_bytes")} == totals[node.name]
    assert [(e.source, e.target) for e in parts.edges] == [(INPUT, "backbone"), ("backbone", "neck"), ("neck", "head")]
    assert parts.node("backbone").feature == "" and parts.node("neck").feature == "P3, P4, P5"  # the neck's outputs


def test_the_figure_paints_each_layer_by_the_chosen_number():
    graph, _ = _graph("yolo26n")
    fig = graph_figure(graph, "params", selected="16")
    nodes = next(t for t in fig.data if t.customdata is not None and len(t.customdata) > 1)
    assert list(nodes.customdata) == [n.name for n in graph.nodes[1:]]
    assert list(nodes.marker.color) == [n.values["params"] for n in graph.nodes[1:]]
    assert "P3" in " ".join(nodes.text) and "painted by parameters" in fig.layout.title.text
    html = fig.to_html(include_plotlyjs=True, full_html=True)
    assert "<script" in html and "<script src=" not in html and len(html) > 1_000_000  # Plotly inside: opens offline
    with pytest.raises(ValueError, match="paint by one of"):
        graph.values("latency")


def test_a_measured_number_painted_on_layers_and_on_parts_without_laying_out_again():
    graph, stats = _graph("yolo11n")
    times = {layer.name: 0.5 + int(layer.name) for layer in stats.layers}  # a profile's milliseconds, say
    painted = graph.painted("time", times)
    assert painted.layout is graph.layout  # the layout is computed once per graph
    assert painted.values("time") == {INPUT: None, **times}
    shares = {name: (None if int(name) > 16 else 0.1 * int(name)) for name in times}  # a box of P3: later layers none
    why = graph.painted("why", shares)
    fig = graph_figure(why, "why")
    painted_trace = next(t for t in fig.data if t.customdata is not None and "1" in t.customdata)
    grey = next(t for t in fig.data if t.customdata is not None and INPUT in t.customdata)
    assert set(grey.customdata) == {INPUT} | {n for n, s in shares.items() if s is None}
    assert list(painted_trace.marker.color) == [s for s in shares.values() if s is not None]
    parts = graph.by_part()
    summed = parts.painted("time", times).node("neck")
    assert summed.values["time"] == pytest.approx(sum(times[n] for n in summed.layers))  # times add up
    assert parts.painted("why", shares).node("neck").values["why"] == pytest.approx(1.6)  # the rest: the largest
    assert parts.painted("why", shares).node("head").values["why"] is None
    drift = dict.fromkeys(times, 0.01) | {"6": 0.05, "7": 0.06, "23": 0.9}  # made at 0 (reads the input), 6, 23
    assert graph.painted("drift", drift).rises("drift") == ["0", "6", "23"]  # 7 carries 6's (0.06 over 0.05)
    fig = graph_figure(graph.painted("drift", drift), "drift")  # decades apart: coloured by their logarithm
    nodes = next(t for t in fig.data if t.customdata is not None and "23" in t.customdata)
    assert list(nodes.marker.color) == pytest.approx([math.log10(drift[n]) for n in nodes.customdata])
    assert nodes.marker.colorbar.title.text == "int8 drift (log)" and list(nodes.marker.colorbar.ticktext) == ["0.01", "0.1"]
    from yolo_explorer.model.graph_parts import block_graph

    config = config_for("yolo11n", detector=True)
    opened = graph.expanded("5", block_graph(config, "5", SIZE)).painted("drift", drift)  # its parts: no drift
    assert opened.rises("drift") == ["0", "23"]  # 6 reads a part of unknown drift: not said to make it
    with pytest.raises(ValueError, match="is measured"):
        graph.values("time")
    with pytest.raises(ValueError, match="paint a measured number"):
        graph.painted("macs", times)


def test_a_layer_opened_in_place_is_wired_to_what_it_reads_and_to_what_reads_it():
    from yolo_explorer.model.graph_parts import block_graph

    config = config_for("yolo11n", detector=True)
    graph = model_graph(model_stats(config, SIZE, "fp32"), config.label)
    readers = sorted(e.target for e in graph.edges if e.source == "16")  # P3: the next layer, and Detect
    opened = graph.expanded("16", block_graph(config, "16", SIZE))
    assert "16" not in {n.name for n in opened.nodes} and opened.node("16/cv2").feature == "P3"
    assert sorted(e.target for e in opened.edges if e.source == "16/cv2") == readers
    assert [(e.source, e.target) for e in opened.edges if e.target == "16/cv1"] == [("15", "16/cv1")]
    assert opened.node("16/m.0").layers == ("16.m.0",) and opened.node("16/cat").layers == ()  # an operation: none
    head = opened.expanded("23", block_graph(config, "23", SIZE))
    wired = {(e.source, e.target) for e in head.edges if e.target.startswith("23/")}
    assert {("16/cv2", "23/cv2.0"), ("19", "23/cv2.1"), ("22", "23/cv2.2")} <= wired
    assert len(head.layout.positions) == len(head.nodes)  # laid out afresh
    assert min(x for x, _ in head.layout.positions.values()) >= 0  # igraph puts this one's widest layers left of 0
    painted = head.painted("time", {"15": 1.0, "16.m.0": 2.0})  # a measured number reaches a module part
    assert painted.node("16/m.0").values["time"] == 2.0 and painted.node("16/cat").values["time"] is None
    with pytest.raises(ValueError, match="read 1 tensors and the layer 3"):
        graph.expanded("23", block_graph(config, "16", SIZE))


@pytest.mark.parametrize("scale", ["n", "s", "m"])
@pytest.mark.parametrize(("source", "target"), [("yolo11", "yolo26"), ("yolo11", "yolo12"), ("yolov8", "yolo11")])
def test_two_models_beside_each_other_differ_where_the_changes_between_them_touch(source, target, scale):
    """Aligned by their place in the table, the layers two families do not share are the ones the change-by-change
    bill between them touches (its changes are table edits, checked against Ultralytics in test_changes.py), or that
    follow a layer the bill removes or re-sizes (YOLO12's neck reads a shorter backbone)."""
    from yolo_explorer.model.changes import family_bill

    def graph(arch):
        config = config_for(arch, detector=True)
        return model_graph(model_stats(config, SIZE, "fp32"), config.label, config.layers())

    pairs = align(graph(source + scale), graph(target + scale))
    differ = {(p.left or p.right).name for p in pairs if not p.same}
    bill = family_bill(source, target, scale, SIZE, num_classes=80)
    touched = {str(r) for step in bill.steps for r in step.rows}
    if source == "yolo11" and target == "yolo26":  # every difference is a change's; from m on YOLO11's neck has C3k
        assert differ <= touched and {"9", "22", "23"} <= differ  # SPPF: the same weights, another forward
        assert differ == touched if scale != "m" else "13" not in differ
    else:
        assert touched <= differ
    assert pairs[0].left.name == pairs[0].right.name == INPUT and pairs[0].same
    for pair in pairs:
        if pair.same:  # a layer's own numbers (its receptive field is also what comes before it)
            assert all(pair.difference(m) == 0 for m in ("params", "macs", "activation_bytes")), pair.left.name
