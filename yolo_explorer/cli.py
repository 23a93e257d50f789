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

from .backbone import build_backbone
from .config import ARCHITECTURES, make_config
from .devices import DTYPES, check_device, dtype_from_name, supported_dtypes
from .features import extract_features
from .formatting import human_ms, stats_table
from .heatmaps import rank_channels
from .latency import measure_latency
from .preprocess import ImageLoadError, load_image
from .rendering import grid_image
from .stats import DEFAULT_SUMMARY_COLUMNS, SUMMARY_COLUMNS, model_stats, model_summary, parse_size

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
        p.add_argument("--arch", default="tutorial", choices=sorted(ARCHITECTURES), help="architecture (default tutorial)")
        p.add_argument("--width", type=int, default=64, help="base width, a multiple of 8 from 8 to 256 (default 64)")
        p.add_argument("--repeats", type=int, default=2, help="bottlenecks per C3k2 (default 2)")
        p.add_argument("--imgsz", type=_size, default=(640, 640), help="input size S or HxW (default 640)")

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
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _config(args: argparse.Namespace):
    try:
        return make_config(args.arch, width=args.width, depth=args.repeats)
    except ValueError as err:
        raise _BadArgument(str(err)) from None


def _cmd_stats(args: argparse.Namespace) -> None:
    config = _config(args)
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


def _model_on(args: argparse.Namespace, dtype: str = "fp32"):
    config = _config(args)
    try:
        device = check_device(args.device)
    except ValueError as err:
        raise _BadArgument(str(err)) from None
    if dtype not in supported_dtypes(device):
        raise _BadArgument(f"{device} cannot run {dtype}; it supports {', '.join(supported_dtypes(device))}")
    return build_backbone(config=config, seed=args.seed, device=device, dtype=dtype_from_name(dtype))


def _cmd_features(args: argparse.Namespace) -> None:
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


def _cmd_latency(args: argparse.Namespace) -> None:
    model = _model_on(args, args.dtype)
    try:
        result = measure_latency(
            model, size=args.imgsz, batch=args.batch, device=args.device, dtype=args.dtype, warmup=args.warmup, iters=args.iters
        )
    except ValueError as err:
        raise _BadArgument(str(err)) from None
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    h, w = result.input_size
    print(f"{model.config.label}, {h}x{w}, batch {result.batch}, {result.dtype} on {result.device_name}, torch {result.torch}")
    print(
        f"median {human_ms(result.median_ms)}  p90 {human_ms(result.p90_ms)}  min {human_ms(result.min_ms)}  "
        f"max {human_ms(result.max_ms)}  {result.images_per_s:.1f} images/s  ({len(result.times_ms)} runs after "
        f"{result.warmup} warm-up)"
    )


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
