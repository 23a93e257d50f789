"""Links that open a view: every sidebar setting, and a page's own choices, live in the URL's query string
(`st.query_params`), kept up to date as the user changes them, so that the address bar is a link to this view:

    https://gpu-host:8501/feature_maps?arch=yolo11s&part=detector&size=1280&sample=cat&layer=P5
    https://gpu-host:8501/detections?arch=yolo11n&part=detector&weights=yolo11n.pt&conf=0.5&iou=0.45

A new session reads its link once, before any widget is drawn. A value that is unknown, out of range or stale (a
device this server lacks, a server weights file that is gone) gives the default for that setting and one short note;
nothing in a link can raise. Uploaded photos and weights are never put in a URL (the photo's parameter names a
sample only).

`read_link` and `link_query` are pure (tested without Streamlit); the rest is the glue the sidebar calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from yolo_explorer.present.formatting import escape_markdown

from .controls import (
    ARCH,
    BATCH_NORM,
    BESIDE,
    BRANCH,
    CONF,
    DEPTH,
    INPUT,
    IOU,
    PAINT,
    PART,
    PARTS,
    SAMPLE,
    SEED,
    SIDE,
    SIZE_WHAT,
    WIDTH,
    Control,
)
from .settings import Settings

SIDEBAR = ("arch", "part", "w", "n", "seed", "bn", "size", "device", "dtype", "sample", "weights")
# a page's own: Feature maps' and Model graph's layer, Detections' choices, Model graph's paint
PAGE = ("layer", CONF.link, IOU.link, INPUT.link, BRANCH.link, PAINT.link, BESIDE.link)
RANDOM = "random"
_MAX_SHOWN = 40  # characters of a refused value shown in the note
_READ = "_link_read"  # the session's link was read (once, on its first run)
_NOTES = "_link_notes"
_NOTES_FOR = "_link_notes_for"
_LINK = "_link"  # the values of the link the session opened with, for what is decided later (weights, a page's own)


def read_link(
    query: Mapping[str, str], devices: list[str], dtypes: Callable[[str], list[str]]
) -> tuple[dict[str, Any], list[str]]:
    """The sidebar's widget values a link asks for, and a note for each value it could not use.

    Args:
        query: the link's query parameters.
        devices: the devices this server has ("cpu" first).
        dtypes: the precisions a device runs.

    Returns:
        (widget key -> value, notes); values left out keep their defaults.
    """
    values: dict[str, Any] = {}
    notes: list[str] = []
    unknown = [key for key in query if key not in SIDEBAR and key not in PAGE]
    if unknown:
        notes.append(f"unknown in this link, ignored: {', '.join(_shown(k) for k in unknown[:5])}")

    def take(control: Control) -> Any:
        text = query.get(control.link)
        if text is None:
            return None
        try:
            return control.parse(text)
        except ValueError as err:
            notes.append(f"{control.link}={_shown(text)} is not {err}: the default instead")
            return None

    for control in (ARCH, PART, WIDTH, DEPTH, SEED, BATCH_NORM, SAMPLE):
        value = take(control)
        if value is not None:
            values[control.key] = value
    if values.get(PART.key) is not None and values.get(ARCH.key, ARCH.default) == "tutorial":
        del values[PART.key]
        notes.append("part=detector needs an Ultralytics family (arch=yolo26n ...): the tutorial is a backbone only")
    if "sample" in values:
        values["source"] = "Sample"
    size = None
    if "size" in query:
        try:
            size = _size(query["size"])
        except ValueError:
            notes.append(f"size={_shown(query['size'])} is not {SIZE_WHAT}: the default instead")
    if size is not None:
        h, w = size
        values.update({"square": True, "side": h} if h == w else {"square": False, "height": h, "width_px": w})
    device = devices[0]
    if "device" in query:
        if query["device"] in devices:
            device = query["device"]
        else:
            notes.append(f"device {_shown(query['device'])} is not on this server: {devices[0]} instead")
        values["device"] = device
    if "dtype" in query:
        if query["dtype"] in dtypes(device):
            values["dtype"] = query["dtype"]
        else:
            notes.append(f"{device} does not run {_shown(query['dtype'])}: {dtypes(device)[0]} instead")
    return values, notes


def link_query(settings: Settings, sample: str | None, weights: str | None) -> dict[str, str]:
    """The query string of the sidebar's settings: only what differs from the defaults, so that links stay short.

    Args:
        settings: the sidebar's settings.
        sample: the sample shown, or None for an upload or a snapshot (never put in a URL).
        weights: the server weights file chosen ("random" for random weights where the server offers some), or None.
    """
    chosen = [(ARCH, settings.arch), (SEED, settings.seed)]
    if settings.arch != "tutorial":
        chosen.append((PART, PARTS["detector" if settings.detector else "backbone"]))
    else:
        chosen += [(WIDTH, settings.width), (DEPTH, settings.depth)]
    query = {control.link: text for control, value in chosen if (text := control.text(value)) is not None}
    query = dict(sorted(query.items(), key=lambda item: SIDEBAR.index(item[0])))  # the sidebar's order
    query["bn"] = settings.batch_norm  # always: its default follows the weights
    h, w = settings.size
    query["size"] = str(h) if h == w else f"{h}x{w}"
    if settings.device != "cpu":
        query["device"] = settings.device
    if settings.dtype != "fp32":
        query["dtype"] = settings.dtype
    if sample is not None:
        query["sample"] = sample
    if weights is not None:
        query["weights"] = weights
    return query


def apply_link(devices: list[str], dtypes: Callable[[str], list[str]], set_value: Callable[[str, Any], None]) -> None:
    """On a session's first run, before any widget is drawn: hand the link's values to the widgets."""
    if st.session_state.get(_READ):
        return
    st.session_state[_READ] = True
    query = {key: st.query_params.get(key, "") for key in st.query_params}
    values, notes = read_link(query, devices, dtypes)
    for key, value in values.items():
        set_value(key, value)
    st.session_state[_LINK] = query
    st.session_state[_NOTES] = notes


def linked(name: str) -> str | None:
    """A value the session's link gave for something decided later than the sidebar's first widgets (the server
    weights, a page's own choice), or None; each is taken once."""
    link = st.session_state.get(_LINK) or {}
    return link.pop(name, None)


def set_from_link(*controls: Control) -> None:
    """Set each page control's widget from the value the session's link gave it (once), and say under the control
    what a refused value is not."""
    for control in controls:
        value = linked(control.link)
        if value is None:
            continue
        try:
            st.session_state[control.key] = control.parse(value)
        except ValueError as err:
            st.caption(f":material/link: The link's {control.link}={escape_markdown(value[:40])} is not {err}.")


def note(text: str) -> None:
    """Add a note about the link (a value a page could not use)."""
    st.session_state.setdefault(_NOTES, []).append(text)


def publish(settings: Settings, sample: str | None, weights: str | None) -> None:
    """Put the sidebar's settings in the URL (a page's own keys stay), and show the link's notes and a link to copy."""
    query = link_query(settings, sample, weights)
    current = {key: st.query_params.get(key, "") for key in st.query_params}
    wanted = {**{k: v for k, v in current.items() if k in PAGE}, **query}
    if wanted != current:
        st.query_params.from_dict(wanted)
    notes = st.session_state.get(_NOTES)
    shown_for = st.session_state.setdefault(_NOTES_FOR, query)  # the view the link opened
    if notes and query == shown_for:  # said until the user changes the view
        st.caption(":material/link: From the link: " + "; ".join(escape_markdown(n) for n in notes) + ".")
    share(wanted)


def publish_page(name: str, value: str | None) -> None:
    """Put a page's own choice in the URL (None takes it out)."""
    if name not in PAGE:
        raise KeyError(f"{name!r} is not a page's link parameter; add it to PAGE")
    if st.query_params.get(name) != value:
        if value is None:
            del st.query_params[name]
        else:
            st.query_params[name] = value


def share(query: Mapping[str, str]) -> None:
    """A "Copy link to this view" popover: the address to send the class (its copy button copies it)."""
    from urllib.parse import urlencode

    base = st.context.url or ""
    with st.popover("Copy link to this view", icon=":material/link:"):
        st.code(f"{base}?{urlencode(dict(query))}" if query else base, language=None, wrap_lines=True)
        st.caption("Everything in the sidebar (a sample photo, not an upload) and this page's choices; open it to see this view.")


def _size(text: str) -> tuple[int, int]:
    """`size=640` or `size=480x640` (H×W), each side one of the sidebar's sizes."""
    parts = text.lower().split("x")
    if len(parts) not in (1, 2):
        raise ValueError(text)
    sides = [SIDE.parse(p) for p in parts]
    return (sides[0], sides[0]) if len(sides) == 1 else (sides[0], sides[1])


def _shown(text: str) -> str:
    """A value from a link as a note shows it: printable, and short."""
    clean = "".join(c if c.isprintable() else "?" for c in str(text))
    return clean if len(clean) <= _MAX_SHOWN else clean[:_MAX_SHOWN] + "…"
