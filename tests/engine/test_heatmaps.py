"""Heatmap numbers: statistics, rankings, reductions, quantisation, maps laid onto the original image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from yolo_explorer import build_backbone, extract_features
from yolo_explorer.forward.heatmaps import (
    channel_stats,
    map_to_original,
    quantize,
    rank_channels,
    reduce_channels,
    strength,
)
from yolo_explorer.forward.preprocess import letterbox


@pytest.fixture
def fmap():
    return np.random.default_rng(0).normal(size=(6, 5, 7)).astype(np.float32)


def test_channel_stats_against_numpy(fmap):
    s = channel_stats(torch.from_numpy(fmap))
    flat = fmap.reshape(6, -1)
    np.testing.assert_allclose(s.mean, flat.mean(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.std, flat.std(1), rtol=1e-5)
    np.testing.assert_array_equal(s.min, flat.min(1))
    np.testing.assert_array_equal(s.max, flat.max(1))
    np.testing.assert_allclose(s.frac_nonpositive, (flat <= 0).mean(1))
    np.testing.assert_allclose(s.energy, np.sqrt((flat**2).sum(1)), rtol=1e-5)
    assert s.row(2)["max"] == pytest.approx(float(flat[2].max()))


def test_strength_is_the_root_mean_square_of_the_whole_map(fmap):
    assert strength(channel_stats(fmap), 5 * 7) == pytest.approx(float(np.sqrt((fmap.astype(np.float64) ** 2).mean())), rel=1e-6)


def test_batched_map_and_bad_shapes(fmap):
    np.testing.assert_array_equal(channel_stats(fmap[None]).max, channel_stats(fmap).max)
    with pytest.raises(ValueError, match="C, H, W"):
        channel_stats(fmap[0])


def test_rankings(fmap):
    flat = fmap.reshape(6, -1)
    assert list(rank_channels(fmap, "mean")) == list(np.argsort(-flat.mean(1)))
    assert list(rank_channels(fmap, "max")) == list(np.argsort(-flat.max(1)))
    assert list(rank_channels(fmap, "energy")) == list(np.argsort(-(flat**2).sum(1)))
    with pytest.raises(ValueError, match="ranking"):
        rank_channels(fmap, "median")


def test_reductions(fmap):
    np.testing.assert_allclose(reduce_channels(fmap, "mean"), fmap.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(reduce_channels(fmap, "max"), fmap.max(0))
    top3 = np.sort(fmap, axis=0)[-3:].mean(0)
    np.testing.assert_allclose(reduce_channels(fmap, "topk", k=3), top3, rtol=1e-5)
    np.testing.assert_allclose(reduce_channels(fmap, "topk", k=99), fmap.mean(0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        reduce_channels(fmap, "median")


def test_quantize_per_channel_and_shared(fmap):
    q = quantize(fmap)
    assert q.levels.dtype == np.uint8
    assert (q.levels.reshape(6, -1).min(1) == 0).all() and (q.levels.reshape(6, -1).max(1) == 255).all()
    assert q.value(1, 255) == pytest.approx(float(fmap[1].max()))
    shared = quantize(fmap, shared=True)
    assert shared.levels.min() == 0 and shared.levels.max() == 255
    assert (shared.lo == fmap.min()).all()
    flat = quantize(np.zeros((2, 3, 3)))
    assert (flat.levels == 0).all()


def test_quantize_clips_outliers_to_percentiles():
    maps = np.tile(np.linspace(0, 1, 100, dtype=np.float32), (2, 100, 1))  # (2, 100, 100)
    maps[0, 0, 0] = 1000.0  # one hot cell
    plain, clipped = quantize(maps), quantize(maps, clip=1.0)
    assert np.median(plain.levels[0]) == 0  # the hot cell squeezes everything else to the bottom
    assert clipped.hi[0] == pytest.approx(np.percentile(maps[0], 99))
    assert clipped.levels[0, 0, 0] == 255 and 100 < np.median(clipped.levels[0]) < 155
    shared = quantize(maps, shared=True, clip=1.0)
    assert shared.hi[0] == shared.hi[1] == pytest.approx(np.percentile(maps, 99))
    with pytest.raises(ValueError, match="clip"):
        quantize(maps, clip=60)


def test_map_to_original_samples_where_each_pixel_landed():
    """A map whose value is the canvas x (or y) coordinate comes back as the landed coordinate."""
    box = letterbox(Image.new("RGB", (200, 100)), 64)  # resized 64x32, top padding 16
    stride = 8
    centres = (np.arange(8) + 0.5) * stride
    xmap = np.tile(centres, (8, 1)).astype(np.float32)  # value = canvas x of the cell centre
    ymap = xmap.T.copy()
    out = map_to_original(np.stack([xmap, ymap]), box)
    assert out.shape == (2, 100, 200)
    for i, j in ((30, 20), (100, 50), (150, 80)):  # interior pixels (x, y)
        lx, ly = box.to_letterbox(i + 0.5, j + 0.5)
        assert out[0, j, i] == pytest.approx(lx, abs=1e-4)
        assert out[1, j, i] == pytest.approx(ly, abs=1e-4)
    assert map_to_original(xmap, box, out_size=(50, 25)).shape == (25, 50)


def test_padding_never_reaches_the_original():
    """Cells that lie only in the letterbox padding do not show on the original image."""
    box = letterbox(Image.new("RGB", (64, 16)), 64)  # content rows 24..40 of the canvas
    canvas = np.full((64, 64), 100.0, dtype=np.float32)
    canvas[24:40] = 1.0
    out = map_to_original(canvas, box)
    assert out.shape == (16, 64) and np.allclose(out, 1.0)


def test_extract_features_one_forward_gives_every_view():
    model = build_backbone(width=8)
    image = Image.new("RGB", (90, 60), (10, 200, 30))
    result = extract_features(model, image, 128, ["P3", "P5", "stem", "sppf.pool"])
    assert result.box.size == (128, 128)
    assert result.maps["P3"].shape == (32, 16, 16) and result.maps["P3"].dtype == torch.float32
    assert torch.equal(result.maps["P3"], result.outputs[0])
    assert torch.equal(result.maps["P5"], result.outputs[2])
    assert len(result.maps["sppf.pool"]) == 3
    with torch.inference_mode():
        direct = model(result.box.tensor())
    assert torch.equal(direct[1][0], result.outputs[1])
