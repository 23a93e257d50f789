"""The sidebar every page shares: architecture, input size, device, precision, seed and image source.

`sidebar_controls()` draws it (app.py calls it on every run, so widget state survives page changes)
and returns the user's choices as one frozen `Settings`; pages read it with `current_settings()`.
"""

from __future__ import annotations

import os
import runpy
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from yolo_explorer import ARCHITECTURES, available_devices, make_config
from yolo_explorer.config import YOLO11_SCALES
from yolo_explorer.latency import COMPILE_MODES
from yolo_explorer.samples import SAMPLES, sample_bytes
from yolo_explorer.weights import WeightsError

from .compute import Weights, supported_dtypes_cached

WIDTHS = list(range(8, 129, 8))
SIZES = list(range(128, 1281, 32))
DEFAULT_WIDTH, DEFAULT_DEPTH, DEFAULT_SIDE = 64, 2, 640  # the tutorial's own
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
WEIGHT_TYPES = ["pt", "pth", "safetensors"]
MAX_IMAGE_MB = 25  # per uploaded image
MAX_WEIGHTS_MB = 256  # per uploaded checkpoint (= server.maxUploadSize): YOLO11x's whole model in fp32 is ~230 MB
COMPILE_MODES_ENV = "YOLO_EXPLORER_COMPILE_MODES"  # the torch.compile modes a server offers, e.g. "default,reduce-overhead"
ARCH_LABELS = {
    "tutorial": "Tutorial (YOLOv11 series)",
    **{f"yolo11{s}": f"YOLO11{s} (Ultralytics)" for s in YOLO11_SCALES},
}
BN_MODES = {
    "batch": "Batch statistics (as the tutorial's figures)",
    "running": "Running statistics (eval mode, as deployed)",
}


@dataclass(frozen=True)
class Settings:
    """Everything the sidebar decides, as plain values (hashable cache keys)."""

    arch: str
    width: int
    depth: int
    seed: int
    size: tuple[int, int]  # (H, W) of the model input
    device: str
    dtype: str
    batch_norm: str
    image_label: str
    image_bytes: bytes
    weights: Weights | None = field(default=None, compare=False)  # trained weights that fit the config

    @property
    def config(self):
        return config_for(self.arch, self.width, self.depth)

    @classmethod
    def first_visit(cls) -> Settings:
        """What the sidebar gives a new session before any control is touched (the server warms this up)."""
        sample = next(iter(SAMPLES))
        side = (DEFAULT_SIDE, DEFAULT_SIDE)
        bn = next(iter(BN_MODES))
        return cls(
            "tutorial", DEFAULT_WIDTH, DEFAULT_DEPTH, 0, side, "cpu", "fp32", bn, f"sample: {sample}", sample_bytes(sample)
        )

    @property
    def weights_label(self) -> str:
        return f"trained weights ({self.weights.name})" if self.weights else f"random weights (seed {self.seed})"

    @property
    def size_label(self) -> str:
        h, w = self.size
        return f"{h}×{w}"


def compile_modes(device: str) -> tuple[list[str], str | None]:
    """The Latency page's torch.compile choices on `device` ("eager" first), and a note for the page
    when the server's setting names modes that do not exist.

    `YOLO_EXPLORER_COMPILE_MODES` in the server's environment keeps some modes off, e.g.
    "default,reduce-overhead" on a class's shared GPU, where a max-autotune compile holds a CPU core and
    every other compiled run for minutes; "none" leaves eager only. Unset: every mode the device runs.
    """
    runnable = list(COMPILE_MODES) if device.startswith("cuda") else ["default"]  # reduce-overhead replays CUDA graphs
    setting = os.environ.get(COMPILE_MODES_ENV)
    if setting is None:
        return ["eager", *runnable], None
    wanted = {mode.strip() for mode in setting.split(",")} - {"", "none"}
    unknown = sorted(wanted - set(COMPILE_MODES))
    note = (
        f"The server's {COMPILE_MODES_ENV} names unknown modes ({', '.join(unknown)}); known: {', '.join(COMPILE_MODES)}, none."
        if unknown
        else None
    )
    return ["eager", *[mode for mode in runnable if mode in wanted]], note


def config_for(arch: str, width: int, depth: int):
    """The config the sidebar describes: width and depth are the tutorial's; a YOLO11 scale fixes its own."""
    return make_config(arch, width=width, depth=depth) if arch == "tutorial" else make_config(arch)


