"""Screenshots of the whole YOLO11 detector in the app (Overview's data flow with the neck and head, the
per-layer table with its subtotals, Detections), into bench/screenshots/. Run: python bench/detector_shots.py"""

from __future__ import annotations

import time

from appserver import streamlit_server  # bench/appserver.py
from playwright.sync_api import Page, sync_playwright

from app import ARGS, SHOTS, drawn  # bench/app.py


def pick_detector(page: Page, scale: str = "n") -> None:
    """Sidebar: YOLO11 at `scale`, whole detector."""
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Architecture").click()
    page.get_by_role("option", name=f"YOLO11{scale} (Ultralytics)").click()
    drawn(page, 0)
    page.locator('[data-testid="stSidebar"] [data-testid="stButtonGroup"]', has_text="Whole detector").get_by_text(
        "Whole detector"
    ).click()
    drawn(page, 0)


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
        browser.close()
    print(f"screenshots: {SHOTS / 'overview_detector.png'}, {SHOTS / 'detections.png'}")


if __name__ == "__main__":
    main()
