"""Model graph: the graph painted by the statistics the Overview shows, a layer's detail opened from a link (its
numbers, its output on the photo, its block's forward), the parts view, and the view in the page's link."""

from __future__ import annotations

import json

import pytest
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


def _grey(at) -> set[str]:
    """The nodes drawn without a value (the input, and what a measurement says nothing of)."""
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    trace = next(t for t in spec["data"] if "input" in (t.get("customdata") or []))
    return set(trace["customdata"])


def test_activation_strength_is_each_layers_root_mean_square_on_the_photo_and_time_is_the_profile_pages():
    """Painted by activation strength: each layer's output on the sidebar's photo, its root mean square (a direct
    forward with hooks on the page's model); by measured time: nothing runs until the button, then the profile the
    Profile page shows (one measurement, two pages)."""
    import torch

    from yolo_explorer import build_model, letterbox, load_image
    from yolo_explorer.samples import sample_bytes

    at = _linked(arch="yolo11n", part="detector", size="128", paint="activation")
    no_problems(at)
    assert at.get_by_key("graph_metric").value == "activation strength"
    settings = at.session_state["settings"]
    model = build_model(settings.config, seed=settings.seed)
    if settings.batch_norm == "batch":  # the tutorial's figures: each BatchNorm normalises with the photo's statistics
        model.train()
    else:
        model.eval()
    outputs = {}
    for name, module in model.named_children():
        module.register_forward_hook(lambda m, a, out, name=name: outputs.__setitem__(name, out))
    x = letterbox(load_image(sample_bytes(settings.photo.label.removeprefix("sample: "))), 128).tensor()
    with torch.no_grad():
        model(x)
    painted = _nodes(at)
    expected = {n: float(o.double().pow(2).mean().sqrt()) for n, o in outputs.items() if isinstance(o, torch.Tensor)}
    assert painted.keys() == expected.keys() and "23" not in painted and "23" in _grey(at)  # the head: not one map
    for name, value in expected.items():
        assert painted[name] == pytest.approx(value, rel=1e-4), name
    assert any("root mean square" in c.value for c in at.caption)

    at.get_by_key("graph_metric").set_value("measured time").run()
    no_problems(at)
    assert "profile" not in at.session_state and any("press the button" in i.value for i in at.info)
    next(b for b in at.button if b.key == "graph_profile").click().run()
    no_problems(at)
    profile = at.session_state["profile"][0]
    assert _nodes(at) == {layer.name: layer.ms for layer in profile.layers}
    assert at.query_params["paint"] == "time"
    at.switch_page("layer_profile.py").run()  # the Profile page shows the same measurement without a press
    no_problems(at)
    assert at.dataframe[0].value["layer"].tolist() == [layer.name for layer in profile.layers]


@pytest.mark.slow  # quantizes the model once per unit, twice
def test_int8_error_is_each_layers_worst_unit_of_the_latency_pages_sensitivity():
    import numpy as np

    from yolo_explorer import build_model, make_config
    from yolo_explorer.deployment.int8_sensitivity import Int8Lab, layer_errors
    from yolo_explorer.deployment.int8_verdict import int8_photos
    from yolo_explorer.deployment.onnx_models import deployable
    from yolo_explorer.forward.preprocess import letterbox, load_image
    from yolo_explorer.samples import sample_bytes

    at = _linked(arch="yolo11n", size="128", paint="int8")
    no_problems(at)
    button = next(b for b in at.button if b.key == "graph_int8")
    assert button.label.startswith("Measure each layer's int8 error (24 quantizations")
    button.click().run()
    no_problems(at)
    model, fp32 = deployable(build_model(make_config("yolo11n"), seed=0).eval(), size=128, calibrate_batchnorm=True)
    astronaut = letterbox(load_image(sample_bytes("astronaut")), 128).tensor().numpy()  # the sidebar's photo
    lab = Int8Lab.build(model, fp32=fp32, photos=int8_photos([("sample: astronaut", astronaut)], size=(128, 128), samples=True))
    expected = layer_errors(lab.sensitivity())
    painted = {name: 10**colour for name, colour in _nodes(at).items()}  # int8's errors: on a logarithmic scale
    assert painted.keys() == expected.keys()
    np.testing.assert_allclose([painted[n] for n in expected], list(expected.values()), atol=1e-6)
    assert any("1 − the worst cosine" in c.value for c in at.caption)


@pytest.mark.slow  # a trained detector, one backward
def test_why_this_box_share_at_every_layer_is_the_engines_and_grey_where_the_score_does_not_look(trained_detector):
    from helpers import TRAINED, photo_upload, upload

    from yolo_explorer import load_image
    from yolo_explorer.detection.detections import detect
    from yolo_explorer.detection.explain import explain
    from yolo_explorer.model.blocks import fold_batchnorm
    from yolo_explorer.synthetic import scene

    at = _linked(arch="yolo11n", part="detector", size="320")
    at = upload(at, "best.pt", TRAINED.read_bytes())
    image, _ = scene(778, 800, 600)
    photo_upload(at, image)
    at.get_by_key("graph_metric").set_value("Why-this-box share").run()
    no_problems(at)
    fold_batchnorm(trained_detector)
    result = detect(trained_detector, load_image(at.session_state["settings"].photo.data), 320)
    first = result.detections[0]
    assert at.get_by_key("graph_why_box").value == 0
    layers = [str(i) for i in range(24)]
    why = explain(trained_detector, result.box, first.anchor, first.class_id, layers=layers)
    painted = _nodes(at)
    assert painted == pytest.approx({n: s for n, s in why.layer_shares.items() if s is not None}, abs=1e-5)
    assert {n for n, s in why.layer_shares.items() if s is None} | {"input"} == _grey(at)
    assert any(f"{why.share:.0%} at {why.level}" in c.value for c in at.caption)


