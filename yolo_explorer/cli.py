"""Command line: `python -m yolo_explorer stats | features | latency`.

Exit status: 0 done, 1 a bad image or a failed run, 2 a bad argument. Errors are one line, never a
traceback (set YOLO_EXPLORER_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch

from .accuracy import calibrated_copy, mode_error
from .backbone import build_backbone
from .config import ARCHITECTURES, make_config
from .devices import DTYPES, check_device, dtype_from_name, supported_dtypes
from .features import extract_features
from .formatting import human_count, human_ms, stats_table
from .heatmaps import rank_channels
from .latency import batch_sweep
from .memory import InsufficientMemoryError, check_fits, estimate_forward_memory
from .modes import COMPILE_MODES, CompileError, LatencyMode
from .preprocess import ImageLoadError, load_image
from .stats import DEFAULT_SUMMARY_COLUMNS, SUMMARY_COLUMNS, model_stats, model_summary, parse_size
from .weights import WeightsError, load_weights, match_state_dict, read_state_dict

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


class _BadArgument(Exception):
    """A value argparse accepted but the engine refused (exit 2)."""


class _RunFailed(Exception):
    """A bad image or a failed run (exit 1)."""


def _size(text: str) -> tuple[int, int]:
    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _build_parser() -> _Parser:
    parser = _Parser(prog="yolo-explorer", description="Look inside the YOLOv11 backbone: statistics, feature maps, latency.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def model_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--arch", default="tutorial", choices=list(ARCHITECTURES), help="architecture (default tutorial)")
        p.add_argument("--width", type=int, help="tutorial only: base width, a multiple of 8 from 8 to 256 (default 64)")
        p.add_argument("--repeats", type=int, help="tutorial only: bottlenecks per C3k2 (default 2)")
        p.add_argument("--imgsz", type=_size, default=(640, 640), help="input size S or HxW (default 640)")
        p.add_argument(
            "--weights",
            type=Path,
            help="trained weights (.pt/.pth state_dict, read without running code, or .safetensors); "
            "for YOLO11 an Ultralytics state_dict works as it is",
        )

    p = sub.add_parser("stats", help="per-layer parameters, shapes, MACs, memory, receptive field")
    model_args(p)
    p.add_argument("--dtype", default="fp32", choices=list(DTYPES), help="dtype of the activation memory")
    p.add_argument("--summary", action="store_true", help="also print the torchinfo summary")
    p.add_argument("--depth", type=_positive, default=3, help="levels of the torchinfo summary (default 3)")
    p.add_argument("--columns", nargs="+", choices=list(SUMMARY_COLUMNS), help="torchinfo columns")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("features", help="save feature maps of one image as .npy and PNG grids")
    model_args(p)
    p.add_argument("--image", required=True, type=Path, help="image file")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--layers", nargs="+", default=["P3", "P4", "P5"], help="layers to save (default P3 P4 P5)")
    p.add_argument("--top", type=_positive, default=16, help="channels in each PNG grid (default 16)")
    p.add_argument("--device", default="cpu", help="cpu, cuda:N or mps (default cpu)")
    p.add_argument("--bn", default="running", choices=["running", "batch"], help="BatchNorm statistics (default running)")

    p = sub.add_parser("latency", help="time the forward pass")
    model_args(p)
    p.add_argument("--device", default="cpu", help="cpu, cuda:N or mps (default cpu)")
    p.add_argument("--batch", type=_positive, default=1, help="images per forward (default 1)")
    p.add_argument("--iters", type=_positive, default=20, help="timed runs (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    p.add_argument("--dtype", default="fp32", choices=list(DTYPES), help="precision (default fp32)")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    p.add_argument("--cuda-graph", action="store_true", help="replay the forward as a CUDA graph (CUDA only)")
    p.add_argument("--compile", choices=list(COMPILE_MODES), help="torch.compile mode (compile time reported apart)")
    p.add_argument("--freeze", action="store_true", help="with --compile: compile the weights as constants (inductor freezing)")
    p.add_argument("--fold-bn", action="store_true", help="fold BatchNorm into the convolutions first, as deployed")
    p.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN pick its fastest algorithms (CUDA only)")
    p.add_argument("--threads", type=_positive, help="CPU threads for the run (default: torch's)")
    p.add_argument("--sweep", type=_batches, help="batch sizes to sweep, e.g. 1,4,16: images/s and TFLOP/s for each")
    p.add_argument("--error", action="store_true", help="also print the mode's relative error against a float64 forward")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _batches(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected batch sizes like 1,4,16; got {text!r}") from None
    if not values or any(not 1 <= v <= 1024 for v in values):
        raise argparse.ArgumentTypeError(f"batch sizes must be from 1 to 1024, got {text!r}")
    return values


def _config(args: argparse.Namespace):
    fields = {"width": args.width, "depth": args.repeats}
    if args.arch == "tutorial":
        fields = {k: v for k, v in fields.items() if v is not None}
    elif any(v is not None for v in fields.values()):
        raise _BadArgument(f"--width and --repeats apply to the tutorial backbone; {args.arch}'s scale fixes its own")
    else:
        fields = {}
    try:
        return make_config(args.arch, **fields)
    except ValueError as err:
        raise _BadArgument(str(err)) from None


def _load(model, args: argparse.Namespace, check_only: bool = False) -> None:
    """Load --weights into the model, if given, or only check that they fit (a bad file exits 1, a mismatch
    lists the keys)."""
    if args.weights is None:
        return
    try:
        if check_only:
            matched, _, _ = match_state_dict(model, read_state_dict(args.weights))
            print(f"weights: {args.weights.name} fits {model.config.label} ({len(matched)} tensors)", file=sys.stderr)
            return
        report = load_weights(model, args.weights)
    except WeightsError as err:
        raise _RunFailed(f"{args.weights}: {err}") from None
    extra = f", {report.ignored} neck/head tensors ignored" if report.ignored else ""
    loaded = f"{report.loaded} tensors ({human_count(report.params)} parameters)"
    print(f"weights: {loaded} from {args.weights.name}{extra}", file=sys.stderr)


def _check_memory(config, args: argparse.Namespace, device, dtype: str, batch: int = 1) -> None:
    estimate = estimate_forward_memory(config, args.imgsz, batch=batch, dtype=dtype)
    try:
        check_fits(estimate, device, what=f"a batch of {batch} at {args.imgsz[0]}x{args.imgsz[1]}")
    except InsufficientMemoryError as err:
        raise _RunFailed(str(err)) from None


def _cmd_stats(args: argparse.Namespace) -> None:
    config = _config(args)
    if args.weights is not None:  # statistics do not depend on weights; check that they fit the architecture
        _load(build_backbone(config=config, device="meta"), args, check_only=True)
    stats = model_stats(config, args.imgsz, args.dtype)
    summary = None
    if args.summary:
        columns = args.columns or DEFAULT_SUMMARY_COLUMNS
        try:
            summary = model_summary(config, args.imgsz, depth=args.depth, columns=columns, dtype=args.dtype)
        except ValueError as err:
            raise _BadArgument(str(err)) from None
    if args.json:
        out = stats.to_dict()
        if summary is not None:
            out["summary"] = {"text": summary.text, "rows": list(summary.rows)}
        print(json.dumps(out, indent=2))
    else:
        print(stats_table(stats))
        if summary is not None:
            print()
            print(summary.text)


def _model_on(args: argparse.Namespace, dtype: str = "fp32", batch: int = 1):
    """The model on the asked device and dtype, with --weights loaded, once the forward is known to fit."""
    config = _config(args)
    try:
        device = check_device(args.device)
    except ValueError as err:
        raise _BadArgument(str(err)) from None
    if dtype not in supported_dtypes(device):
        raise _BadArgument(f"{device} cannot run {dtype}; it supports {', '.join(supported_dtypes(device))}")
    _check_memory(config, args, device, dtype, batch)
    model = build_backbone(config=config, seed=args.seed, device=device, dtype=dtype_from_name(dtype))
    _load(model, args)
    return model


def _cmd_features(args: argparse.Namespace) -> None:
    from .rendering import grid_image  # Plotly's colour scales: only this command needs them

    try:
        image = load_image(args.image)
    except ImageLoadError as err:
        raise _RunFailed(f"{args.image}: {err}") from None
    model = _model_on(args)
    try:
        result = extract_features(model, image, args.imgsz, args.layers, batch_norm=args.bn)
    except KeyError as err:
        raise _BadArgument(err.args[0]) from None
    args.out.mkdir(parents=True, exist_ok=True)
    written = [args.out / "input.png"]
    result.box.image.save(written[0])
    for name, value in result.maps.items():
        for suffix, fmap in _parts(value):
            array = fmap.numpy().astype(np.float32)  # (C, H, W)
            npy = args.out / f"{name}{suffix}.npy"
            np.save(npy, array)
            top = rank_channels(array, by="energy")[: args.top]
            png = args.out / f"{name}{suffix}_top{len(top)}.png"
            grid_image(array[top], [f"ch {c}" for c in top]).save(png)
            written += [npy, png]
    for path in written:
        print(path)


def _parts(value):
    """(file suffix, map) pairs: one map, or the calls of a module that ran several times."""
    if isinstance(value, tuple):
        return [(f".call{i}", v) for i, v in enumerate(value, start=1)]
    return [("", value)]


def _mode_error(model, mode: LatencyMode, args: argparse.Namespace) -> float:
    """The mode's error against float64. Random weights in eval mode shrink the activations below fp16's
    range, which says nothing about the mode: without --weights the BatchNorm statistics are first
    calibrated on an input, as training would have set them."""
    if args.weights is None:
        x = torch.rand(2, model.config.in_channels, *args.imgsz, device=next(model.parameters()).device)
        model = calibrated_copy(model, x)
    return mode_error(model, mode, size=args.imgsz, device=args.device)


def _cmd_latency(args: argparse.Namespace) -> None:
    try:
        mode = LatencyMode(
            dtype=args.dtype,
            channels_last=args.channels_last,
            cuda_graph=args.cuda_graph,
            compile=args.compile,
            fold_bn=args.fold_bn,
            cudnn_benchmark=args.cudnn_benchmark,
            freeze=args.freeze,
        )
    except ValueError as err:
        raise _BadArgument(str(err)) from None
    batches = args.sweep or [args.batch]
    model = _model_on(args, "fp32", batch=max(batches))  # each run converts a private copy to the mode
    common = {"size": args.imgsz, "device": args.device, "mode": mode, "warmup": args.warmup, "iters": args.iters}
    try:
        results = batch_sweep(model, batches, threads=args.threads, **common)
        error = _mode_error(model, mode, args) if args.error else None
    except ValueError as err:
        raise _BadArgument(str(err)) from None
    except CompileError as err:
        raise _RunFailed(str(err)) from None
    if args.json:
        out = [r.to_dict() | ({"relative_error": error} if error is not None else {}) for r in results]
        print(json.dumps(out if args.sweep else out[0], indent=2))
        return
    first = results[0]
    h, w = first.input_size
    print(f"{model.config.label}, {h}x{w}, {first.mode} on {first.device_name}, torch {first.torch}, {first.threads} threads")
    if first.compile_s:
        print(f"compile/capture {first.compile_s:.1f} s before timing (not in the figures below)")
    for r in results:
        print(
            f"batch {r.batch:>4}: median {human_ms(r.median_ms)}  p90 {human_ms(r.p90_ms)}  min {human_ms(r.min_ms)}  "
            f"{r.images_per_s:,.1f} images/s  {r.tflops:.2f} TFLOP/s  ({len(r.times_ms)} runs after {r.warmup} warm-up)"
        )
    if error is not None:
        basis = "" if args.weights else " (BatchNorm calibrated on the input: random weights would underflow fp16)"
        print(f"relative error against float64: {error:.2e}{basis}")


_COMMANDS = {"stats": _cmd_stats, "features": _cmd_features, "latency": _cmd_latency}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        _COMMANDS[args.command](args)
    except _BadArgument as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    except _RunFailed as err:
        print(f"{parser.prog}: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # a last resort: one line, not a traceback
        if os.environ.get("YOLO_EXPLORER_DEBUG"):
            raise
        print(f"{parser.prog}: failed: {type(err).__name__}: {err} (YOLO_EXPLORER_DEBUG=1 shows details)", file=sys.stderr)
        return 1
    return 0
