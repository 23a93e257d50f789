"""Load benchmark: N users at once, each a headless Chromium session driving the main flow. Prints numbers.

    python bench/load.py                  # 5, 10 and 20 users, one `streamlit run`
    python bench/load.py --users 10 --rounds 2
    python bench/load.py --users 10 20 --replicas 1 2    # through deploy/serve (HAProxy), 1 then 2 replicas

Each user opens the app, picks a sample photo (users differ: 4 photos x 2 input sizes, so the server
runs real forwards, not only cached ones), opens Feature maps, changes the overlay opacity (a view-only
change), and opens the Latency page. Every interaction is timed from the action until the page is
drawn again; errors are exception or error boxes on a page, and timeouts. One Chromium process, one
browser context per user, one `streamlit run` server, all on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from functools import partial
from pathlib import Path

from appserver import served, streamlit_server  # bench/appserver.py: run as `python bench/...`
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, async_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]
FINISHED = '[data-testid="stApp"][data-test-script-state="notRunning"]'
DRAWN = "() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')].every(c => c.querySelector('.main-svg'))"
PROBLEMS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
SAMPLES = ["Astronaut", "Cat", "Coffee", "Rocket"]
TIMEOUT_MS = 600_000
FAILURES: Path | None = None  # --failures: a screenshot and the console of each user who failed


async def settle(page: Page) -> None:
    await page.wait_for_selector(FINISHED, timeout=TIMEOUT_MS)
    await asyncio.sleep(0.2)
    await page.wait_for_selector(FINISHED, timeout=TIMEOUT_MS)
    await page.wait_for_function(DRAWN, timeout=TIMEOUT_MS)


async def timed(page: Page, action, times: dict[str, list[float]], name: str) -> None:
    start = time.perf_counter()
    await action()
    with contextlib.suppress(PlaywrightError):  # the run may be over before the first poll
        await page.wait_for_selector('[data-testid="stApp"][data-test-script-state="running"]', timeout=1_500)
    await settle(page)
    times.setdefault(name, []).append(time.perf_counter() - start)


async def pick_sample(page: Page, sample: str) -> None:
    await page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Sample").click()
    await page.get_by_role("option", name=sample).click()


async def press(page: Page, slider_scope: str, label: str, key: str, times: int) -> None:
    slider = page.locator(f'{slider_scope} [data-testid="stSlider"]', has_text=label).locator('input[type="range"]')
    await slider.focus()
    for _ in range(times):
        await slider.press(key)


async def open_page(page: Page, title: str) -> None:
    await page.locator('[data-testid="stTopNavLink"]', has_text=title).click()


async def user(browser, url: str, index: int, rounds: int, times: dict[str, list[float]], errors: list[str]) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1600})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)  # a slow page is measured, not an error; errors are error boxes
    console: list[str] = []  # what the page said, for the failure's record
    page.on("console", lambda m: console.append(f"{time.strftime('%H:%M:%S')} {m.type}: {m.text[:300]}"))
    page.on("websocket", lambda ws: ws.on("close", lambda _: console.append(f"{time.strftime('%H:%M:%S')} websocket closed")))
    try:
        await timed(page, lambda: page.goto(url), times, "open app")
        for r in range(rounds):
            sample = SAMPLES[(index + r) % len(SAMPLES)]
            await timed(page, partial(pick_sample, page, sample), times, "pick a photo")
            if index % 2:  # half the users at 480 px: other forwards, other cache entries
                smaller = partial(press, page, '[data-testid="stSidebar"]', "Input size", "ArrowLeft", 5)
                await timed(page, smaller, times, "change input size")
            await timed(page, partial(open_page, page, "Feature maps"), times, "open Feature maps")
            opacity = partial(press, page, '[data-testid="stMain"]', "opacity", "ArrowRight", 1)
            await timed(page, opacity, times, "view-only change")
            await timed(page, partial(open_page, page, "Latency"), times, "open Latency")
            await timed(page, partial(open_page, page, "Overview"), times, "back to Overview")
            found = await page.locator(PROBLEMS).all_inner_texts()
            errors.extend(f"user {index}: {text[:120]}" for text in found)
    except PlaywrightError as err:  # a timeout or a missing element is an error of the run
        errors.append(f"user {index}: {type(err).__name__}: {str(err).splitlines()[0][:160]}")
        if FAILURES is not None:
            FAILURES.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(PlaywrightError):
                await page.screenshot(path=FAILURES / f"user{index}.png")
            (FAILURES / f"user{index}.log").write_text("\n".join([str(err), *console]))
    finally:
        await context.close()


async def run(users: int, rounds: int, chromium: str, replicas: int) -> tuple[dict[str, list[float]], list[str], float]:
    times: dict[str, list[float]] = {}
    errors: list[str] = []
    with served(replicas) if replicas else streamlit_server(timeout=300) as server:
        url = server.url
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, args=ARGS)
            start = time.perf_counter()
            await asyncio.gather(*(user(browser, url, i, rounds, times, errors) for i in range(users)))
            wall = time.perf_counter() - start
            await browser.close()
    return times, errors, wall


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    global FAILURES, TIMEOUT_MS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--rounds", type=int, default=1, help="times each user runs the flow")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--failures", type=Path, help="save a screenshot and the console of every user who fails here")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a step may take (default %(default)s)")
    parser.add_argument(
        "--replicas", type=int, nargs="+", default=[0], help="through deploy/serve with N replicas (0: one `streamlit run`)"
    )
    args = parser.parse_args()
    FAILURES, TIMEOUT_MS = args.failures, int(args.timeout * 1000)
    print(f"# yolo-explorer load benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, one Chromium on the same machine")
    for replicas in args.replicas:
        serving = f"deploy/serve, {replicas} replica(s) behind HAProxy" if replicas else "one streamlit run"
        for n in args.users:
            report(n, args.rounds, serving, *asyncio.run(run(n, args.rounds, args.chromium, replicas)))


def report(n: int, rounds: int, serving: str, times: dict[str, list[float]], errors: list[str], wall: float) -> None:
    print(f"\n## {n} concurrent users, {rounds} round(s), {serving}: {wall:.1f} s wall, {len(errors)} errors", flush=True)
    print(f"{'interaction':<22} {'count':>5} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    for name, values in times.items():
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        print(f"{name:<22} {len(values):>5} {p50:>7.2f} {p95:>7.2f} {max(values):>7.2f}")
    for error in errors:
        print(f"  error: {error}")


if __name__ == "__main__":
    main()
