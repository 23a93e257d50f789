"""Server CPU per visitor: what one more visitor costs the server, step by step, against a bare Streamlit app.

    python bench/capacity.py                     # 3 measured visitors per app after one that warms the caches
    python bench/capacity.py --visitors 5
    python bench/capacity.py --profile bench/results/profile   # also a py-spy profile of our server's walks

Two servers are started in turn: yolo-explorer (`app.py`) and the floor, `bench/bare/app.py` (the same
sidebar widgets, top navigation, seven pages: one with five 80x80 heatmaps, one a Plotly graph of 25 nodes
under the Model graph page's controls). In one headless Chromium, a first visitor walks through the app (its
forwards, statistics and graph layouts fill the shared caches); then each further visitor, in a fresh browser
context, walks the same steps while the server's own CPU time (utime + stime of the server process and its
children, from /proc/<pid>/stat) is read around every step, once the page has settled and the server has gone
quiet. The browsers share this machine's cores, so wall times mix both; CPU time does not. Medians over the
measured visitors.

The walk's last three steps use the Model graph page (open it, paint by parameters, parts only). The total
without them is printed too, comparable with the walks measured before the page existed; "with the graph /
without" is what the page adds to a visitor's cost (the issue's bound: 1.2x).

With --profile, py-spy (pip install py-spy) records our server during the measured walks: the raw
collapsed stacks of the thread holding the GIL go to PROFILE.txt and the functions holding most of the samples are printed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from appserver import ROOT, streamlit_server  # bench/appserver.py: run as `python bench/...`
from playwright.sync_api import Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]
FINISHED = '[data-testid="stApp"][data-test-script-state="notRunning"]'
DRAWN = "() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')].every(c => c.querySelector('.main-svg'))"
PROBLEMS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
TICK = os.sysconf("SC_CLK_TCK")
SIDEBAR = ("arch", "part", "w", "n", "seed", "bn", "size", "device", "dtype", "sample", "weights")  # in a link


def server_cpu(pid: int) -> float:
    """Seconds of CPU the process and its waited-for children have used (utime, stime, cutime, cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICK


def open_page(title: str) -> Callable[[Page], None]:
    return lambda page: page.locator('[data-testid="stTopNavLink"]', has_text=title).click()


def nudge_opacity(page: Page) -> None:
    slider = page.locator('[data-testid="stMain"] [data-testid="stSlider"]', has_text="opacity").locator('input[type="range"]')
    slider.focus()
    slider.press("ArrowRight")


def paint_by(label: str) -> Callable[[Page], None]:
    """A click on one option of the Model graph page's "Paint by" (a segmented control: its buttons are radios)."""

    def click(page: Page) -> None:
        option = page.locator('[data-testid="stButtonGroup"]', has_text="Paint by").get_by_role("radio", name=label, exact=True)
        option.click()
        expect(option).to_have_attribute("aria-checked", "true")  # the click took: a step that changed nothing is no step

    return click


def toggle(label: str) -> Callable[[Page], None]:
    """A click on a st.toggle (a checkbox to Playwright) that must flip it."""

    def click(page: Page) -> None:
        box = page.locator('[data-testid="stCheckbox"]', has_text=label)
        was = box.locator("input").is_checked()
        box.locator("label").click()
        expect(box.locator("input")).to_be_checked(checked=not was)

    return click


Step = tuple[str, Callable[[Page], None] | None]
EARLIER: list[Step] = [  # the walk up to session 14 (results/capacity.txt): its total stays comparable
    ("open the app (Overview)", None),  # page.goto
    ("Feature maps", open_page("Feature maps")),
    ("a view-only change (overlay opacity)", nudge_opacity),
    ("Latency (a form, nothing computed)", open_page("Latency")),
    ("back to Overview", open_page("Overview")),
    ("Compare", open_page("Compare")),
    ("Tutorial vs YOLO11", open_page("Tutorial vs YOLO11")),
]
GRAPH: list[Step] = [  # the Model graph page, added after the earlier steps so that theirs are measured as before
    ("Model graph", open_page("Model graph")),
    ("Model graph: paint by parameters", paint_by("parameters")),
    ("Model graph: parts only (a toggle)", toggle("Parts only")),
]
WALK: list[Step] = EARLIER + GRAPH


def settle(page: Page, pid: int) -> None:
    """Until the run is over, every chart is drawn, and the server has stopped using CPU."""
    with contextlib.suppress(PlaywrightTimeout):  # a run may be over before the first poll
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="running"]', timeout=1_000)
    page.wait_for_selector(FINISHED, timeout=300_000)
    page.wait_for_function(DRAWN, timeout=300_000)
    before = server_cpu(pid)
    for _ in range(40):  # quiet: under 10 ms of CPU in 250 ms
        time.sleep(0.25)
        now = server_cpu(pid)
        if now - before < 0.01:
            return
        before = now


