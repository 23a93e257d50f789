"""The Detections page walks NMS to its own boxes."""

from __future__ import annotations

from helpers import TRAINED, detector_app, no_problems, photo_upload, upload

from yolo_explorer.synthetic import scene


def test_detections_page_walks_to_its_own_boxes(app):
    image, _ = scene(5, 640, 480)
    at = upload(detector_app(app, "detections.py", side=320), "best.pt", TRAINED.read_bytes())
    photo_upload(at, image)
    no_problems(at)
    kept = at.dataframe[0].value
    step = at.get_by_key("det_step")
    step.set_value(step.max).run()
    no_problems(at)
    last = next(m.value for m in at.markdown if m.value.startswith("**Step "))
    assert f"**Step {len(kept)} of {len(kept)}**" in last
    assert any(f"After the last step: exactly the {len(kept)} boxes of the table above" in c.value for c in at.caption)
