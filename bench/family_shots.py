"""Screenshots of YOLO26 in the app, into bench/screenshots/:

- overview_yolo26.png: Overview of the whole YOLO26n detector (its data flow, neck and head, both head branches in its
  totals, what deploying one costs);
- detections_yolo26_one2many.png and detections_yolo26_one2one.png: Detections with a trained YOLO26n on a new photo
  of shapes, read through its one-to-many branch and NMS (what `yolo predict` runs by default) and through its one-to-
  one branch without NMS; detections_yolo26_both.png: the whole page, with both heads side by side. No checkpoint can
  be downloaded on the machine these are made on, so the trained weights are the test detector
  tests/data/synthetic_yolo26n.pt (a YOLO26n Ultralytics trained here on photos of coloured shapes, 4 classes),
  offered from the server's weights folder; the photo is a scene it never saw.

Run: python bench/family_shots.py [--out DIR]
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
from yolo_explorer.synthetic import scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=SHOTS, help="folder of the screenshots (default bench/screenshots)")
    out = parser.parse_args().out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp())
    weights = work / "weights"
    weights.mkdir()
    shutil.copyfile(ROOT / "tests" / "data" / "synthetic_yolo26n.pt", weights / "synthetic_yolo26n.pt")
    photo = work / "shapes_1280x800.jpg"
    scene(999, 1280, 800)[0].save(photo, quality=90)
    names = []

    def shoot(page: Page, name: str, charts: int, height: int) -> None:
        drawn(page, charts)
        time.sleep(1.5)
        page.set_viewport_size({"width": 1500, "height": height})
        page.screenshot(path=str(out / name))
        names.append(name)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        with streamlit_server(env={"YOLO_EXPLORER_WEIGHTS_DIR": str(weights)}) as server:
            page = browser.new_page(viewport={"width": 1500, "height": 2600})
            page.goto(f"{server.url}/?arch=yolo26n&part=detector&weights=random")
            shoot(page, "overview_yolo26.png", 3, 2600)
            page.close()
            for branch in ("one2many", "one2one"):
                page = browser.new_page(viewport={"width": 1500, "height": 1900})
                page.goto(f"{server.url}/detections?arch=yolo26n&part=detector&branch={branch}")
                drawn(page, 0)
                upload(page, photo)
                page.get_by_text("boxes kept of", exact=False).wait_for(timeout=120_000)
                shoot(page, f"detections_yolo26_{branch}.png", 3, 1900)
                if branch == "one2many":  # and further down, both heads side by side
                    page.set_viewport_size({"width": 1500, "height": 4400})  # the page scrolls inside: show it all
                    time.sleep(3)
                    page.screenshot(path=str(out / "detections_yolo26_both.png"))
                    names.append("detections_yolo26_both.png")
                page.close()
        browser.close()
    shutil.rmtree(work, ignore_errors=True)
    print(f"screenshots: {', '.join(str(out / n) for n in names)}")


if __name__ == "__main__":
    main()
