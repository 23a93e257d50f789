"""`int8`: trained detectors' int8 side by side (verdicts, scores against fp32's, the best threshold, Ultralytics'
recipe, the units to keep in float); and `latency --runtime onnxruntime --dtype int8` with sensitivity, mixed precision
or another calibration: the photos int8 is calibrated and judged on, and the report."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..deployment.int8_sensitivity import Int8Lab, Recipe, compare_precisions, precision_boxes
from ..deployment.int8_verdict import Int8Photos, int8_photos, uses_samples
from ..deployment.latency import LatencyRequest
from ..deployment.onnx_models import (
    OnnxExportError,
    RuntimeUnavailableError,
    calibration_folder,
    calibration_photo,
    deployable,
)
from ..detection.detections import class_names
from ..forward.preprocess import ImageLoadError, load_image
from ..model.config import COCO_CLASS_COUNT
from ..model.detector import Detector
from ..present.formatting import photo_list
from ..present.insights import (
    box_changes_insight,
    calibration_insight,
    int8_tradeoff_insight,
    verdict_insight,
)
from .common import BadArgument, RunFailed, model_on

CLI_REMEDY = "calibrate on photos of the model's own scenes: --calibration FOLDER"


def int8_asked(args: argparse.Namespace) -> bool:
    return bool(
        args.sensitivity or args.keep_float or args.keep_float_top or args.calibrator != "minmax" or args.calibration
        or args.judge or args.calibration_photos or args.per_tensor or args.image
    )  # fmt: skip


def _photos_of(paths: Sequence[Path], size: tuple[int, int], flag: str) -> list[tuple[str, np.ndarray]]:
    """Photos given on the command line (files or folders), letterboxed and labelled by file name; what a folder leaves
    out is said on stderr."""
    photos = []
    for path in paths:
        if path.is_dir():
            found, skipped = calibration_folder(path, size)
            for line in skipped:
                print(f"{flag} {path}: left out {line}", file=sys.stderr)
            if not found:
                raise BadArgument(f"{flag} {path}: no photo in this folder")
            photos += found
            continue
        try:
            photos.append((path.name, calibration_photo(path, size)))
        except ImageLoadError as err:
            raise BadArgument(f"{flag} {path}: {err}") from None
    return photos


def _int8_photos(args: argparse.Namespace, model: torch.nn.Module) -> Int8Photos:
    """The photos int8 is calibrated and judged on: `--calibration`'s (split: every other one judges, unless `--judge`
    names the judged ones); by default `--image` and, unless the model is a trained detector of other classes than
    COCO's, the samples."""
    size = args.imgsz
    samples = samples_fit(args, model)
    if args.calibration:
        own, samples = _photos_of(args.calibration, size, "--calibration"), False
    else:
        own = _photos_of([args.image], size, "--image") if args.image is not None else []
    if not own and not samples:
        raise BadArgument(own_photos_needed(model))
    judged = _photos_of(args.judge, size, "--judge") if args.judge else None
    try:
        return int8_photos(own, size=size, samples=samples, judged=judged)
    except ValueError as err:
        raise BadArgument(str(err)) from None


def samples_fit(args: argparse.Namespace, model: torch.nn.Module) -> bool:
    """Whether the built-in samples are photos of the model's world (random weights, a backbone, COCO's classes)."""
    detector = isinstance(model, Detector)
    names = model.class_names if detector else None
    classes = model.num_classes if detector else COCO_CLASS_COUNT
    return uses_samples(trained=args.weights is not None, detector=detector, names=names, classes=classes)


def own_photos_needed(model: torch.nn.Module) -> str:
    return (
        f"these weights detect {', '.join(class_names(model.num_classes, model.class_names))}, not COCO's classes: the "
        "sample photos show them nothing of that, so int8 cannot be calibrated or judged on them; pass photos of the "
        "model's own scenes: --calibration FOLDER (every other photo, 8 at most, is kept aside to judge int8 on)"
    )


