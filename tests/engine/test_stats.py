"""Statistics against independent sources: SPEC, torch.utils.flop_counter, torchinfo, real forwards,
and the receptive field measured from input gradients."""

from __future__ import annotations

import pytest
import torch
from spec import FLOPS_W64_640, MACS_W64_640, PARAMS_W64, SHAPES_640, TORCHINFO_MULT_ADDS_W64_640, TOTALS
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from yolo_explorer import build_backbone, make_config, model_stats, model_summary, parse_size
from yolo_explorer.model.stats import SUMMARY_COLUMNS


def conv_flops(model: nn.Module, x: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()


def test_width64_640_matches_spec():
    stats = model_stats(make_config(width=64), 640)
    assert {s.name: s.params for s in stats.layers} == PARAMS_W64
    assert stats.params == TOTALS[64]
    assert stats.flops == FLOPS_W64_640  # SPEC: torch.utils.flop_counter, convolutions
    assert stats.macs == MACS_W64_640
    assert [s.output_shape for s in stats.layers if s.feature] == SHAPES_640
    assert [s.feature for s in stats.layers if s.feature] == ["P3", "P4", "P5"]
    assert [s.stride for s in stats.layers] == [2, 4, 4, 8, 8, 16, 16, 32, 32, 32]


@pytest.mark.parametrize("width, size", [(8, (96, 128)), (16, (320, 320)), (24, (250, 333)), (32, (64, 64))])
def test_macs_sum_and_agree_with_flop_counter_on_a_real_forward(width, size):
    config = make_config(width=width)
    stats = model_stats(config, size)
    model = build_backbone(config=config)
    assert stats.flops == conv_flops(model, torch.rand(1, 3, *size))
    assert stats.macs == hand_counted_macs(model, torch.rand(1, 3, *size))


def test_per_layer_macs_agree_with_flop_counter_per_module():
    stats = model_stats(make_config(width=16), (160, 224))
    model = build_backbone(width=16)
    counter = FlopCounterMode(display=False, depth=1)
    with counter, torch.no_grad():
        model(torch.rand(1, 3, 160, 224))
    per_module = counter.get_flop_counts()
    for layer in stats.layers:
        assert sum(per_module[f"Backbone.{layer.name}"].values()) == layer.flops, layer.name


def test_torchinfo_total_differs_only_by_its_batchnorm_bookkeeping():
    """torchinfo books 2 x channels (a BatchNorm's parameter count) as mult-adds for each BatchNorm."""
    config = make_config(width=64)
    stats = model_stats(config, 640)
    summary = model_summary(config, 640, depth=3)
    assert summary.total_mult_adds == TORCHINFO_MULT_ADDS_W64_640
    model = build_backbone(config=config, device="meta")
    bn_params = sum(m.weight.numel() + m.bias.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert summary.total_mult_adds == stats.macs + bn_params
    assert summary.total_params == stats.params


@pytest.mark.parametrize("size", ["320", "640", "1280", "480x640", "481x639", "33x65"])
def test_shapes_equal_a_real_forward(size):
    h, w = parse_size(size)
    stats = model_stats(make_config(width=8), (h, w))
    model = build_backbone(width=8)
    shapes = {}
    hooks = [
        m.register_forward_hook(lambda mod, a, out, n=n: shapes.__setitem__(n, tuple(out.shape[1:])))
        for n, m in model.named_children()
    ]
    with torch.inference_mode():
        model(torch.rand(1, 3, h, w))
    for hook in hooks:
        hook.remove()
    assert {s.name: s.output_shape for s in stats.layers} == shapes


def test_activation_bytes_are_a_real_forward_s_outputs():
    """Each layer's activation bytes are the bytes of its output in a real forward in that dtype (fp16 and bf16 on
    the CPU run as far as conv kernels allow: the output's size is what is counted)."""
    config = make_config(width=16)
    model = build_backbone(config=config)
    sizes: dict[str, int] = {}
    hooks = [
        module.register_forward_hook(lambda m, a, out, name=name: sizes.__setitem__(name, out.numel()))
        for name, module in model.named_children()
    ]
    with torch.inference_mode():
        model(torch.rand(1, 3, 320, 320))
    for hook in hooks:
        hook.remove()
    for dtype, itemsize in (("fp32", 4), ("fp16", 2), ("bf16", 2)):
        stats = model_stats(config, 320, dtype)
        assert {s.name: s.activation_bytes for s in stats.layers} == {n: count * itemsize for n, count in sizes.items()}


def hand_counted_macs(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of every convolution a real forward runs, counted by hand from each call's output
    shape and weight: out elements x (in channels / groups) x kernel area."""
    total = 0

    def count(conv: torch.nn.Conv2d, args, out) -> None:
        nonlocal total
        kh, kw = conv.kernel_size
        total += out.numel() * (conv.in_channels // conv.groups) * kh * kw

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        model(x)
    for hook in hooks:
        hook.remove()
    return total


class _LargeRealOps(TorchDispatchMode):
    """Records every operator that produces a real (non-meta) tensor of more than 100k elements."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and out.device.type != "meta" and out.numel() > 100_000:
            self.seen.append(str(func))
        return out


def test_statistics_run_no_real_forward():
    spy = _LargeRealOps()
    with spy:
        stats = model_stats(make_config(width=128), 1280)
        model_summary(make_config(width=128), 1280, depth=2)
    assert stats.layers[-1].output_shape == (2048, 40, 40)
    assert spy.seen == []


def test_non_multiple_of_32_gets_a_note():
    assert model_stats(make_config(width=8), 640).notes == ()
    (note,) = model_stats(make_config(width=8), (500, 640)).notes
    assert "not a multiple of 32" in note and "512x640" in note


@pytest.mark.parametrize(
    "text, expected",
    [(640, (640, 640)), ("640", (640, 640)), ("480x640", (480, 640)), ("480X 640", (480, 640)), ((1, 2), (1, 2))],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "x", "640x", "6.4", "-1", "0", "9000", (0, 10), (10,), True, 1.5, "1x2x3"])
def test_parse_size_refuses(bad):
    with pytest.raises(ValueError):
        parse_size(bad)


def _footprint_extent(model: nn.Module, layer: str, h: int, w: int) -> tuple[int, int]:
    """Rows and columns of the input that one central output pixel of `layer` depends on."""
    out = {}
    handle = dict(model.named_children())[layer].register_forward_hook(lambda m, a, o: out.__setitem__("y", o))
    x = torch.rand(1, 3, h, w, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(0))
    model(x)
    handle.remove()
    y = out["y"]
    y[0, :, y.shape[2] // 2, y.shape[3] // 2].sum().backward()
    nonzero = x.grad[0].abs().sum(0) > 0
    rows, cols = nonzero.any(1).nonzero(), nonzero.any(0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.slow  # input gradients of every level at full size
def test_receptive_field_matches_input_gradient_footprint():
    """Theory vs measurement, every layer, width 8, float64, on an input larger than every window.

    SPPF's max-pool is swapped for an average pool with the same window in the measured copy: a
    max-pool's gradient reaches only the argmax of each window, so it would under-report the window
    the theory (and the pool's geometry) describes.
    """
    stats = model_stats(make_config(width=8), 1056)
    assert [s.receptive_field for s in stats.layers] == [3, 7, 39, 47, 111, 127, 255, 287, 543, 927]
    model = build_backbone(width=8, seed=0, dtype=torch.float64)
    model.sppf.pool = nn.AvgPool2d(5, stride=1, padding=2)
    for layer in stats.layers:
        side = 1056 if layer.receptive_field > 300 else 352
        assert _footprint_extent(model, layer.name, side, side) == (layer.receptive_field,) * 2, layer.name


def test_summary_depth_columns_and_rows():
    config = make_config(width=16)
    shallow = model_summary(config, 320, depth=1, columns=("output_size", "num_params"))
    deep = model_summary(config, 320, depth=3)
    assert len(deep.rows) > len(shallow.rows)
    names = [r["name"] for r in shallow.rows if r["depth"] == 1]
    assert names == [s.name for s in model_stats(config, 320).layers]
    assert "Output Shape" in shallow.text and "Input Shape" not in shallow.text
    assert f"{deep.total_params:,}" in deep.text
    all_columns = model_summary(config, 320, depth=2, columns=tuple(SUMMARY_COLUMNS))
    assert "Kernel Shape" in all_columns.text
    assert all(r["output_shape"] for r in shallow.rows if r["depth"] == 1)


def test_summary_refuses_bad_arguments():
    config = make_config(width=8)
    with pytest.raises(ValueError, match="depth"):
        model_summary(config, 320, depth=0)
    with pytest.raises(ValueError, match="unknown summary column"):
        model_summary(config, 320, columns=("flops",))


def test_summary_leaves_no_hooks_anywhere():
    from torch.nn.modules import module as module_mod

    model_summary(make_config(width=8), 128, depth=3)
    assert not module_mod._global_forward_hooks and not module_mod._global_forward_pre_hooks


def test_to_dict_has_the_cli_json_shape():
    d = model_stats(make_config(width=16), "480x640").to_dict()
    assert d["input"] == [3, 480, 640]
    assert len(d["stages"]) == 10
    for row in d["stages"]:
        assert {"name", "params", "output_shape", "stride", "macs", "flops", "activation_bytes", "receptive_field"} <= set(row)
    assert d["total"]["params"] == TOTALS[16]
    assert d["total"]["flops"] == conv_flops(build_backbone(width=16), torch.rand(1, 3, 480, 640))
    assert [row["params"] for row in d["stages"]] == [s.params for s in model_stats(make_config(width=16), 640).layers]


@pytest.mark.parametrize("arch", ["yolo11n", "yolo11s", "yolo11m", "yolo11l", "yolo11x"])
def test_ultralytics_info_says_our_flops_fused_and_books_batchnorm_unfused(arch):
    """Ultralytics' own `info()` (tests/data/ultralytics_info.json, written by Ultralytics 8.4.190 with its thop):
    fused, its GFLOPs are ours; unfused, ours plus 8 FLOPs per BatchNorm output, as the note under the figures says."""
    import json
    from pathlib import Path

    from yolo_explorer.model.config import config_for
    from yolo_explorer.present.insights import BATCHNORM_THOP_FLOPS, info_flops_insight

    reference = json.loads((Path(__file__).parents[1] / "data" / "ultralytics_info.json").read_text())["models"][arch]
    stats = model_stats(config_for(arch, detector=True), 640)
    assert stats.params == reference["params"]
    assert stats.flops / 1e9 == pytest.approx(reference["gflops_fused"], rel=1e-12)
    unfused = stats.flops + BATCHNORM_THOP_FLOPS * stats.batchnorm_outputs
    assert unfused / 1e9 == pytest.approx(reference["gflops_unfused"], rel=1e-12)
    note = info_flops_insight(stats)
    assert f"would say {reference['gflops_unfused']:.1f} GFLOPs" in note and f"{reference['gflops_fused']:.1f} fused" in note
    assert info_flops_insight(model_stats(config_for(arch), 640)) is None  # a backbone alone: info() has no such model
