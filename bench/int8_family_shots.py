"""Screenshots of int8 by family and of reliability, into bench/screenshots/:

- int8_yolo26_scores.png: Latency's "Can this int8 be trusted?" with the trained YOLO26n at 320, judged by its one-to-
  one branch (what its export ships), on the server's photos of shapes with their YOLO label files: full int8 and
  Ultralytics' recipe (the weighted nodes only) against fp32, score by score, and each one's best threshold against
  the truth;
- detections_yolo26_reliability.png: Detections' "Both heads on this photo" with the photo's label file uploaded:
  each branch's boxes matched to the objects, and the reliability chart.

The trained weights are the test detector tests/data/synthetic_yolo26n.pt (offered from the server's weights folder);
the photos are scenes it never saw, drawn with their labels.

Run: python bench/int8_family_shots.py [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from appserver import streamlit_server  # bench/appserver.py
from detector_shots import upload  # bench/detector_shots.py
from playwright.sync_api import Page, sync_playwright

from app import ARGS, ROOT, SHOTS, drawn  # bench/app.py
from yolo_explorer.synthetic import scene, yolo_labels


def section(page: Page, top_text: str, end_text: str, out: Path, top_exact: bool = True) -> None:
    """Save the part of the page from the heading `top_text` to the end of the element holding `end_text`."""
    page.set_viewport_size({"width": 1500, "height": 7000})  # all of the page in view (Streamlit scrolls its own pane)
    time.sleep(2)
    top = page.get_by_text(top_text, exact=top_exact).first.bounding_box()
    end = page.get_by_text(end_text, exact=False).first.bounding_box()
    left = page.locator('[data-testid="stMain"] [data-testid="stMainBlockContainer"]').bounding_box()
    clip = {"x": left["x"], "y": top["y"] - 16, "width": left["width"], "height": end["y"] + end["height"] - top["y"] + 32}
    page.screenshot(path=str(out), clip=clip)


def int8_scores(page: Page, out: Path) -> None:
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
    page.locator('[data-testid="stButtonGroup"]', has_text="Judge the boxes of").get_by_text("one-to-one, no NMS").click()
    drawn(page, 0)
    page.get_by_role("button", name="Time fp32, int8 and mixed").click()
    page.get_by_text("Thresholds judged against", exact=False).wait_for(timeout=600_000)
    drawn(page, 1)
    section(page, "Can this int8 be trusted?", "Thresholds judged against", out / "int8_yolo26_scores.png")


def reliability(page: Page, labels: Path, out: Path) -> None:
    page.get_by_text("Both heads on this photo").wait_for(timeout=120_000)
    drawn(page, 3)  # the run of the uploaded photo over: its own label uploader (one per photo) is on the page
    page.get_by_text("To see whether a score means what it says", exact=False).wait_for(timeout=120_000)
    uploader = page.locator('[data-testid="stFileUploader"]', has_text="YOLO label file")
    uploader.locator('input[type="file"]').set_input_files(str(labels))
    page.get_by_text("from the uploaded label file", exact=False).wait_for(timeout=120_000)
    drawn(page, 4)
    section(page, "Both heads on this photo", "from the uploaded label file", out / "detections_yolo26_reliability.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=SHOTS, help="folder of the screenshots (default bench/screenshots)")
    out = parser.parse_args().out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp())
    weights, photos = work / "weights", work / "photos"
    weights.mkdir()
    photos.mkdir()
    shutil.copyfile(ROOT / "tests" / "data" / "synthetic_yolo26n.pt", weights / "synthetic_yolo26n.pt")
    for seed in range(500, 512):
        image, shapes = scene(seed, 960, 720)
        image.save(photos / f"shapes_{seed}.jpg", quality=92)
        (photos / f"shapes_{seed}.txt").write_text(yolo_labels(shapes, 960, 720))
    photo, labels = work / "shapes_1280x800.jpg", work / "shapes_1280x800.txt"
    image, shapes = scene(999, 1280, 800)
    image.save(photo, quality=90)
    labels.write_text(yolo_labels(shapes, 1280, 800))
    env = {"YOLO_EXPLORER_WEIGHTS_DIR": str(weights), "YOLO_EXPLORER_CALIBRATION_DIR": str(photos)}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        with streamlit_server(env=env) as server:
            page = browser.new_page(viewport={"width": 1500, "height": 2000})
            page.goto(f"{server.url}/latency?arch=yolo26n&part=detector&size=320&weights=synthetic_yolo26n.pt")
            int8_scores(page, out)
            page.close()
            page = browser.new_page(viewport={"width": 1500, "height": 2000})
            page.goto(f"{server.url}/detections?arch=yolo26n&part=detector&weights=synthetic_yolo26n.pt")
            drawn(page, 0)
            upload(page, photo)
            reliability(page, labels, out)
            page.close()
        browser.close()
    shutil.rmtree(work, ignore_errors=True)
    print(f"screenshots: {out / 'int8_yolo26_scores.png'}, {out / 'detections_yolo26_reliability.png'}")


if __name__ == "__main__":
    main()
