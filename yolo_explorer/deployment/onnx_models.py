"""A backbone as a deployment ships it: exported to ONNX (torch.onnx's dynamo exporter, any batch size), and
quantized to int8 by ONNX Runtime's static post-training quantization (QDQ, per-channel weights) calibrated
on photos.

    fp32 = export_onnx(model, size=640)                       # OnnxModel: the .onnx bytes, the export time
    int8 = quantize_int8(fp32, calibration_images(640))       # the four sample photos, letterboxed

onnx, onnxscript and onnxruntime are imported only here and in `onnx_runtime`, when they are used: without
them the rest of the engine works, and these raise `RuntimeUnavailableError` saying what to install.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import platform
import re
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..forward.preprocess import ImageLoadError, letterbox, load_image
from ..model.detector import Detector
from ..model.stats import parse_size
from ..samples import SAMPLES, sample_bytes
from .modes import private_copy

__all__ = [
    "CALIBRATORS",
    "ONNX_DTYPES",
    "OnnxExportError",
    "OnnxModel",
    "RuntimeUnavailableError",
    "calibration_folder",
    "calibration_images",
    "calibration_photo",
    "deployable",
    "error_images",
    "export_onnx",
    "quantize_int8",
    "require",
]

ONNX_DTYPES = ("fp32", "int8")  # what the ONNX Runtime path runs
INPUT = "images"


class RuntimeUnavailableError(RuntimeError):
    """A runtime (or the package it needs) is not installed here; the message says what to install."""


class OnnxExportError(RuntimeError):
    """torch.onnx could not export this model; the message is one line."""


@dataclass(frozen=True)
class OnnxModel:
    """An exported model: the `.onnx` file's bytes and what it is.

    Attributes:
        data: the serialized ONNX model (opens in Netron).
        dtype: "fp32", or "int8" after `quantize_int8`.
        size: (H, W) of the input it was exported for; any batch size runs.
        outputs: names of its outputs, the pyramid features (P3, P4, P5), and a detector's "boxes",
            "scores" and "decoded".
        label: the model's config label.
        export_s: seconds spent exporting (and quantizing).
    """

    data: bytes = field(repr=False)
    dtype: str
    size: tuple[int, int]
    outputs: tuple[str, ...]
    label: str
    export_s: float

    @functools.cached_property
    def digest(self) -> str:
        """Of the file's bytes: the key under which the app caches what it computes from this model."""
        return hashlib.sha256(self.data).hexdigest()[:16]

    @property
    def file_name(self) -> str:
        h, w = self.size
        return f"{self.label.replace(' ', '_').replace('=', '')}_{h}x{w}_{self.dtype}.onnx"


def require(*modules: str) -> None:
    """Raise `RuntimeUnavailableError` naming what to install if a module cannot be imported."""
    missing = []
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise RuntimeUnavailableError(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed here: pip install onnx onnxscript "
            "onnxruntime (the project's requirements include them); the torch runtime works without"
        )


def export_onnx(model: nn.Module, *, size: int | str | Sequence[int] = 640) -> OnnxModel:
    """Export a backbone to ONNX in fp32, for any batch size, with its outputs named after the pyramid.

    Raises:
        RuntimeUnavailableError: onnx or onnxscript is not installed.
        OnnxExportError: the exporter failed (the message is its first line).
    """
    require("onnx", "onnxscript")
    h, w = parse_size(size)
    clone = private_copy(model).to(device="cpu", dtype=torch.float32)
    config = getattr(clone, "config", None)
    in_channels = config.in_channels if config is not None else next(clone.parameters()).shape[1]
    names = tuple(info.name for info in clone.feature_info) if hasattr(clone, "feature_info") else ()
    if isinstance(clone, Detector):
        names += ("boxes", "scores", "decoded")
        if getattr(clone.get_submodule(clone.head_name), "end2end", False):  # YOLO26: its one-to-one branch too
            names += ("one2one_boxes", "one2one_scores", "one2one_decoded")
    label = config.label if config is not None else type(model).__name__
    start = time.perf_counter()
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                clone,
                (torch.rand(2, in_channels, h, w),),  # batch 2: an example of 1 lets the tracer specialise it
                dynamo=True,
                input_names=[INPUT],
                output_names=list(names) or None,
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},),
                verbose=False,
            )
        data = program.model_proto.SerializeToString()
    except Exception as err:  # the exporter's errors have no common base
        reason = next((line for line in str(err).splitlines() if line.strip()), type(err).__name__)
        raise OnnxExportError(f"{label} at {h}x{w} could not be exported to ONNX: {reason[:300]}") from err
    return OnnxModel(data, "fp32", (h, w), names, label, time.perf_counter() - start)


