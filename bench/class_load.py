"""A class on the server: N simulated students over Streamlit's own websocket protocol (no browser, so 50 fit on a
2-core machine), through `deploy/serve` with HTTPS and the class's users. Prints numbers; no pass/fail.

    python bench/class_load.py                                  # 25 and 50 students, 1 and 2 replicas
    python bench/class_load.py --students 5 --replicas 1 --browsers   # the same walk by 5 real browsers, to compare

Each student opens the instructor's link (YOLO11n, whole detector, trained weights from the server's folder, 640
px), uploads a photo of their own (each different: the server runs a real forward for everyone), opens Feature maps,
opens Detections (a second forward: the detector as predict runs it) and changes a view (the score threshold), with
a think time of 1-3 s between steps, as a class does after the instructor says "now open ...". Each step is timed
from the student's message until the server's run has finished (its `script_finished`), p50/p95/max per step, with
the errors (a run that ends otherwise, a timeout, a refused upload). The server's CPU time is read from
`/proc/<pid>/stat` of every replica around the whole walk.

The client speaks what Streamlit's frontend speaks: GET the page, the scripts, styles and fonts it names, and
`/_stcore/health` (which sets the XSRF cookie; HAProxy sets its stickiness cookie), the websocket `/_stcore/stream`
with the subprotocols ["streamlit", XSRF token], `BackMsg` protobufs out and `ForwardMsg` in (the fields it needs,
declared in `bench/wire.py` with protobuf's API; no Streamlit module is imported). Widgets are found by the key
their element id ends with; an upload is a `file_urls_request`, a multipart PUT to the URL it returns (with the
XSRF header), and a rerun with the uploader's state.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import http.cookiejar
import io
import os
import random
import re
import shutil
import ssl
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from appserver import free_port, wait_healthy  # bench/appserver.py
from PIL import Image
from websockets.asyncio.client import connect
from wire import ALERT_ERROR, SCRIPT_FINISHED, BackMsg, FileUploaderState, ForwardMsg, widget_value  # bench/wire.py

from app import ARGS as BROWSER_ARGS  # bench/app.py: Chromium's flags that work here
from yolo_explorer.synthetic import scene

ROOT = Path(__file__).resolve().parents[1]

USER, PASSWORD = "student", "a class password"
LINK = "arch=yolo11n&part=detector&size=640&bn=running&weights=synthetic_yolo11n.pt"
STEPS = ("open the link", "upload a photo", "open Feature maps", "open Detections", "change the threshold")
TIMEOUT_S = 600.0
WIDGET_ID = re.compile(rb"\$\$ID-[0-9a-f]+-(?P<key>[A-Za-z0-9_]+)")  # a widget's element id ends with its user key


class Refused(RuntimeError):
    """The server ended a run otherwise than successfully, or refused a request."""


@dataclass
class Student:
    number: int
    base: str  # https://127.0.0.1:PORT
    photo: bytes
    think: tuple[float, float]
    times: dict[str, float] = field(default_factory=dict)
    widgets: dict[str, str] = field(default_factory=dict)  # user key -> element id
    values: dict[str, tuple] = field(default_factory=dict)  # element id -> (WidgetState field, value), as a browser
    pages: dict[str, str] = field(default_factory=dict)  # url path -> page script hash
    session_id: str = ""
    query: str = ""  # the address bar's query string, as the app keeps it (st.query_params): sent with every rerun

    def __post_init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.tls = ssl._create_unverified_context()  # the class accepted the self-signed certificate
        handlers = [urllib.request.HTTPCookieProcessor(self.jar), urllib.request.HTTPSHandler(context=self.tls)]
        self.http = urllib.request.build_opener(*handlers)
        self.auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.page_hash = ""

    def request(self, path: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None) -> bytes:
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        request.add_header("Authorization", self.auth)
        with self.http.open(request, timeout=TIMEOUT_S) as response:
            return response.read()

    def cookie(self, name: str) -> str:
        return next((c.value for c in self.jar if c.name == name), "")

    async def walk(self) -> None:
        await asyncio.sleep(random.uniform(0, 2))  # a class does not click at the same millisecond
        start = time.perf_counter()
        index = (await asyncio.to_thread(self.request, f"/?{LINK}")).decode()
        assets = re.findall(r'(?:src|href)="\./(static/[^"]+)"', index)  # the frontend's scripts, styles and fonts
        for path in [*(f"/{a}" for a in assets), "/_stcore/health", "/_stcore/host-config"]:
            await asyncio.to_thread(self.request, path)
        xsrf = self.cookie("_streamlit_xsrf")
        headers = {"Authorization": self.auth, "Cookie": "; ".join(f"{c.name}={c.value}" for c in self.jar)}
        uri = self.base.replace("https://", "wss://") + "/_stcore/stream"
        async with connect(
            uri,
            subprotocols=["streamlit", xsrf],
            additional_headers=headers,
            origin=self.base,
            ssl=self.tls,
            max_size=None,
            open_timeout=TIMEOUT_S,
        ) as self.ws:
            self.query = LINK
            await self.rerun()
            self.times[STEPS[0]] = time.perf_counter() - start
            await self.pause()
            start = time.perf_counter()
            await self.rerun(states={"source": ("string_array_value", ["Upload"])})
            state = await self.upload(xsrf)
            await self.rerun(states={"upload": ("file_uploader_state_value", state)})
            self.times[STEPS[1]] = time.perf_counter() - start
            for step, page in ((STEPS[2], "feature_maps"), (STEPS[3], "detections")):
                await self.pause()
                start = time.perf_counter()
                self.page_hash = self.pages[page]
                await self.rerun()
                self.times[step] = time.perf_counter() - start
            await self.pause()
            start = time.perf_counter()
            await self.rerun(states={"det_conf": ("double_array_value", [0.5])})
            self.times[STEPS[4]] = time.perf_counter() - start

    async def pause(self) -> None:
        await asyncio.sleep(random.uniform(*self.think))

    async def rerun(self, states: dict | None = None) -> None:
        """Ask for a run with these widgets' new values, and read the server's messages until it has finished. As
        the frontend does, a rerun carries the value of every widget the student has (Streamlit drops the state of
        a widget a page change does not name) and the address bar's query string."""
        message = BackMsg()
        client = message.rerun_script
        client.query_string = self.query
        client.page_script_hash = self.page_hash
        client.context_info.timezone = "UTC"
        client.context_info.locale = "en-US"
        client.context_info.url = self.base
        for key, value in (states or {}).items():
            self.values[self.widgets[key]] = value
        for element_id, (kind, value) in self.values.items():
            widget = client.widget_states.widgets.add()
            widget.id = element_id
            if kind == "file_uploader_state_value":
                widget.file_uploader_state_value.CopyFrom(value)
            elif kind in ("string_array_value", "double_array_value"):
                getattr(widget, kind).data.extend(value)
            else:
                setattr(widget, kind, value)
        await self.ws.send(message.SerializeToString())
        await self.until_finished()

    async def until_finished(self) -> None:
        while True:
            data = await asyncio.wait_for(self.ws.recv(), TIMEOUT_S)
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self.session_id = msg.new_session.initialize.session_id or self.session_id
            elif kind == "page_info_changed":  # the app changed st.query_params: the frontend's address bar
                self.query = msg.page_info_changed.query_string
            elif kind == "navigation":
                for page in msg.navigation.app_pages:
                    self.pages[page.url_pathname or "overview"] = page.page_script_hash
                if not self.page_hash:
                    self.page_hash = next((p.page_script_hash for p in msg.navigation.app_pages if p.is_default), "")
            elif kind == "delta":
                for match in WIDGET_ID.finditer(data):  # a widget drawn: its element id, by its key
                    self.widgets[match["key"].decode()] = match[0].decode()
                element = msg.delta.new_element
                drawn = widget_value(element)
                if drawn is not None:
                    element_id, server_set, kind, value = drawn
                    if server_set or element_id not in self.values:
                        self.values[element_id] = (kind, value)
                if element.WhichOneof("type") == "exception":
                    raise Refused(f"an exception on the page: {element.exception.message[:200]}")
                if element.WhichOneof("type") == "alert" and element.alert.format == ALERT_ERROR:
                    raise Refused(f"an error on the page: {element.alert.body[:200]}")
            elif kind == "script_finished":
                outcome = SCRIPT_FINISHED.get(msg.script_finished, str(msg.script_finished))
                if outcome in ("FINISHED_SUCCESSFULLY", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"):
                    return
                if outcome != "FINISHED_EARLY_FOR_RERUN":  # the app's own st.rerun: another run follows
                    raise Refused(f"the run ended with {outcome}")

    async def upload(self, xsrf: str):
        """The photo through the uploader: its URLs, a multipart PUT, and the state the uploader then reports."""
        message = BackMsg()
        request_id = uuid.uuid4().hex
        message.file_urls_request.request_id = request_id
        message.file_urls_request.file_names.append(f"student{self.number}.jpg")
        message.file_urls_request.session_id = self.session_id
        await self.ws.send(message.SerializeToString())
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await asyncio.wait_for(self.ws.recv(), TIMEOUT_S))
            if msg.WhichOneof("type") == "file_urls_response" and msg.file_urls_response.response_id == request_id:
                break
        if msg.file_urls_response.error_msg:
            raise Refused(msg.file_urls_response.error_msg)
        urls = msg.file_urls_response.file_urls[0]
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="student{self.number}.jpg"\r\n'
                f"Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + self.photo
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "X-Xsrftoken": xsrf}
        await asyncio.to_thread(self.request, urls.upload_url, "PUT", body, headers)
        state = FileUploaderState()
        info = state.uploaded_file_info.add()
        info.file_id, info.name, info.size = urls.file_id, f"student{self.number}.jpg", len(self.photo)
        info.file_urls.CopyFrom(urls)
        return state


