"""`assign`: label assignment, the cells of P3/P4/P5 that learn each ground-truth box."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..detection.assignment import BRANCH_TOPK, Truth, assign, truth_problem
from ..detection.detections import class_names
from ..forward.features import extract_features
from ..model.blocks import fold_batchnorm
from ..present.insights import assignment_insight
from .common import BadArgument, Subcommands, class_ids, model_args, model_on, photo, positive


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "assign",
        help="label assignment: which cells of P3/P4/P5 learn each ground-truth box, as YOLO11's training assigns them",
    )
    model_args(p, whole=True)
    p.add_argument("--image", required=True, type=Path, help="image file")
    p.add_argument(
        "--box",
        required=True,
        action="append",
        metavar="X1,Y1,X2,Y2[:CLASS]",
        help="a ground-truth box in the photo's pixels, with its class by name or index (default 0); repeat for more",
    )
    p.add_argument(
        "--branch",
        choices=list(BRANCH_TOPK),
        default="one2many",
        help="YOLO26: whose assignment, the one-to-many branch's (top 10) or the one-to-one branch's (top 7, then one cell "
        "per box) (default %(default)s)",
    )
    p.add_argument("--show", type=positive, default=10, help="candidates listed per box, best metric first (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights, without --weights (default 0)")
    p.add_argument("--device", default="cpu", help="cpu, cuda:N or mps (default cpu)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text (every candidate)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    image = photo(args.image)
    model = model_on(args)
    fold_batchnorm(model)  # running statistics, as the page and Ultralytics' predict run a model
    names = class_names(model.num_classes, model.class_names)
    truths = _truths(args.box, names)
    for n, truth in enumerate(truths, start=1):
        problem = truth_problem(truth, image.size, len(names))
        if problem:
            raise BadArgument(f"--box {n}: {problem}")
    if args.weights is None:
        print("random weights: the scores and boxes the metric ranks are a random network's; pass --weights", file=sys.stderr)
    forward = extract_features(model, image, args.imgsz, (), batch_norm="running", rect=False)  # square, as training
    try:
        result = assign(forward.predictions, forward.box, truths, names, branch=args.branch)
    except ValueError as err:
        raise BadArgument(str(err)) from None
    if args.json:
        about = {"model": model.config.label, "image": str(args.image), "image_size": [image.height, image.width]}
        print(json.dumps(about | result.to_dict(), indent=2))
        return
    h, w = result.input_size
    print(
        f"{model.config.label}, {image.height}x{image.width} photo (HxW) in a {h}x{w} input: {result.foreground} of "
        f"{result.anchors} cells learn a box (task-aligned assigner: top {result.topk} of score^{result.alpha:g} x "
        f"CIoU^{result.beta:g} among the cells whose centre is inside the box"
        + (f", then the best {result.topk2} per box: YOLO26's one-to-one branch" if result.topk2 else "")
        + ")"
    )
    for truth in result.truths:
        print(assignment_insight(truth, result.topk))
        print(f"  {'rank':>4}  level  {'cell':<8}  {'score':>6}  {'CIoU':>6}  {'metric':>9}  top-k  learns  {'target':>6}")
        for c in truth.candidates[: args.show]:
            cell = f"{c.cell.row}, {c.cell.col}"
            taken = f"  (taken by box {c.taken_by + 1})" if c.taken_by is not None else ""
            print(
                f"  {c.rank:>4}  {c.cell.level:<5}  {cell:<8}  {c.score:>6.3g}  {c.iou:>6.3f}  {c.metric:>9.3g}  "
                f"{'yes' if c.picked else 'no':<5}  {'yes' if c.positive else 'no':<6}  {c.target:>6.3f}{taken}"
            )


def _truths(boxes: Sequence[str], names: Sequence[str]) -> list[Truth]:
    """`--box X1,Y1,X2,Y2[:CLASS]` values as ground truths (the class by name or index, 0 when left out)."""
    truths = []
    for value in boxes:
        corners, _, wanted = value.partition(":")
        try:
            box = tuple(float(v) for v in corners.split(","))
        except ValueError:
            box = ()
        if len(box) != 4:
            raise BadArgument(f"--box {value!r}: give X1,Y1,X2,Y2 in the photo's pixels, then :CLASS if not class 0")
        truths.append(Truth(box, class_ids([wanted], names, f"--box {value!r}")[0] if wanted else 0))
    return truths
