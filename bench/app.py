"""App benchmark in a real browser (Debian's Chromium) on this machine. Prints numbers; no pass/fail.

    python bench/app.py                 # timings, payloads, and screenshots into bench/screenshots/
    python bench/app.py --no-shots

Measures: the first page after a cold server start until it is interactive; a width change until the
Feature maps page is fully drawn again; view-only changes (opacity, channel); the bytes the server
sends for each; and, from AppTest, the JSON size of every chart of every page in its default view.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

from appserver import streamlit_server  # bench/appserver.py: run as `python bench/...`
from PIL import Image
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # AppTest runs pages/main.py, which imports the `pages` package from the root
SHOTS = ROOT / "bench" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = {
    "overview": "",
    "model_summary": "model_summary",
    "feature_maps": "feature_maps",
    "latency": "latency",
    "profile": "profile",
    "compare": "compare",
    "versus": "versus",
}
FINISHED = '[data-testid="stApp"][data-test-script-state="notRunning"]'
DRAWN = "() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')].every(c => c.querySelector('.main-svg'))"


class Traffic:
    """Bytes the server sends over the websocket, counted per interaction."""

    def __init__(self, page: Page):
        self.bytes = 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._add))

    def _add(self, payload) -> None:
        self.bytes += len(payload)

    def take(self) -> int:
        n, self.bytes = self.bytes, 0
        return n


def drawn(page: Page, charts: int) -> None:
    """Until the run is over and `charts` Plotly charts are drawn."""
    page.wait_for_selector(FINISHED, timeout=300_000)
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .main-svg').length >= {charts}", timeout=300_000
    )
    page.wait_for_function(DRAWN, timeout=300_000)


def timed_change(page: Page, act, charts: int) -> float:
    """Seconds from an interaction until the page is drawn again (waits for the run to start first)."""
    start = time.perf_counter()
    act()
    with contextlib.suppress(PlaywrightTimeout):  # a run quicker than the poll
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="running"]', timeout=2_000)
    drawn(page, charts)
    return time.perf_counter() - start


def chart_payloads() -> dict[str, list[int]]:
    """JSON bytes of every chart in each page's default view (what Streamlit sends for it)."""
    from streamlit.testing.v1 import AppTest

    sizes = {}
    at = AppTest.from_file(str(ROOT / "pages" / "main.py"), default_timeout=300)
    at.run()
    from pages.ui.entrypoint import PAGES as ENTRIES

    files = {entry.url_path: entry.file for entry in ENTRIES}
    for name in PAGES:
        at.switch_page(files[name]).run()
        sizes[name] = [len(c.proto.spec) for c in at.get("plotly_chart")]
    return sizes