def calibration_photo(image, size: int | str | Sequence[int] = 640) -> np.ndarray:
    """A photo (a decoded image, or what `load_image` reads) letterboxed to `size` as the model sees it, as int8's
    calibration and judging take it: (1, 3, H, W) float32.

    Raises:
        ImageLoadError: what `load_image` cannot read.
    """
    if not isinstance(image, Image.Image):
        image = load_image(image)
    return letterbox(image, parse_size(size)).tensor().numpy()


def calibration_images(size: int | str | Sequence[int] = 640) -> list[np.ndarray]:
    """The built-in sample photos, letterboxed to `size` as the model sees them: (1, 3, H, W) float32 each."""
    return [calibration_photo(sample_bytes(name), size) for name in SAMPLES]


CALIBRATION_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
MAX_CALIBRATION_PHOTOS = 64


def calibration_folder(
    folder: Path | str | None, size: int | str | Sequence[int] = 640, *, limit: int = MAX_CALIBRATION_PHOTOS
) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    """The photos of a folder (a server's `Environment.calibration_dir`; None: no photos), each named by its
    file and letterboxed to `size` for int8, in name order, at most `limit`; and a line for each file left out (not a
    photo, unreadable). A folder that does not exist gives no photos and says so."""
    if folder is None:
        return [], []
    path = Path(folder).expanduser()
    if not path.is_dir():
        return [], [f"{path} is not a folder"]
    h, w = parse_size(size)
    photos, skipped = [], []
    for file in sorted(p for p in path.iterdir() if p.suffix.lower() in CALIBRATION_SUFFIXES):
        if len(photos) == limit:
            skipped.append(f"{file.name} and after: {limit} photos at most")
            break
        try:
            photos.append((file.name, calibration_photo(file, (h, w))))
        except ImageLoadError as err:
            skipped.append(f"{file.name}: {err}")
    return photos, skipped


def error_images(size: int | str | Sequence[int] = 640) -> np.ndarray:
    """The sample photos mirrored left to right, as one batch (4, 3, H, W): images that int8's calibration
    did not see, for measuring errors."""
    return np.ascontiguousarray(np.concatenate(calibration_images(size))[..., ::-1])


def deployable(
    model: nn.Module, *, size: int | str | Sequence[int] = 640, dtype: str = "fp32", calibrate_batchnorm: bool = False
) -> tuple[nn.Module, OnnxModel]:
    """The model as a deployment would run it in ONNX Runtime: exported, and for "int8" quantized on the
    sample photos. Returns the torch model the export came from (the reference for errors) and the export.

    With `calibrate_batchnorm` (random weights), BatchNorm's statistics are first set from the sample
    photos (`accuracy.calibrated_copy`): the activations keep a unit scale, as trained weights would,
    instead of shrinking at every layer below what int8 can tell apart.

    Raises:
        ValueError: a dtype ONNX Runtime does not run here.
        RuntimeUnavailableError, OnnxExportError: as `export_onnx` and `quantize_int8`.
    """
    from .accuracy import calibrated_copy

    if dtype not in ONNX_DTYPES:
        raise ValueError(f"ONNX Runtime runs {' and '.join(ONNX_DTYPES)} here, not {dtype}")
    photos = calibration_images(size)
    if calibrate_batchnorm:
        model = calibrated_copy(model, torch.from_numpy(np.concatenate(photos)))
    fp32 = export_onnx(model, size=size)
    return model, (quantize_int8(fp32, photos) if dtype == "int8" else fp32)


CALIBRATORS = ("minmax", "entropy", "percentile")  # ONNX Runtime's calibration methods, by the names the app uses