def int8_trust(args: argparse.Namespace, request: LatencyRequest) -> None:
    """`latency --runtime onnxruntime --dtype int8` with sensitivity, mixed precision or another calibration."""
    model = model_on(args, "fp32", batch=max(request.batches))
    photo = None
    if args.image is not None:
        if not isinstance(model, Detector):
            raise BadArgument("--image: boxes need the whole detector (--detector)")
        try:
            photo = load_image(args.image)
        except ImageLoadError as err:
            raise BadArgument(f"--image {args.image}: {err}") from None
    photos = _int8_photos(args, model)
    try:
        recipe = Recipe(args.calibrator, args.calibration_photos, not args.per_tensor)
        model, fp32 = deployable(model, size=args.imgsz, calibrate_batchnorm=args.weights is None)
        lab = Int8Lab.build(model, recipe=recipe, photos=photos, fp32=fp32)
        for name in args.keep_float or ():
            lab.unit(name)  # an unknown unit is refused before any long work
        if args.keep_float_top and args.keep_float_top > len(lab.units):
            raise ValueError(f"--keep-float-top: {fp32.label} has {len(lab.units)} units, not {args.keep_float_top}")
        check = lab.check()
        warning = calibration_insight(check, CLI_REMEDY)
        if warning and not args.json:
            print(f"warning: {warning}")
        rows = None
        if args.sensitivity or args.keep_float_top:
            print(f"{2 * len(lab.units)} quantizations of {len(lab.units)} units (calibration once)…", file=sys.stderr)
            rows = lab.sensitivity()
        keep = args.keep_float or (lab.most_sensitive(args.keep_float_top, rows) if args.keep_float_top else [])
        variants = compare_precisions(lab, model, request, keep)
    except ValueError as err:
        raise BadArgument(str(err)) from None
    except (RuntimeUnavailableError, OnnxExportError) as err:
        raise RunFailed(str(err)) from None
    judged = lab.judged
    changes = precision_boxes(variants, photo, model.class_names) if photo is not None else {}
    if args.json:
        out = {
            "model": fp32.label,
            "input_size": list(fp32.size),
            "recipe": asdict(recipe),
            "photos": {"calibrated": list(lab.photos.calibrate_labels), "judged": list(lab.photos.judged_labels),
                       "mirrored": lab.photos.mirrored},
            "calibration": check.to_dict() if check is not None else None,
            "warning": warning,
            "judged": list(judged),
            "units": [{"name": u.name, "kind": u.kind, "nodes": len(u.nodes)} for u in lab.units],
            "variants": [
                {
                    "name": v.name,
                    "kept_float": list(v.kept_float),
                    "median_ms": v.latency.median_ms,
                    "outputs": [asdict(e) for e in v.errors],
                    "verdict": v.verdict.to_dict() if v.verdict is not None else None,
                }
                for v in variants
            ],
        }  # fmt: skip
        if changes:
            out["boxes"] = {
                name: {"kept": len(c.kept), "lost": len(c.lost), "new": len(c.new), "match_iou": c.iou,
                       "iou": [iou for _, _, iou in c.kept]}
                for name, c in changes.items()
            }  # fmt: skip
        if rows is not None:
            out["sensitivity"] = [
                {"unit": r.unit.name, "kind": r.unit.kind, "alone": [asdict(e) for e in r.alone],
                 "all_but": [asdict(e) for e in r.all_but],
                 "alone_verdict": r.alone_verdict.status if r.alone_verdict else None,
                 "all_but_verdict": r.all_but_verdict.status if r.all_but_verdict else None}
                for r in rows
            ]  # fmt: skip
        print(json.dumps(out, indent=2))
        return
    h, w = fp32.size
    print(
        f"{fp32.label} at {h}x{w} (HxW), ONNX Runtime int8 ({recipe.calibrator} calibration, "
        f"{'per-channel' if recipe.per_channel else 'per-tensor'} weights) on {photo_list(lab.photos.calibrate_labels)}; "
        f"judged on {photo_list(lab.photos.judged_labels)}"
        + (" (the one photo, mirrored: a weaker test; pass more photos)" if lab.photos.mirrored else "")
    )
    if rows is not None:
        width = max(len(r.unit.label) for r in rows) + 2
        print(f"worst cosine with float over {', '.join(judged)}, with the unit in int8 alone, and with all but it:")
        verdicts = lab.detector
        print(f"{'unit':<{width}}{'alone':>9}{'all but it':>12}" + (f"{'all but it: boxes':>20}" if verdicts else ""))
        for r in rows:
            line = f"{r.unit.label:<{width}}{r.worst('alone', judged):>9.5f}{r.worst('all_but', judged):>12.5f}"
            if verdicts and r.all_but_verdict is not None:
                line += f"{r.all_but_verdict.status:>20}"
            print(line)
    names = [e.name for e in variants[0].errors]
    print("cosine with float64 per output:")
    print(f"{'':<10}{'median ms':>10}" + "".join(f"{n:>{max(len(n), 7) + 2}}" for n in names))
    for v in variants:
        kept = f"  (float: {', '.join(v.kept_float)})" if v.kept_float else ""
        cells = "".join(f"{e.cosine:>{max(len(e.name), 7) + 2}.5f}" for e in v.errors)
        print(f"{v.name:<10}{v.latency.median_ms:>10.2f}{cells}{kept}")
    print(int8_tradeoff_insight(variants, judged))
    for v in variants[1:]:
        if v.verdict is not None:
            print(verdict_insight(v.verdict, v.subject))
    for name, c in changes.items():
        print(f"{name} on {args.image.name}: {box_changes_insight(c)}")
    if args.weights is None:
        print("random weights (BatchNorm set from the samples): their errors compound through the layers; a trained "
              "model's sensitivities differ, so pass --weights", file=sys.stderr)  # fmt: skip


