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
    p.add_argument(
        "--attention",
        metavar="BLOCK",
        help="also where one cell of an attention block looks (10.m.0.attn; `--attention list` names them): its softmax "
        "row, per head, as .npy, and over the photo as a PNG",
    )
    p.add_argument("--cell", type=_cell, metavar="ROW,COL", help="with --attention, the cell (default the map's centre)")
    p.set_defaults(run=run)


def _cell(text: str) -> tuple[int, int]:
    try:
        row, col = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROW,COL such as 4,7; got {text!r}") from None
    return row, col


def run(args: argparse.Namespace) -> None:
    from ..present.rendering import grid_image

    image = photo(args.image)
    model = model_on(args)
    if args.attention is not None:
        _attention(args, model, image)
        if args.attention == "list":
            return
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


def _attention(args: argparse.Namespace, model, image) -> None:
    """`--attention BLOCK [--cell R,C]`: where that cell looks, as .npy (heads, H, W) and over the photo."""
    from ..forward.attention import attention_blocks, attention_input, row_of
    from ..forward.heatmaps import map_to_original
    from ..present.rendering import heat_image

    blocks = attention_blocks(model)
    if args.attention == "list":
        for name, kind in blocks.items():
            print(f"{name}  {kind}")
        if not blocks:
            print(f"{model.config.label} has no attention block")
        return
    try:
        qkv, box = attention_input(model, image, args.imgsz, args.attention)
        h, w = qkv.shape[2:]
        found = row_of(model, args.attention, qkv, box, args.cell or (h // 2, w // 2))
    except (KeyError, ValueError) as err:
        raise BadArgument(f"--attention: {err.args[0]}") from None
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"attention_{args.attention}_r{found.cell[0]}c{found.cell[1]}"
    np.save(args.out / f"{stem}.npy", found.heads.numpy())
    heat_image(image, map_to_original(found.mean, box)).save(args.out / f"{stem}.png")
    first, last = found.strip_rows
    where = f"rows {first} to {last} of its {found.strips} strips" if found.strips > 1 else "the whole map"
    print(
        f"{args.attention} ({blocks[args.attention]}): cell {found.cell[0]}, {found.cell[1]} of its {h}x{w} map attends over "
        f"{where}; {found.share_within(1):.0%} of it on its own 3x3 neighbourhood ({found.heads.shape[0]} heads averaged)"
    )
    print(args.out / f"{stem}.npy")
    print(args.out / f"{stem}.png")
