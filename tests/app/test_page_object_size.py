"""The Object size page: a typed box measured as the engine measures it, and with a trained detector the level that
predicted the box."""

from __future__ import annotations

import io

import pytest
from helpers import TRAINED, detector_app, no_problems, photo_upload, upload
from PIL import Image

from yolo_explorer import load_image, make_config
from yolo_explorer.detection.detections import detect
from yolo_explorer.detection.object_size import best_match, box_iou, object_size
from yolo_explorer.model.blocks import fold_batchnorm
from yolo_explorer.present.formatting import escape_markdown
from yolo_explorer.samples import SAMPLES, sample_bytes
from yolo_explorer.synthetic import scene


def test_page_measures_a_typed_box(app):
    at = app("object_size.py", side=320)
    no_problems(at)
    at.get_by_key("os_x1").set_value(100)
    at.get_by_key("os_x2").set_value(300)
    at.run()
    no_problems(at)
    table = at.dataframe[0].value
    assert list(table["level"]) == ["P3", "P4", "P5"]
    image = Image.open(io.BytesIO(sample_bytes(next(iter(SAMPLES)))))  # the default photo
    box = (100, at.get_by_key("os_y1").value, 300, at.get_by_key("os_y2").value)
    expected = object_size(make_config("tutorial"), image.size, box, (320, 320))
    assert list(table["cell centres inside"]) == [level.cells_inside for level in expected.levels]
    sizes = at.dataframe[1].value
    assert list(sizes["input"]) == [f"{s}×{s}" for s in range(320, 1281, 160)]


@pytest.mark.slow  # a trained detector on the page and in the engine
def test_with_a_trained_detector_the_page_names_the_level_that_predicted_the_box(app, trained_detector):
    """The shapes detector on a new photo: a box drawn around a shape it finds is matched to the engine's own
    detection, whose level and cell the page names."""
    image, _ = scene(31, 640, 480)
    at = upload(detector_app(app, "object_size.py"), "best.pt", TRAINED.read_bytes())
    photo_upload(at, image)
    deployed = trained_detector
    fold_batchnorm(deployed)
    expected = detect(deployed, load_image(at.session_state["settings"].photo.data), 640).detections
    target = expected[0]
    for key, value in zip(("os_x1", "os_y1", "os_x2", "os_y2"), target.box, strict=True):
        at.get_by_key(key).set_value(round(value))
    at.run()
    no_problems(at)
    found = next(s.value for s in at.success)
    cell = target.cell
    assert f"**{escape_markdown(target.name)}** {target.score:.2f}" in found
    assert f"predicted by **{cell.level}** (stride {cell.stride}), cell ({cell.row}, {cell.col})" in found
    assert best_match(target.box, expected)[0] is target
    assert box_iou(target.box, target.box) == 1.0 and box_iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    assert box_iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
