"""Links that open a view: a link's query sets the sidebar (and Feature maps' layer), the URL follows every change,
and bad, stale or hostile values give the defaults and one short note, never an error."""

from __future__ import annotations

import re

import pytest
from helpers import APP, ROOT, image_bytes, no_problems
from streamlit.testing.v1 import AppTest

from pages.ui.controls import CONF, CONTROLS, DEPTH, IOU, SEED, WIDTH
from pages.ui.links import PAGE, SIDEBAR, link_query, read_link
from pages.ui.settings import Photo, Settings

DEVICES = ["cpu", "cuda:0"]


def dtypes(device: str) -> list[str]:
    return ["fp32", "bf16"] if device == "cpu" else ["fp32", "fp16", "bf16"]


def test_every_value_of_every_control_survives_a_link():
    """The controls table is the one source of the widgets' ranges and the links' parsers: every value a widget can
    take is written into a link and read back as itself; values off the range or its steps are refused."""
    for control in CONTROLS:
        if control.link is None:
            continue
        if control.options:
            values = control.values
        else:  # a range: its first steps and its top
            step = control.step or 1
            values = [control.low + i * step for i in range(min(200, round((control.high - control.low) / step) + 1))]
            values.append(control.high)
        for value in values:
            text = control.text(value)
            assert text is None if value == control.default else control.parse(text) == pytest.approx(value), (control, value)
        assert control.widget()["key"] == control.key
    for control, bad in ((DEPTH, "5"), (DEPTH, "2.0"), (SEED, "-1"), (CONF, "0.33"), (CONF, "nan"), (IOU, "0.05"), (WIDTH, "12")):
        with pytest.raises(ValueError, match=re.escape(control.what)):
            control.parse(bad)
    assert CONF.parse("0.5") == 0.5 and IOU.parse("0.45") == 0.45 and CONF.text(0.5) == "0.50"


def test_a_link_sets_every_sidebar_setting():
    query = {
        "arch": "yolo11s",
        "part": "detector",
        "seed": "7",
        "bn": "running",
        "size": "480x640",
        "device": "cuda:0",
        "dtype": "fp16",
        "sample": "cat",
        "layer": "P5",
    }
    values, notes = read_link(query, DEVICES, dtypes)
    assert notes == []
    assert values == {
        "arch": "yolo11s",
        "part": "Whole detector",
        "seed": 7,
        "batch_norm": "running",
        "square": False,
        "height": 480,
        "width_px": 640,
        "device": "cuda:0",
        "dtype": "fp16",
        "source": "Sample",
        "sample": "cat",
    }
    assert read_link({"w": "16", "n": "3", "size": "1280"}, DEVICES, dtypes)[0] == {
        "width": 16,
        "depth": 3,
        "square": True,
        "side": 1280,
    }


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"arch": "yolo12z"}, "arch=yolo12z is not an architecture"),
        ({"w": "12"}, "w=12 is not a width from 8 to 256"),
        ({"w": "9" * 5000}, "w=" + "9" * 40 + "… is not a width"),  # a huge value is cut short
        ({"seed": "-1"}, "seed=-1 is not a seed"),
        ({"size": "641"}, "size=641 is not a size"),
        ({"size": "640x640x3"}, "size=640x640x3 is not a size"),
        ({"n": "<script>alert(1)</script>"}, "n=<script>alert(1)</script> is not a number of bottlenecks"),
        ({"part": "detector"}, "part=detector needs an Ultralytics family"),
        ({"device": "cuda:7"}, "device cuda:7 is not on this server: cpu instead"),
        ({"dtype": "fp16"}, "cpu does not run fp16: fp32 instead"),
        ({"sample": "../../etc/passwd"}, "sample=../../etc/passwd is not a sample"),
        ({"utm_source": "mail", "x\x1b[31m": "1"}, "unknown in this link, ignored: utm_source, x?[31m"),
    ],
)
def test_bad_values_give_the_default_and_a_note(query, words):
    values, notes = read_link(query, DEVICES, dtypes)
    assert len(notes) == 1 and words in notes[0], notes
    assert all(key in ("device",) for key in values)  # nothing else is set; a missing device falls back to the CPU


def test_the_query_holds_what_differs_from_the_defaults_and_never_an_upload():
    sample = Photo.sample("cat")
    settings = Settings("tutorial", 64, 2, 0, (640, 640), "cpu", "fp32", "batch", sample)
    assert link_query(settings, "cat", None) == {"bn": "batch", "size": "640", "sample": "cat"}
    detector = Settings("yolo11n", 64, 2, 3, (480, 640), "cuda:0", "bf16", "running", sample, detector=True)
    assert link_query(detector, None, "yolo11n.pt") == {
        "arch": "yolo11n",
        "part": "detector",
        "seed": "3",
        "bn": "running",
        "size": "480x640",
        "device": "cuda:0",
        "dtype": "bf16",
        "weights": "yolo11n.pt",
    }
    assert set(link_query(detector, "cat", None)) <= set(SIDEBAR) and "layer" in PAGE