def view_server_times() -> dict[str, list[float]]:
    """Server time (ms) of view-only changes on Feature maps, from AppTest: each is a rerun of the whole app
    script with the forward cached, an upper bound of the fragment rerun the browser triggers."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "main.py"), default_timeout=300)
    at.run()
    at.switch_page("feature_maps.py").run()
    times: dict[str, list[float]] = {}
    for key, values in (
        ("fm_opacity", [0.6, 0.55] * 3),
        ("fm_reduce", ["max", "mean"] * 3),
        ("fm_channel", [1, 2, 3, 4, 5, 6]),
        ("fm_colors", ["Inferno", "Viridis"] * 3),
        ("fm_rank", ["max", "energy"] * 3),
    ):
        for value in values:
            start = time.perf_counter()
            at.get_by_key(key).set_value(value).run()
            times.setdefault(key, []).append((time.perf_counter() - start) * 1000)
    return times


def upload_photos() -> list[Path]:
    """Photos as users upload them: the 1920x1080 test photo, and a 12-megapixel phone-sized JPEG (drawn once)."""
    import tempfile

    from yolo_explorer.synthetic import scene

    phone = Path(tempfile.gettempdir()) / "phone_4032x3024.jpg"
    if not phone.exists():
        scene(4032, 4032, 3024)[0].save(phone, quality=90)
    return [ROOT / "tests" / "data" / "photos" / "wide_1920x1080.jpg", phone]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-shots", action="store_true")
    parser.add_argument("--shots", type=Path, default=SHOTS, help="folder of the screenshots (default bench/screenshots)")
    args = parser.parse_args()
    shots_dir = args.shots.resolve()

    import torch

    print(
        f"# yolo-explorer app benchmark, {time.strftime('%Y-%m-%d')}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, Chromium headless"
    )
    with streamlit_server() as server:
        url, ready_s = server.url, server.ready_s
        print(f"server up after {ready_s:.1f} s (its warm-up included: pages/ui/startup.py)")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})  # a laptop screen for the cold start
            traffic = Traffic(page)

            start = time.perf_counter()
            page.goto(url)
            page.wait_for_selector(FINISHED, timeout=300_000)
            interactive = time.perf_counter() - start
            drawn(page, 5)
            page.set_viewport_size({"width": 1500, "height": 3400})  # every chart on screen from here on
            print(
                f"\n## first page after a cold start (Overview, w64, 640 px, one forward, 1500x1000 window)\n"
                "interactive (run finished) "
                f"{interactive:.2f} s, "
                f"all charts drawn {time.perf_counter() - start:.2f} s, {traffic.take() / 1e6:.2f} MB sent"
            )

            page.goto(f"{url}/feature_maps")
            drawn(page, 3)
            traffic.take()
            slider = page.locator('[data-testid="stSidebar"] [data-testid="stSlider"]').first.locator('input[type="range"]')
            print("\n## width change -> Feature maps fully drawn (new model + forward, then cached)")
            for label, key in (
                ("64 -> 56 (new config)", "ArrowLeft"),
                ("56 -> 64 (cached)", "ArrowRight"),
                ("64 -> 56 (cached)", "ArrowLeft"),
            ):
                slider.focus()
                seconds = timed_change(page, lambda k=key: slider.press(k), 3)
                print(f"{label:24s} {seconds:6.2f} s, {traffic.take() / 1e6:.2f} MB sent")
            slider.focus()
            timed_change(page, lambda: slider.press("ArrowRight"), 3)
            traffic.take()

            print("\n## view-only changes on Feature maps (no model code runs)")
            opacity = page.locator('[data-testid="stSlider"]', has_text="Heatmap opacity").locator('input[type="range"]')
            times, sent = [], []
            for key in ("ArrowLeft", "ArrowRight") * 3:
                opacity.focus()
                times.append(timed_change(page, lambda k=key: opacity.press(k), 3))
                sent.append(traffic.take())
            print(
                f"opacity  median {statistics.median(times) * 1000:6.0f} ms (min {min(times) * 1000:.0f}), "
                f"{statistics.median(sent) / 1e3:.0f} kB sent"
            )
            times, sent = [], []
            for option in ("max", "mean") * 2:
                button = (
                    page.locator('[data-testid="stButtonGroup"]', has_text="top-k mean")
                    .locator('[role="radio"]', has_text=option)
                    .first
                )
                times.append(timed_change(page, button.click, 3))
                sent.append(traffic.take())
            print(
                f"overlay  median {statistics.median(times) * 1000:6.0f} ms (min {min(times) * 1000:.0f}), "
                f"{statistics.median(sent) / 1e3:.0f} kB sent"
            )

            print("\n## server time of view-only changes (AppTest: whole-script rerun, forward cached)")
            for key, values in view_server_times().items():
                print(f"{key:12s} median {statistics.median(values):5.0f} ms, min {min(values):4.0f} ms")

            if not args.no_shots:
                shots_dir.mkdir(parents=True, exist_ok=True)
                for name, path in PAGES.items():
                    page.goto(f"{url}/{path}")
                    drawn(page, 0)
                    if name == "latency":  # show a result: a batch sweep 1-4, channels_last, BN folded
                        batch = page.locator('[data-testid="stSlider"]', has_text="Batch size").locator('input[type="range"]')
                        batch.focus()
                        for _ in range(2):
                            batch.press("ArrowRight")
                        for toggle in ("channels_last", "Fold BatchNorm", "Batch sweep"):
                            page.locator('[data-testid="stCheckbox"]', has_text=toggle).locator("label").click()
                        timed_change(page, page.get_by_role("button", name="Run", exact=True).click, 3)
                    if name == "profile":  # show a result: bf16 + channels_last
                        page.locator('[data-testid="stCheckbox"]', has_text="channels_last").locator("label").click()
                        timed_change(page, page.get_by_role("button", name="Profile").click, 2)
                    time.sleep(1.5)
                    page.screenshot(path=str(shots_dir / f"{name}.png"))
                # the Latency page on ONNX Runtime in int8: errors, the download, one channel in fp32 and int8
                page.goto(f"{url}/latency")
                drawn(page, 0)
                page.locator('[data-testid="stButtonGroup"]', has_text="ONNX Runtime").get_by_text("ONNX Runtime").click()
                drawn(page, 0)
                page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]', has_text="Timed in").click()
                page.get_by_role("option", name="int8").click()
                timed_change(page, page.get_by_role("button", name="Run", exact=True).click, 3)
                time.sleep(1.5)
                page.screenshot(path=str(shots_dir / "latency_onnx.png"))
                shots = [*PAGES, "latency_onnx"]
                print(f"\nscreenshots: {', '.join(str(shots_dir / f'{n}.png') for n in shots)}")

            print("\n## a fresh upload -> its first heatmap drawn (Feature maps: upload, decode, letterbox, forward, figures)")
            page.goto(f"{url}/feature_maps")
            drawn(page, 3)
            page.locator('[data-testid="stSidebar"] [role="radio"]', has_text="Upload").click()
            drawn(page, 3)
            uploader = page.locator('[data-testid="stFileUploader"]', has_text="Image file").locator('input[type="file"]')
            for photo in upload_photos():
                traffic.take()
                width, height = Image.open(photo).size
                caption = page.get_by_text(f"Original: upload: {photo.name}, {width}×{height}")
                start = time.perf_counter()
                uploader.set_input_files(str(photo))
                caption.wait_for(timeout=300_000)  # this photo's run has finished drawing its caption
                drawn(page, 3)
                seconds = time.perf_counter() - start
                print(
                    f"{photo.name:28s} {photo.stat().st_size / 1e6:4.1f} MB  {seconds:6.2f} s, {traffic.take() / 1e6:.2f} MB sent"
                )
            browser.close()

    print("\n## chart payload per page, default view (JSON bytes per chart, from AppTest)")
    for name, sizes in chart_payloads().items():
        listed = ", ".join(f"{s / 1e3:.0f} kB" for s in sizes) or "no charts"
        print(f"{name:14s} {listed}" + (f"  (largest {max(sizes) / 1e6:.2f} MB)" if sizes else ""))


if __name__ == "__main__":
    main()
