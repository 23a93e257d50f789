"""Running an exported backbone in ONNX Runtime: sessions on the CPU (or CUDA, where onnxruntime-gpu is
installed), latency in the same terms as torch's (`timing.LatencyResult`, timed by `timing.time_runs`), and how
far its outputs are from a float64 forward of the same model (relative error and cosine similarity per output).

    fp32 = export_onnx(model, size=640)
    result = measure_onnx_latency(fp32, flops=model_stats(model.config, 640).flops, batch=1)
    errors = output_errors(model, fp32, calibration_images(640)[0])
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..forward.heatmaps import rank_channels
from ..model.detector import output_tensors
from .accuracy import OutputError, output_error
from .devices import check_device, device_lock
from .modes import private_copy
from .onnx_models import INPUT, OnnxModel, RuntimeUnavailableError, require
from .timing import LatencyResult, check_counts, latency_result, time_runs

__all__ = [
    "QuantizedChannel",
    "compare_outputs",
    "measure_onnx_latency",
    "output_errors",
    "quantized_channel",
    "reference_outputs",
    "run_onnx",
    "session",
]


@dataclass(frozen=True)
class QuantizedChannel:
    """One channel of the first output as the float model and the ONNX model compute it for the same input.

    Attributes:
        output: the output's name (P3).
        channel: the channel, the strongest of the float output by L2 energy.
        reference, onnx: its (H, W) map from the torch model in fp32 and from ONNX Runtime.
        relative_error: ||onnx - reference|| / ||reference|| over the map.
    """

    output: str
    channel: int
    reference: np.ndarray
    onnx: np.ndarray
    relative_error: float


def quantized_channel(model: nn.Module, onnx: OnnxModel, x: torch.Tensor) -> QuantizedChannel:
    """What ONNX Runtime (int8, typically) does to one channel: the first output's strongest channel for the input
    `x` ((1, C, H, W) float32, at `onnx.size`) from an fp32 copy of `model` on the CPU and from `onnx`."""
    with torch.inference_mode():
        reference = output_tensors(private_copy(model).float().cpu()(x.float().cpu()))
    first = next(iter(reference.values()))[0]  # (C, H, W)
    ran = torch.from_numpy(run_onnx(onnx, x.numpy())[0][0])
    channel = int(rank_channels(first, "energy")[0])
    a, b = first[channel].numpy(), ran[channel].numpy()
    error = float(np.linalg.norm(b - a) / max(float(np.linalg.norm(a)), 1e-30))
    name = onnx.outputs[0] if onnx.outputs else "output 0"
    return QuantizedChannel(name, channel, a, b, error)


def session(onnx: OnnxModel, *, device: str = "cpu", threads: int | None = None) -> Any:
    """An ONNX Runtime inference session on `device` ("cpu", or "cuda:N" with onnxruntime-gpu).

    Raises:
        RuntimeUnavailableError: onnxruntime is not installed, or has no CUDA provider for a CUDA device.
        ValueError: a device that is not present, or one ONNX Runtime does not run (MPS).
    """
    require("onnxruntime")
    import onnxruntime as ort

    dev = check_device(device)
    if dev.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise RuntimeUnavailableError(
                "this onnxruntime has no CUDA provider: pip install onnxruntime-gpu to run ONNX Runtime on the GPU; "
                "the CPU runs it here"
            )
        providers: list[Any] = [("CUDAExecutionProvider", {"device_id": dev.index or 0}), "CPUExecutionProvider"]
    elif dev.type == "cpu":
        providers = ["CPUExecutionProvider"]
    else:
        raise ValueError(f"ONNX Runtime runs on the CPU and on CUDA here, not on {dev}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(onnx.data, sess_options=options, providers=providers)


def run_onnx(onnx: OnnxModel, x: np.ndarray, *, device: str = "cpu", threads: int | None = None) -> list[np.ndarray]:
    """One forward of `x` ((B, C, H, W) float32) in ONNX Runtime; the outputs in `onnx.outputs` order."""
    with device_lock(device):
        return session(onnx, device=device, threads=threads).run(None, {INPUT: np.ascontiguousarray(x, dtype=np.float32)})


def measure_onnx_latency(
    onnx: OnnxModel,
    *,
    flops: int = 0,
    batch: int = 1,
    device: str = "cpu",
    warmup: int = 3,
    iters: int = 20,
    threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_wait: Callable[[], None] | None = None,
) -> LatencyResult:
    """Time `iters` runs of a random batch in ONNX Runtime after `warmup` untimed ones, holding the device's
    lock (as torch runs do). Inputs and outputs are numpy arrays: on a GPU the copies to and from it are in
    the time.

    Args:
        onnx: the exported (or quantized) model.
        flops: FLOPs of one image (the engine's count), for TFLOP/s; 0 when unknown.
        batch, device, warmup, iters, threads, on_progress, on_wait: as `latency.measure_latency`.
    """
    check_counts(batch, iters, warmup, threads)
    dev = check_device(device)
    start = time.perf_counter()
    sess = session(onnx, device=str(dev), threads=threads)
    load_s = time.perf_counter() - start
    h, w = onnx.size
    x = np.random.default_rng(0).random((batch, 3, h, w), dtype=np.float32)
    with device_lock(dev, on_wait) as wait:
        times = time_runs(lambda: sess.run(None, {INPUT: x}), dev, warmup, iters, on_progress)
    return latency_result(
        times,
        dev,
        batch=batch,
        input_size=(h, w),
        dtype=onnx.dtype,
        threads=sess.get_session_options().intra_op_num_threads,
        warmup=warmup,
        mode=f"onnxruntime {onnx.dtype}",
        model=onnx.label,
        flops=flops * batch,
        compile_s=load_s,
        waited_s=wait["waited_s"],
        runtime="onnxruntime",
        export_s=onnx.export_s,
        settings={"onnxruntime": _version(), "providers": sess.get_providers()},
    )


def _version() -> str:
    import onnxruntime as ort

    return ort.__version__


def reference_outputs(model: nn.Module, x: np.ndarray, *, chunk: int = 4) -> list[torch.Tensor]:
    """Every output of a float64 forward of `model` (on the CPU) on `x`, in the order ONNX exports them; `chunk` images
    a forward, so that the memory a float64 forward takes does not grow with the batch."""
    reference_model = private_copy(model).to(device="cpu", dtype=torch.float64)
    parts = []
    with torch.inference_mode():
        for start in range(0, len(x), chunk):
            reference = reference_model(torch.from_numpy(np.asarray(x[start : start + chunk], dtype=np.float64)))
            parts.append(list(output_tensors(reference).values()))
    return [torch.cat(outputs) for outputs in zip(*parts, strict=True)]


def compare_outputs(names: tuple[str, ...], outputs: list[np.ndarray], reference: list[torch.Tensor]) -> list[OutputError]:
    """Each output against its reference: relative error (Frobenius norm) and cosine similarity."""
    return [output_error(n, torch.from_numpy(np.asarray(o)), r) for n, o, r in zip(names, outputs, reference, strict=True)]


def output_errors(model: nn.Module, onnx: OnnxModel, x: np.ndarray, *, device: str = "cpu") -> list[OutputError]:
    """Each output of `onnx` on `x` against a float64 forward of `model` (on the CPU) on the same input."""
    return compare_outputs(onnx.outputs, run_onnx(onnx, x, device=device), reference_outputs(model, x))