def settings_in(url: str) -> dict[str, list[str]]:
    """The sidebar's settings the app keeps in its address (pages/ui/links.py's SIDEBAR; the bare app keeps none)."""
    return {k: v for k, v in parse_qs(urlsplit(url).query).items() if k in SIDEBAR}


def walk(browser, url: str, pid: int) -> tuple[dict[str, float], str | None]:
    """One visitor in a fresh browser context: server CPU seconds per step, and how the sidebar's settings changed
    during the walk without the walk touching them (None: they held)."""
    # wide enough for every link of the top navigation (twelve pages): a link Streamlit folds into its overflow is inert
    context = browser.new_context(viewport={"width": 1900, "height": 1600})
    page = context.new_page()
    page.set_default_timeout(300_000)
    costs: dict[str, float] = {}
    first: dict[str, list[str]] = {}
    drift = None
    try:
        for name, action in WALK:
            start = server_cpu(pid)
            if action is None:
                page.goto(url)
            else:
                action(page)
            settle(page, pid)
            costs[name] = server_cpu(pid) - start
            problems = page.locator(PROBLEMS).all_inner_texts()
            if problems:
                raise RuntimeError(f"{name}: {problems[0][:200]}")
            now = settings_in(page.url)
            first = first or now  # the first address that names them (the bare app's never does)
            if drift is None and now != first:
                drift = f"at {name!r}: {urlsplit(page.url).query}"
    finally:
        context.close()
    return costs, drift


def steady_walk(browser, url: str, pid: int, who: str, tries: int = 3) -> dict[str, float]:
    """A walk whose sidebar settings held: walked again (a fresh visitor) when they changed by themselves, which the
    first visitor of a fresh browser sometimes sees (a sidebar slider drawn at its minimum, sent with the next rerun:
    w=8). Such a walk measures another model's pages, and a warm-up that drifted leaves the default's caches cold."""
    for attempt in range(1, tries + 1):
        costs, drift = walk(browser, url, pid)
        if drift is None:
            return costs
        print(f"note: {who}, walk {attempt}: the sidebar's settings changed by themselves {drift}; walked again", flush=True)
    raise RuntimeError(f"{who}: the sidebar's settings changed by themselves in {tries} walks")


def measure(app: Path, visitors: int, chromium: str, profile: Path | None = None) -> list[dict[str, float]]:
    with streamlit_server(app, timeout=300) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        steady_walk(browser, server.url, server.pid, "the warm-up visitor")  # fills the shared caches
        spy = None
        if profile is not None:
            py_spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
            command = [
                py_spy or "py-spy",
                "record",
                "-p",
                str(server.pid),
                "-f",
                "raw",
                "--gil",
                "-r",
                "200",
                "-o",
                f"{profile}.txt",
            ]
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            time.sleep(1)
        try:
            return [steady_walk(browser, server.url, server.pid, f"visitor {i + 1}") for i in range(visitors)]
        finally:
            if spy is not None:
                spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
                spy.wait(timeout=60)
            browser.close()


