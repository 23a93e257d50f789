"""`latency`: the forward timed in a deployment's modes, in torch or ONNX Runtime, with its error against float64 and
int8 a deployment can trust (see `int8`)."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

import torch

from ..deployment.accuracy import OutputError, calibrated_copy, mode_errors
from ..deployment.devices import DTYPES
from ..deployment.latency import RUNTIMES, LatencyRequest, measure
from ..deployment.modes import CompileError, LatencyMode
from ..deployment.onnx_models import (
    CALIBRATORS,
    OnnxExportError,
    RuntimeUnavailableError,
    deployable,
    error_images,
)
from ..deployment.onnx_runtime import output_errors
from ..present.formatting import latency_report
from ..present.insights import (
    Remedies,
    timing_notes,
)
from .common import BadArgument, RunFailed, Subcommands, batch_sizes, latency_mode, model_on, positive, print_notes, timing_args
from .int8 import int8_asked, int8_trust, own_photos_needed, samples_fit


def register(sub: Subcommands) -> None:
    p = sub.add_parser("latency", help="time the forward pass")
    timing_args(p, [*DTYPES, "int8"])
    p.add_argument(
        "--runtime",
        default="torch",
        choices=list(RUNTIMES),
        help="torch (default), or onnxruntime: the model exported to ONNX (fp32, or --dtype int8, quantized on the samples)",
    )
    p.add_argument("--save-onnx", type=Path, help="with --runtime onnxruntime: also write the .onnx file here (opens in Netron)")
    p.add_argument("--sweep", type=batch_sizes, help="batch sizes to sweep, e.g. 1,4,16: images/s and TFLOP/s for each")
    p.add_argument("--error", action="store_true", help="also print the relative error against a float64 forward")
    q = p.add_argument_group("int8 a deployment can trust (with --runtime onnxruntime --dtype int8)")
    q.add_argument(
        "--sensitivity",
        action="store_true",
        help="each unit (layer, C2PSA's attention, Detect's branches) in int8 alone and left out alone: the error each causes",
    )
    q.add_argument("--keep-float", nargs="+", metavar="UNIT", help="mixed precision: keep these units in float (10 23.cv2 ...)")
    q.add_argument(
        "--keep-float-top", type=positive, metavar="K", help="mixed precision: keep the K most sensitive units in float"
    )
    q.add_argument("--calibrator", choices=list(CALIBRATORS), default="minmax", help="ONNX Runtime's calibrator (default minmax)")
    q.add_argument(
        "--calibration",
        nargs="+",
        type=Path,
        metavar="PHOTO",
        help="photos or folders of the model's own scenes: every other one (8 at most) is kept aside to judge int8 on, the "
        "rest calibrate (default: --image, and the samples unless the weights detect other classes than COCO's)",
    )
    q.add_argument(
        "--judge", nargs="+", type=Path, metavar="PHOTO", help="judge int8 on these photos or folders (then every "
        "--calibration photo calibrates)",
    )  # fmt: skip
    q.add_argument("--calibration-photos", type=positive, metavar="N", help="calibrate on the first N photos only")
    q.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor (default one per output channel)")
    q.add_argument("--image", type=Path, help="with a detector: the boxes each precision keeps on this photo, against fp32's")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    onnx_runtime = args.runtime == "onnxruntime"
    if args.save_onnx and not onnx_runtime:
        raise BadArgument("--save-onnx goes with --runtime onnxruntime")
    try:
        mode = latency_mode(args, "fp32" if args.dtype == "int8" else args.dtype)  # int8: to refuse the torch flags with it
        request = LatencyRequest(
            runtime=args.runtime,
            dtype=args.dtype,
            mode=mode,
            size=args.imgsz,
            batches=tuple(args.sweep or [args.batch]),
            device=args.device,
            warmup=args.warmup,
            iters=args.iters,
            threads=args.threads,
        )
    except ValueError as err:
        raise BadArgument(str(err)) from None
    if int8_asked(args):
        if not (onnx_runtime and args.dtype == "int8"):
            raise BadArgument(
                "--sensitivity, --keep-float, --keep-float-top, --calibrator, --calibration, --judge, "
                "--calibration-photos, --per-tensor and --image go with --runtime onnxruntime --dtype int8"
            )
        int8_trust(args, request)
        return
    model = model_on(args, "fp32", batch=max(request.batches))  # each run converts a private copy to the mode
    if onnx_runtime and args.dtype == "int8" and not samples_fit(args, model):
        raise BadArgument(own_photos_needed(model))  # deployable() would calibrate on the samples
    onnx, errors = None, None
    try:
        if onnx_runtime:
            model, onnx = deployable(model, size=args.imgsz, dtype=args.dtype, calibrate_batchnorm=args.weights is None)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        results = measure(model, request, onnx=onnx)
        if args.error and onnx is not None:
            errors = output_errors(model, onnx, error_images(args.imgsz), device=args.device)
        elif args.error:
            errors = _mode_errors(model, mode, args)
    except ValueError as err:
        raise BadArgument(str(err)) from None
    except (CompileError, RuntimeUnavailableError, OnnxExportError) as err:
        raise RunFailed(str(err)) from None
    if args.save_onnx:
        args.save_onnx.write_bytes(onnx.data)
    remedies = Remedies(more_runs=f"more timed runs (--iters {max(100, 2 * args.iters)})", fewer_threads="--threads 1")
    notes = dict.fromkeys(n for r in results for n in timing_notes(r, load, os.cpu_count() or 1, remedies))
    if args.json:
        extra = {}
        if errors is not None:
            extra = {"relative_error": max(e.relative_error for e in errors), "outputs": [asdict(e) for e in errors]}
        out = [r.to_dict() | extra for r in results]
        print(json.dumps(out if args.sweep else out[0], indent=2))
        print_notes(notes)
        return
    print(latency_report(results, onnx.label if onnx else model.config.label, calibrated=args.weights is None))
    if errors is not None:
        if onnx is not None:
            unmirrored = " (int8's calibration saw them unmirrored)" if args.dtype == "int8" else ""
            print(f"against float64, on the sample photos mirrored{unmirrored}:")
        else:
            underflow = ": random weights would underflow fp16" if args.dtype == "fp16" else ""
            basis = "" if args.weights else f"; random weights: BatchNorm calibrated on the input first{underflow}"
            print(f"against float64, on a random input{basis}:")
        for e in errors:
            print(f"  {e.name}: relative error {e.relative_error:.2e}, cosine similarity {e.cosine:.5f}")
    if args.save_onnx:
        print(f"wrote {args.save_onnx} ({len(onnx.data) / 2**20:.1f} MiB)")
    print_notes(notes)


def _mode_errors(model, mode: LatencyMode, args: argparse.Namespace) -> list[OutputError]:
    """Each output's error in the mode against float64. Random weights in eval mode shrink the activations below fp16's
    range, which says nothing about the mode: without --weights the BatchNorm statistics are first
    calibrated on an input, as training would have set them."""
    if args.weights is None:
        x = torch.rand(2, model.config.in_channels, *args.imgsz, device=next(model.parameters()).device)
        model = calibrated_copy(model, x)
    return mode_errors(model, mode, size=args.imgsz, device=args.device)
