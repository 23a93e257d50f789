"""Screenshots of the What changed page, into bench/screenshots/:

- changes_yolo11_yolo26.png: YOLO11n -> YOLO26n at 640, change by change, with both runtimes timed on this machine
  (the waterfall drawn in ONNX Runtime's milliseconds), and Ultralytics' published figures below.

Run: python bench/changes_shots.py [--out DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from appserver import streamlit_server  # bench/appserver.py
from playwright.sync_api import sync_playwright

from app import ARGS, SHOTS, drawn  # bench/app.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=SHOTS, help="folder of the screenshots (default bench/screenshots)")
    out = parser.parse_args().out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        with streamlit_server() as server:
            page = browser.new_page(viewport={"width": 1500, "height": 2300})
            page.goto(f"{server.url}/changes?arch=yolo26n&part=detector")
            drawn(page, 1)
            page.get_by_role("button", name="ONNX Runtime (CPU)").click()
            drawn(page, 1)  # the pick reaches the server before the button is pressed
            time.sleep(2)
            page.get_by_role("button", name="Time every model on the route").click()
            measured = page.get_by_text("onnxruntime latency", exact=True)  # the waterfall can draw it once timed
            measured.wait_for(timeout=300_000)
            measured.click()
            drawn(page, 1)
            time.sleep(2)
            page.screenshot(path=str(out / "changes_yolo11_yolo26.png"), full_page=True)
        browser.close()
    print(f"screenshot: {out / 'changes_yolo11_yolo26.png'}")


if __name__ == "__main__":
    main()
