"""Figure builders: what they draw matches the numbers, and the default grid stays light."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from spec import TOTALS

from yolo_explorer import build_backbone, extract_features, make_config, model_stats
from yolo_explorer.forward.heatmaps import quantize, rank_channels
from yolo_explorer.model.compare import compare_grid, fit_laws, power_law_fit
from yolo_explorer.present.deployment_figures import latency_box, latency_history
from yolo_explorer.present.formatting import human_count, shape_str, stats_csv, stats_rows, stats_table
from yolo_explorer.present.forward_figures import channel_grid, channel_heatmap, overlay
from yolo_explorer.present.insights import cost_insight, flow_insight, memory_insight, receptive_field_insight
from yolo_explorer.present.model_figures import cost_bars, flow_diagram, scaling_plot


@pytest.fixture(scope="module")
def stats():
    return model_stats(make_config(width=64), 640)


def test_flow_diagram_labels_every_layer_with_its_shape(stats):
    fig = flow_diagram(stats)
    texts = [a.text for a in fig.layout.annotations]
    for layer in stats.layers:
        assert f"<b>{layer.name}</b>" in texts
        assert shape_str(layer.output_shape).replace("×", "×<br>", 1) in texts
    assert sum("<b>P" in t for t in texts) == 3
    hover = fig.data[0].hovertext
    assert "params 12,591,104" in hover[9]


def test_cost_bars_plot_the_exact_numbers(stats):
    fig = cost_bars(stats)
    assert list(fig.data[0].y) == [s.params for s in stats.layers]
    assert list(fig.data[1].y) == [s.macs for s in stats.layers]


def test_default_grid_is_uint8_and_under_1_mb():
    """16 channels of P3 at width 64, 640 px: the default feature-maps view."""
    model = build_backbone(width=64)
    image = Image.new("RGB", (640, 480), (120, 60, 30))
    fmap = extract_features(model, image, 640, ["P3"]).maps["P3"]
    channels = [int(c) for c in rank_channels(fmap)[:16]]
    fig = channel_grid(quantize(fmap[channels].numpy()), channels, shared=False)
    payload = fig.to_json()
    assert len(payload) < 1_000_000, len(payload)
    spec = json.loads(payload)
    heatmaps = [t for t in spec["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 16 and all(t["z"]["dtype"] == "u1" for t in heatmaps)
    assert spec["layout"]["annotations"][0]["text"] == f"ch {channels[0]}"


def test_shared_grid_colorbar_is_in_real_units():
    maps = np.stack([np.full((4, 4), v, dtype=np.float32) for v in (-2.0, 0.0, 6.0)])
    maps[0, 0, 0] = -2.0
    fig = channel_grid(quantize(maps, shared=True), [0, 1, 2], shared=True)
    ticks = fig.layout.coloraxis.colorbar.ticktext
    assert ticks[0] == "-2" and ticks[-1] == "6"


def test_channel_heatmap_keeps_real_values():
    fmap = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    fig = channel_heatmap(fmap, title="x")
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), fmap)


def test_overlay_covers_the_photo_exactly():
    photo = Image.new("RGB", (300, 200))
    fig = overlay(photo, np.zeros((20, 30), dtype=np.float32), opacity=0.4)
    image, heat = fig.data
    assert image.source.startswith("data:image/jpeg;base64,")
    assert heat.opacity == 0.4
    # first and last cell centres at 5 and 295 px: cells span the photo's 0..300 exactly
    assert heat.x0 + 0.5 == pytest.approx(5) and heat.x0 + 29 * heat.dx + 0.5 == pytest.approx(295)
    assert heat.y0 + 19 * heat.dy + 0.5 == pytest.approx(195)


def test_latency_and_scaling_figures_draw_the_numbers_given():
    box = latency_box({"a": [1, 2, 3], "b": [2, 3]})
    assert [(t.name, list(t.y)) for t in box.data] == [("a", [1, 2, 3]), ("b", [2, 3])]
    hist = latency_history(["a", "b"], [2.0, 3.0], [2.5, 3.5], [1.5, 2.5])
    bar = hist.data[0]
    assert list(bar.y) == [2.0, 3.0]  # the medians, p90 above and min below as asymmetric error bars
    assert list(bar.error_y.array) == [0.5, 0.5] and list(bar.error_y.arrayminus) == [0.5, 0.5]
    fig = scaling_plot([1, 2], {"s": [1, 4]}, {"s": [1, 4]}, x_title="w", y_title="y", title="t")
    assert all(list(t.x) == [1, 2] and list(t.y) == [1, 4] for t in fig.data)


def test_tables_and_csv(stats):
    rows = stats_rows(stats)
    assert rows[-1]["layer"] == "total" and rows[-1]["params"] == TOTALS[64]
    csv_text = stats_csv(stats)
    assert csv_text.splitlines()[-1].startswith("total,,,25624128,")
    assert "25,624,128" in stats_table(stats)
    assert human_count(25_624_128) == "25.6 M" and human_count(28_907_929_600) == "28.9 G" and human_count(999) == "999"


def test_insights_follow_the_numbers(stats):
    assert "1,024× fewer positions" in flow_insight(stats)
    text = cost_insight(stats)
    assert "every C3k2 (4 of them) costs the same 5.03 G MACs" in text and "stage4_c3k2 alone holds 49%" in text
    assert "68%" in memory_insight(stats)
    assert "P5 927 px" in receptive_field_insight(stats) and "whole 640×640 image" in receptive_field_insight(stats)


def test_insights_do_not_claim_equal_costs_when_they_are_not():
    odd = model_stats(make_config(width=8), 33)  # ceil at every stride: stages no longer cost the same
    assert "costs the same" not in cost_insight(odd)
    assert "only part" in receptive_field_insight(model_stats(make_config(width=8), 1280))


def test_compare_grid_and_power_law():
    rows = compare_grid([8, 16], [(64, 64), (128, 96)])
    assert len(rows) == 4
    direct = model_stats(make_config(width=16), (128, 96))
    row = next(r for r in rows if r.width == 16 and r.height == 128)
    assert (row.params, row.macs, row.activation_bytes, row.size_label) == (
        direct.params,
        direct.macs,
        direct.activation_bytes,
        "128x96",
    )
    c, fitted = power_law_fit([1, 2, 4], [3, 12, 48], 2)
    assert c == pytest.approx(3) and fitted == pytest.approx([3, 12, 48])
    with pytest.raises(ValueError):
        power_law_fit([1, 2], [0, 1], 2)
    assert fit_laws([1, 2], {"a": [2, 8], "b": [1, 4]}, 2) == {"a": pytest.approx([2, 8]), "b": pytest.approx([1, 4])}
    assert fit_laws([4], {"a": [3]}, 2) == {}  # one point shows no law


@pytest.mark.parametrize("n", [1, 2, 3, 4, 9, 16, 25, 36, 49, 64])
def test_grid_of_any_size_is_valid(n):
    maps = np.random.default_rng(n).random((n, 6, 5)).astype(np.float32)
    fig = channel_grid(quantize(maps), list(range(n)), shared=n % 2 == 0)
    assert len(fig.data) == n
    for axis in ("xaxis", "yaxis"):
        domains = [getattr(fig.layout, f"{axis}{'' if i == 0 else i + 1}").domain for i in range(n)]
        assert all(0 <= lo < hi <= 1 for lo, hi in domains)
