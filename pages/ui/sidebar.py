"""The sidebar every page shares: architecture, weights, input size, device, precision and the photo.

`sidebar_controls()` draws it (the frame calls it on every run) and returns the user's choices as one
frozen `Settings`. Every widget keeps its value through page changes (`kept`). Everything it reads that
every session shares (the samples, the server's weights folder, the devices and their precisions) is read
once per server.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from yolo_explorer import ARCHITECTURES, available_devices
from yolo_explorer.config import YOLO11_SCALES
from yolo_explorer.samples import SAMPLES
from yolo_explorer.weights import WeightsError

from .compute import supported_dtypes_cached
from .settings import BN_MODES, DEFAULT_DEPTH, DEFAULT_SIDE, DEFAULT_WIDTH, SIZES, WIDTHS, Photo, Settings, config_for
from .weights import Weights, server_weights

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
WEIGHT_TYPES = ["pt", "pth", "safetensors"]
MAX_IMAGE_MB = 25  # per uploaded image (a checkpoint may be as large as the server takes: server.maxUploadSize)
RANDOM = "random weights"
ARCH_LABELS = {
    "tutorial": "Tutorial (YOLOv11 series)",
    **{f"yolo11{s}": f"YOLO11{s} (Ultralytics)" for s in YOLO11_SCALES},
}


_COPY = "_kept_"  # prefix of the copies `kept` keeps


def kept(key: str, default: Any) -> dict[str, Any]:
    """Keyword arguments that make a widget keep its value across pages: its key, and a copy under another key.

    Streamlit forgets a widget's value when the widget is drawn by another page's code: the sidebar is
    drawn by app.py, but on Streamlit's legacy first run (and in AppTest) by the page itself. Its documented
    remedy is to keep a copy of the value in Session State under another key (updated by the widget's
    on_change) and to hand it back before the widget is drawn. `default` is the value before any choice:
    draw the widget without a default of its own. (The value is handed back at every run: only then does
    a widget whose identity just changed start from it. A server's very first session sees that change
    once, and a click made while its first rerun redraws the sidebar can be lost.)
    """
    copy = _COPY + key
    if copy not in st.session_state:
        st.session_state[copy] = st.session_state.get(key, default)
    st.session_state[key] = st.session_state[copy]
    return {"key": key, "on_change": _keep, "args": (key,)}


def set_kept(key: str, value: Any) -> None:
    """Change a kept widget's value from code (before the widget is drawn in this run)."""
    st.session_state[_COPY + key] = value


def _keep(key: str) -> None:
    st.session_state[_COPY + key] = st.session_state[key]


def sidebar_controls() -> Settings:
    """Draw the shared sidebar and return the current settings."""
    with st.sidebar:
        st.subheader("Backbone")
        arch = st.selectbox(
            "Architecture",
            list(ARCHITECTURES),
            format_func=ARCH_LABELS.get,
            help="The tutorial's simplified backbone, or the real YOLO11 backbones (layers 0-10 of Ultralytics' models).",
            **kept("arch", next(iter(ARCHITECTURES))),
        )
        width, depth = DEFAULT_WIDTH, DEFAULT_DEPTH
        if arch == "tutorial":
            width = st.select_slider(
                "Base width w",
                options=WIDTHS,
                help="Channels of the stem. Every stage doubles them: P3 has 4w, P4 8w, P5 16w channels.",
                **kept("width", DEFAULT_WIDTH),
            )
        else:
            d, w, cap = YOLO11_SCALES[arch[-1]]
            st.caption(f"Scale {arch[-1]}: depth ×{d:g}, width ×{w:g}, at most {cap} channels before scaling.")
        with st.expander("More backbone settings"):
            if arch == "tutorial":
                depth = st.slider(
                    "Bottlenecks per C3k2 (n)", 1, 4, help="The tutorial uses n = 2.", **kept("depth", DEFAULT_DEPTH)
                )
            config = config_for(arch, width, depth)
            weights, mismatch = _weights(config)
            seed = int(st.number_input("Seed of the random weights", 0, 2**31 - 1, **kept("seed", 0)))
            batch_norm = st.radio(
                "BatchNorm statistics",
                list(BN_MODES),
                format_func=BN_MODES.get,
                **kept("batch_norm", next(iter(BN_MODES))),
                help="With random weights, running statistics (eval mode) shrink the activations about 3× per conv and the "
                "maps look like blurred copies of the photo; batch statistics keep them at unit scale, as in the tutorial's "
                "figures. With trained weights use running statistics. Shapes, costs and latency are the same either way.",
            )
        if mismatch:
            st.warning(f"Using random weights: {mismatch}", icon=":material/warning:")
        elif weights is not None:
            where = "the server's weights folder" if weights.origin == "server" else "your upload"
            st.caption(f":material/check_circle: Using {weights.name} from {where} ({len(weights.state)} tensors).")

        st.subheader("Input")
        if st.toggle("Square input", **kept("square", True)):
            side = st.select_slider("Input size (px)", options=SIZES, **kept("side", DEFAULT_SIDE))
            size = (side, side)
        else:
            size = (
                st.select_slider("Height (px)", options=SIZES, **kept("height", 480)),
                st.select_slider("Width (px)", options=SIZES, **kept("width_px", 640)),
            )

        st.subheader("Device")
        devices = _devices()
        device = st.selectbox(
            "Device", devices, help="Only devices present on this server are listed.", **kept("device", devices[0])
        )
        dtypes = supported_dtypes_cached(device)
        if st.session_state.get(_COPY + "dtype", dtypes[0]) not in dtypes:
            set_kept("dtype", dtypes[0])
        dtype = st.selectbox(
            "Precision",
            dtypes,
            **kept("dtype", dtypes[0]),
            help="Only precisions this device runs are listed. On NVIDIA GPUs since Ampere, PyTorch runs fp32 "
            "convolutions as TF32 by default (a 10-bit mantissa): maps differ from a CPU's in the third digit.",
        )

        st.subheader("Image")
        photo = _photo()
    return Settings(arch, width, depth, seed, size, device, dtype, batch_norm, photo, weights)


