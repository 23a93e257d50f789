"""`detect`: the whole detector on one photo, the boxes NMS keeps (as `yolo predict`), the way there step by step,
and why a box was found."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..detection.detections import BRANCHES, PREDICT, Nms, class_names, detect
from ..detection.explain import explain
from ..detection.labels import read_labels
from ..detection.two_heads import PREDICT_MODES, compare_heads
from ..detection.walkthrough import Walkthrough, walkthrough
from ..forward.features import extract_features
from ..model.blocks import fold_batchnorm
from ..present.insights import levels_insight
from .common import BadArgument, Subcommands, class_ids, count, fraction, model_args, model_on, photo, positive


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "detect",
        help="the whole detector on one image: the boxes NMS keeps (table, JSON, a picture), as `yolo predict`",
    )
    model_args(p, whole=True)
    p.add_argument("--image", required=True, type=Path, help="image file")
    p.add_argument(
        "--no-rect",
        dest="rect",
        action="store_false",
        help="pad the photo to the whole --imgsz; by default, as Ultralytics' predict, only up to a multiple of 32 "
        "(a 1920x1080 photo at 640 runs at 384x640)",
    )
    p.add_argument("--conf", type=fraction, default=PREDICT.conf, help="score threshold, 0 to 1 (default %(default)s)")
    p.add_argument("--iou", type=fraction, default=PREDICT.iou, help="IoU threshold of NMS, 0 to 1 (default %(default)s)")
    p.add_argument("--only", nargs="+", metavar="CLASS", help="keep only these classes, by name or index (person 2 ...)")
    p.add_argument("--agnostic", action="store_true", help="suppress overlapping boxes across classes (default per class)")
    p.add_argument("--max-det", type=positive, default=PREDICT.max_det, help="boxes kept at most (default %(default)s)")
    p.add_argument(
        "--branch",
        choices=[*BRANCHES, "both"],
        default="one2many",
        help="YOLO26's head has two: one2many, read through NMS (what `yolo predict` runs by default since Ultralytics "
        "8.4.142), or one2one, its top scores without NMS (`predict(nms=False)`); both: the two side by side, from one "
        "forward: the boxes both keep, those only one keeps, the one-to-one branch's duplicates (default %(default)s)",
    )
    p.add_argument(
        "--truth",
        type=Path,
        metavar="LABELS",
        help="with --branch both: the photo's objects as a YOLO label file (class cx cy w h, fractions of the photo): "
        "each branch's boxes matched to them, and how often a box of each score finds one (reliability)",
    )
    p.add_argument(
        "--steps",
        action="store_true",
        help="also show the way there: the output's shape, candidates per level, and NMS step by step (kept, suppressed)",
    )
    p.add_argument(
        "--explain",
        type=count,
        default=0,
        metavar="K",
        help="also say why the first K boxes were found: the level's cells (HiResCAM) and the pixels (input gradient) "
        "that raised each class score; one backward pass per box",
    )
    p.add_argument(
        "--explain-out", type=Path, metavar="DIR", help="with --explain, write each box's two maps over the photo as PNGs"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights, without --weights (default 0)")
    p.add_argument("--device", default="cpu", help="cpu, cuda:N or mps (default cpu)")
    p.add_argument("--out", type=Path, help="also write the photo with its boxes here (.png, .jpg)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    if args.out is not None and args.out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise BadArgument(f"--out: write a .png or .jpg, not {args.out.name!r}")
    if args.explain_out is not None and not args.explain:
        raise BadArgument("--explain-out: say how many boxes to explain with --explain K")
    if args.steps and args.branch == "one2one":
        raise BadArgument("--steps walks NMS, which the one-to-one branch does without: drop --steps or use --branch one2many")
    if args.truth is not None and args.branch != "both":
        raise BadArgument("--truth goes with --branch both (each branch's boxes against the photo's objects)")
    if args.branch == "both" and (args.steps or args.explain or args.out is not None):
        raise BadArgument("--branch both compares the branches' boxes; --steps, --explain and --out read one branch: pick it")
    image = photo(args.image)
    model = model_on(args)
    end2end = getattr(model.get_submodule(model.head_name), "end2end", False)
    if args.branch != "one2many" and not end2end:
        raise BadArgument(f"--branch {args.branch}: {model.config.label} has one branch (the one-to-one branch is YOLO26's)")
    fold_batchnorm(model)  # as Ultralytics' predict runs a model (its fuse()): the same outputs, faster
    if end2end and args.branch != "both":  # the one branch it reads (its outputs then stand in front, where explanations look)
        model.get_submodule(model.head_name).keep_branch(args.branch)
    names = class_names(model.num_classes, model.class_names)
    only = class_ids(args.only, names) if args.only else None
    if args.weights is None:
        print(
            "random weights: an untrained head scores every cell near its starting bias, so there is nothing to detect; "
            "pass --weights with trained weights (an Ultralytics checkpoint such as yolo11n.pt, or a state_dict)",
            file=sys.stderr,
        )
    nms = Nms(args.conf, args.iou, args.agnostic, only, args.max_det)
    if args.branch == "both":
        _print_both(args, model, image, nms, names)
        return
    result = detect(model, image, args.imgsz, nms, rect=args.rect, keep_predictions=args.steps, branch=args.branch)
    h, w = result.box.size
    if args.out is not None:
        from ..present.rendering import boxes_image

        args.out.parent.mkdir(parents=True, exist_ok=True)
        boxes_image(image, result.detections).save(args.out)
    walked = walkthrough(result.predictions, result.box.size, names, nms) if args.steps else None
    explained = [(d, explain(model, result.box, d.anchor, d.class_id)) for d in result.detections[: args.explain]]
    if args.explain_out is not None:
        _write_explanations(args.explain_out, image, result.box, explained)
    if args.json:
        out = {"model": model.config.label, "image": str(args.image), **nms.to_dict(), **result.to_dict()}
        if walked is not None:
            out["walk"] = walked.to_dict()
        if args.explain:
            out["explanations"] = [{"name": d.name, "score": d.score, **why.to_dict(result.box)} for d, why in explained]
        print(json.dumps(out, indent=2))
    else:
        suppression = "across classes" if args.agnostic else "per class"
        among = f" of {', '.join(names[i] for i in only)}" if only else ""
        how = f"NMS {suppression} at IoU {args.iou:.2f}"
        if args.branch == "one2one":
            how = "the one-to-one branch's top scores, no NMS" + (", one class per cell" if args.agnostic else "")
        elif end2end:
            how = f"the one-to-many branch, {how}; --branch one2one for the NMS-free one"
        print(
            f"{model.config.label}, {image.height}x{image.width} photo (HxW) letterboxed to {h}x{w}: "
            f"{len(result.detections)} boxes kept of {result.candidates} cells above {args.conf:.2f}{among} "
            f"({how}; best score anywhere {result.best_score:.3g})"
        )
        if result.detections:
            width = max(len("class"), *(len(d.name) for d in result.detections))
            print(f"{'class':<{width}}  {'score':>6}  {'x1':>7}  {'y1':>7}  {'x2':>7}  {'y2':>7}  level  cell")
            for d in result.detections:
                x1, y1, x2, y2 = d.box
                cell = f"{d.cell.level:<5}  {d.cell.row}, {d.cell.col}"
                print(f"{d.name:<{width}}  {d.score:>6.3f}  {x1:>7.1f}  {y1:>7.1f}  {x2:>7.1f}  {y2:>7.1f}  {cell}")
            print(levels_insight(result.detections, result.box.scale))
        if walked is not None:
            print(_walk_text(walked))
        for i, (d, why) in enumerate(explained, start=1):
            facts = why.to_dict(result.box)
            (cx, cy), (gx, gy) = facts["cam_peak"], facts["gradient_peak"]
            print(
                f"why box {i} ({d.name} {d.score:.2f}): {why.level} cell {why.cell[0]}, {why.cell[1]}; {why.share:.0%} of "
                f"its HiResCAM within one cell of it, peaking at ({cx:.0f}, {cy:.0f}); input gradient strongest at "
                f"({gx:.0f}, {gy:.0f}) in the photo"
            )
    if args.explain_out is not None:
        print(f"wrote {len(explained) * 2} pictures to {args.explain_out}", file=sys.stderr)
    if args.out is not None:
        print(f"wrote {args.out}", file=sys.stderr)


def _print_both(args: argparse.Namespace, model, image, nms: Nms, names) -> None:
    """`detect --branch both`: YOLO26's two branches on the photo, from one forward."""
    forward = extract_features(model, image, args.imgsz, (), batch_norm="running", rect=args.rect)
    heads = compare_heads(forward.predictions, forward.box, names, nms)
    reliable = None
    if args.truth is not None:
        try:  # in the photo's own pixels: "letterboxed" to the photo's size, which changes nothing
            truths = read_labels(args.truth, image.size, (image.height, image.width), len(names))
        except (ValueError, OSError) as err:
            raise BadArgument(f"--truth {args.truth}: {err}") from None
        reliable = heads.reliability(truths, nms.conf)
    if args.json:
        out = {"model": model.config.label, "image": str(args.image), **nms.to_dict(), **heads.to_dict()}
        if reliable is not None:
            out["reliability"] = {branch: r.to_dict() for branch, r in reliable.items()}
        print(json.dumps(out, indent=2))
        return
    h, w = forward.box.size
    many, one = heads.one2many, heads.one2one
    print(
        f"{model.config.label}, {image.height}x{image.width} photo (HxW) letterboxed to {h}x{w}, score over {args.conf:.2f}: "
        f"the one-to-many branch and NMS (IoU {args.iou:.2f}) keep {len(many.detections)} boxes of {many.candidates} "
        f"candidates; the one-to-one branch's top scores, no NMS, give {len(one.detections)}"
    )
    print(f"both: {len(heads.pairs)} objects found by each (same class, IoU {heads.match_iou} or more)")

    def line(d) -> str:
        x1, y1, x2, y2 = d.box
        where = f"{d.cell.level} cell {d.cell.row}, {d.cell.col}"
        return f"  {d.name} {d.score:.3f} at ({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}), {where}"

    print(f"only through NMS: {len(heads.only_one2many)}")
    for d in heads.only_one2many:
        print(line(d))
    print(f"only one-to-one: {len(heads.only_one2one)}")
    for d in heads.only_one2one:
        print(line(d))
    print(
        f"one-to-one duplicates (over a better box of their class past IoU {args.iou:.2f}: what NMS would remove): "
        f"{len(heads.duplicates)}"
    )
    for kept, duplicate, overlap in heads.duplicates:
        print(line(duplicate) + f", IoU {overlap:.2f} with {kept.name} {kept.score:.3f}")
    for label, scores in (("one-to-many candidates", heads.scores_one2many), ("one-to-one boxes", heads.scores_one2one)):
        if scores:
            middle = scores[len(scores) // 2]
            print(f"scores of the {label}: {len(scores)}, highest {scores[0]:.3f}, median {middle:.3f}, lowest {scores[-1]:.3f}")
    print("Ultralytics' predict (8.4.142 on): " + "; ".join(f"{mode} reads {BRANCHES[b]}" for mode, b in PREDICT_MODES))
    if reliable is not None:
        print(reliability_text(reliable))


def reliability_text(reliable: dict) -> str:
    """Each branch's boxes against the photo's objects, and per score bin how many found one."""
    lines = []
    for branch, r in reliable.items():
        lines.append(
            f"{BRANCHES[branch]}: {r.found} of its {len(r.hits)} boxes find one of the {r.truths} objects "
            f"(same class, IoU {r.iou} or more)"
        )
        for low, high, n, mean, share in r.bins():
            if n:
                lines.append(f"  scores {low:.2f}-{high:.2f}: {n} boxes, mean score {mean:.3f}, {share:.0%} find an object")
    return "\n".join(lines)


def _write_explanations(folder: Path, image, box, explained) -> None:
    from ..forward.heatmaps import map_to_original
    from ..present.rendering import boxes_image, heat_image

    folder.mkdir(parents=True, exist_ok=True)
    for i, (d, why) in enumerate(explained, start=1):
        for name, heat in (("cam", why.cam), ("gradient", why.saliency)):
            boxes_image(heat_image(image, map_to_original(heat, box)), [d]).save(folder / f"box{i}_{name}.png")


def _walk_text(walked: Walkthrough) -> str:
    """`detect --steps`: the way from the head's output to the kept boxes, one line per NMS step."""
    channels, anchors = walked.output_shape
    levels = ", ".join(f"{lv.name} {lv.grid[0]}x{lv.grid[1]}: {lv.candidates} of {lv.predictions}" for lv in walked.levels)
    lines = [
        f"the head's output: {channels} x {anchors} ({channels - 4} class scores and 4 box numbers per cell); "
        f"candidates over {walked.nms.conf:.2f} per level: {levels}"
    ]
    for i, step in enumerate(walked.steps, start=1):
        kept = step.kept
        gone = ", ".join(f"{c.name} {c.score:.2f} (IoU {overlap:.2f})" for c, overlap in step.suppressed) or "nothing"
        lines.append(
            f"step {i}: keep {kept.name} {kept.score:.3f} from {kept.cell.level} cell ({kept.cell.row}, {kept.cell.col}); "
            f"suppress {gone}; {walked.waiting(i)} left"
        )
    return "\n".join(lines)