def _where(frame: str) -> tuple[str, str]:
    """('function (file.py)', its package) of one py-spy frame 'function (path/file.py:line)'."""
    function, _, rest = frame.partition(" (")
    path = rest.rsplit(":", 1)[0]
    package = path.split("/", 1)[0] if "/" in path else "python"
    return f"{function} ({path.rsplit('/', 1)[-1]})", package.removesuffix(".py")


def summarize_profile(path: Path, top: int = 30) -> None:
    """Where the samples of the thread holding the GIL went: by package (self) and by function (inclusive)."""
    inclusive: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_where(f) for f in stack.split(";") if " (" in f]
        n = int(count)
        total += n
        for name in {name for name, _ in frames}:
            inclusive[name] += n
        if frames:
            packages[frames[-1][1]] += n
    print(f"\n## py-spy: {total} samples (200 Hz) of the thread holding the GIL during the measured walks ({path})")
    print("self time by package: " + ", ".join(f"{p} {n / total:.0%}" for p, n in packages.most_common(10)))
    print(f"{'inclusive':>9}  function")
    for name, n in inclusive.most_common(top):
        print(f"{n / total:>9.0%}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=3, help="measured visitors per app, after the one that warms up")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--profile", type=Path, help="record our server with py-spy into PROFILE.txt")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare app (quick checks while profiling)")
    parser.add_argument(
        "--app", type=Path, default=ROOT / "app.py", help="the app to measure (another checkout's, for a before/after)"
    )
    args = parser.parse_args()
    print(f"# yolo-explorer capacity: server CPU per visitor, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
    ours = measure(args.app, args.visitors, args.chromium, args.profile)
    bare = ours if args.no_floor else measure(ROOT / "bench" / "bare" / "app.py", args.visitors, args.chromium)
    print(f"\nmedian of {args.visitors} visitors after a first one warmed the caches; seconds of server CPU")
    print(f"| {'step':<40} | {'yolo-explorer':>13} | {'bare app':>8} | {'ratio':>5} |")
    print(f"|{'-' * 42}|{'-' * 15}|{'-' * 10}|{'-' * 7}|")
    for name, _ in WALK:
        a, b = statistics.median(v[name] for v in ours), statistics.median(v[name] for v in bare)
        print(f"| {name:<40} | {a:>13.2f} | {b:>8.2f} | {a / b:>5.1f} |")

    def total(visits: list[dict[str, float]], steps: list[Step]) -> float:
        return statistics.median(sum(v[name] for name, _ in steps) for v in visits)

    before, before_bare = total(ours, EARLIER), total(bare, EARLIER)
    a, b = total(ours, WALK), total(bare, WALK)
    walk_before = f"**the walk without the graph ({len(EARLIER)})**"
    print(f"| {walk_before:<40} | {before:>13.2f} | {before_bare:>8.2f} | {before / before_bare:>5.1f} |")
    print(f"| {f'**the walk ({len(WALK)} steps)**':<40} | {a:>13.2f} | {b:>8.2f} | {a / b:>5.1f} |")
    print(f"| {'with the graph / without':<40} | {a / before:>12.2f}x | {b / before_bare:>7.2f}x | {'':>5} |")
    per_s = len(WALK) / a
    print(f"\nOne server process: {per_s:.1f} interactions per second of server CPU ({len(WALK)} per walk).")
    view = statistics.median(v[WALK[2][0]] for v in ours)
    print(
        f"Targets: walk <= 1.6x the bare app's: {a / b:.2f}x; view-only change <= 0.12 s: {view:.2f} s; "
        f"a visitor's cost with the Model graph page <= 1.2x the walk without it: {a / before:.2f}x."
    )
    if args.profile:
        summarize_profile(Path(f"{args.profile}.txt"))


if __name__ == "__main__":
    main()
