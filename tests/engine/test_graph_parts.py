"""A layer opened into its parts: the dataflow of the blocks as their forwards run it (C3k2's split and concatenation,
SPPF's chain of pools, C2PSA's attention and residual adds), and numbers that add up to the statistics' own for every
layer of four families, checked against torch's own FLOP counter, module by module."""

from __future__ import annotations

import functools
from collections import Counter

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from yolo_explorer.model.config import config_for
from yolo_explorer.model.detector import build_detector, build_model
from yolo_explorer.model.graph import INPUT, METRICS
from yolo_explorer.model.graph_parts import block_graph, block_graphs
from yolo_explorer.model.stats import model_stats
from yolo_explorer.present.graph_figures import graph_figure

SIZE = 64  # every shape scales with it; 64 keeps YOLO12's area attention divisible (4 strips of 4 positions)
ARCHS = ("yolo11n", "yolo26n", "yolov8n", "yolo12n")


@functools.cache
def _graphs(arch: str):
    config = config_for(arch, detector=True)
    return block_graphs(config, SIZE), {layer.name: layer for layer in model_stats(config, SIZE).layers}


def _sources(graph, target: str) -> list[str]:
    return sorted(e.source for e in graph.edges if e.target == target)


def test_c3k2_splits_cv1_chains_its_bottleneck_and_concatenates_both_halves_with_its_output():
    graph = _graphs("yolo11n")[0]["2"]
    assert [n.name for n in graph.nodes] == ["input", "cv1", "split", "m.0", "cat", "cv2"]
    assert Counter((e.source, e.target) for e in graph.edges) == Counter(
        [("input", "cv1"), ("cv1", "split"), ("split", "m.0"), ("split", "cat"), ("split", "cat"), ("m.0", "cat"), ("cat", "cv2")]
    )
    half = graph.node("split").shape
    assert graph.node("cv1").shape[0] == 2 * half[0]  # chunk(2): two halves of cv1's channels
    assert graph.node("cat").shape[0] == 3 * half[0]  # both halves and the bottleneck's output
    assert graph.node("m.0").block == "Bottleneck" and graph.node("cv2").feature == "output"


def test_sppf_pools_three_times_in_a_chain_and_concatenates_every_stage_with_cv1():
    graph = _graphs("yolo11n")[0]["9"]
    pools = [n.name for n in graph.nodes if n.block == "MaxPool2d"]
    assert pools == ["pool", "pool#2", "pool#3"]  # one module, a node per call
    assert [_sources(graph, p) for p in pools] == [["cv1"], ["pool"], ["pool#2"]]
    assert _sources(graph, "cat") == sorted(["cv1", *pools]) and _sources(graph, "cv2") == ["cat"]
    yolo26 = _graphs("yolo26n")[0]["9"]  # YOLO26's SPPF adds its input to its output
    assert _sources(yolo26, "add") == ["cv2", "input"] and yolo26.node("add").feature == "output"


def test_c2psa_opens_its_attention_into_products_softmax_and_residual_adds():
    graphs, stats = _graphs("yolo11n")
    graph = graphs["10"]
    assert _sources(graph, "m.0.attn.qkv") == ["split"]  # the half that runs through the PSABlock
    assert _sources(graph, "m.0.attn.softmax") == ["m.0.attn.matmul"]
    assert "m.0.attn.softmax" in _sources(graph, "m.0.attn.matmul#2")  # v attn^T
    assert _sources(graph, "m.0.attn.proj") == ["m.0.attn.add"] and _sources(graph, "m.0.attn.add") == [
        "m.0.attn.matmul#2",
        "m.0.attn.pe",
    ]  # the product plus the positional term, projected
    assert _sources(graph, "m.0.add") == ["m.0.attn.proj", "split"]  # x + attn(x)
    assert _sources(graph, "m.0.add#2") == ["m.0.add", "m.0.ffn.1"]  # x + ffn(x)
    products = sum(n.values["macs"] for n in graph.nodes if n.block == "matmul")
    assert products == stats["10"].attention_macs > 0  # what model_stats counts from the attention's own formula


def test_detect_takes_the_three_levels_and_returns_boxes_scores_and_decoded():
    graph = _graphs("yolo26n")[0]["23"]
    inputs = [n for n in graph.nodes if n.part == INPUT]
    assert [n.label for n in inputs] == ["from 16", "from 19", "from 22"]
    features = {n.feature for n in graph.nodes if n.feature}
    assert {"boxes", "scores", "decoded", "one2one boxes", "one2one scores", "one2one decoded"} <= features
    assert not any(n.name == "dfl" for n in graph.nodes)  # YOLO26 has no DFL: an nn.Identity is no part
    assert set(graph.layout.positions) == {n.name for n in graph.nodes}
    assert graph_figure(graph, "macs").data  # lays out and draws


