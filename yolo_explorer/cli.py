"""Command line: `python -m yolo_explorer stats | features | detect | assign | latency | profile | weights`.

Exit status: 0 done, 1 a bad image or a failed run, 2 a bad argument. Errors are one line, never a
traceback (set YOLO_EXPLORER_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch

from .deployment.accuracy import calibrated_copy, mode_error
from .deployment.devices import DTYPES, check_device, dtype_from_name, supported_dtypes
from .deployment.int8_sensitivity import Int8Lab, Recipe, compare_precisions, precision_boxes
from .deployment.int8_verdict import Int8Photos, int8_photos, uses_samples
from .deployment.latency import RUNTIMES, LatencyRequest, measure
from .deployment.memory import InsufficientMemoryError, check_forward_fits
from .deployment.modes import COMPILE_MODES, MODE_OPTIONS, CompileError, LatencyMode
from .deployment.onnx_models import (
    CALIBRATORS,
    OnnxExportError,
    RuntimeUnavailableError,
    calibration_folder,
    calibration_photo,
    deployable,
    error_images,
)
from .deployment.onnx_runtime import output_errors
from .deployment.peaks import device_peaks
from .deployment.profile import profile_layers
from .detection.assignment import Truth, assign, truth_problem
from .detection.detections import PREDICT, Nms, class_names, detect
from .detection.explain import explain
from .detection.walkthrough import Walkthrough, walkthrough
from .forward.features import extract_features
from .forward.heatmaps import rank_channels
from .forward.preprocess import ImageLoadError, load_image
from .model.blocks import fold_batchnorm
from .model.checkpoints import Checkpoint, WeightsError, checkpoint_classes, read_checkpoint, task_note
from .model.config import ARCHITECTURES, COCO_CLASS_COUNT, config_for, fit_size, max_stride
from .model.detector import Detector, build_model
from .model.pretrained import LICENCE, RELEASES, FetchError, fetch, find_release, present, weights_folder
from .model.stats import DEFAULT_SUMMARY_COLUMNS, SUMMARY_COLUMNS, model_stats, model_summary, parse_size
from .model.weights import WeightsMismatchError, checkpoint_config, fitting_config, load_weights, match_state_dict
from .present.formatting import human_count, latency_report, photo_list, stats_table
from .present.insights import (
    Remedies,
    assignment_insight,
    box_changes_insight,
    calibration_insight,
    int8_tradeoff_insight,
    levels_insight,
    timing_notes,
    variant_subject,
    verdict_insight,
)

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


def _count(text: str) -> int:
    """A whole number, 0 or more (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is below 0")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _build_parser() -> _Parser:
    parser = _Parser(
        prog="yolo-explorer",
        description="Look inside the tutorial's YOLOv11 backbone and Ultralytics' YOLO11: statistics, feature maps, "
        "detections, latency, per-layer time.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def model_args(p: argparse.ArgumentParser, whole: bool = False) -> None:
        """The model's flags; `whole`: a command of the whole detector (YOLO11n unless told otherwise)."""
        arch = "yolo11n" if whole else "tutorial"
        p.set_defaults(detector=whole, default_arch=arch)
        p.add_argument(
            "--arch", choices=list(ARCHITECTURES), help=f"architecture (default: the one --weights are for, else {arch})"
        )
        p.add_argument("--width", type=int, help="tutorial only: base width, a multiple of 8 from 8 to 256 (default 64)")
        p.add_argument("--repeats", type=int, help="tutorial only: bottlenecks per C3k2 (default 2)")
        p.add_argument("--imgsz", type=_size, default=(640, 640), help="input size S or HxW (default 640)")
        p.add_argument(
            "--detector",
            action="store_true",
            help="always the whole detector here (accepted, changes nothing)"
            if whole
            else "YOLO11 only: the whole detector, layers 0-23 (backbone, neck, Detect head); default the backbone",
        )
        p.add_argument(
            "--classes",
            type=_positive,
            help=f"with --detector: classes of the head (default {COCO_CLASS_COUNT}, COCO's; --weights sets its own)",
        )
        p.add_argument(
            "--weights",
            type=Path,
            help="trained weights: a file (an Ultralytics checkpoint such as yolo11n.pt, a .pt/.pth state_dict, read "
            "without running code, or .safetensors), or the name of a checkpoint fetched with `weights fetch` (yolo11n)",
        )

    p = sub.add_parser("stats", help="per-layer parameters, shapes, MACs, memory, receptive field")
    model_args(p)
    p.add_argument("--dtype", default="fp32", choices=list(DTYPES), help="dtype of the activation memory")
    p.add_argument("--summary", action="store_true", help="also print the torchinfo summary")
    p.add_argument("--depth", type=_positive, default=3, help="levels of the torchinfo summary (default 3)")
    p.add_argument("--columns", nargs="+", choices=list(SUMMARY_COLUMNS), help="torchinfo columns")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser(
        "detect",
        help="the whole YOLO11 detector on one image: the boxes NMS keeps (table, JSON, a picture), as `yolo predict`",
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
    p.add_argument("--conf", type=_fraction, default=PREDICT.conf, help="score threshold, 0 to 1 (default %(default)s)")
    p.add_argument("--iou", type=_fraction, default=PREDICT.iou, help="IoU threshold of NMS, 0 to 1 (default %(default)s)")
    p.add_argument("--only", nargs="+", metavar="CLASS", help="keep only these classes, by name or index (person 2 ...)")
    p.add_argument("--agnostic", action="store_true", help="suppress overlapping boxes across classes (default per class)")
    p.add_argument("--max-det", type=_positive, default=PREDICT.max_det, help="boxes kept at most (default %(default)s)")
    p.add_argument(
        "--steps",
        action="store_true",
        help="also show the way there: the output's shape, candidates per level, and NMS step by step (kept, suppressed)",
    )
    p.add_argument(
        "--explain",
        type=_count,
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
    p.add_argument("--show", type=_positive, default=10, help="candidates listed per box, best metric first (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights, without --weights (default 0)")
    p.add_argument("--device", default="cpu", help="cpu, cuda:N or mps (default cpu)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text (every candidate)")

    p = sub.add_parser("features", help="save feature maps of one image as .npy and PNG grids")
    model_args(p)
    p.add_argument("--image", required=True, type=Path, help="image file")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--layers", nargs="+", default=["P3", "P4", "P5"], help="layers to save (default P3 P4 P5)")
    p.add_argument("--top", type=_positive, default=16, help="channels in each PNG grid (default 16)")
    p.add_argument("--device", default="cpu", help="cpu, cuda:N or mps (default cpu)")
    p.add_argument("--bn", default="running", choices=["running", "batch"], help="BatchNorm statistics (default running)")

    def timing_args(p: argparse.ArgumentParser, dtypes: list[str], whole_forward: bool = True) -> None:
        """The flags of a timed run; `whole_forward`: only the whole forward is timed, so compiled modes and CUDA
        graphs are offered (a per-layer profile cannot split them)."""
        model_args(p)
        p.add_argument("--device", default="cpu", help="cpu, cuda:N or mps (default cpu)")
        p.add_argument("--batch", type=_positive, default=1, help="images per forward (default 1)")
        p.add_argument("--iters", type=_positive, default=20, help="timed runs (default 20)")
        p.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
        p.add_argument("--dtype", default="fp32", choices=dtypes, help="precision (default fp32)")
        for option in MODE_OPTIONS:
            if whole_forward or option.per_layer:
                cuda = " CUDA only." if option.cuda_only else ""
                p.add_argument(option.flag, action="store_true", help=option.help + cuda)
        p.set_defaults(compile=None, freeze=False, **{o.field: False for o in MODE_OPTIONS})
        if whole_forward:
            p.add_argument("--compile", choices=list(COMPILE_MODES), help="torch.compile mode (compile time reported apart)")
            p.add_argument(
                "--freeze", action="store_true", help="with --compile: compile the weights as constants (inductor freezing)"
            )
        p.add_argument("--threads", type=_positive, help="CPU threads for the run (default: torch's)")
        p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
        p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("latency", help="time the forward pass")
    timing_args(p, [*DTYPES, "int8"])
    p.add_argument(
        "--runtime",
        default="torch",
        choices=list(RUNTIMES),
        help="torch (default), or onnxruntime: the model exported to ONNX (fp32, or --dtype int8, quantized on the samples)",
    )
    p.add_argument("--save-onnx", type=Path, help="with --runtime onnxruntime: also write the .onnx file here (opens in Netron)")
    p.add_argument("--sweep", type=_batches, help="batch sizes to sweep, e.g. 1,4,16: images/s and TFLOP/s for each")
    p.add_argument("--error", action="store_true", help="also print the relative error against a float64 forward")
    q = p.add_argument_group("int8 a deployment can trust (with --runtime onnxruntime --dtype int8)")
    q.add_argument(
        "--sensitivity",
        action="store_true",
        help="each unit (layer, C2PSA's attention, Detect's branches) in int8 alone and left out alone: the error each causes",
    )
    q.add_argument("--keep-float", nargs="+", metavar="UNIT", help="mixed precision: keep these units in float (10 23.cv2 ...)")
    q.add_argument(
        "--keep-float-top", type=_positive, metavar="K", help="mixed precision: keep the K most sensitive units in float"
    )
    q.add_argument("--calibrator", choices=list(CALIBRATORS), default="minmax", help="ONNX Runtime's calibrator (default minmax)")
    q.add_argument(
        "--calibration",
        nargs="+",
        type=Path,
        metavar="PHOTO",
        help="photos or folders of the model's own scenes: every other one (8 at most) is kept aside to judge int8 on, the "
        "rest calibrate (default: --image, and the samples unless the weights detect other classes than COCO's)",
    )
    q.add_argument(
        "--judge", nargs="+", type=Path, metavar="PHOTO", help="judge int8 on these photos or folders (then every "
        "--calibration photo calibrates)",
    )  # fmt: skip
    q.add_argument("--calibration-photos", type=_positive, metavar="N", help="calibrate on the first N photos only")
    q.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor (default one per output channel)")
    q.add_argument("--image", type=Path, help="with a detector: the boxes each precision keeps on this photo, against fp32's")

    p = sub.add_parser("profile", help="time every layer: its share of the forward and of the MACs, its rate, a roofline")
    timing_args(p, list(DTYPES), whole_forward=False)

    p = sub.add_parser("weights", help=f"Ultralytics' trained YOLO11 checkpoints ({LICENCE}): list them, fetch them")
    actions = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    for action, text in (("list", "the checkpoints, and which are in the weights folder"), ("fetch", "download checkpoints")):
        q = actions.add_parser(action, help=text)
        if action == "fetch":
            q.add_argument("names", nargs="+", metavar="NAME", help=f"checkpoints to fetch: {', '.join(RELEASES)}")
            q.add_argument("--url", help="fetch from this base URL instead (a mirror; default: Ultralytics' release)")
            q.add_argument("--timeout", type=float, default=30.0, help="seconds without data before giving up (default 30)")
        q.add_argument(
            "--dir",
            type=Path,
            help=f"the weights folder (default: YOLO_EXPLORER_WEIGHTS_DIR, else {weights_folder()})",
        )
    return parser


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {value}")
    return value


def _batches(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected batch sizes like 1,4,16; got {text!r}") from None
    if not values or any(not 1 <= v <= 1024 for v in values):
        raise argparse.ArgumentTypeError(f"batch sizes must be from 1 to 1024, got {text!r}")
    return values


def _config(args: argparse.Namespace):
    if args.arch is None:
        args.arch = _weights_arch(args) or args.default_arch
    if args.classes is not None and not args.detector:
        raise _BadArgument("--classes applies to the whole detector: add --detector")
    try:
        config = config_for(args.arch, width=args.width, depth=args.repeats, detector=args.detector, classes=args.classes)
    except ValueError as err:
        raise _BadArgument(str(err)) from None
    checkpoint = _checkpoint(args)
    if checkpoint is not None and args.classes is None:  # the head of --weights decides the class count
        config = checkpoint_config(config, checkpoint.state)
    return config


def _weights_arch(args: argparse.Namespace) -> str | None:
    """The architecture --weights were trained for, when --arch is not given (the tutorial's width and depth too,
    unless given); said on stderr. None without weights, or for weights that fit no architecture here."""
    checkpoint = _checkpoint(args)
    if checkpoint is None:
        return None
    try:
        config = fitting_config(checkpoint.state)
    except WeightsError:
        return None
    if config.arch == "tutorial":
        args.width = args.width or config.width
        args.repeats = args.repeats or config.depth
    hint = "" if args.detector or checkpoint_classes(checkpoint.state) is None else "; --detector for the whole detector"
    print(f"weights: {args.weights.name} are {_weights_of(config, checkpoint)}{hint}", file=sys.stderr)
    return config.arch


def _weights_of(config, checkpoint: Checkpoint) -> str:
    """What weights are, for `config` as `fitting_config` finds it: "YOLO11n's, with a 4-class detection head"."""
    classes = checkpoint_classes(checkpoint.state)
    head = f", with a {classes}-class detection head" if classes is not None else ""
    return f"{config.label}'s{head}"


def _flags(config, checkpoint: Checkpoint, whole: bool) -> str:
    """The flags that build the model weights fit (`config`, as `fitting_config` finds it)."""
    if config.arch == "tutorial":
        return f"--arch tutorial --width {config.width} --repeats {config.depth}"
    detector = " (and --detector for the whole detector)" if checkpoint_classes(checkpoint.state) and not whole else ""
    return f"--arch {config.arch}{detector}"


def _fit_imgsz(args: argparse.Namespace) -> None:
    """A whole detector runs at --imgsz rounded up to a multiple of its largest stride, as Ultralytics' `check_imgsz`
    rounds it; said on stderr when that changes it."""
    config = _config(args)
    fitted = fit_size(config, args.imgsz)
    if fitted != args.imgsz:
        asked, now = "x".join(map(str, args.imgsz)), "x".join(map(str, fitted))
        print(
            f"--imgsz {asked}: the detector takes sides that are multiples of its largest stride, "
            f"{max_stride(config)}; running at {now} (HxW), as Ultralytics' check_imgsz rounds imgsz",
            file=sys.stderr,
        )
        args.imgsz = fitted


def _checkpoint(args: argparse.Namespace) -> Checkpoint | None:
    """--weights, read once (a file, or a checkpoint of that name in the weights folder)."""
    if args.weights is None:
        return None
    if getattr(args, "checkpoint", None) is None:
        path = args.weights
        if not path.exists() and path.parent == Path(".") and path.name.removesuffix(".pt") in RELEASES:
            fetched = present().get(path.name.removesuffix(".pt"))
            if fetched is None:
                raise _RunFailed(f"{path}: no such file; fetch it first: python -m yolo_explorer weights fetch {path.stem}")
            path = args.weights = fetched
        try:
            args.checkpoint = read_checkpoint(path)
        except WeightsError as err:
            raise _RunFailed(f"{args.weights}: {err}") from None
    return args.checkpoint


def _load(model, args: argparse.Namespace, check_only: bool = False) -> None:
    """Load --weights into the model, if given, or only check that they fit (a bad file exits 1, a mismatch
    lists the keys)."""
    checkpoint = _checkpoint(args)
    if checkpoint is None:
        return
    try:
        if check_only:
            matched, _, _ = match_state_dict(model, checkpoint.state)
            print(f"weights: {args.weights.name} fits {model.config.label} ({len(matched)} tensors)", file=sys.stderr)
            return
        report = load_weights(model, checkpoint)
    except WeightsMismatchError as err:
        raise _RunFailed(f"{args.weights}: {_mismatch(model.config, checkpoint, err)}") from None
    except WeightsError as err:
        raise _RunFailed(f"{args.weights}: {err}") from None
    extra = f", {report.ignored} neck/head tensors ignored" if report.ignored else ""
    if report.task is not None:
        extra += f" ({task_note(report.task)})"
    if report.names is not None:
        shown = ", ".join(report.names[:6]) + (", ..." if len(report.names) > 6 else "")
        extra += f"; its class names: {shown}"
    loaded = f"{report.loaded} tensors ({human_count(report.params)} parameters)"
    print(f"weights: {loaded} from {args.weights.name}{extra}", file=sys.stderr)


def _mismatch(config, checkpoint: Checkpoint, err: WeightsMismatchError) -> str:
    """One line for weights that do not fit the model asked for: what they are and the flags that load them, or
    how far they are from every architecture here."""
    try:
        fits = fitting_config(checkpoint.state)
    except WeightsMismatchError:
        counts = {"missing": err.missing, "unexpected": err.unexpected, "of another shape": err.wrong_shape}
        differ = ", ".join(f"{len(keys)} {what}" for what, keys in counts.items() if keys)
        return (
            f"these weights fit no architecture here (YOLO11 n-x, the tutorial at any width); "
            f"against {config.label}: {differ} tensors"
        )
    whole = getattr(config, "detector", False)
    asked = config.backbone.label if whole else config.label  # "YOLO11s", not "YOLO11s detector, 4 classes"
    flags = _flags(fits, checkpoint, whole)
    return f"these weights are {_weights_of(fits, checkpoint)}, not {asked}'s: load them with {flags}"


def _check_memory(config, args: argparse.Namespace, device, dtype: str, batch: int = 1) -> None:
    try:
        check_forward_fits(
            config, args.imgsz, device, batch=batch, dtype=dtype, what=f"a batch of {batch} at {args.imgsz[0]}x{args.imgsz[1]}"
        )
    except InsufficientMemoryError as err:
        raise _RunFailed(str(err)) from None


def _cmd_stats(args: argparse.Namespace) -> None:
    config = _config(args)
    if args.weights is not None:  # statistics do not depend on weights; check that they fit the architecture
        _load(build_model(config, device="meta"), args, check_only=True)
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
    model = build_model(config, seed=args.seed, device=device, dtype=dtype_from_name(dtype))
    _load(model, args)
    return model


def _cmd_features(args: argparse.Namespace) -> None:
    from .present.rendering import grid_image

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


def _cmd_detect(args: argparse.Namespace) -> None:
    if args.out is not None and args.out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise _BadArgument(f"--out: write a .png or .jpg, not {args.out.name!r}")
    if args.explain_out is not None and not args.explain:
        raise _BadArgument("--explain-out: say how many boxes to explain with --explain K")
    try:
        image = load_image(args.image)
    except ImageLoadError as err:
        raise _RunFailed(f"{args.image}: {err}") from None
    model = _model_on(args)
    fold_batchnorm(model)  # as Ultralytics' predict runs a model (its fuse()): the same outputs, faster
    names = class_names(model.num_classes, model.class_names)
    only = _class_ids(args.only, names) if args.only else None
    if args.weights is None:
        print(
            "random weights: an untrained head scores every cell near its starting bias, so there is nothing to detect; "
            "pass --weights with trained weights (an Ultralytics checkpoint such as yolo11n.pt, or a state_dict)",
            file=sys.stderr,
        )
    nms = Nms(args.conf, args.iou, args.agnostic, only, args.max_det)
    result = detect(model, image, args.imgsz, nms, rect=args.rect, keep_predictions=args.steps)
    h, w = result.box.size
    if args.out is not None:
        from .present.rendering import boxes_image

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
        print(
            f"{model.config.label}, {image.height}x{image.width} photo (HxW) letterboxed to {h}x{w}: "
            f"{len(result.detections)} boxes kept of {result.candidates} cells above {args.conf:.2f}{among} "
            f"(NMS {suppression} at IoU {args.iou:.2f}; best score anywhere {result.best_score:.3g})"
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
            raise _BadArgument(f"--box {value!r}: give X1,Y1,X2,Y2 in the photo's pixels, then :CLASS if not class 0")
        truths.append(Truth(box, _class_ids([wanted], names, f"--box {value!r}")[0] if wanted else 0))
    return truths


def _cmd_assign(args: argparse.Namespace) -> None:
    try:
        image = load_image(args.image)
    except ImageLoadError as err:
        raise _RunFailed(f"{args.image}: {err}") from None
    model = _model_on(args)
    fold_batchnorm(model)  # running statistics, as the page and Ultralytics' predict run a model
    names = class_names(model.num_classes, model.class_names)
    truths = _truths(args.box, names)
    for n, truth in enumerate(truths, start=1):
        problem = truth_problem(truth, image.size, len(names))
        if problem:
            raise _BadArgument(f"--box {n}: {problem}")
    if args.weights is None:
        print("random weights: the scores and boxes the metric ranks are a random network's; pass --weights", file=sys.stderr)
    forward = extract_features(model, image, args.imgsz, (), batch_norm="running", rect=False)  # square, as training
    result = assign(forward.predictions, forward.box, truths, names)
    if args.json:
        photo = {"model": model.config.label, "image": str(args.image), "image_size": [image.height, image.width]}
        print(json.dumps(photo | result.to_dict(), indent=2))
        return
    h, w = result.input_size
    print(
        f"{model.config.label}, {image.height}x{image.width} photo (HxW) in a {h}x{w} input: {result.foreground} of "
        f"{result.anchors} cells learn a box (task-aligned assigner: top {result.topk} of score^{result.alpha:g} x "
        f"CIoU^{result.beta:g} among the cells whose centre is inside the box)"
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


def _write_explanations(folder: Path, image, box, explained) -> None:
    from .forward.heatmaps import map_to_original
    from .present.rendering import boxes_image, heat_image

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


def _class_ids(wanted: Sequence[str], names: Sequence[str], option: str = "--only") -> list[int]:
    """Class indices from names ("person") or indices ("0"), refused with the choices when unknown."""
    ids = []
    for item in wanted:
        if item.isdigit() and int(item) < len(names):
            ids.append(int(item))
        elif item in names:
            ids.append(names.index(item))
        else:
            shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
            raise _BadArgument(f"{option}: no class {item!r} in this head of {len(names)} ({shown}; or 0-{len(names) - 1})")
    return sorted(set(ids))


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


def _mode(args: argparse.Namespace, dtype: str | None = None) -> LatencyMode:
    try:
        return LatencyMode(
            dtype=dtype or args.dtype,
            compile=args.compile,
            freeze=args.freeze,
            **{option.field: getattr(args, option.field) for option in MODE_OPTIONS},
        )
    except ValueError as err:
        raise _BadArgument(str(err)) from None


def _cmd_latency(args: argparse.Namespace) -> None:
    onnx_runtime = args.runtime == "onnxruntime"
    if args.save_onnx and not onnx_runtime:
        raise _BadArgument("--save-onnx goes with --runtime onnxruntime")
    try:
        mode = _mode(args, "fp32" if args.dtype == "int8" else args.dtype)  # int8: to refuse the torch flags with it
        request = LatencyRequest(
            runtime=args.runtime,
            dtype=args.dtype,
            mode=mode,
            size=args.imgsz,
            batches=tuple(args.sweep or [args.batch]),
            device=args.device,
            warmup=args.warmup,
            iters=args.iters,
            threads=args.threads,
        )
    except ValueError as err:
        raise _BadArgument(str(err)) from None
    if _int8_asked(args):
        if not (onnx_runtime and args.dtype == "int8"):
            raise _BadArgument(
                "--sensitivity, --keep-float, --keep-float-top, --calibrator, --calibration, --judge, "
                "--calibration-photos, --per-tensor and --image go with --runtime onnxruntime --dtype int8"
            )
        _int8_trust(args, request)
        return
    model = _model_on(args, "fp32", batch=max(request.batches))  # each run converts a private copy to the mode
    if onnx_runtime and args.dtype == "int8" and not _samples_fit(args, model):
        raise _BadArgument(_own_photos_needed(model))  # deployable() would calibrate on the samples
    onnx, errors = None, None
    try:
        if onnx_runtime:
            model, onnx = deployable(model, size=args.imgsz, dtype=args.dtype, calibrate_batchnorm=args.weights is None)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        results = measure(model, request, onnx=onnx)
        if args.error and onnx is not None:
            errors = output_errors(model, onnx, error_images(args.imgsz), device=args.device)
        elif args.error:
            errors = _mode_error(model, mode, args)
    except ValueError as err:
        raise _BadArgument(str(err)) from None
    except (CompileError, RuntimeUnavailableError, OnnxExportError) as err:
        raise _RunFailed(str(err)) from None
    if args.save_onnx:
        args.save_onnx.write_bytes(onnx.data)
    remedies = Remedies(more_runs=f"more timed runs (--iters {max(100, 2 * args.iters)})", fewer_threads="--threads 1")
    notes = dict.fromkeys(n for r in results for n in timing_notes(r, load, os.cpu_count() or 1, remedies))
    if args.json:
        if isinstance(errors, list):
            extra = {"relative_error": max(e.relative_error for e in errors), "outputs": [asdict(e) for e in errors]}
        else:
            extra = {"relative_error": errors} if errors is not None else {}
        out = [r.to_dict() | extra for r in results]
        print(json.dumps(out if args.sweep else out[0], indent=2))
        _print_notes(notes)
        return
    print(latency_report(results, onnx.label if onnx else model.config.label, calibrated=args.weights is None))
    if isinstance(errors, list):
        unmirrored = " (int8's calibration saw them unmirrored)" if args.dtype == "int8" else ""
        print(f"against float64, on the sample photos mirrored{unmirrored}:")
        for e in errors:
            print(f"  {e.name}: relative error {e.relative_error:.2e}, cosine similarity {e.cosine:.5f}")
    elif errors is not None:
        underflow = ": random weights would underflow fp16" if args.dtype == "fp16" else ""
        basis = "" if args.weights else f" (random weights: BatchNorm calibrated on the input first{underflow})"
        print(f"relative error against float64: {errors:.2e}{basis}")
    if args.save_onnx:
        print(f"wrote {args.save_onnx} ({len(onnx.data) / 2**20:.1f} MiB)")
    _print_notes(notes)


def _print_notes(notes) -> None:
    """A timing's notes, after its figures, on stderr (the JSON on stdout stays whole)."""
    sys.stdout.flush()
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def _int8_asked(args: argparse.Namespace) -> bool:
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
                raise _BadArgument(f"{flag} {path}: no photo in this folder")
            photos += found
            continue
        try:
            photos.append((path.name, calibration_photo(path, size)))
        except ImageLoadError as err:
            raise _BadArgument(f"{flag} {path}: {err}") from None
    return photos


def _int8_photos(args: argparse.Namespace, model: torch.nn.Module) -> Int8Photos:
    """The photos int8 is calibrated and judged on: `--calibration`'s (split: every other one judges, unless `--judge`
    names the judged ones); by default `--image` and, unless the model is a trained detector of other classes than
    COCO's, the samples."""
    size = args.imgsz
    samples = _samples_fit(args, model)
    if args.calibration:
        own, samples = _photos_of(args.calibration, size, "--calibration"), False
    else:
        own = _photos_of([args.image], size, "--image") if args.image is not None else []
    if not own and not samples:
        raise _BadArgument(_own_photos_needed(model))
    judged = _photos_of(args.judge, size, "--judge") if args.judge else None
    try:
        return int8_photos(own, size=size, samples=samples, judged=judged)
    except ValueError as err:
        raise _BadArgument(str(err)) from None


def _samples_fit(args: argparse.Namespace, model: torch.nn.Module) -> bool:
    """Whether the built-in samples are photos of the model's world (random weights, a backbone, COCO's classes)."""
    detector = isinstance(model, Detector)
    names = model.class_names if detector else None
    classes = model.num_classes if detector else COCO_CLASS_COUNT
    return uses_samples(trained=args.weights is not None, detector=detector, names=names, classes=classes)


def _own_photos_needed(model: torch.nn.Module) -> str:
    return (
        f"these weights detect {', '.join(class_names(model.num_classes, model.class_names))}, not COCO's classes: the "
        "sample photos show them nothing of that, so int8 cannot be calibrated or judged on them; pass photos of the "
        "model's own scenes: --calibration FOLDER (every other photo, 8 at most, is kept aside to judge int8 on)"
    )


def _int8_trust(args: argparse.Namespace, request: LatencyRequest) -> None:
    """`latency --runtime onnxruntime --dtype int8` with sensitivity, mixed precision or another calibration."""
    model = _model_on(args, "fp32", batch=max(request.batches))
    photo = None
    if args.image is not None:
        if not isinstance(model, Detector):
            raise _BadArgument("--image: boxes need the whole detector (--detector)")
        try:
            photo = load_image(args.image)
        except ImageLoadError as err:
            raise _BadArgument(f"--image {args.image}: {err}") from None
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
        raise _BadArgument(str(err)) from None
    except (RuntimeUnavailableError, OnnxExportError) as err:
        raise _RunFailed(str(err)) from None
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
    print(f"{'':<8}{'median ms':>10}" + "".join(f"{n:>{max(len(n), 7) + 2}}" for n in names))
    for v in variants:
        kept = f"  (float: {', '.join(v.kept_float)})" if v.kept_float else ""
        cells = "".join(f"{e.cosine:>{max(len(e.name), 7) + 2}.5f}" for e in v.errors)
        print(f"{v.name:<8}{v.latency.median_ms:>10.2f}{cells}{kept}")
    print(int8_tradeoff_insight(variants, judged))
    for v in variants[1:]:
        if v.verdict is not None:
            print(verdict_insight(v.verdict, variant_subject(v.kept_float)))
    for name, c in changes.items():
        print(f"{name} on {args.image.name}: {box_changes_insight(c)}")
    if args.weights is None:
        print("random weights (BatchNorm set from the samples): their errors compound through the layers; a trained "
              "model's sensitivities differ, so pass --weights", file=sys.stderr)  # fmt: skip


CLI_REMEDY = "calibrate on photos of the model's own scenes: --calibration FOLDER"


def _cmd_profile(args: argparse.Namespace) -> None:
    mode = _mode(args)
    model = _model_on(args, "fp32", batch=args.batch)
    common = {"size": args.imgsz, "batch": args.batch, "device": args.device, "warmup": args.warmup, "iters": args.iters}
    try:
        profile = profile_layers(model, mode=mode, threads=args.threads, **common)
        peaks = device_peaks(args.device, args.dtype)
    except ValueError as err:
        raise _BadArgument(str(err)) from None
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


def _cmd_weights(args: argparse.Namespace) -> None:
    folder = args.dir or weights_folder()
    if args.action == "list":
        here = present(folder)
        print(f"Ultralytics' YOLO11 checkpoints ({LICENCE}); weights folder: {folder}")
        print(f"{'name':<13} {'task':<8} {'size':>9}  {'SHA-256':<9}  in the folder")
        for name, release in RELEASES.items():
            pinned = "pinned" if release.sha256 else "-"
            size = release.megabytes if release.size else "?"
            print(f"{name:<13} {release.task:<8} {size:>9}  {pinned:<9}  {here.get(name, '-')}")
        print("fetch: python -m yolo_explorer weights fetch yolo11n [yolo11s ...]")
        return
    try:
        releases = [find_release(name) for name in args.names]
    except KeyError as err:
        raise _BadArgument(err.args[0]) from None
    failed = 0
    for release in releases:
        bar = _ProgressBar(release.file)
        try:
            fetched = fetch(release, folder, base_url=args.url, timeout=args.timeout, progress=bar, wait=bar.waiting)
        except FetchError as err:
            bar.close()
            print(f"{release.file}: {err}", file=sys.stderr)
            failed += 1
            continue
        bar.close()
        how = "fetched" if fetched.downloaded else "already there"
        print(f"{fetched.path}  {how}, SHA-256 {fetched.sha256} ({LICENCE}, Ultralytics)")
    if failed:
        raise _RunFailed(f"{failed} of {len(releases)} checkpoints could not be fetched")


class _ProgressBar:
    """A download's progress on stderr: a bar redrawn in place on a terminal, one line at the end elsewhere."""

    WIDTH = 30

    def __init__(self, name: str):
        self.name, self.shown, self.live = name, -1, sys.stderr.isatty()

    def __call__(self, done: int, total: int | None, verb: str = "downloading") -> None:
        if not self.live:
            return
        if total:
            filled = min(self.WIDTH, self.WIDTH * done // total)
            text = f"{self.name} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done / 1e6:5.1f}/{total / 1e6:.1f} MB"
        else:
            text = f"{self.name} {done / 1e6:5.1f} MB"
        step = done * 100 // total if total else done // 2**20
        if step != self.shown:
            self.shown = step
            print(f"\r{verb} {text}", end="", file=sys.stderr, flush=True)

    def waiting(self, done: int, total: int | None) -> None:
        self(done, total, verb="another process is downloading")

    def close(self) -> None:
        if self.live and self.shown >= 0:
            print(file=sys.stderr)


_COMMANDS = {
    "stats": _cmd_stats,
    "features": _cmd_features,
    "detect": _cmd_detect,
    "assign": _cmd_assign,
    "latency": _cmd_latency,
    "profile": _cmd_profile,
    "weights": _cmd_weights,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "imgsz", None) is not None:
            _fit_imgsz(args)
        _COMMANDS[args.command](args)
    except _BadArgument as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    except _RunFailed as err:
        print(f"{parser.prog}: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the output piped into a reader that stopped early (`| head`): nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's documented remedy (signal module)
        return 0
    except Exception as err:  # a last resort: one line, not a traceback
        if os.environ.get("YOLO_EXPLORER_DEBUG"):
            raise
        print(f"{parser.prog}: failed: {type(err).__name__}: {err} (YOLO_EXPLORER_DEBUG=1 shows details)", file=sys.stderr)
        return 1
    return 0
