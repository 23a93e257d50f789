"""`stats`: per-layer parameters, shapes, MACs, memory and receptive field, and torchinfo's summary."""

from __future__ import annotations

import argparse
import json

from ..deployment.devices import DTYPES
from ..model.detector import build_model
from ..model.stats import DEFAULT_SUMMARY_COLUMNS, SUMMARY_COLUMNS, model_stats, model_summary
from ..present.formatting import stats_table
from ..present.insights import info_flops_insight
from .common import BadArgument, Subcommands, load_into, model_args, model_config, positive


def register(sub: Subcommands) -> None:
    p = sub.add_parser("stats", help="per-layer parameters, shapes, MACs, memory, receptive field")
    model_args(p)
    p.add_argument("--dtype", default="fp32", choices=list(DTYPES), help="dtype of the activation memory")
    p.add_argument("--summary", action="store_true", help="also print the torchinfo summary")
    p.add_argument("--depth", type=positive, default=3, help="levels of the torchinfo summary (default 3)")
    p.add_argument("--columns", nargs="+", choices=list(SUMMARY_COLUMNS), help="torchinfo columns")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    config = model_config(args)
    if args.weights is not None:  # statistics do not depend on weights; check that they fit the architecture
        load_into(build_model(config, device="meta"), args, check_only=True)
    stats = model_stats(config, args.imgsz, args.dtype)
    summary = None
    if args.summary:
        columns = args.columns or DEFAULT_SUMMARY_COLUMNS
        try:
            summary = model_summary(config, args.imgsz, depth=args.depth, columns=columns, dtype=args.dtype)
        except ValueError as err:
            raise BadArgument(str(err)) from None
    if args.json:
        out = stats.to_dict()
        if summary is not None:
            out["summary"] = {"text": summary.text, "rows": list(summary.rows)}
        print(json.dumps(out, indent=2))
    else:
        print(stats_table(stats))
        note = info_flops_insight(stats)
        if note:
            print(note.replace("`", ""))
        if summary is not None:
            print()
            print(summary.text)
