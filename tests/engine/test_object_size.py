"""The object-size lens: a box of the photo through a real letterbox, its cells counted by brute force, the strides
and receptive fields the statistics give (its page: tests/app/test_page_object_size.py)."""

from __future__ import annotations

import numpy as np
import pytest

from yolo_explorer import letterbox, make_config, model_stats
from yolo_explorer.detection.object_size import object_size, over_sizes
from yolo_explorer.present.insights import object_size_insight

CONFIGS = [make_config("tutorial", width=16), make_config("yolo11n"), make_config("yolo11n", detector=True)]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.label)
@pytest.mark.parametrize(
    ("photo", "box", "size"),
    [((1920, 1080), (800, 400, 860, 470), 640), ((300, 500), (10, 20, 290, 480), (320, 256)), ((64, 48), (5, 5, 9, 7), 320)],
)
def test_the_box_lands_where_the_letterbox_puts_it_and_cells_are_counted(config, photo, box, size):
    view = object_size(config, photo, box, size)
    real = letterbox(np.zeros((photo[1], photo[0], 3), dtype=np.uint8), size)
    assert view.input_size == real.size
    corners = (*real.to_letterbox(box[0], box[1]), *real.to_letterbox(box[2], box[3]))
    assert view.input_box == pytest.approx(corners)
    stats = model_stats(config, real.size)
    features = [s for s in stats.layers if s.feature]
    assert [level.name for level in view.levels] == [s.feature for s in features] == ["P3", "P4", "P5"]
    for level, layer in zip(view.levels, features, strict=True):
        _, rows, cols = layer.output_shape
        assert level.grid == (rows, cols) and level.stride == real.size[0] // rows
        assert level.receptive_field == layer.receptive_field
        assert level.width_cells == pytest.approx((corners[2] - corners[0]) / level.stride)
        inside = [
            (r, c)
            for r in range(rows)
            for c in range(cols)
            if corners[0] <= (c + 0.5) * level.stride <= corners[2] and corners[1] <= (r + 0.5) * level.stride <= corners[3]
        ]
        assert level.cells_inside == len(inside)
        assert level.first_cell == (inside[0] if inside else None)


def test_over_sizes_scales_with_the_input_and_the_sentence_says_what_the_numbers_say():
    config = make_config("yolo11n", detector=True)
    views = over_sizes(config, (1920, 1080), (800, 400, 860, 470), [320, 640, 1280])
    widths = [[level.width_cells for level in v.levels] for v in views]
    assert widths[1] == pytest.approx([2 * w for w in widths[0]]) and widths[2] == pytest.approx([4 * w for w in widths[0]])
    text = object_size_insight(views[1])
    assert f"{views[1].levels[0].width_cells:.1f} P3 cells wide" in text
    assert ("P5 has none" in text) == (views[1].levels[2].cells_inside == 0)
    tiny = object_size(config, (1920, 1080), (800, 400, 803, 402), 320)
    assert all(level.cells_inside == 0 for level in tiny.levels)
    assert "no cell centre of any level" in object_size_insight(tiny)


def test_a_box_outside_the_photo_is_refused_and_one_over_its_edge_is_clipped():
    config = make_config("tutorial", width=8)
    with pytest.raises(ValueError, match="no area inside the 100x80 photo"):
        object_size(config, (100, 80), (120, 10, 150, 40), 128)
    assert object_size(config, (100, 80), (-10, -10, 50, 40), 128).photo_box == (0, 0, 50, 40)
