"""`features`: one photo's feature maps as .npy files and PNG grids."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..forward.features import extract_features
from ..forward.heatmaps import rank_channels
from .common import BadArgument, Subcommands, model_args, model_on, photo, positive


def register(sub: Subcommands) -> None:
    p = sub.add_parser("features", help="save feature maps of one image as .npy and PNG grids")
    model_args(p)
    p.add_argument("--image", required=True, type=Path, help="image file")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--layers", nargs="+", default=["P3", "P4", "P5"], help="layers to save (default P3 P4 P5)")
    p.add_argument("--top", type=positive, default=16, help="channels in each PNG grid (default 16)")
    p.add_argument("--device", default="cpu", help="cpu, cuda:N or mps (default cpu)")
    p.add_argument("--bn", default="running", choices=["running", "batch"], help="BatchNorm statistics (default running)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from ..present.rendering import grid_image

    image = photo(args.image)
    model = model_on(args)
    try:
        result = extract_features(model, image, args.imgsz, args.layers, batch_norm=args.bn)
    except KeyError as err:
        raise BadArgument(err.args[0]) from None
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