def photos(n: int) -> list[bytes]:
    """One photo per student, all different: shapes scenes of phone-like sizes, as JPEG."""
    out = []
    for i in range(n):
        width, height = random.Random(i).choice([(1600, 1200), (1920, 1080), (1200, 1600), (1280, 960)])
        buffer = io.BytesIO()
        scene(50_000 + i, width, height)[0].save(buffer, "JPEG", quality=88)
        out.append(buffer.getvalue())
    return out


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes and their waited-for children (fields 14-17 of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def class_server(replicas: int, work: Path, users: tuple[str, ...] = (USER,), extra: tuple[str, ...] = ()):
    """deploy/serve with `replicas`, HTTPS (self-signed) and the class's `users` (one password), the test detector in
    its weights folder, and `extra` options; yields (base URL, the replicas' pids)."""
    weights = work / "weights"
    weights.mkdir(exist_ok=True)
    shutil.copyfile(ROOT / "tests" / "data" / "synthetic_yolo11n.pt", weights / "synthetic_yolo11n.pt")
    names, users = users, work / "class.users"
    for name in names:
        add = [str(ROOT / "deploy" / "users"), "add", str(users), name]
        subprocess.run(add, input=PASSWORD + "\n", text=True, check=True, capture_output=True)
    port = free_port()
    while any(not _free(p) for p in range(port, port + replicas + 1)):
        port = free_port()
    env = dict(os.environ, YOLO_EXPLORER_WEIGHTS_DIR=str(weights), XDG_DATA_HOME=str(work / "data"))
    command = [str(ROOT / "deploy" / "serve"), "--replicas", str(replicas), "--port", str(port), "--host", "127.0.0.1"]
    command += ["--self-signed", "--users", str(users), "--http-port", "0", *extra]
    log = open(work / "serve.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        for replica in range(1, replicas + 1):
            wait_healthy(f"http://127.0.0.1:{port + replica}", timeout=300, proc=proc)
        deadline = time.time() + 60
        while "Serving the class at" not in (work / "serve.log").read_text():
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError((work / "serve.log").read_text()[-2000:])
            time.sleep(0.2)
        pids = []
        for replica in range(1, replicas + 1):
            found = subprocess.run(["pgrep", "-f", "--", f"--server.port {port + replica} "], capture_output=True, text=True)
            pids += [int(p) for p in found.stdout.split()]
        yield f"https://127.0.0.1:{port}", pids
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


async def run_class(base: str, n: int, think: tuple[float, float]) -> tuple[list[Student], list[str]]:
    students = [Student(i, base, photo, think) for i, photo in enumerate(photos(n))]
    results = await asyncio.gather(*(s.walk() for s in students), return_exceptions=True)
    errors = [f"student {s.number}: {type(r).__name__}: {str(r)[:160]}" for s, r in zip(students, results, strict=True) if r]
    return students, errors


def report(title: str, students: list[Student], errors: list[str], wall: float, cpu: float) -> None:
    per = cpu / len(students)
    print(f"\n## {title}: {wall:.0f} s wall, server CPU {cpu:.0f} s ({per:.2f} s per student), {len(errors)} errors")
    print(f"{'step':<24}{'count':>6}{'p50 s':>8}{'p95 s':>8}{'max s':>8}")
    for step in STEPS:
        times = sorted(s.times[step] for s in students if step in s.times)
        if not times:
            continue
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        print(f"{step:<24}{len(times):>6}{statistics.median(times):>8.2f}{p95:>8.2f}{times[-1]:>8.2f}")
    for error in errors[:10]:
        print(f"  error: {error}")


async def run_browsers(base: str, n: int, think: tuple[float, float]) -> tuple[list[Student], list[str]]:
    """The same walk by `n` headless Chromium sessions (one browser, a context each): to check that a simulated
    student costs the server what a browser does."""
    from playwright.async_api import async_playwright

    finished = '[data-testid="stApp"][data-test-script-state="notRunning"]'
    drawn = "() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')].every(c => c.querySelector('.main-svg'))"
    work = Path(tempfile.mkdtemp())
    students = [Student(i, base, photo, think) for i, photo in enumerate(photos(n))]

    async def settle(page) -> None:
        await page.wait_for_selector(finished, timeout=TIMEOUT_S * 1000)
        await asyncio.sleep(0.2)
        await page.wait_for_selector(finished, timeout=TIMEOUT_S * 1000)
        await page.wait_for_function(drawn, timeout=TIMEOUT_S * 1000)

    async def step(student: Student, name: str, action) -> None:
        start = time.perf_counter()
        await action()
        student.times[name] = time.perf_counter() - start

    async def walk(browser, student: Student) -> None:
        await asyncio.sleep(random.uniform(0, 2))
        photo = work / f"student{student.number}.jpg"
        photo.write_bytes(student.photo)
        width, height = Image.open(photo).size
        context = await browser.new_context(
            ignore_https_errors=True,
            http_credentials={"username": USER, "password": PASSWORD},
            viewport={"width": 1400, "height": 1000},
        )
        page = await context.new_page()

        async def open_link():
            await page.goto(f"{base}/?{LINK}")
            await settle(page)

        async def upload():
            await page.locator('[data-testid="stSidebar"] [role="radio"]', has_text="Upload").click()
            uploader = page.locator('[data-testid="stFileUploader"]', has_text="Image file").locator('input[type="file"]')
            await uploader.set_input_files(str(photo))
            await page.get_by_text(f"this {width}×{height} photo", exact=False).wait_for(timeout=TIMEOUT_S * 1000)
            await settle(page)

        def open_page(title: str):
            async def go():
                await page.locator('[data-testid="stTopNavLink"]', has_text=title).click()
                await page.get_by_role("heading", name=title).wait_for(timeout=TIMEOUT_S * 1000)
                await settle(page)

            return go

        async def threshold():
            slider = page.locator('[data-testid="stSlider"]', has_text="Score threshold").get_by_role("slider")
            await slider.focus()
            for _ in range(5):  # 0.25 -> 0.50
                await page.keyboard.press("ArrowRight")
            await page.get_by_text("cells above 0.50", exact=False).wait_for(timeout=TIMEOUT_S * 1000)
            await settle(page)

        try:
            actions = (open_link, upload, open_page("Feature maps"), open_page("Detections"), threshold)
            for number, (name, action) in enumerate(zip(STEPS, actions, strict=True)):
                if number:
                    await student.pause()
                await step(student, name, action)
        finally:
            await context.close()

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_ARGS)
        results = await asyncio.gather(*(walk(browser, s) for s in students), return_exceptions=True)
        await browser.close()
    errors = [f"student {s.number}: {type(r).__name__}: {str(r)[:160]}" for s, r in zip(students, results, strict=True) if r]
    return students, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, nargs="+", default=[25, 50])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--think", type=float, nargs=2, default=[1.0, 3.0], metavar=("MIN", "MAX"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--browsers", action="store_true", help="real Chromium sessions instead of protocol clients")
    args = parser.parse_args()
    random.seed(args.seed)
    import torch

    print(
        f"# yolo-explorer class benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"deploy/serve with HTTPS (self-signed) and a users file; think time {args.think[0]:g}-{args.think[1]:g} s"
    )
    for replicas in args.replicas:
        for n in args.students:
            with tempfile.TemporaryDirectory() as work, class_server(replicas, Path(work)) as (base, pids):
                before, start = cpu_seconds(pids), time.perf_counter()
                clients = run_browsers if args.browsers else run_class
                students, errors = asyncio.run(clients(base, n, tuple(args.think)))
                wall, cpu = time.perf_counter() - start, cpu_seconds(pids) - before
                kind = "browsers" if args.browsers else "students"
                report(f"{n} {kind}, {replicas} replica(s)", students, errors, wall, cpu)


if __name__ == "__main__":
    main()