@st.cache_resource(show_spinner=False)
def _devices() -> list[str]:
    return available_devices()


def _weights(config) -> tuple[Weights | None, str | None]:
    """The weights for `config`: an upload that fits, else the server folder's choice, else random (None).

    Returns the weights and, when an upload does not fit, why. When the weights in use change, the
    BatchNorm choice follows them (trained weights: running statistics; random ones: batch statistics).
    """
    folder = server_weights()
    offered = folder.for_config(config)
    chosen = None
    if offered:
        names = [w.name for w in offered]
        pick = st.selectbox(
            "Weights",
            [*names, RANDOM],
            **kept(f"server_weights_{config.label}", names[0]),  # each architecture keeps its own choice
            format_func=lambda name: name if name == RANDOM else f"{name} (server)",
            help="Trained weights the server offers to everyone (its YOLO_EXPLORER_WEIGHTS_DIR), loaded once and shared. "
            "An upload below takes precedence.",
        )
        chosen = next((w for w in offered if w.name == pick), None)
    if folder.refused:
        st.caption(
            ":material/warning: Not offered from the server's weights folder: "
            + "; ".join(f"**{name}**: {why}" for name, why in folder.refused)
        )
    upload, mismatch = _weights_upload(), None
    if upload is not None:
        try:
            upload.check(config)
        except WeightsError as err:
            upload, mismatch = None, str(err)
    weights = upload or chosen
    in_use = weights and weights.digest
    if "weights_in_use" not in st.session_state or st.session_state["weights_in_use"] != in_use:
        st.session_state["weights_in_use"] = in_use
        set_kept("batch_norm", "running" if weights else "batch")
    return weights, mismatch


def _weights_upload() -> Weights | None:
    """The trained-weights uploader: a new file is read once (safely: no pickle code runs)."""
    upload = st.file_uploader(
        "Trained weights (optional)",
        type=WEIGHT_TYPES,
        key="weights_upload",
        max_upload_size=st.get_option("server.maxUploadSize"),  # .streamlit/config.toml: room for YOLO11x's ~230 MB
        help="A state_dict saved with torch.save(model.state_dict(), path) (.pt/.pth) or a .safetensors file: the "
        "tutorial notebook's, an Ultralytics YOLO11 one, or a checkpoint wrapping one. Files holding code are refused.",
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


@st.cache_resource(show_spinner=False)
def _sample(name: str) -> Photo:
    return Photo.sample(name)


def _photo() -> Photo:
    """The photo chosen in the sidebar: a sample, an upload or a camera snapshot (each read once)."""
    source = st.segmented_control("Source", ["Sample", "Upload", "Camera"], required=True, **kept("source", "Sample"))
    if source == "Upload":
        upload = st.file_uploader("Image file", type=UPLOAD_TYPES, key="upload", max_upload_size=MAX_IMAGE_MB)
        _remember(upload, "uploaded", lambda: f"upload: {upload.name}")
        if "uploaded" in st.session_state:
            return st.session_state["uploaded"][1]
        st.caption("No file yet: showing the sample below.")
    elif source == "Camera":
        snap = st.camera_input("Snapshot", key="camera")
        _remember(snap, "snapshot", lambda: "camera snapshot")
        if "snapshot" in st.session_state:
            return st.session_state["snapshot"][1]
        st.caption("No snapshot yet: showing the sample below.")
    name = st.selectbox("Sample", list(SAMPLES), format_func=str.capitalize, **kept("sample", next(iter(SAMPLES))))
    st.caption(SAMPLES[name][1])
    return _sample(name)


def _remember(file, key: str, label) -> None:
    """Remember a new upload or snapshot in the session as a `Photo` (read and hashed once per file)."""
    if file is not None and st.session_state.get(key, (None,))[0] != file.file_id:
        st.session_state[key] = (file.file_id, Photo.of(label(), file.getvalue()))
