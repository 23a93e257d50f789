"""`profile`: every layer timed, its share of the forward and of the MACs, its rate against the device's peaks."""

from __future__ import annotations

import argparse
import json

from ..deployment.devices import DTYPES
from ..deployment.peaks import device_peaks
from ..deployment.profile import profile_layers
from .common import BadArgument, Subcommands, latency_mode, model_on, timing_args


def register(sub: Subcommands) -> None:
    p = sub.add_parser("profile", help="time every layer: its share of the forward and of the MACs, its rate, a roofline")
    timing_args(p, list(DTYPES), whole_forward=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    mode = latency_mode(args)
    model = model_on(args, "fp32", batch=args.batch)
    common = {"size": args.imgsz, "batch": args.batch, "device": args.device, "warmup": args.warmup, "iters": args.iters}
    try:
        profile = profile_layers(model, mode=mode, threads=args.threads, **common)
        peaks = device_peaks(args.device, args.dtype)
    except ValueError as err:
        raise BadArgument(str(err)) from None
    if args.json:
        out = profile.to_dict() | {"peak_tflops": peaks.tflops, "peak_gbps": peaks.gbps, "peak_kernel": peaks.compute}
        print(json.dumps(out, indent=2))
        return
    h, w = profile.input_size
    print(f"{profile.model}, {h}x{w} (HxW), batch {profile.batch}, {profile.mode} on {profile.device_name}: {profile.runs} runs")
    print(
        f"peaks measured here: {peaks.tflops:.3g} TFLOP/s ({peaks.compute}), {peaks.gbps:.3g} GB/s; "
        f"ridge {peaks.ridge:.3g} FLOP/byte (below it a layer is memory-bound)"
    )
    print(f"{'layer':<14}{'block':<12}{'ms':>9}{'time':>7}{'MACs':>7}{'GFLOP/s':>10}{'FLOP/B':>8}  bound")
    for layer in profile.layers:
        bound = peaks.bound(layer.intensity)
        print(
            f"{layer.name:<14}{layer.block:<12}{layer.ms:>9.3f}{layer.share:>7.1%}{layer.macs_share:>7.1%}"
            f"{layer.gflops_per_s:>10.1f}{layer.intensity:>8.1f}  {bound}"
        )
    print(
        f"layers {profile.total_ms:.3f} ms in all; the plain forward {profile.forward_ms:.3f} ms in the same run "
        f"({profile.overhead:.2f}x: {profile.method})"
    )
