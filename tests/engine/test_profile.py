"""Per-layer time: every layer of the statistics, in their order, with its work and its bytes counted by hand,
the time put where it is spent, eager modes only; and the device's measured peaks."""

from __future__ import annotations

import time
import types

import pytest
import torch

from yolo_explorer import build_backbone, make_config, model_stats
from yolo_explorer.deployment.modes import LatencyMode
from yolo_explorer.deployment.peaks import Peaks, conv_peak_tflops, device_peaks, matmul_peak_tflops
from yolo_explorer.deployment.profile import profile_layers


@pytest.mark.parametrize("arch", ["tutorial", "yolo11n"])
def test_every_layer_in_the_statistics_order_with_its_work(arch):
    model = build_backbone(arch, **({"width": 8} if arch == "tutorial" else {}))
    profile = profile_layers(model, size=96, batch=2, warmup=1, iters=3)
    stats = model_stats(model.config, 96)
    assert [layer.name for layer in profile.layers] == [s.name for s in stats.layers]
    assert [layer.macs for layer in profile.layers] == [2 * s.macs for s in stats.layers]
    assert sum(layer.share for layer in profile.layers) == pytest.approx(1.0)
    assert sum(layer.macs_share for layer in profile.layers) == pytest.approx(1.0)
    assert all(layer.ms > 0 for layer in profile.layers) and profile.forward_ms > 0 and profile.runs == 3
    assert all(len(m._forward_hooks) + len(m._forward_pre_hooks) == 0 for m in model.modules())


def test_bytes_and_intensity_of_the_stem_counted_by_hand():
    """The stem of w=8 at 64x64, batch 1, fp32: a 3x3 conv from 3 to 8 channels at stride 2, and its BatchNorm."""
    profile = profile_layers(build_backbone(width=8), size=64, warmup=0, iters=1)
    stem = profile.layers[0]
    weights = 8 * 3 * 3 * 3 + 4 * 8  # conv weights; BatchNorm's weight, bias, running mean and variance
    moved = 4 * (weights + 3 * 64 * 64 + 8 * 32 * 32)
    flops = 2 * 8 * 32 * 32 * 3 * 3 * 3
    assert (stem.bytes, stem.flops) == (moved, flops)
    assert stem.intensity == pytest.approx(flops / moved)


def test_bf16_halves_the_bytes_and_folding_drops_batchnorm_statistics():
    model = build_backbone(width=8)
    fp32 = profile_layers(model, size=64, warmup=0, iters=1).layers[1]
    bf16 = profile_layers(model, size=64, warmup=0, iters=1, mode=LatencyMode(dtype="bf16", channels_last=True)).layers[1]
    folded = profile_layers(model, size=64, warmup=0, iters=1, mode=LatencyMode(fold_bn=True)).layers[1]
    assert bf16.bytes * 2 == fp32.bytes
    assert fp32.bytes - folded.bytes == 4 * (4 * 16 - 16)  # BatchNorm's 4 x 16 numbers become a 16-value conv bias


def test_the_time_is_put_on_the_layer_that_spends_it():
    """One layer made 200 ms slower gets those 200 ms, and the largest share: the others, which take well under a
    millisecond here, stay far below it even on a loaded machine (a 40 ms margin was not, with two test workers)."""
    model = build_backbone(width=8)
    layer = model.stage2_c3k2
    original = type(layer).forward

    def slow(self, x):
        time.sleep(0.2)
        return original(self, x)

    layer.forward = types.MethodType(slow, layer)  # this layer only (the copy profiled gets its own, bound to it)
    profile = profile_layers(model, size=64, warmup=0, iters=3)
    by_name = {layer.name: layer for layer in profile.layers}
    assert by_name["stage2_c3k2"].ms >= 200 and max(profile.layers, key=lambda layer: layer.share).name == "stage2_c3k2"
    assert all(v.ms < 200 for k, v in by_name.items() if k != "stage2_c3k2")
    assert profile.forward_ms >= 200  # the plain forward pays it too


@pytest.mark.slow
@pytest.mark.parametrize("mode", [LatencyMode(compile="default"), LatencyMode(cuda_graph=True)])
def test_compiled_modes_are_not_split_per_layer(mode):
    with pytest.raises(ValueError, match="cannot be timed layer by layer"):
        profile_layers(build_backbone(width=8), size=64, mode=mode)


def test_the_compute_peak_is_the_faster_kernel_and_the_ridge_follows():
    peaks = device_peaks("cpu", "fp32")
    assert peaks.tflops > 0 and peaks.gbps > 0 and peaks.compute in ("matmul", "3x3 convolution")
    assert Peaks(2.0, 100.0).ridge == pytest.approx(20.0)  # 2e12 FLOP/s over 1e11 B/s
    # both candidates are real measurements; the reported one is not below either by more than noise
    assert peaks.tflops >= 0.7 * max(matmul_peak_tflops("cpu", "fp32"), conv_peak_tflops("cpu", "fp32"))


def test_profile_json_shape():
    d = profile_layers(build_backbone(width=8), size=64, warmup=0, iters=1).to_dict()
    assert {"layers", "total_ms", "forward_ms", "device", "device_name", "method"} <= set(d)
    assert set(d["layers"][0]) >= {"name", "ms", "share", "macs", "flops", "bytes", "gflops_per_s", "intensity"}
    assert d["total_ms"] == pytest.approx(sum(layer["ms"] for layer in d["layers"]))
    assert d["model"] == make_config(width=8).label


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine; the GPU profile is checked only there")
@pytest.mark.parametrize("mode", [LatencyMode(), LatencyMode(dtype="bf16", channels_last=True, fold_bn=True)])
def test_cuda_layers_add_up_to_the_forward(mode):
    """On a GPU the hooks synchronise around every layer: the layers still add up to the plain forward."""
    profile = profile_layers(build_backbone(width=32), size=320, device="cuda:0", mode=mode, warmup=5, iters=20)
    assert [layer.name for layer in profile.layers] == [s.name for s in model_stats(make_config(width=32), 320).layers]
    assert 0.7 <= profile.overhead <= 1.4, profile.overhead
    peaks = device_peaks("cuda:0", mode.dtype)
    assert peaks.tflops > 1 and peaks.gbps > 100