def sidebar_controls() -> Settings:
    """Draw the shared sidebar and return the current settings."""
    ctx = get_script_run_ctx()
    # Widget identities depend on the script Streamlit thinks is running. Draw the sidebar as the
    # entrypoint's own code always, also when Streamlit's legacy pages/ path runs it (see
    # current_settings), so a value set in one run is found in the next.
    with ctx.run_with_active_hash(ctx.pages_manager.main_script_hash), st.sidebar:
        st.subheader("Backbone")
        arch = st.selectbox(
            "Architecture",
            list(ARCHITECTURES),
            format_func=ARCH_LABELS.get,
            key="arch",
            help="The tutorial's simplified backbone, or the real YOLO11 backbones (layers 0-10 of Ultralytics' models).",
        )
        width, depth = DEFAULT_WIDTH, DEFAULT_DEPTH
        if arch == "tutorial":
            width = st.select_slider(
                "Base width w",
                options=WIDTHS,
                value=DEFAULT_WIDTH,
                key="width",
                help="Channels of the stem. Every stage doubles them: P3 has 4w, P4 8w, P5 16w channels.",
            )
        else:
            d, w, cap = YOLO11_SCALES[arch[-1]]
            st.caption(f"Scale {arch[-1]}: depth ×{d:g}, width ×{w:g}, at most {cap} channels before scaling.")
        with st.expander("More backbone settings"):
            if arch == "tutorial":
                depth = st.slider("Bottlenecks per C3k2 (n)", 1, 4, DEFAULT_DEPTH, key="depth", help="The tutorial uses n = 2.")
            seed = int(st.number_input("Seed of the random weights", 0, 2**31 - 1, 0, key="seed"))
            weights = _weights_upload()
            batch_norm = st.radio(
                "BatchNorm statistics",
                list(BN_MODES),
                format_func=BN_MODES.get,
                key="batch_norm",
                help="With random weights, running statistics (eval mode) shrink the activations about 3× per conv and the "
                "maps look like blurred copies of the photo; batch statistics keep them at unit scale, as in the tutorial's "
                "figures. With trained weights use running statistics. Shapes, costs and latency are the same either way.",
            )
        weights = _fitting(weights, config_for(arch, width, depth))

        st.subheader("Input")
        if st.toggle("Square input", value=True, key="square"):
            side = st.select_slider("Input size (px)", options=SIZES, value=DEFAULT_SIDE, key="side")
            size = (side, side)
        else:
            size = (
                st.select_slider("Height (px)", options=SIZES, value=480, key="height"),
                st.select_slider("Width (px)", options=SIZES, value=640, key="width_px"),
            )

        st.subheader("Device")
        devices = available_devices()
        device = st.selectbox("Device", devices, key="device", help="Only devices present on this server are listed.")
        dtypes = supported_dtypes_cached(device)
        if st.session_state.get("dtype") not in dtypes:
            st.session_state["dtype"] = dtypes[0]
        dtype = st.selectbox(
            "Precision",
            dtypes,
            key="dtype",
            help="Only precisions this device runs are listed. On NVIDIA GPUs since Ampere, PyTorch runs fp32 "
            "convolutions as TF32 by default (a 10-bit mantissa): maps differ from a CPU's in the third digit.",
        )

        st.subheader("Image")
        image_label, image_bytes = _image_source()
    return Settings(arch, width, depth, seed, size, device, dtype, batch_norm, image_label, image_bytes, weights)


def _weights_upload() -> Weights | None:
    """The trained-weights uploader: a new file is read once (safely: no pickle code runs)."""
    upload = st.file_uploader(
        "Trained weights (optional)",
        type=WEIGHT_TYPES,
        key="weights_upload",
        max_upload_size=MAX_WEIGHTS_MB,
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
            st.session_state["batch_norm"] = "running"  # trained statistics: use them
        except WeightsError as err:
            weights = f"{upload.name} cannot be used: {err}"
        st.session_state["weights"] = (upload.file_id, weights)
    weights = st.session_state["weights"][1]
    if isinstance(weights, str):
        st.error(weights, icon=":material/error:")
        return None
    return weights


def _fitting(weights: Weights | None, config) -> Weights | None:
    """The weights if they fit the chosen architecture; otherwise a warning listing why, and None."""
    if weights is None:
        return None
    try:
        weights.check(config)
    except WeightsError as err:
        st.warning(f"Using random weights: {err}", icon=":material/warning:")
        return None
    st.caption(f":material/check_circle: Using {weights.name} ({len(weights.state)} tensors).")
    return weights


def _image_source() -> tuple[str, bytes]:
    """The image chosen in the sidebar: a sample, an upload or a camera snapshot."""
    source = st.segmented_control("Source", ["Sample", "Upload", "Camera"], default="Sample", required=True, key="source")
    if source == "Upload":
        upload = st.file_uploader("Image file", type=UPLOAD_TYPES, key="upload", max_upload_size=MAX_IMAGE_MB)
        if upload is not None:
            st.session_state["uploaded"] = (upload.name, upload.getvalue())
        if "uploaded" in st.session_state:
            name, data = st.session_state["uploaded"]
            return f"upload: {name}", data
        st.caption("No file yet: showing the sample below.")
    elif source == "Camera":
        snap = st.camera_input("Snapshot", key="camera")
        if snap is not None:
            st.session_state["snapshot"] = snap.getvalue()
        if "snapshot" in st.session_state:
            return "camera snapshot", st.session_state["snapshot"]
        st.caption("No snapshot yet: showing the sample below.")
    name = st.selectbox("Sample", list(SAMPLES), key="sample", format_func=str.capitalize)
    st.caption(SAMPLES[name][1])
    return f"sample: {name}", sample_bytes(name)


ENTRYPOINT = Path(__file__).resolve().parents[2] / "app.py"
_ENTRY_FLAG = "_entrypoint_ran"


def mark_entrypoint(settings: Settings) -> None:
    """Called by app.py before it runs the page: the page then knows the sidebar was drawn in this run."""
    st.session_state["settings"] = settings
    st.session_state[_ENTRY_FLAG] = True


def current_settings() -> Settings:
    """The settings app.py read from the sidebar in this run; every page calls this first.

    Because a `pages/` folder exists, Streamlit takes its legacy multipage path on a server's very
    first run (and AppTest on every rerun) and may run a page script on its own, without app.py: no
    sidebar, no settings. The page then runs app.py itself, which draws the sidebar and runs this
    page properly, and the outer run stops here.
    """
    if not st.session_state.pop(_ENTRY_FLAG, False):
        runpy.run_path(str(ENTRYPOINT), run_name="__main__")
        st.stop()
    return st.session_state["settings"]
