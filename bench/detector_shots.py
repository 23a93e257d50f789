"""Screenshots of the whole YOLO11 detector in the app (Overview's data flow with the neck and head, the
per-layer table with its subtotals, Detections with random weights, and with a 3-class checkpoint whose
scores spread around 0.5, filtered to two classes), into bench/screenshots/.
Run: python bench/detector_shots.py"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from appserver import streamlit_server  # bench/appserver.py
from playwright.sync_api import Page, sync_playwright

from app import ARGS, SHOTS, drawn  # bench/app.py
from yolo_explorer import build_detector, letterbox, load_image
from yolo_explorer.accuracy import calibrated_copy
from yolo_explorer.samples import sample_bytes


def pick_detector(page: Page, scale: str = "n") -> None:
    """Sidebar: YOLO11 at `scale`, whole detector."""
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Architecture").click()
    page.get_by_role("option", name=f"YOLO11{scale} (Ultralytics)").click()
    drawn(page, 0)
    page.locator('[data-testid="stSidebar"] [data-testid="stButtonGroup"]', has_text="Whole detector").get_by_text(
        "Whole detector"
    ).click()
    drawn(page, 0)


def stand_in_checkpoint(folder: Path) -> Path:
    """Not trained weights (none can be downloaded here): a 3-class head whose scores spread around 0.5 on the
    default photo, so that the page has boxes to keep and filter."""
    photo = letterbox(load_image(sample_bytes("astronaut")), 640).tensor()
    detector = calibrated_copy(build_detector("yolo11n", 3, seed=11), photo)
    with torch.no_grad():
        for branch in detector.get_submodule("23").cv3:
            branch[-1].bias.zero_()
    path = folder / "three_classes.pt"
    torch.save({f"model.{k}": v for k, v in detector.state_dict().items()}, path)
    return path


def main() -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 2600})
        page.goto(server.url)
        drawn(page, 3)
        pick_detector(page)
        drawn(page, 3)
        time.sleep(1.5)
        page.screenshot(path=str(SHOTS / "overview_detector.png"))
        page.get_by_role("link", name="Detections").click()
        drawn(page, 3)
        time.sleep(1.5)
        page.set_viewport_size({"width": 1500, "height": 1100})
        page.screenshot(path=str(SHOTS / "detections.png"))

        with tempfile.TemporaryDirectory() as folder:
            page.locator('[data-testid="stSidebar"] [data-testid="stExpander"]').first.click()
            uploader = page.locator('[data-testid="stFileUploader"]', has_text="Trained weights")
            uploader.locator('input[type="file"]').set_input_files(str(stand_in_checkpoint(Path(folder))))
            page.get_by_text("a head of 3 classes", exact=False).wait_for(timeout=60_000)
        drawn(page, 4)
        # score threshold 0.25 -> 0.70: fewer boxes, readable
        page.locator('[data-testid="stSlider"]', has_text="Score threshold").get_by_role("slider").focus()
        for _ in range(9):
            page.keyboard.press("ArrowRight")
        page.get_by_text("cells above 0.70", exact=False).wait_for(timeout=60_000)
        page.locator('[data-testid="stMultiSelect"]', has_text="Classes").click()
        for name in ("class 0", "class 2"):
            page.get_by_role("option", name=name).click()
        page.keyboard.press("Escape")
        page.get_by_text("(class 0, class 2)", exact=False).wait_for(timeout=60_000)
        drawn(page, 4)
        time.sleep(1.5)
        page.set_viewport_size({"width": 1500, "height": 2100})
        page.screenshot(path=str(SHOTS / "detections_stand_in.png"))
        browser.close()
    names = ("overview_detector.png", "detections.png", "detections_stand_in.png")
    print(f"screenshots: {', '.join(str(SHOTS / n) for n in names)}")


if __name__ == "__main__":
    main()
