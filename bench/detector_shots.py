"""Screenshots of the whole YOLO11 detector in the app, into bench/screenshots/:

- overview_detector.png: Overview's data flow with the neck and head, the per-layer table with its subtotals;
- detections_random.png: Detections with random weights (the per-level score maps), and the sidebar's button that
  fetches Ultralytics' trained weights;
- detections.png, feature_maps_trained.png and label_assignment.png: Detections, Feature maps and Label assignment
  with trained weights on a new photo;
- int8_trust.png: Latency's "Can this int8 be trusted?" at 320 with trained weights, calibrated and judged on eight
  uploaded photos of shapes (every other one judged): each unit's error, then fp32, int8 and the two most sensitive
  units kept in float, with each one's verdict.
  No checkpoint can be downloaded on the machine these are made on, so the trained weights are the test
  detector: a full-size YOLO11n that Ultralytics trained on photos of coloured shapes
  (tests/data/synthetic_yolo11n.pt, 4 classes), offered from the server's weights folder; the photo is one of
  those shapes scenes that it never saw.

Run: python bench/detector_shots.py [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from appserver import streamlit_server  # bench/appserver.py
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from app import ARGS, ROOT, SHOTS, drawn  # bench/app.py
from yolo_explorer.synthetic import scene


def pick_detector(page: Page, scale: str = "n") -> None:
    """Sidebar: YOLO11 at `scale`, whole detector."""
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Architecture").click()
    page.get_by_role("option", name=f"YOLO11{scale} (Ultralytics)").click()
    drawn(page, 0)
    page.locator('[data-testid="stSidebar"] [data-testid="stButtonGroup"]', has_text="Whole detector").get_by_text(
        "Whole detector"
    ).click()
    drawn(page, 0)


def upload(page: Page, photo: Path) -> None:
    page.locator('[data-testid="stSidebar"] [role="radio"]', has_text="Upload").click()
    drawn(page, 0)
    page.locator('[data-testid="stFileUploader"]', has_text="Image file").locator('input[type="file"]').set_input_files(
        str(photo)
    )
    width, height = Image.open(photo).size
    page.get_by_text(f"this {width}×{height} photo", exact=False).first.wait_for(timeout=120_000)  # the sidebar's note


def int8_trust(page: Page, work: Path, out: Path) -> None:
    """On the Latency page (opened at 320 with the trained detector): ONNX Runtime in int8, then "Can this int8 be
    trusted?" on eight photos of shapes: each unit measured, the two most sensitive kept in float, and its section saved
    as int8_trust.png."""
    photos = []
    for seed in range(300, 308):
        photos.append(work / f"shapes_{seed}.jpg")
        scene(seed, 960, 720)[0].save(photos[-1], quality=92)
    drawn(page, 0)
    page.locator('[data-testid="stButtonGroup"]', has_text="ONNX Runtime").get_by_text("ONNX Runtime").click()
    drawn(page, 0)
    page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]', has_text="Timed in").click()
    page.get_by_role("option", name="int8").click()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Can this int8 be trusted?").wait_for(timeout=600_000)
    drawn(page, 0)
    page.locator('[data-testid="stCheckbox"]', has_text="Sidebar's photo").locator("label").click()
    drawn(page, 0)
    uploader = page.locator('[data-testid="stFileUploader"]', has_text="Photos of your model's scenes")
    uploader.locator('input[type="file"]').set_input_files([str(p) for p in photos])
    page.get_by_text("weights) on 4 photos (upload: shapes_300.jpg", exact=False).wait_for(timeout=600_000)
    drawn(page, 0)
    page.get_by_role("button", name="Which units does int8 break?").click()
    page.get_by_text("Worst alone:", exact=False).wait_for(timeout=900_000)
    drawn(page, 1)
    page.get_by_role("button", name="Time fp32, int8 and mixed").click()
    page.get_by_text("Full int8 runs", exact=False).wait_for(timeout=600_000)
    drawn(page, 1)
    page.set_viewport_size({"width": 1500, "height": 6000})  # all of the page in view (Streamlit scrolls its own pane)
    time.sleep(2)
    top = page.get_by_role("heading", name="Can this int8 be trusted?").bounding_box()
    end = page.get_by_text("On the sidebar's photo", exact=False).bounding_box()
    left = page.locator('[data-testid="stMain"] [data-testid="stMainBlockContainer"]').bounding_box()
    bottom = end["y"] + end["height"] + 16
    clip = {"x": left["x"], "y": top["y"] - 16, "width": left["width"], "height": bottom - top["y"] + 16}
    page.screenshot(path=str(out / "int8_trust.png"), clip=clip)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=SHOTS, help="folder of the screenshots (default bench/screenshots)")
    out = parser.parse_args().out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp())
    empty, weights = work / "empty", work / "weights"
    empty.mkdir()
    weights.mkdir()
    shutil.copyfile(ROOT / "tests" / "data" / "synthetic_yolo11n.pt", weights / "synthetic_yolo11n.pt")
    photo = work / "shapes_1280x800.jpg"
    scene(999, 1280, 800)[0].save(photo, quality=90)
    names = []

    def shoot(page: Page, name: str, charts: int, height: int, link: str | None = None) -> None:
        """Open the page named `link` (or stay), wait until `charts` charts are drawn, and save it `height` px tall."""
        if link is not None:
            page.get_by_role("link", name=link).click()
        drawn(page, charts)
        time.sleep(1.5)
        page.set_viewport_size({"width": 1500, "height": height})
        page.screenshot(path=str(out / name))
        names.append(name)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        with streamlit_server(env={"YOLO_EXPLORER_WEIGHTS_DIR": str(empty)}) as server:  # no trained weights yet
            page = browser.new_page(viewport={"width": 1500, "height": 2600})
            page.goto(server.url)
            drawn(page, 3)
            pick_detector(page)
            shoot(page, "overview_detector.png", 3, 2600)
            shoot(page, "detections_random.png", 3, 1100, link="Detections")
            page.close()
        with streamlit_server(env={"YOLO_EXPLORER_WEIGHTS_DIR": str(weights)}) as server:  # the folder's weights
            page = browser.new_page(viewport={"width": 1500, "height": 1900})
            page.goto(f"{server.url}/detections")
            drawn(page, 0)
            pick_detector(page)
            upload(page, photo)
            page.get_by_text("boxes kept of", exact=False).wait_for(timeout=120_000)
            shoot(page, "detections.png", 4, 1900)
            shoot(page, "feature_maps_trained.png", 3, 2300, link="Feature maps")
            shoot(page, "label_assignment.png", 2, 2200, link="Label assignment")
            page.close()
            page = browser.new_page(viewport={"width": 1500, "height": 2000})
            page.goto(f"{server.url}/latency?arch=yolo11n&part=detector&size=320&weights=synthetic_yolo11n.pt")
            int8_trust(page, work, out)
            names.append("int8_trust.png")
        browser.close()
    shutil.rmtree(work, ignore_errors=True)
    print(f"screenshots: {', '.join(str(out / n) for n in names)}")


if __name__ == "__main__":
    main()
