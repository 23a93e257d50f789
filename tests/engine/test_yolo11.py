"""The Ultralytics YOLO11 backbones (layers 0-10): SPEC section 2's rules, Ultralytics' own key names and
shapes, and its own outputs.

`data/ultralytics_yolo11_keys.json` and `data/ultralytics_yolo11n_out.pt` were written by
`data/make_ultralytics_reference.py` with Ultralytics 8.4 (run once, outside this project: Ultralytics is
not a dependency). They are the independent source: every key and shape of the five detection models,
and the P3/P4/P5 that Ultralytics' own layers compute for a fixed input and weights.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from data.make_ultralytics_reference import draw
from spec import YOLO11N_BACKBONE_PARAMS
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from yolo_explorer import build_backbone, list_layers, make_config, model_stats, model_summary, run_with_capture
from yolo_explorer.model.config import YOLO11_SCALES, YOLO11Config
from yolo_explorer.model.yolo11_blocks import C2PSA, Attention, C3k

DATA = Path(__file__).parents[1] / "data"
ULTRALYTICS = json.loads((DATA / "ultralytics_yolo11_keys.json").read_text())["scales"]
ARCHS = [f"yolo11{s}" for s in YOLO11_SCALES]
# backbone (layers 0-10) parameter counts, summed from Ultralytics' own state_dicts
PARAMS = {
    "yolo11n": YOLO11N_BACKBONE_PARAMS,
    "yolo11s": 5_441_984,
    "yolo11m": 10_352_192,
    "yolo11l": 12_833_600,
    "yolo11x": 28_847_328,
}


def ultralytics_backbone_shapes(scale: str) -> dict[str, list[int]]:
    """Ultralytics' state_dict keys of layers 0-10, renamed to ours ("model.6.m.0" -> "6.m.0")."""
    keys = ULTRALYTICS[scale]["keys"]
    return {k.removeprefix("model."): v for k, v in keys.items() if int(k.split(".")[1]) <= 10}


def test_yolo11n_has_spec_parameter_count():
    assert sum(p.numel() for p in build_backbone("yolo11n", device="meta").parameters()) == YOLO11N_BACKBONE_PARAMS


@pytest.mark.parametrize("arch", ARCHS)
def test_every_key_and_shape_is_ultralytics(arch):
    model = build_backbone(arch, device="meta")
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == ultralytics_backbone_shapes(arch[-1])
    assert sum(p.numel() for p in model.parameters()) == PARAMS[arch]