@pytest.mark.slow  # exports, calibrates and quantizes a detector
def test_fp32_beside_int8_paints_each_layers_drift_and_rings_where_it_is_made():
    """beside=int8: the model in fp32 beside itself in int8, each layer's output against fp32's as the engine's
    `layer_drift` finds it on a lab built here as the Latency page builds its default one; the recipe's variant keeps
    the head."""
    import numpy as np

    from yolo_explorer import build_model
    from yolo_explorer.deployment.int8_sensitivity import Int8Lab
    from yolo_explorer.deployment.int8_verdict import int8_photos
    from yolo_explorer.deployment.onnx_models import deployable
    from yolo_explorer.forward.preprocess import letterbox, load_image
    from yolo_explorer.model.graph import model_graph
    from yolo_explorer.samples import sample_bytes

    at = _linked(arch="yolo11n", part="detector", size="128", beside="int8")
    no_problems(at)
    assert at.get_by_key("graph_beside").value == "int8"
    config = config_for("yolo11n", detector=True)
    model, fp32 = deployable(build_model(config, seed=0).eval(), size=128, calibrate_batchnorm=True)
    astronaut = letterbox(load_image(sample_bytes("astronaut")), 128).tensor().numpy()
    lab = Int8Lab.build(model, fp32=fp32, photos=int8_photos([("sample: astronaut", astronaut)], size=(128, 128), samples=True))
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 2 and "in int8: drift from fp32" in charts[1]["layout"]["title"]["text"]

    def painted(spec) -> dict:
        trace = next(t for t in spec["data"] if len(t.get("customdata") or []) > 1)
        return dict(zip(trace["customdata"], trace["marker"]["color"], strict=True))

    assert painted(charts[0]) == {layer.name: layer.macs for layer in model_stats(config, (128, 128), "fp32").layers}
    for variant, drift in (("int8", lab.layer_drift(lab.quantize())), ("weighted", None)):
        if variant == "weighted":
            at.get_by_key("graph_int8_variant").set_value("weighted").run()
            no_problems(at)
            drift = lab.layer_drift(lab.quantize(weighted_only=True))
        right = painted(json.loads(at.get("plotly_chart")[1].proto.spec))  # drift: on a logarithmic scale
        assert right.keys() == drift.keys()
        np.testing.assert_allclose([10 ** right[n] for n in drift], [max(v, 1e-6) for v in drift.values()], rtol=1e-6)
        graph = model_graph(model_stats(config, (128, 128), "fp32"), config.label).painted("drift", drift)
        table = at.dataframe[0].value
        assert list(table["layer"]) == sorted(drift, key=lambda n: -drift[n])[:6]
        assert set(table.loc[table["made here"], "layer"]) == set(graph.rises("drift")) & set(table["layer"])


def test_a_layer_opens_into_its_traced_parts_in_the_graph_and_closes_again():
    """C2PSA (YOLO11n's layer 10) opened: in the graph, its place taken by the engine's `block_graph` of it (its
    attention's products among the parts) painted by parameters as the rest, wired to layer 9 and to what reads 10; a
    part's detail (its module's output and forward) closes it again; a Concat has nothing to open."""
    from yolo_explorer.model.graph_parts import block_graph

    at = _linked(arch="yolo11n", part="detector", size="320", paint="params", layer="10")
    no_problems(at)
    before = _nodes(at)
    next(b for b in at.button if b.key == "graph_open").click().run()
    no_problems(at)
    parts = block_graph(config_for("yolo11n", detector=True), "10", (320, 320))
    inside = {f"10/{n.name}": n.values["params"] for n in parts.nodes if n.part != "input"}
    assert any(n.block == "matmul" for n in parts.nodes) and sum(inside.values()) == before["10"]
    assert _nodes(at) == {**{k: v for k, v in before.items() if k != "10"}, **inside}
    assert any("Opened into their parts: layer 10" in c.value for c in at.caption)
    selected = at.session_state["graph_selected"]
    selected[next(iter(selected))] = "10/cv1"
    at.session_state["graph_selected"] = selected
    at.run()
    no_problems(at)
    assert at.subheader[0].value == "10: cv1 ConvBNSiLU"
    assert any("def forward" in c.value for c in at.code) and len(at.get("plotly_chart")) == 2  # its output on the photo
    next(b for b in at.button if b.key == "graph_close").click().run()
    no_problems(at)
    assert _nodes(at) == before and at.subheader[0].value == "10 C2PSA"
    at = _linked(arch="yolo11n", part="detector", size="320", layer="12")  # a Concat: nothing to open
    no_problems(at)
    assert not [b for b in at.button if b.key == "graph_open"]
