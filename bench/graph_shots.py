"""The Model graph page: how long it takes to draw in a browser, and its screenshots, into bench/screenshots/:

- graph_yolo26n.png: YOLO26n's whole detector painted by MACs, layer 16 (P3) clicked open beside the graph;
- graph_yolo11n_yolo26n.png: YOLO11n beside YOLO26n, painted by the difference in MACs, the layers that differ ringed.

Times (seconds, this machine, a warm server): the first visit of a model (statistics on the meta device and the
layout, once per model and size), a visit once it is laid out, and a repaint (another number: no forward, no layout).

Run: python bench/graph_shots.py [--out DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from appserver import streamlit_server  # bench/appserver.py
from playwright.sync_api import Page, sync_playwright

from app import ARGS, SHOTS, drawn, timed_change  # bench/app.py


def visit(page: Page, url: str) -> float:
    start = time.perf_counter()
    page.goto(url)
    drawn(page, 1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=SHOTS, help="folder of the screenshots (default bench/screenshots)")
    out = parser.parse_args().out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    names = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        with streamlit_server() as server:
            page = browser.new_page(viewport={"width": 1500, "height": 1400})
            for arch in ("yolo11x", "yolo26x"):
                url = f"{server.url}/graph?arch={arch}&part=detector"
                first = visit(page, url)
                again = visit(page, url)
                repaint = timed_change(
                    page,
                    lambda: page.locator('[data-testid="stButtonGroup"]', has_text="Paint by").get_by_text("parameters").click(),
                    1,
                )
                print(f"{arch} at 640: first visit {first:.2f} s, laid out {again:.2f} s, repaint {repaint:.2f} s", flush=True)
            page.goto(f"{server.url}/graph?arch=yolo26n&part=detector&layer=16")
            drawn(page, 2)
            time.sleep(1.5)
            page.set_viewport_size({"width": 1500, "height": 1450})
            page.screenshot(path=str(out / "graph_yolo26n.png"))
            names.append("graph_yolo26n.png")
            page.goto(f"{server.url}/graph?arch=yolo11n&part=detector&beside=yolo26n")
            drawn(page, 2)
            page.get_by_text("by its difference from", exact=False).click()
            drawn(page, 2)
            time.sleep(1.5)
            page.set_viewport_size({"width": 1500, "height": 1700})
            page.screenshot(path=str(out / "graph_yolo11n_yolo26n.png"))
            names.append("graph_yolo11n_yolo26n.png")
        browser.close()
    print(f"screenshots: {', '.join(str(out / n) for n in names)}")


if __name__ == "__main__":
    main()