@pytest.mark.parametrize("scale", YOLO11_SCALES)
def test_channels_and_repeats_follow_spec_rules(scale):
    depth, width, max_channels = YOLO11_SCALES[scale]
    model = build_backbone(f"yolo11{scale}", device="meta")

    def rule(c: int) -> int:
        return math.ceil(min(c, max_channels) * width / 8) * 8

    nominal = [64, 128, 256, 256, 512, 512, 512, 1024, 1024, 1024, 1024]
    specs = model.config.layers()
    assert [s.channels for s in specs] == [rule(c) for c in nominal]
    repeats = max(round(2 * depth), 1)
    for index in (2, 4, 6, 8):
        c3k2 = getattr(model, str(index))
        assert len(c3k2.m) == repeats
        uses_c3k = scale in "mlx" or index in (6, 8)
        assert all(isinstance(block, C3k) == uses_c3k for block in c3k2.m)
        assert c3k2.c == int(rule(nominal[index]) * (0.25 if index in (2, 4) else 0.5))
    assert len(getattr(model, "10").m) == repeats
    assert all(m.eps == 1e-3 and m.momentum == 0.03 for m in model.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("size", [(640, 640), (96, 160)])
def test_pyramid_shapes_and_feature_info(arch, size):
    model = build_backbone(arch, device="meta")
    h, w = size
    outputs = model(torch.empty(1, 3, h, w, device="meta"))
    config = model.config
    expected_channels = [config.channels(512), config.channels(512), config.channels(1024)]
    assert [o.shape[1] for o in outputs] == expected_channels == [i.channels for i in model.feature_info]
    assert [tuple(o.shape[2:]) for o in outputs] == [(h // s, w // s) for s in (8, 16, 32)]
    assert [(i.name, i.module, i.stride) for i in model.feature_info] == [("P3", "4", 8), ("P4", "6", 16), ("P5", "10", 32)]


def test_computes_exactly_what_ultralytics_computes():
    """Ultralytics' own P3/P4/P5 for weights drawn (in its key order) from a seeded generator."""
    reference = torch.load(DATA / "ultralytics_yolo11n_out.pt", weights_only=True)
    generator = torch.Generator().manual_seed(1)
    state = {}
    for key, shape in ULTRALYTICS["n"]["keys"].items():
        if key.endswith("num_batches_tracked"):
            continue
        state[key] = draw(key, shape, generator)
    x = torch.rand(1, 3, 96, 128, generator=generator)
    assert torch.equal(x, reference["x"])  # same draws as the reference script

    from yolo_explorer.model.weights import load_weights

    model = build_backbone("yolo11n", seed=123)
    report = load_weights(model, state)
    assert report.layout == "ultralytics" and report.params == YOLO11N_BACKBONE_PARAMS
    assert report.ignored == sum(1 for k in state if int(k.split(".")[1]) > 10)
    with torch.no_grad():
        outputs = model(x)
    for name, out in zip(("P3", "P4", "P5"), outputs, strict=True):
        torch.testing.assert_close(out, reference[name], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_stats_one_row_per_layer_and_macs_include_attention(arch):
    stats = model_stats(make_config(arch), 640)
    assert [s.name for s in stats.layers] == [str(i) for i in range(11)]
    assert [s.block for s in stats.layers] == _blocks()
    assert [s.feature for s in stats.layers if s.feature] == ["P3", "P4", "P5"]
    assert stats.params == PARAMS[arch]


def _blocks() -> list[str]:
    return ["ConvBNSiLU", "ConvBNSiLU", "C3k2", "ConvBNSiLU", "C3k2", "ConvBNSiLU", "C3k2", "ConvBNSiLU", "C3k2", "SPPF", "C2PSA"]


@pytest.mark.parametrize("arch, size", [("yolo11n", (160, 224)), ("yolo11l", (128, 128))])
def test_macs_equal_flop_counter_per_layer_attention_products_included(arch, size):
    """flop_counter sees the convolutions and the two matmuls of each attention (bmm), as we count them."""
    stats = model_stats(make_config(arch), size)
    model = build_backbone(arch)
    counter = FlopCounterMode(display=False, depth=1)
    with counter, torch.no_grad():
        model(torch.rand(1, 3, *size))
    per_module = counter.get_flop_counts()
    for layer in stats.layers:
        assert sum(per_module[f"Backbone.{layer.name}"].values()) == layer.flops, layer.name
    # and a module-only count (convolutions) misses exactly the attention products
    attn = [m for m in model.modules() if isinstance(m, Attention)]
    h, w = size[0] // 32, size[1] // 32
    products = sum(a.heads * (h * w) ** 2 * (a.key_dim + a.head_dim) for a in attn)
    conv_macs = sum(v for k, v in per_module["Global"].items() if "convolution" in str(k)) // 2
    assert stats.macs == conv_macs + products > conv_macs


def test_torchinfo_summary_works_and_misses_attention_products():
    config = make_config("yolo11n")
    stats = model_stats(config, 640)
    summary = model_summary(config, 640, depth=2)
    assert summary.total_params == stats.params
    # torchinfo: the convolutions plus 2 x channels per BatchNorm, but not the attention's matrix products
    assert summary.total_mult_adds == stats.macs - stats.attention_macs + sum(2 * c for c in _bn_channels(config))


def _bn_channels(config: YOLO11Config) -> list[int]:
    model = build_backbone(config=config, device="meta")
    return [m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


def test_capture_reaches_inside_the_attention_block():
    model = build_backbone("yolo11n")
    names = list_layers(model)
    assert {"10.m.0.attn", "10.m.0.attn.qkv", "10.m.0.attn.pe", "10.m.0.ffn", "8.m.0.cv3"} <= set(names)
    x = torch.rand(1, 3, 128, 128)
    outputs, acts = run_with_capture(model, x, ["P5", "10.m.0.attn", "10.m.0.attn.qkv", "6.m.0.m.1"])
    assert torch.equal(acts["P5"], outputs[2])
    assert acts["10.m.0.attn"].shape == (1, 128, 4, 4)
    assert acts["10.m.0.attn.qkv"].shape == (1, 128 + 2 * 32 * 2, 4, 4)  # heads 2, key_dim 32
    assert all(torch.isfinite(a).all() for a in acts.values())


def test_receptive_field_is_global_after_attention():
    stats = model_stats(make_config("yolo11n"), 640)
    rf = [s.receptive_field for s in stats.layers]
    assert rf == sorted(rf)
    assert rf[9] < 640 * 2 and rf[10] >= 640  # the attention sees the whole image
    assert rf[10] == rf[9] + (20 - 1) * 32  # + every other position of the 20x20 map


@pytest.mark.parametrize("arch", ARCHS)
def test_contract_strides_eval_finite(arch):
    model = build_backbone(arch)
    assert not model.training
    assert [model.layer_strides[str(i)] for i in range(11)] == [2, 4, 4, 8, 8, 16, 16, 32, 32, 32, 32]
    with torch.no_grad():
        outputs = model(torch.rand(2, 3, 64, 96))
    assert all(torch.isfinite(o).all() for o in outputs)
    assert isinstance(getattr(model, "10"), C2PSA)


def test_config_validation_and_make_config():
    assert make_config("yolo11s") == YOLO11Config(scale="s")
    assert make_config("yolo11s").label == "YOLO11s" and make_config("yolo11s").arch == "yolo11s"
    with pytest.raises(ValueError, match="no field width"):
        make_config("yolo11n", width=32)
    with pytest.raises(ValueError, match="no field scale"):
        make_config("yolo11n", scale="x")
    with pytest.raises(ValueError, match="scale must be one of"):
        YOLO11Config(scale="q")
    assert make_config("yolo11n", in_channels=1).in_channels == 1


def test_versus_stage_rows_add_up_for_both_backbones():
    from yolo_explorer.model.versus import stage_rows

    for config in (make_config("tutorial", width=32), make_config("yolo11m")):
        stats = model_stats(config, 320)
        rows = stage_rows(config, stats)
        assert sum(r.params for r in rows) == stats.params and sum(r.macs for r in rows) == stats.macs
        assert [r.feature for r in rows] == ["", "", "P3", "P4", "P5"]


def test_versus_costs_match_a_hand_count():
    """YOLO11n's expansion 0.25 in layers 2 and 4, counted by hand (conv weights + BN weight and bias):
    layer 2 is 6,640 params at e=0.25 and 17,760 at e=0.5; layer 4 is 26,080 and 70,336."""
    from yolo_explorer.model.versus import differences

    found = {d.title: d for d in differences(make_config("yolo11n"), 640)}
    assert found["Expansion 0.25 in the early C3k2s"].params == (6_640 - 17_760) + (26_080 - 70_336)
    stats = model_stats(make_config("yolo11n"), 640)
    layer10 = stats.layers[10]
    psa = found["C2PSA attention after the SPPF"]
    assert (psa.params, psa.macs) == (layer10.params, layer10.macs) and layer10.attention_macs > 0
    assert found["The max_channels cap"].params == 0  # 1024 x 0.25 never reaches the cap
    assert found["Repeats scaled by depth"].params < 0  # one inner block instead of two saves


@pytest.mark.slow  # every tutorial width at full size
def test_versus_closest_widths_by_brute_force():
    from yolo_explorer.model.versus import closest_widths

    (match,) = closest_widths(640, archs=["yolo11s"])
    target = model_stats(make_config("yolo11s"), 640).params
    best = min(range(8, 257, 8), key=lambda w: abs(math.log(model_stats(make_config(width=w), 640).params / target)))
    assert match.width_by_params == best == 32


def test_one_function_turns_a_users_choices_into_a_config():
    """The sidebar and the command line both ask config.config_for; COCO's class count is the detector's default."""
    from yolo_explorer.detection.detections import COCO_CLASSES
    from yolo_explorer.model.config import COCO_CLASS_COUNT, config_for

    assert config_for() == make_config("tutorial") and config_for(width=16, depth=1) == make_config(width=16, depth=1)
    assert config_for("yolo11s") == make_config("yolo11s")
    assert config_for("yolo11s", detector=True).num_classes == COCO_CLASS_COUNT == len(COCO_CLASSES)
    assert config_for("yolo11s", detector=True, classes=3) == make_config("yolo11s", detector=True, num_classes=3)
    for choices, words in (
        ({"detector": True}, "backbone only"),
        ({"arch": "yolo11n", "width": 16}, "fixes its own"),
        ({"arch": "yolo11n", "classes": 3}, "whole detector"),
        ({"width": 12}, "width"),
    ):
        with pytest.raises(ValueError, match=words):
            config_for(**choices)
