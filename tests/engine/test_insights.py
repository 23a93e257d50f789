"""Every sentence the app teaches states numbers it computed, and makes a claim only when the numbers show
it: checked on every architecture, several widths and sizes, against sources the sentences do not use
(the config's own stage grouping, the modules of a model, shapes from a forward on the meta device)."""

from __future__ import annotations

import re

import pytest
import torch

from yolo_explorer import build_backbone, make_config, model_stats
from yolo_explorer.model.compare import compare_grid
from yolo_explorer.model.config import YOLO11_SCALES
from yolo_explorer.present.insights import (
    activation_law_insight,
    cost_insight,
    flow_insight,
    memory_insight,
    params_law_insight,
    pixels_law_insight,
    pyramid_insight,
    receptive_field_insight,
)

CONFIGS = [make_config("tutorial", width=w, depth=d) for w, d in ((8, 1), (64, 2), (256, 3))]
CONFIGS += [make_config(f"yolo11{s}") for s in YOLO11_SCALES]
SIZES = [(128, 128), (640, 640), (480, 640), (1280, 1280), (100, 100)]
HEAVY = {"tutorial w=256 n=3", "YOLO11l", "YOLO11x"}  # with 1280x1280: the slow tier (real forwards at full size)
CASES = [
    pytest.param(c, s, id=f"{c.label}-{s[0]}x{s[1]}", marks=[pytest.mark.slow] if c.label in HEAVY or s[0] >= 1280 else [])
    for c in CONFIGS
    for s in SIZES
]


def ratios_in(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"(\d+\.\d)×", text)]


def stage_params(config) -> list[int]:
    """Parameters of stages 1-4 as the config groups its layers, counted on a weightless model."""
    model = build_backbone(config=config, device="meta")
    return [
        sum(p.numel() for name in layers for p in model.get_submodule(name).parameters())
        for stage, layers in config.stages().items()
        if stage != "stem"
    ]


@pytest.mark.parametrize(("config", "size"), CASES)
def test_parameter_growth_is_stated_as_it_is(config, size):
    text = cost_insight(model_stats(config, size))
    params = stage_params(config)
    growth = [b / a for a, b in zip(params, params[1:], strict=False)]
    assert ratios_in(text.split("Parameters")[1])[:3] == [round(g, 1) for g in growth]
    steady = all(3.2 <= g <= 4.8 for g in growth)
    assert ("about 4× per stage" in text) == steady
    if config.arch in ("yolo11m", "yolo11l", "yolo11x"):  # the max_channels cap: the last stage does not widen
        model = build_backbone(config=config, device="meta")
        p4, p5 = model.feature_info[1].channels, model.feature_info[2].channels
        assert p4 == p5 and not steady and f"stage 4 keeps the {p5} channels of stage 3" in text


@pytest.mark.parametrize(("config", "size"), CASES)
def test_memory_sentence_counts_the_layers_and_claims_only_what_holds(config, size):
    stats = model_stats(config, size)
    text = memory_insight(stats)
    layers = len(list(build_backbone(config=config, device="meta").children()))
    assert f"all {layers} layer outputs" in text
    early = sum(s.activation_bytes for s in stats.layers[:3]) / stats.activation_bytes
    assert f"take {early:.0%}" in text
    assert ("dominate" in text) == (early >= 0.5)


@pytest.mark.parametrize(("config", "size"), CASES)
def test_flow_and_pyramid_sentences_match_a_forward(config, size):
    stats = model_stats(config, size)
    h, w = size
    with torch.no_grad():
        outputs = build_backbone(config=config, device="meta")(torch.empty(1, 3, h, w, device="meta"))
    p3, p5 = outputs[0].shape, outputs[-1].shape
    flow = flow_insight(stats)
    assert f"{h * w / (p5[2] * p5[3]):,.0f}× fewer positions" in flow and f"to {p5[1]}×{p5[2]}×{p5[3]} at P5" in flow
    pyramid = pyramid_insight(stats)
    assert f"a cell per {round(h / p3[2])}×{round(h / p3[2])} pixels" in pyramid or h % 32
    rf = stats.layers[-1].receptive_field
    whole = rf >= max(h, w)
    assert ("sees the whole" in pyramid) == whole and ("whole" in receptive_field_insight(stats)) == whole
    if not whole:
        assert f"{rf / max(h, w):.0%} of the image's longest side" in pyramid