def linked_app(page: str | None = None, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update(query)
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def test_a_link_opens_its_view_and_the_url_follows_changes():
    at = linked_app(arch="yolo11s", part="detector", size="320", sample="cat")
    no_problems(at)
    assert at.title[0].value == "Inside the YOLO11s detector"
    assert (at.get_by_key("side").value, at.get_by_key("sample").value) == (320, "cat")
    assert dict(at.query_params) == {"arch": "yolo11s", "part": "detector", "bn": "batch", "size": "320", "sample": "cat"}
    at.get_by_key("side").set_value(640).run()
    assert at.query_params["size"] == "640"
    copy = at.sidebar.get("code")[0].value  # the "Copy link to this view" popover's text
    assert copy.endswith("?arch=yolo11s&part=detector&bn=batch&size=640&sample=cat")


def test_a_hostile_link_opens_with_defaults_and_one_note():
    at = linked_app(arch="<img src=x onerror=alert(1)>", size="9" * 10000, device="cuda:9", evil="**x**")
    no_problems(at)
    assert at.get_by_key("arch").value == "tutorial" and at.get_by_key("device").value == "cpu"
    (note,) = [c.value for c in at.sidebar.caption if "From the link" in c.value]
    assert "device cuda\\:9 is not on this server" in note
    assert not re.search(r"(?<!\\)[<*]", note.removeprefix(":material/link:"))  # every < and * escaped: text, not markup
    assert dict(at.query_params) == {"bn": "batch", "size": "640", "sample": "astronaut"}  # the bad values are gone
    at.get_by_key("side").set_value(320).run()
    assert not [c.value for c in at.sidebar.caption if "From the link" in c.value]  # said until the view changes


def test_an_upload_takes_the_photo_out_of_the_link():
    at = linked_app(sample="rocket")
    at.get_by_key("source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value(("mine.png", image_bytes(), "image/png")).run()
    no_problems(at)
    assert "sample" not in at.query_params and "mine" not in str(dict(at.query_params))


def test_feature_maps_open_on_the_linked_layer():
    at = linked_app("feature_maps.py", arch="yolo11n", size="128", layer="6")
    no_problems(at)
    assert at.get_by_key("fm_layer").value == "Any layer" and at.get_by_key("fm_any").value == "6"
    assert at.query_params["layer"] == "6"
    at.get_by_key("fm_layer").set_value("P5").run()
    assert at.query_params["layer"] == "P5"
    stale = linked_app("feature_maps.py", size="128", layer="stage9")
    no_problems(stale)
    assert any("The link's layer stage9 is not a layer" in c.value for c in stale.caption)
    assert stale.get_by_key("fm_layer").value == "P3"


def test_detections_open_with_the_linked_thresholds_and_input():
    at = linked_app("detections.py", arch="yolo11n", part="detector", size="128", conf="0.5", iou="0.45", input="full")
    no_problems(at)
    assert (at.get_by_key("det_conf").value, at.get_by_key("det_iou").value) == (0.5, 0.45)
    assert at.get_by_key("det_input").value == "The sidebar's whole size"
    assert (at.query_params["conf"], at.query_params["iou"], at.query_params["input"]) == ("0.50", "0.45", "full")
    at.get_by_key("det_conf").set_value(0.25).run()
    assert "conf" not in at.query_params  # back to the default: out of the link
    bad = linked_app("detections.py", arch="yolo11n", part="detector", size="128", conf="0.333", iou="nan")
    no_problems(bad)
    assert bad.get_by_key("det_conf").value == 0.25 and bad.get_by_key("det_iou").value == 0.70
    assert any("conf=0.333 is not from 0.05 to 0.95" in c.value.replace("\\", "") for c in bad.caption)


TWO_SOURCES = """
import logging, sys
sys.path.insert(0, "tests")
from helpers import APP, no_problems
from streamlit.testing.v1 import AppTest

said = []
handler = logging.Handler(logging.WARNING)
handler.emit = said.append
logging.getLogger("streamlit.elements.lib.policies").addHandler(handler)  # its own logger: no propagation
at = AppTest.from_file(APP, default_timeout=180)
at.query_params.update(w="32", n="3", seed="7", bn="running", size="480x640", sample="cat")
at.run()
no_problems(at)
for page in ("feature_maps.py", "overview.py", "compare.py"):
    at.switch_page(page).run()
    no_problems(at)
assert at.session_state["width"] == 32 and at.select_slider(key="width").value == 32
at.select_slider(key="width").set_value(48).run()
at.selectbox(key="arch").set_value("yolo11n").run()
at.selectbox(key="arch").set_value("tutorial").run()
no_problems(at)
assert at.select_slider(key="width").value == 48, "kept while hidden, and shown at it again"
print("SAID", [r.getMessage() for r in said if "default value" in r.getMessage()])
"""


@pytest.mark.slow  # a process of its own: Streamlit logs the warning once per process
def test_sidebar_widgets_given_their_own_value_never_warn_of_two_sources():
    """The sidebar's widgets are drawn with their Session State value as their own (a fresh browser's page switch
    then cannot show another): never in a run where code set that value (a link, a model an upload names), where
    Streamlit logs that the widget 'was created with a default value but also had its value set via the Session State
    API'. A link sets every sidebar value, pages switch, values change, the architecture switches and back."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", TWO_SOURCES], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "SAID []" in run.stdout, run.stdout[-2000:]
