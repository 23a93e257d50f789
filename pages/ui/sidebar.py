"""The sidebar every page shares: architecture, weights, input size, device, precision and the photo.

`sidebar_controls()` draws it (the frame calls it on every run) and returns the user's choices as one
frozen `Settings`. Every widget keeps its value through page changes (`kept`, `keep_hidden`). Everything it reads that
every session shares (the samples, the server's weights folder, the devices and their precisions) is read
once per server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from yolo_explorer import ImageLoadError, available_devices
from yolo_explorer.environment import variable
from yolo_explorer.forward.preprocess import letterbox_size
from yolo_explorer.model.checkpoints import WeightsError, task_note
from yolo_explorer.model.config import ARCHITECTURES, COCO_CLASS_COUNT, make_config
from yolo_explorer.model.pretrained import LICENCE, RELEASES, Release
from yolo_explorer.model.table import TableError
from yolo_explorer.model.weights import checkpoint_config, foreign_model, table_config
from yolo_explorer.present.formatting import escape_markdown
from yolo_explorer.samples import SAMPLES

from . import links
from .compute import image_for, supported_dtypes_cached
from .controls import ARCH, BATCH_NORM, BN_MODES, DEPTH, HEIGHT, PART, PARTS, SAMPLE, SEED, SIDE, SQUARE, WIDTH, WIDTH_PX
from .server import environment
from .settings import Photo, Settings, config_for
from .weights import Weights, downloads, server_weights

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
WEIGHT_TYPES = ["pt", "pth", "safetensors"]
MAX_IMAGE_MB = 25  # per uploaded image (a checkpoint may be as large as the server takes: server.maxUploadSize)
RANDOM = "random weights"
ARCH_LABELS = {
    "tutorial": "Tutorial (YOLOv11 series)",
    **{arch: f"{make_config(arch).label} (Ultralytics)" for arch in ARCHITECTURES if arch != "tutorial"},
}


_CARRIED = "_upload_model"  # (upload digest, the model its own table describes, or None): read once per upload
_PENDING = "_upload_arch"  # the model an upload's table names (its arch, or "" for its own): switched to on the next run
_DRAWN = "_sidebar_keys"  # the keys of every sidebar widget this session has drawn
_NOW = "_sidebar_keys_now"  # the keys drawn in this run
_WRITTEN = "_sidebar_written"  # the keys code gave a value in this run (Streamlit's new values: no widget value too)


def kept(widget: Callable[..., Any], label: str, *, key: str, default: Any, **kwargs: Any) -> Any:
    """Draw the sidebar widget `widget` under `key` and return its value; `default` is its value before any choice.

    The widget's value lives in Session State (set before it is drawn: the default, a link, or code that changed it).
    In a run that gave it that value from code, the widget is drawn without a value of its own (Streamlit would warn
    of two sources); in every other run it is also handed that value as its own (`value`, `index`, `default`): a
    widget drawn again on another page is then shown at its value even where the browser lost its state on the way
    (a fresh browser's first page switch sometimes showed the width slider at its first option, 8, and sent it with
    the next rerun). Every page's run draws the sidebar from the same script (`pages/main.py`), so a widget keeps its
    value across pages; one that a run does not draw (the tutorial's width under YOLO11) is kept by `keep_hidden`.
    """
    written = st.session_state.setdefault(_WRITTEN, set())
    if key not in st.session_state:
        st.session_state[key] = default
        written.add(key)
    st.session_state.setdefault(_DRAWN, set()).add(key)
    st.session_state[_NOW].add(key)
    if key not in written:
        kwargs |= _own_value(widget, st.session_state[key], kwargs.get("options"))
    return widget(label, key=key, **kwargs)


def _own_value(widget: Callable[..., Any], value: Any, options: Any) -> dict[str, Any]:
    """The argument that gives `widget` its value (none where the value is not one of its options)."""
    if widget in (st.selectbox, st.radio):
        options = list(options or ())
        return {"index": options.index(value)} if value in options else {}
    if widget in (st.segmented_control, st.pills):
        return {"default": value} if value in list(options or ()) else {}
    if widget is st.select_slider and value not in list(options or ()):
        return {}
    return {"value": value}  # select_slider, slider, number_input, toggle, checkbox


def set_kept(key: str, value: Any) -> None:
    """Change a sidebar widget's value from code, before the widget is drawn in this run."""
    st.session_state[key] = value
    st.session_state.setdefault(_WRITTEN, set()).add(key)


def keep_hidden() -> None:
    """After the sidebar: keep the value of every sidebar widget this run did not draw. Streamlit drops a widget's
    value at the end of a run that does not draw it; writing it back as a Session State value keeps it (the remedy
    its documentation gives). Only hidden widgets are written: writing a drawn one would overwrite a value the
    browser may have sent meanwhile."""
    drawn = st.session_state.pop(_NOW, set())
    for key in st.session_state.get(_DRAWN, set()) - drawn:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def sidebar_controls() -> Settings:
    """Draw the shared sidebar and return the current settings (and put them in the URL: `links`)."""
    st.session_state[_NOW] = set()
    st.session_state[_WRITTEN] = set()
    devices = _devices()
    links.apply_link(devices, supported_dtypes_cached, set_kept)  # a session's first run: what its link asks for
    pending = st.session_state.pop(_PENDING, None)
    if pending is not None:  # an upload's table named a model: its whole detector
        if pending:
            set_kept(ARCH.key, pending)
        set_kept(PART.key, PARTS["detector"])
    carried = st.session_state.get(_CARRIED)
    own = carried[1] if carried is not None and carried[1] is not None and not carried[1].shipped else None
    with st.sidebar:
        st.subheader("Model")
        arch = kept(
            st.selectbox,
            "Architecture",
            **ARCH.widget(),
            format_func=ARCH_LABELS.get,
            disabled=own is not None,
            help="The tutorial's simplified backbone, or an Ultralytics family (YOLO26, YOLO12, YOLO11, YOLOv8) at a "
            "scale n-x: its backbone, or the whole detector with its neck and head. An uploaded Ultralytics checkpoint "
            "picks its own.",
        )
        if own is not None:
            st.caption(f":material/upload_file: Built from the table the uploaded checkpoint carries: **{own.label}**.")
        width, depth, detector = WIDTH.default, DEPTH.default, False
        if arch == "tutorial" and own is None:
            width = kept(
                st.select_slider,
                "Base width w",
                **WIDTH.widget(),
                help="Channels of the stem. Every stage doubles them: P3 has 4w, P4 8w, P5 16w channels.",
            )
        else:
            family = own.backbone if own is not None else make_config(arch)
            d, w, cap = family.multiples
            st.caption(f"Scale {family.scale}: depth ×{d:g}, width ×{w:g}, at most {cap:g} channels before scaling.")
            parts = (own or make_config(arch, detector=True)).parts()
            backbone, neck, head = (f"{p[0]}-{p[-1]}" if len(p) > 1 else p[0] for p in parts.values())
            detector = (
                kept(
                    st.segmented_control,
                    "Part",
                    **PART.widget(),
                    required=True,
                    help=f"The backbone (layers {backbone}, what the tutorial builds) or the whole detector Ultralytics "
                    f"ships: the backbone, the neck (top-down FPN, bottom-up PAN, layers {neck}) and the Detect head "
                    f"({head}).",
                )
                == PARTS["detector"]
            )
        with st.expander("More backbone settings"):
            if arch == "tutorial" and own is None:
                depth = kept(
                    st.slider,
                    "Bottlenecks per C3k2 (n)",
                    **DEPTH.widget(),
                    help="The tutorial uses n = 2.",
                )
            chosen = config_for(arch, width, depth, detector) if own is None else (own if detector else own.backbone)
            weights, mismatch, server_pick = _weights(chosen)
            loads_into = checkpoint_config(chosen, weights.state) if weights is not None else chosen
            classes = getattr(loads_into, "num_classes", COCO_CLASS_COUNT)  # a detection checkpoint's head decides
            linked_bn = links.linked("bn")
            if linked_bn in BN_MODES:  # the link's choice, over the one that follows the weights
                set_kept("batch_norm", linked_bn)
            seed = int(kept(st.number_input, "Seed of the random weights", **SEED.widget()))
            batch_norm = kept(
                st.radio,
                "BatchNorm statistics",
                **BATCH_NORM.widget(),
                format_func=BN_MODES.get,
                help="With random weights, running statistics (eval mode) shrink the activations about 3× per conv and the "
                "maps look like blurred copies of the photo; batch statistics keep them at unit scale, as in the tutorial's "
                "figures. With trained weights use running statistics. Shapes, costs and latency are the same either way.",
            )
        if mismatch:
            st.warning(f"Using random weights: {mismatch}", icon=":material/warning:")
        elif weights is not None:
            where = "the server's weights folder" if weights.origin == "server" else "your upload"
            head = f", a head of {classes} class{'es' if classes > 1 else ''}" if detector and weights.classes else ""
            if weights.task is not None:
                head += f"; {task_note(weights.task)}"
            owner = f" Ultralytics' trained {weights.release.label}, {LICENCE}." if weights.release else ""
            name = escape_markdown(weights.name)
            st.caption(f":material/check_circle: Using {name} from {where} ({len(weights.state)} tensors{head}).{owner}")
        elif arch in RELEASES and own is None:
            _offer_release(RELEASES[arch])

        st.subheader("Input")
        if kept(st.toggle, "Square input", key=SQUARE.key, default=SQUARE.default):
            side = kept(st.select_slider, "Input size (px)", **SIDE.widget())
            size = (side, side)
        else:
            size = (
                kept(st.select_slider, "Height (px)", **HEIGHT.widget()),
                kept(st.select_slider, "Width (px)", **WIDTH_PX.widget()),
            )

        st.subheader("Device")
        device = kept(
            st.selectbox,
            "Device",
            key="device",
            default=devices[0],
            options=devices,
            help="Only devices present on this server are listed.",
        )
        dtypes = supported_dtypes_cached(device)
        if st.session_state.get("dtype", dtypes[0]) not in dtypes:
            set_kept("dtype", dtypes[0])
        dtype = kept(
            st.selectbox,
            "Precision",
            key="dtype",
            default=dtypes[0],
            options=dtypes,
            help="Only precisions this device runs are listed. On NVIDIA GPUs since Ampere, PyTorch runs fp32 "
            "convolutions as TF32 by default (a 10-bit mantissa): maps differ from a CPU's in the third digit.",
        )

        st.subheader("Image")
        photo, sample = _photo()
        _input_note(photo, size, detector)
        settings = Settings(arch, width, depth, seed, size, device, dtype, batch_norm, photo, weights, detector, classes, own)
        st.divider()
        links.publish(settings, sample, server_pick)
    keep_hidden()
    return settings


def _offer_release(release: Release) -> None:
    """Where a family's scale has no trained weights: a button that fetches Ultralytics' checkpoint into the server's
    weights folder, once for every session (a session that asks while it downloads follows the same download),
    with a progress bar; everyone is offered it when it is there."""
    if not environment().fetch:
        st.caption(
            f"Random weights. This server does not download weights ({variable('fetch')}=off): ask for {release.file} in its "
            "weights folder, or upload trained weights above."
        )
        return
    running = downloads().current(release)
    if running is not None and running.finished.is_set() and running.error is None:
        running = None  # fetched before: its file is offered, or was taken away since and may be fetched again
    asked = st.button(
        f"Get Ultralytics' trained {release.label}: {release.megabytes}, {LICENCE}",
        key=f"fetch_{release.name}",
        icon=":material/download:",
        disabled=running is not None and not running.finished.is_set(),
        help=f"Downloads {release.file} from Ultralytics' release once for this whole server, into its weights folder; "
        f"every session is then offered it. Ultralytics publishes these weights under the {LICENCE} licence.",
    )
    if asked:
        running = downloads().start(release)
    if running is None:
        return
    if not running.finished.is_set():
        bar = st.progress(running.fraction, text=f"Downloading {release.file}…")
        while not running.finished.wait(0.25):  # the download runs in its own thread: a rerun does not stop it
            who = "another replica is downloading" if running.waiting else "downloading"
            bar.progress(running.fraction, text=f"{who} {release.file}: {running.done / 1e6:.1f} of {release.megabytes}")
        bar.empty()
    if running.error is None:
        st.rerun()  # the weights folder changed: every control is drawn again, offering the new file
    st.error(f"{release.file} could not be fetched: {running.error}", icon=":material/cloud_off:")


@st.cache_resource(show_spinner=False)
def _devices() -> list[str]:
    return available_devices()


def _weights(config) -> tuple[Weights | None, str | None, str | None]:
    """The weights for `config`: an upload that fits, else the server folder's choice, else random (None).

    Returns the weights, why an upload does not fit (or None), and the server folder's choice for the link
    (a file name, "random", or None where the folder offers nothing). When the weights in use change, the
    BatchNorm choice follows them (trained weights: running statistics; random ones: batch statistics).
    """
    folder = server_weights()
    offered = folder.for_config(config)
    chosen, pick = None, None
    wanted = links.linked("weights")
    if offered:
        names = [w.name for w in offered]
        if wanted is not None:  # the session's link names a file of the folder, or random weights
            if wanted in (*names, links.RANDOM):
                set_kept(f"server_weights_{config.label}", RANDOM if wanted == links.RANDOM else wanted)
            else:
                links.note(f"weights={wanted} is not in this server's weights folder: {names[0]} instead")
        pick = kept(
            st.selectbox,
            "Weights",
            key=f"server_weights_{config.label}",  # each architecture keeps its own choice
            default=names[0],
            options=[*names, RANDOM],
            format_func=lambda name: name if name == RANDOM else f"{name} (server)",
            help="Trained weights the server offers to everyone (its YOLO_EXPLORER_WEIGHTS_DIR), loaded once and shared. "
            "An upload below takes precedence.",
        )
        chosen = next((w for w in offered if w.name == pick), None)
        pick = links.RANDOM if pick == RANDOM else pick
    elif wanted not in (None, links.RANDOM):
        links.note(f"weights={wanted} is not in this server's weights folder: random weights instead")
    if folder.refused:
        st.caption(
            ":material/warning: Not offered from the server's weights folder: "
            + "; ".join(f"**{escape_markdown(name)}**: {escape_markdown(why)}" for name, why in folder.refused)
        )
    upload, mismatch = _weights_upload(), None
    _follow_table(upload)
    if upload is not None:
        try:
            upload.check(config)
        except WeightsError as err:
            foreign = foreign_model(upload.checkpoint)
            upload, mismatch = None, f"{upload.name} is {foreign}." if foreign else str(err)
    weights = upload or chosen
    in_use = weights and weights.digest
    if "weights_in_use" not in st.session_state or st.session_state["weights_in_use"] != in_use:
        st.session_state["weights_in_use"] = in_use
        set_kept("batch_norm", "running" if weights else "batch")
    return weights, mismatch, pick if upload is None else None


def _follow_table(upload: Weights | None) -> None:
    """A new upload that carries its model's table picks the model, once: a shipped family's detector (the sidebar
    switches to it), or the table itself (the architecture choice steps aside until the upload is removed). Either
    takes one more run, started here."""
    carried = st.session_state.get(_CARRIED)
    if upload is None:
        if st.session_state.pop(_CARRIED, None) is not None and carried[1] is not None and not carried[1].shipped:
            st.rerun()  # back to the architecture chosen
        return
    if carried is not None and carried[0] == upload.digest:
        return
    try:
        model = table_config(upload.checkpoint)
    except TableError:
        model = None  # the mismatch says what it is
    st.session_state[_CARRIED] = (upload.digest, model)
    if model is not None:
        st.session_state[_PENDING] = model.arch if model.shipped else ""
        st.rerun()


def _weights_upload() -> Weights | None:
    """The trained-weights uploader: a new file is read once (safely: no pickle code runs)."""
    upload = st.file_uploader(
        "Trained weights (optional)",
        type=WEIGHT_TYPES,
        key="weights_upload",
        max_upload_size=st.get_option("server.maxUploadSize"),  # .streamlit/config.toml: room for YOLO11x's ~230 MB
        help="An Ultralytics checkpoint as it comes (yolo11n.pt, or your own best.pt), a state_dict saved with "
        "torch.save(model.state_dict(), path) (.pt/.pth: the tutorial notebook's, an Ultralytics one) or a .safetensors "
        "file. A pickled model is read without importing or running any of its classes; files holding code are refused.",
    )
    if upload is None:
        st.session_state.pop("weights", None)
        return None
    current = st.session_state.get("weights")
    if current is None or current[0] != upload.file_id:
        try:
            weights: Weights | str = Weights.read(upload.name, upload.getvalue())
        except WeightsError as err:
            weights = f"{upload.name} cannot be used: {err}"
        st.session_state["weights"] = (upload.file_id, weights)
    weights = st.session_state["weights"][1]
    if isinstance(weights, str):
        st.error(weights, icon=":material/error:")
        return None
    return weights


def _input_note(photo: Photo, size: tuple[int, int], detector: bool) -> None:
    """Which input the model gets for this photo: the resize and the padding, and for a detector the input the
    Detections page runs (as `yolo predict` pads it)."""
    try:
        width, height = image_for(photo).size
    except ImageLoadError:
        return  # the pages say what is wrong with the image
    (h, w), (new_w, new_h), _ = letterbox_size((width, height), size)
    note = (
        f"The model gets {h}×{w}: this {width}×{height} photo resized to {new_w}×{new_h} (OpenCV's bilinear, as "
        "Ultralytics does) and padded with gray."
    )
    if detector:
        (rh, rw), _, _ = letterbox_size((width, height), size, rect=True)
        note += f" Detections runs {rh}×{rw}, padded only to a multiple of 32, as `yolo predict` does."
    st.caption(note)


@st.cache_resource(show_spinner=False)
def _sample(name: str) -> Photo:
    return Photo.sample(name)


def _photo() -> tuple[Photo, str | None]:
    """The photo chosen in the sidebar: a sample, an upload or a camera snapshot (each read once); and the sample's
    name, None for an upload or a snapshot (never put in a link)."""
    source = kept(
        st.segmented_control, "Source", key="source", default="Sample", options=["Sample", "Upload", "Camera"], required=True
    )
    if source == "Upload":
        upload = st.file_uploader("Image file", type=UPLOAD_TYPES, key="upload", max_upload_size=MAX_IMAGE_MB)
        _remember(upload, "uploaded", lambda: f"upload: {upload.name}")
        if "uploaded" in st.session_state:
            return st.session_state["uploaded"][1], None
        st.caption("No file yet: showing the sample below.")
    elif source == "Camera":
        snap = st.camera_input("Snapshot", key="camera")
        _remember(snap, "snapshot", lambda: "camera snapshot")
        if "snapshot" in st.session_state:
            return st.session_state["snapshot"][1], None
        st.caption("No snapshot yet: showing the sample below.")
    name = kept(st.selectbox, "Sample", **SAMPLE.widget(), format_func=str.capitalize)
    st.caption(SAMPLES[name][1])
    return _sample(name), name


def _remember(file, key: str, label) -> None:
    """Remember a new upload or snapshot in the session as a `Photo` (read and hashed once per file)."""
    if file is not None and st.session_state.get(key, (None,))[0] != file.file_id:
        st.session_state[key] = (file.file_id, Photo.of(label(), file.getvalue()))
