"""Command line: `python -m yolo_explorer stats | detect | assign | features | latency | int8 | profile | changes |
weights`, one module per command, each registering its own subparser and its `run`.

Exit status: 0 done, 1 a bad image or a failed run, 2 a bad argument. Errors are one line, never a
traceback (set YOLO_EXPLORER_DEBUG=1 to see one).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ..deployment.devices import share_device_locks
from ..environment import Environment
from . import assign, changes, detect, features, int8, latency, profile, stats, weights
from .common import BadArgument, Parser, RunFailed, fit_imgsz

__all__ = ["main"]

COMMANDS = (stats, detect, assign, features, latency, int8, profile, changes, weights)  # in the order help lists them


def build_parser() -> Parser:
    parser = Parser(
        prog="yolo-explorer",
        description="Look inside the tutorial's YOLOv11 backbone and Ultralytics' YOLO11: statistics, feature maps, "
        "detections, latency, per-layer time.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.env = Environment.read(os.environ)  # the one read of the environment; the engine is handed what it says
    except ValueError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    share_device_locks(args.env.lock_dir)
    try:
        if getattr(args, "imgsz", None) is not None:
            fit_imgsz(args)
        args.run(args)
    except BadArgument as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    except RunFailed as err:
        print(f"{parser.prog}: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the output piped into a reader that stopped early (`| head`): nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's documented remedy (signal module)
        return 0
    except Exception as err:  # a last resort: one line, not a traceback
        if args.env.debug:
            raise
        print(f"{parser.prog}: failed: {type(err).__name__}: {err} (YOLO_EXPLORER_DEBUG=1 shows details)", file=sys.stderr)
        return 1
    return 0