@pytest.mark.parametrize(
    ("widths", "sides"), [((16, 32, 64, 128), (320, 640, 1280)), ((8,), (128, 256)), ((24, 40), (640,)), ((8,), (640,))]
)
def test_compare_sentences_state_the_grid_s_own_ratios(widths, sides):
    rows = compare_grid(widths, [(s, s) for s in sides])

    def at(w, s):
        return next(r for r in rows if r.width == w and r.height == s)

    lo, hi, small, large = min(widths), max(widths), min(sides), max(sides)
    params = params_law_insight(rows)
    assert (params is None) == (lo == hi)
    if params:
        assert f"grow {at(hi, small).params / at(lo, small).params:.1f}×" in params and f"the {(hi / lo) ** 2:g}× of w²" in params
    pixels = pixels_law_insight(rows)
    assert (pixels is None) == (small == large)
    if pixels:
        assert f"the MACs grow {at(lo, large).macs / at(lo, small).macs:.1f}×" in pixels
        assert "the same work per pixel" in pixels  # multiples of 32: the work per pixel does not change
    acts = activation_law_insight(rows)
    assert (acts is None) == (lo == hi and small == large)
    if acts and lo != hi:
        assert f"they grow {at(hi, small).activation_bytes / at(lo, small).activation_bytes:.1f}×" in acts


def test_sizes_that_are_not_multiples_of_32_are_not_called_the_same_work_per_pixel():
    text = pixels_law_insight(compare_grid([8], [(100, 100), (333, 333)]))
    assert "same work per pixel" not in text and "rounds up" in text


@pytest.mark.parametrize("scale", list(YOLO11_SCALES))
@pytest.mark.parametrize("size", [(640, 640), (480, 640)])
def test_the_detector_sentences_state_its_own_numbers(scale, size):
    """The neck and head sentences: anchors and cells from the head's output and the neck's shapes, shares from
    the parts' own sums, and the backbone's sentences unchanged by the layers after it."""
    from yolo_explorer.present.insights import backbone_of

    detector = model_stats(make_config(f"yolo11{scale}", detector=True), size)
    backbone = model_stats(make_config(f"yolo11{scale}"), size)
    flow = flow_insight(detector)
    head = detector.layers[-1]
    assert flow.startswith(flow_insight(backbone)) and f"{head.output_shape[1]:,} in all" in flow
    levels = [s for s in detector.layers if s.feature]
    assert [s.name for s in levels] == ["16", "19", "22"]
    assert sum(s.output_shape[1] * s.output_shape[2] for s in levels) == head.output_shape[1]
    cost = cost_insight(detector)
    totals = detector.part_totals()
    for part in ("backbone", "neck", "head"):
        share = f"the {part} {totals[part]['params'] / detector.params:.0%} and {totals[part]['macs'] / detector.macs:.0%}"
        assert share in cost
    assert cost.endswith(cost_insight(backbone))
    assert [s.params for s in backbone_of(detector).layers] == [s.params for s in backbone.layers]


def test_levels_insight_counts_and_sizes_the_boxes_of_each_level():
    from yolo_explorer.detection.detections import Cell, Detection
    from yolo_explorer.present.insights import levels_insight

    def box(side: float, level: str, stride: int) -> Detection:
        return Detection((0.0, 0.0, side, side), 0.9, 0, "person", Cell(level, stride, 0, 0))

    # photo pixels x 0.5 = input pixels
    small_to_large = [box(60, "P3", 8), box(80, "P3", 8), box(100, "P3", 8), box(200, "P4", 16), box(500, "P5", 32)]
    text = levels_insight(small_to_large, scale=0.5)
    assert "P3 (stride 8) 3 boxes, 40 px; P4 (stride 16) 1 box, 100 px; P5 (stride 32) 1 box, 250 px" in text
    assert "The finer the grid, the smaller the objects it keeps" in text

    mixed = [box(400, "P3", 8), box(100, "P5", 32)]
    assert "the sizes do not follow the strides" in levels_insight(mixed, scale=1.0)
    one = levels_insight([box(64, "P4", 16)], scale=1.0)
    assert one == "Every kept box comes from one level: P4 (stride 16) 1 box, 64 px (median side at the input)."
    assert levels_insight([], scale=1.0) is None
    assert levels_insight([Detection((0, 0, 1, 1), 0.5, 0, "person")], scale=1.0) is None  # no cells known