def quantize_int8(
    fp32: OnnxModel,
    calibration: Sequence[np.ndarray] | None,
    *,
    calibrator: str = "minmax",
    per_channel: bool = True,
    exclude: Sequence[str] = (),
    only: Sequence[str] | None = None,
    cache: Path | None = None,
) -> OnnxModel:
    """Static post-training 8-bit quantization by ONNX Runtime: QDQ format, uint8 activations and per-channel
    int8 weights ("U8S8"), activation ranges from the min and max seen on `calibration` (inputs of the model).
    U8S8 is what ONNX Runtime's x86 kernels are fastest with: on the AMD EPYC of bench/README.md, YOLO11n at
    640 ran in 8.5 ms with it, 23.4 ms with int8 activations (S8S8), 9.6 ms in fp32.

    With random weights the ranges are those of random activations: the error then says little about a
    trained model's. On an x86 CPU without VNNI (AVX2 or AVX-512 only) the weights are quantized to 7 bits
    (`needs_reduced_range`).

    Args:
        calibrator: how the activation ranges are set from what calibration sees: "minmax" (its extremes),
            "entropy" (the range that keeps the histogram's KL divergence smallest) or "percentile" (99.999 %).
            quantize_static runs Entropy with 128 histogram bins for 128 quantized levels (not settable through it),
            where the only range it can choose is the whole one: it gives MinMax's ranges (tests/test_int8_sensitivity.py).
        per_channel: one weight scale per output channel (else one per tensor).
        exclude: nodes kept in float (ONNX Runtime's `nodes_to_exclude`): no QuantizeLinear/DequantizeLinear
            is put around them.
        only: quantize these nodes alone (`nodes_to_quantize`), the rest stays float.
        cache: a file for ONNX Runtime's calibration cache (`calibration_cache_path`): the first call writes the
            ranges there, later calls with the same calibrator read them and skip calibration (`calibration` may
            then be None).

    Raises:
        RuntimeUnavailableError: onnxruntime is not installed.
        ValueError: an unknown calibrator.
    """
    if calibrator not in CALIBRATORS:
        raise ValueError(f"calibrator must be one of {', '.join(CALIBRATORS)}, not {calibrator!r}")
    require("onnxruntime")
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Photos(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration or ())

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT: batch}

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, _quiet_exporter():
        source, prepared, quantized = Path(tmp, "fp32.onnx"), Path(tmp, "prepared.onnx"), Path(tmp, "int8.onnx")
        source.write_bytes(fp32.data)
        # shape inference and graph cleanup, as ONNX Runtime advises. The detector's anchor grid defeats ONNX Runtime's
        # symbolic shape inference, which on failing writes sym_shape_infer_temp.onnx and a weights file the size of
        # the model into the working directory, every time: ONNX's own inference is used for a detector from the start
        detector = "decoded" in fp32.outputs
        try:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=detector)
        except Exception:
            if detector:
                raise
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                  "percentile": CalibrationMethod.Percentile}[calibrator]  # fmt: skip
        quantize_static(
            str(prepared),
            str(quantized),
            Photos(),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            reduce_range=needs_reduced_range(),
            calibrate_method=method,
            nodes_to_exclude=list(exclude) or None,
            nodes_to_quantize=list(only) if only is not None else None,
            calibration_cache_path=cache,
        )
        data = quantized.read_bytes()
    return OnnxModel(data, "int8", fp32.size, fp32.outputs, fp32.label, fp32.export_s + time.perf_counter() - start)


def needs_reduced_range(cpuinfo: str | None = None) -> bool:
    """Whether int8 weights should use 7 bits here (ONNX Runtime's `reduce_range`): x86 CPUs without VNNI multiply
    uint8 by int8 with an instruction (AVX2's, AVX-512's vpmaddubsw) that adds pairs of products into int16 and
    saturates, which wrecks a convolution's sums; 7-bit weights cannot overflow it. VNNI (avx512_vnni, avx_vnni)
    accumulates in int32, and ARM CPUs use other instructions: full 8 bits there.

    Measured on an AMD EPYC with AVX2 only (YOLO11n, seed 3, BatchNorm calibrated, 128x128, tests/test_onnx.py):
    P3 / P4 / P5 keep a cosine of 0.831 / 0.699 / 0.579 with the float result in 8 bits, 0.992 / 0.983 / 0.653
    with 7-bit weights.

    Args:
        cpuinfo: the text of /proc/cpuinfo (read when None); where it cannot be read an x86 CPU is assumed to lack
            VNNI (7 bits cost a little precision, saturation costs much more).
    """
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return False
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return True
    flags = set(re.findall(r"[a-z0-9_]+", next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")))
    return not flags & {"avx512_vnni", "avx_vnni", "amx_int8"}


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter and the quantizer talk on stdout, in warnings and in logs; none of it is for a user."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxruntime")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
