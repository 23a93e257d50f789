"""The Model graph page: how long it takes to draw in a browser, and its screenshots, into bench/screenshots/:

- graph_yolo26n.png: YOLO26n's whole detector painted by MACs, layer 16 (P3) clicked open beside the graph;
- graph_yolo11n_yolo26n.png: YOLO11n beside YOLO26n, painted by the difference in MACs, the layers that differ ringed;
- graph_yolo11n_parts.png: YOLO11n's C2PSA (layer 10) clicked and opened into its traced parts, in its place;
- graph_yolo11n_int8.png: YOLO11n in fp32 beside itself in int8, each layer painted by its output's drift;
- graph_yolo11n_activation.png: YOLO11n painted by each layer's activation strength on the sample photo.

Times (seconds, this machine, a warm server): the first visit of a model (statistics on the meta device and the
layout, once per model and size), a visit once it is laid out, and a repaint (another number: no forward, no layout);
beside them a warm visit of the same model's Overview, what any page's visit costs here.

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


def shoot(page: Page, path: Path, names: list[str], height: int) -> None:
    """The page `height` px tall (Streamlit scrolls inside its own pane: a full-page shot would not reach further),
    once its charts have settled."""
    page.set_viewport_size({"width": 1500, "height": height})
    time.sleep(1.5)
    page.screenshot(path=str(path))
    names.append(path.name)


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
                overview = f"{server.url}/?arch={arch}&part=detector"
                visit(page, overview)
                floor = min(visit(page, overview) for _ in range(2))  # the app's own cost of a visit, for comparison
                print(
                    f"{arch} at 640: first visit {first:.2f} s, laid out {again:.2f} s, repaint {repaint:.2f} s; "
                    f"a warm visit of its Overview {floor:.2f} s",
                    flush=True,
                )
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
            page.set_viewport_size({"width": 1500, "height": 1400})
            page.goto(f"{server.url}/graph?arch=yolo11n&part=detector&layer=10")
            drawn(page, 2)
            page.get_by_role("button", name="Open it into its parts").click()
            page.get_by_text("Opened into their parts", exact=False).wait_for()
            drawn(page, 1)
            shoot(page, out / "graph_yolo11n_parts.png", names, 2000)
            page.goto(f"{server.url}/graph?arch=yolo11n&part=detector&size=320&beside=int8")
            drawn(page, 2)
            shoot(page, out / "graph_yolo11n_int8.png", names, 2050)
            page.goto(f"{server.url}/graph?arch=yolo11n&part=detector&paint=activation")
            drawn(page, 1)
            shoot(page, out / "graph_yolo11n_activation.png", names, 1500)
        browser.close()
    print(f"screenshots: {', '.join(str(out / n) for n in names)}")


if __name__ == "__main__":
    main()