@pytest.mark.parametrize("arch", ARCHS)
def test_every_layer_with_parts_adds_up_to_its_statistics_and_to_torchs_flop_counter(arch):
    graphs, stats = _graphs(arch)
    meta = build_model(config_for(arch, detector=True), device="meta")
    assert set(graphs) == {name for name, m in meta.named_children() if next(m.children(), None) is not None}
    for name, graph in graphs.items():
        parts = [n for n in graph.nodes if n.part != INPUT]
        assert len({n.name for n in graph.nodes}) == len(graph.nodes), name
        assert sum(n.values["macs"] for n in parts) == stats[name].macs, name
        assert sum(n.values["params"] for n in parts) == stats[name].params, name
        inputs = [n for n in graph.nodes if n.part == INPUT]
        shapes = {"image": (3, SIZE, SIZE)} | {layer: s.output_shape for layer, s in stats.items()}
        previous = dict(zip(stats, ["image", *stats], strict=False))[name]
        assert [n.shape for n in inputs] == [shapes[s] for s in stats[name].sources or (previous,)], name
        out = next(n for n in parts if n.feature.split(", ")[0] in ("output", "decoded"))
        assert out.shape == stats[name].output_shape, name
        shapes = {n.name: n.shape for n in graph.nodes}
        for edge in graph.edges:  # a split in unequal pieces (q, k, v) hands on pieces of the shape it splits
            unequal = graph.node(edge.source).block == "split" and edge.shape != shapes[edge.source]
            assert edge.shape == shapes[edge.source] or unequal and len(edge.shape) == len(shapes[edge.source]), edge
        assert all(_sources(graph, n.name) for n in parts), name  # every part takes something the layer made
        _check_flops(meta.get_submodule(name), graph)


def _check_flops(layer, graph) -> None:
    """Per module of the layer that is a part or holds parts, torch's FLOP counter / 2 equals the parts' MACs."""
    tensors = [torch.empty(1, *n.shape, device="meta") for n in graph.nodes if n.part == INPUT]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        layer(tensors if len(tensors) > 1 else tensors[0])
    root = type(layer).__name__
    flops = {key.removeprefix(f"{root}."): sum(v.values()) for key, v in counter.get_flop_counts().items()}
    modules = dict(layer.named_modules())
    ours = Counter()
    for node in graph.nodes:
        path = node.name.split("#")[0].split(".")
        for i in range(1, len(path) + 1):
            ours[".".join(path[:i])] += node.values["macs"]
    for key in (k for k in ours if k in modules and not isinstance(modules[k], nn.ModuleList)):  # a list is never called
        assert ours[key] == flops.get(key, 0) / 2, (graph.title, key)
    assert sum(n.values["macs"] for n in graph.nodes) == counter.get_total_flops() / 2


def test_depth_opens_every_part_one_level_further():
    graph = block_graph(config_for("yolo11n", detector=True), "2", SIZE, depth=2)
    names = [n.name for n in graph.nodes]
    assert names[:5] == ["input", "cv1.conv", "cv1.bn", "cv1.act", "split"]
    assert _sources(graph, "m.0.add") == ["m.0.cv2", "split"]  # the bottleneck's residual, now visible


def test_a_shared_model_is_only_read_and_the_dtype_sets_the_memory():
    model = build_detector("yolo11n")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    graph = block_graph(model, "2", SIZE)
    assert graph == block_graph(model.config, "2", SIZE)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    half = block_graph(model, "2", SIZE, dtype="fp16")
    assert [n.values["activation_bytes"] for n in half.nodes] == [n.values["activation_bytes"] / 2 for n in graph.nodes]
    assert set(graph.nodes[1].values) == set(METRICS)


def test_names_that_are_not_layers_or_have_no_parts_are_refused():
    config = config_for("yolo11n", detector=True)
    with pytest.raises(ValueError, match="'99' is not a layer of YOLO11n"):
        block_graph(config, "99", SIZE)
    with pytest.raises(ValueError, match="layer 11 \\(Upsample\\) is one operation"):
        block_graph(config, "11", SIZE)
    with pytest.raises(ValueError, match="depth"):
        block_graph(config, "2", SIZE, depth=0)