def register(sub) -> None:
    """`int8`: a trained detector's int8 summed up, and other detectors' beside it (`--beside`), judged alike."""
    from ..deployment.int8_sensitivity import BRANCHES
    from ..deployment.onnx_models import CALIBRATORS
    from .common import model_args, positive

    p = sub.add_parser(
        "int8",
        help="int8 of a trained detector beside another's (YOLO11n's beside YOLO26n's): verdicts, scores against fp32's, "
        "the best score threshold, Ultralytics' recipe, the units to keep in float",
    )
    model_args(p, whole=True)
    p.add_argument(
        "--beside", action="append", type=Path, default=[], metavar="WEIGHTS",
        help="more trained weights, judged alike and shown side by side (repeat for more)",
    )  # fmt: skip
    p.add_argument(
        "--calibration", nargs="+", type=Path, metavar="PHOTO",
        help="photos or folders of the models' own scenes: every other photo (8 at most) is kept aside to judge on. YOLO "
        "label files beside them (photo.txt, or labels/ beside images/) make the thresholds judged against the truth",
    )  # fmt: skip
    p.add_argument("--judge", nargs="+", type=Path, metavar="PHOTO", help="judge on these photos or folders (then every "
                   "--calibration photo calibrates)")  # fmt: skip
    p.add_argument(
        "--branch", choices=list(BRANCHES), default="one2many",
        help="an end-to-end head's branch to judge: one2many (through NMS, predict's default) or one2one (no NMS, as "
        "YOLO26 exports); other heads are read through NMS",
    )  # fmt: skip
    p.add_argument("--sensitivity", action="store_true", help="rank the units and find the fewest to keep in float "
                   "(2 quantizations per unit)")  # fmt: skip
    p.add_argument("--calibrator", choices=list(CALIBRATORS), default="minmax", help="ONNX Runtime's calibrator (default minmax)")
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor (default one per output channel)")
    p.add_argument("--calibration-photos", type=positive, metavar="N", help="calibrate on the first N photos only")
    p.add_argument("--seed", type=int, default=0, help="seed of random weights (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run_report, device="cpu", image=None)


def run_report(args: argparse.Namespace) -> None:
    from ..deployment.int8_report import int8_report

    if args.weights is None:
        raise BadArgument("int8 judges trained weights: pass --weights (and --beside for more)")
    reports = []
    for weights in [args.weights, *args.beside]:
        arch = args.arch if weights == args.weights else None  # each of --beside is read as its own table says
        one = argparse.Namespace(**{**vars(args), "weights": weights, "arch": arch, "checkpoint": None})
        model = model_on(one, "fp32")
        if not isinstance(model, Detector):
            raise BadArgument(f"{weights}: int8's report judges a detector's boxes, and these weights are a backbone's")
        photos = _int8_photos(one, model)
        photos = _with_labels(photos, [*(args.calibration or ()), *(args.judge or ())], args.imgsz, model.num_classes)
        try:
            recipe = Recipe(args.calibrator, args.calibration_photos, not args.per_tensor)
            model, fp32 = deployable(model, size=args.imgsz)
            branch = args.branch if "one2one_decoded" in fp32.outputs else "one2many"
            lab = Int8Lab.build(model, recipe=recipe, photos=photos, fp32=fp32, branch=branch)
            rows = None
            if args.sensitivity:
                print(f"{fp32.label}: {2 * len(lab.units)} quantizations of {len(lab.units)} units…", file=sys.stderr)
                rows = lab.sensitivity()
            reports.append(int8_report(lab, rows))
        except ValueError as err:
            raise BadArgument(f"{weights}: {err}") from None
        except (RuntimeUnavailableError, OnnxExportError) as err:
            raise RunFailed(str(err)) from None
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
        return
    print(report_table(reports))


def _with_labels(photos: Int8Photos, paths: Sequence[Path], size: tuple[int, int], classes: int) -> Int8Photos:
    """The photos with the truths of those that come with YOLO label files (in the folders or beside the files given)."""
    from dataclasses import replace

    from ..detection.labels import labels_for

    wanted = set(photos.calibrate_labels) | set(photos.judged_labels)
    truths = {}
    for path in paths:
        folder, names = (path, [n for n in wanted if (path / n).is_file()]) if path.is_dir() else (path.parent, [path.name])
        found, problems = labels_for(folder, [n for n in names if n in wanted], size, classes)
        truths |= found
        for line in problems:
            if "no label file" not in line:
                print(f"labels: {line}", file=sys.stderr)
    return replace(photos, truths=truths)


def report_table(reports: Sequence) -> str:
    """Reports side by side: one column per model, one row per figure."""
    first = reports[0]
    lines = [
        f"int8 at {first.size[0]}x{first.size[1]} (ONNX Runtime), calibrated on {photo_list(first.calibrated)}; judged on "
        f"{photo_list(first.judged)}; score thresholds judged against "
        + ("the truth (the photos' labels)" if first.against == "truth" else f"fp32's boxes at {first.against.split()[-1]}")
    ]
    heads = [f"{r.model.split(' detector')[0]} ({'one-to-one' if r.branch == 'one2one' else 'NMS'})" for r in reports]
    width = max(24, *(len(h) + 2 for h in heads))
    rows: list[tuple[str, list[str]]] = [("", heads)]

    def cell(p, what: str) -> str:
        if p is None:
            return "-"
        if what == "verdict":
            v = p.verdict
            if v is None:
                return "the reference"
            return f"{v.status} {v.kept}/{v.reference}" + (f", {len(v.new)} new" if v.new else "")
        if what == "scores":
            s = p.spread
            if s is None or s.compression is None:
                return "-"
            return f"x{s.compression:.3f}, {s.distinct} value{'' if s.distinct == 1 else 's'}"
        if what == "change":
            v = p.verdict
            return "-" if v is None or v.worst_change is None else f"{v.worst_change:.3f}"
        best = p.sweep.best
        return f"{best.conf:.2f} (F1 {best.f1:.3f})" if best.f1 else "none: no box finds one"

    def find(r, name):
        return next((p for p in r.precisions if p.name == name), None)

    for name, label in (("fp32", "fp32"), ("int8", "int8"), ("weighted", "weighted nodes only"), ("mixed", "mixed")):
        if all(find(r, name) is None for r in reports):
            continue
        if name == "mixed":
            rows.append(("mixed: kept in float", [", ".join(r.keep) or "-" for r in reports]))
        for what, text in (("verdict", "verdict"), ("scores", "score / fp32's"), ("change", "worst score change"),
                           ("threshold", "best threshold")):  # fmt: skip
            if name == "fp32" and what != "threshold":
                continue
            rows.append((f"{label}: {text}", [cell(find(r, name), what) for r in reports]))
    left = max(len(r[0]) for r in rows) + 2
    lines += [f"{name:<{left}}" + "".join(f"{c:<{width}}" for c in cells) for name, cells in rows]
    for r in reports:
        warning = calibration_insight(r.check, CLI_REMEDY)
        if warning:
            lines.append(f"{r.model}: warning: {warning}")
        for p in r.precisions[1:]:
            if p.verdict is not None:
                lines.append(f"{r.model}: {verdict_insight(p.verdict, p.subject)}")
    if not any(r.ranked for r in reports):
        lines.append("(--sensitivity ranks the units and finds the fewest to keep in float)")
    return "\n".join(lines)
