"""What the commands share: the parser that errs in one line, the argument types, the model's and a timed run's
flags, and the way from those flags to a model on its device with its weights loaded."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, Protocol

from PIL import Image

from ..deployment.devices import check_device, dtype_from_name, supported_dtypes
from ..deployment.memory import InsufficientMemoryError, check_forward_fits
from ..deployment.modes import COMPILE_MODES, MODE_OPTIONS, LatencyMode
from ..forward.preprocess import ImageLoadError, load_image
from ..model.checkpoints import Checkpoint, WeightsError, checkpoint_classes, read_checkpoint, task_note
from ..model.config import ARCHITECTURES, COCO_CLASS_COUNT, FamilyConfig, config_for, fit_size, max_stride
from ..model.detector import build_model
from ..model.pretrained import RELEASES, present
from ..model.stats import parse_size
from ..model.table import TableError, read_table
from ..model.weights import (
    WeightsMismatchError,
    checkpoint_config,
    fitting_config,
    foreign_model,
    load_weights,
    match_state_dict,
    table_config,
)
from ..present.formatting import human_count


class Subcommands(Protocol):
    """What `ArgumentParser.add_subparsers()` returns, as far as a command's `register` uses it."""

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser: ...


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


class BadArgument(Exception):
    """A value argparse accepted but the engine refused (exit 2)."""


class RunFailed(Exception):
    """A bad image or a failed run (exit 1)."""


def image_size(text: str) -> tuple[int, int]:
    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def count(text: str) -> int:
    """A whole number, 0 or more (argparse type)."""
    return _whole(text, 0, "a whole number, 0 or more")


def positive(text: str) -> int:
    """A whole number, 1 or more (argparse type)."""
    return _whole(text, 1, "a positive integer")


def _whole(text: str, least: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {value}")
    return value


def batch_sizes(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected batch sizes like 1,4,16; got {text!r}") from None
    if not values or any(not 1 <= v <= 1024 for v in values):
        raise argparse.ArgumentTypeError(f"batch sizes must be from 1 to 1024, got {text!r}")
    return values


def model_args(p: argparse.ArgumentParser, whole: bool = False) -> None:
    """The model's flags; `whole`: a command of the whole detector (YOLO11n unless told otherwise)."""
    arch = "yolo11n" if whole else "tutorial"
    p.set_defaults(detector=whole, default_arch=arch)
    p.add_argument(
        "--arch",
        choices=list(ARCHITECTURES),
        metavar="ARCH",
        help=f"architecture: tutorial, or yolov8/yolo11/yolo12/yolo26 with a scale n/s/m/l/x (yolo26n) (default: the one "
        f"--weights are for, else {arch})",
    )
    p.add_argument(
        "--model",
        type=Path,
        help="a model table of your own, in Ultralytics' model-YAML format (yolo26-p2.yaml): built instead of --arch",
    )
    p.add_argument("--scale", help="with --model: the table's scale to build (default: the file name's, else its first)")
    p.add_argument("--width", type=int, help="tutorial only: base width, a multiple of 8 from 8 to 256 (default 64)")
    p.add_argument("--repeats", type=int, help="tutorial only: bottlenecks per C3k2 (default 2)")
    p.add_argument("--imgsz", type=image_size, default=(640, 640), help="input size S or HxW (default 640)")
    p.add_argument(
        "--detector",
        action="store_true",
        help="always the whole detector here (accepted, changes nothing)"
        if whole
        else "the whole detector (backbone, neck, Detect head) of an Ultralytics family; default the backbone",
    )
    p.add_argument(
        "--classes",
        type=positive,
        help=f"with --detector: classes of the head (default {COCO_CLASS_COUNT}, COCO's; --weights sets its own)",
    )
    p.add_argument(
        "--weights",
        type=Path,
        help="trained weights: a file (an Ultralytics checkpoint such as yolo11n.pt, a .pt/.pth state_dict, read "
        "without running code, or .safetensors), or the name of a checkpoint fetched with `weights fetch` (yolo11n)",
    )


def timing_args(p: argparse.ArgumentParser, dtypes: list[str], whole_forward: bool = True) -> None:
    """The flags of a timed run; `whole_forward`: only the whole forward is timed, so compiled modes and CUDA
    graphs are offered (a per-layer profile cannot split them)."""
    model_args(p)
    p.add_argument("--device", default="cpu", help="cpu, cuda:N or mps (default cpu)")
    p.add_argument("--batch", type=positive, default=1, help="images per forward (default 1)")
    p.add_argument("--iters", type=positive, default=20, help="timed runs (default 20)")
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
    p.add_argument("--threads", type=positive, help="CPU threads for the run (default: torch's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")


def model_config(args: argparse.Namespace):
    """The config the flags describe: --model's table, else --arch, else the architecture --weights are for (their own
    table when they carry one), else the command's default; the head's class count from --classes or --weights."""
    if args.classes is not None and not args.detector:
        raise BadArgument("--classes applies to the whole detector: add --detector")
    if getattr(args, "model", None) is not None and args.arch is not None:
        raise BadArgument("give --arch or --model, not both")
    if getattr(args, "scale", None) is not None and getattr(args, "model", None) is None:
        raise BadArgument("--scale applies to --model (an --arch names its scale: yolo26s)")
    base = None
    if getattr(args, "model", None) is not None:
        base = table_file_config(args)
    elif args.arch is None:
        base = weights_config(args)
    try:
        if base is None or base.arch == "tutorial":
            arch = args.arch or (base.arch if base is not None else args.default_arch)
            width = args.width or (base.width if base is not None else None)
            depth = args.repeats or (base.depth if base is not None else None)
            config = config_for(arch, width=width, depth=depth, detector=args.detector, classes=args.classes)
        else:
            if args.width is not None or args.repeats is not None:
                raise ValueError(f"a width and a depth apply to the tutorial backbone; {base.label}'s scale fixes its own")
            config = dataclasses.replace(base, detector=args.detector, num_classes=args.classes or COCO_CLASS_COUNT)
            if not args.detector:
                config = config.backbone
    except ValueError as err:
        raise BadArgument(str(err)) from None
    checkpoint = checkpoint_of(args)
    if checkpoint is not None and args.classes is None:  # the head of --weights decides the class count
        config = checkpoint_config(config, checkpoint.state)
    return config


def table_file_config(args: argparse.Namespace) -> FamilyConfig:
    """--model's table at --scale (else the scale its file name says, as Ultralytics reads "yolo26n-p2.yaml", else its
    first)."""
    try:
        table = read_table(args.model, name=_table_stem(args.model.stem))
    except TableError as err:
        raise BadArgument(f"--model {args.model}: {err}") from None
    guessed = re.match(r"^yolo(?:e-)?v?\d+([nslmx])", args.model.stem)
    scale = args.scale or (guessed[1] if guessed and guessed[1] in table.scale_letters else None)
    scale = scale or table.scale or next(iter(table.scale_letters), "")
    try:
        return FamilyConfig(table.name, scale, detector=True, num_classes=table.nc, table=table)
    except ValueError as err:
        raise BadArgument(f"--model {args.model}: {err}") from None


def _table_stem(stem: str) -> str:
    """A table's name without the scale letter Ultralytics reads in its file name: "yolo26n-p2" -> "yolo26-p2"."""
    match = re.match(r"^(yolo(?:e-)?v?\d+)[nslmx](.*)$", stem)
    return match[1] + match[2] if match else stem


def weights_config(args: argparse.Namespace):
    """The model --weights were trained for, when neither --arch nor --model is given: the table an Ultralytics
    checkpoint carries, else the architecture its tensors fit (the tutorial's width and depth too); said on stderr.
    None without weights, or for weights that fit nothing here (loading them says why)."""
    checkpoint = checkpoint_of(args)
    if checkpoint is None:
        return None
    try:
        config = table_config(checkpoint)
    except TableError:
        return None
    if config is None:
        try:
            config = fitting_config(checkpoint.state)
        except WeightsError:
            return None
    hint = "" if args.detector or checkpoint_classes(checkpoint.state) is None else "; --detector for the whole detector"
    print(f"weights: {args.weights.name} are {weights_of(config, checkpoint)}{hint}", file=sys.stderr)
    return config


def weights_of(config, checkpoint: Checkpoint) -> str:
    """What weights are, for `config` as `fitting_config` or `table_config` finds it: "YOLO11n's, with a 4-class
    detection head"."""
    classes = checkpoint_classes(checkpoint.state)
    head = f", with a {classes}-class detection head" if classes is not None else ""
    name = config.backbone.label if getattr(config, "detector", False) else config.label
    return f"{name}'s{head}"


def flags_for(config, checkpoint: Checkpoint, whole: bool) -> str:
    """The flags that build the model weights fit (`config`, as `fitting_config` finds it)."""
    if config.arch == "tutorial":
        return f"--arch tutorial --width {config.width} --repeats {config.depth}"
    detector = " (and --detector for the whole detector)" if checkpoint_classes(checkpoint.state) and not whole else ""
    if not getattr(config, "shipped", True):  # the checkpoint's own table: the weights alone say what to build
        return f"--weights alone (no --arch: they carry their table){detector}"
    return f"--arch {config.arch}{detector}"


def fit_imgsz(args: argparse.Namespace) -> None:
    """A whole detector runs at --imgsz rounded up to a multiple of its largest stride, as Ultralytics' `check_imgsz`
    rounds it; said on stderr when that changes it."""
    config = model_config(args)
    fitted = fit_size(config, args.imgsz)
    if fitted != args.imgsz:
        asked, now = "x".join(map(str, args.imgsz)), "x".join(map(str, fitted))
        print(
            f"--imgsz {asked}: the detector takes sides that are multiples of its largest stride, "
            f"{max_stride(config)}; running at {now} (HxW), as Ultralytics' check_imgsz rounds imgsz",
            file=sys.stderr,
        )
        args.imgsz = fitted


def checkpoint_of(args: argparse.Namespace) -> Checkpoint | None:
    """--weights, read once (a file, or a checkpoint of that name in the weights folder)."""
    if args.weights is None:
        return None
    if getattr(args, "checkpoint", None) is None:
        path = args.weights
        if not path.exists() and path.parent == Path(".") and path.name.removesuffix(".pt") in RELEASES:
            fetched = present(args.env.weights_dir).get(path.name.removesuffix(".pt"))
            if fetched is None:
                raise RunFailed(f"{path}: no such file; fetch it first: python -m yolo_explorer weights fetch {path.stem}")
            path = args.weights = fetched
        try:
            args.checkpoint = read_checkpoint(path)
        except WeightsError as err:
            raise RunFailed(f"{args.weights}: {err}") from None
    return args.checkpoint


def load_into(model, args: argparse.Namespace, check_only: bool = False) -> None:
    """Load --weights into the model, if given, or only check that they fit (a bad file exits 1, a mismatch
    lists the keys)."""
    checkpoint = checkpoint_of(args)
    if checkpoint is None:
        return
    try:
        if check_only:
            matched, _, _ = match_state_dict(model, checkpoint.state)
            print(f"weights: {args.weights.name} fits {model.config.label} ({len(matched)} tensors)", file=sys.stderr)
            return
        report = load_weights(model, checkpoint)
    except WeightsMismatchError as err:
        raise RunFailed(f"{args.weights}: {mismatch(model.config, checkpoint, err)}") from None
    except WeightsError as err:
        raise RunFailed(f"{args.weights}: {err}") from None
    extra = f", {report.ignored} neck/head tensors ignored" if report.ignored else ""
    if report.task is not None:
        extra += f" ({task_note(report.task)})"
    if report.names is not None:
        shown = ", ".join(report.names[:6]) + (", ..." if len(report.names) > 6 else "")
        extra += f"; its class names: {shown}"
    loaded = f"{report.loaded} tensors ({human_count(report.params)} parameters)"
    print(f"weights: {loaded} from {args.weights.name}{extra}", file=sys.stderr)


def mismatch(config, checkpoint: Checkpoint, err: WeightsMismatchError) -> str:
    """One line for weights that do not fit the model asked for: what they are and the flags that load them, or
    how far they are from every architecture here."""
    foreign = foreign_model(checkpoint)
    if foreign is not None:
        return f"these weights are {foreign}"
    try:
        fits = table_config(checkpoint) or fitting_config(checkpoint.state)
    except WeightsMismatchError:
        counts = {"missing": err.missing, "unexpected": err.unexpected, "of another shape": err.wrong_shape}
        differ = ", ".join(f"{len(keys)} {what}" for what, keys in counts.items() if keys)
        return (
            f"these weights fit no architecture here (YOLOv8, YOLO11, YOLO12, YOLO26 n-x, the tutorial at any width); "
            f"against {config.label}: {differ} tensors"
        )
    whole = getattr(config, "detector", False)
    asked = config.backbone.label if whole else config.label  # "YOLO11s", not "YOLO11s detector, 4 classes"
    flags = flags_for(fits, checkpoint, whole)
    return f"these weights are {weights_of(fits, checkpoint)}, not {asked}'s: load them with {flags}"


def photo(path: Path) -> Image.Image:
    """The photo at `path` (--image), or RunFailed saying why it cannot be used."""
    try:
        return load_image(path)
    except ImageLoadError as err:
        raise RunFailed(f"{path}: {err}") from None


def check_memory(config, args: argparse.Namespace, device, dtype: str, batch: int = 1) -> None:
    try:
        what = f"a batch of {batch} at {args.imgsz[0]}x{args.imgsz[1]}"
        check_forward_fits(config, args.imgsz, device, batch=batch, dtype=dtype, what=what, cap_bytes=args.env.max_forward_bytes)
    except InsufficientMemoryError as err:
        raise RunFailed(str(err)) from None


def model_on(args: argparse.Namespace, dtype: str = "fp32", batch: int = 1):
    """The model on the asked device and dtype, with --weights loaded, once the forward is known to fit."""
    config = model_config(args)
    try:
        device = check_device(args.device)
    except ValueError as err:
        raise BadArgument(str(err)) from None
    if dtype not in supported_dtypes(device):
        raise BadArgument(f"{device} cannot run {dtype}; it supports {', '.join(supported_dtypes(device))}")
    check_memory(config, args, device, dtype, batch)
    model = build_model(config, seed=args.seed, device=device, dtype=dtype_from_name(dtype))
    load_into(model, args)
    return model


def class_ids(wanted: Sequence[str], names: Sequence[str], option: str = "--only") -> list[int]:
    """Class indices from names ("person") or indices ("0"), refused with the choices when unknown."""
    ids = []
    for item in wanted:
        if item.isdigit() and int(item) < len(names):
            ids.append(int(item))
        elif item in names:
            ids.append(names.index(item))
        else:
            shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
            raise BadArgument(f"{option}: no class {item!r} in this head of {len(names)} ({shown}; or 0-{len(names) - 1})")
    return sorted(set(ids))


def latency_mode(args: argparse.Namespace, dtype: str | None = None) -> LatencyMode:
    try:
        return LatencyMode(
            dtype=dtype or args.dtype,
            compile=args.compile,
            freeze=args.freeze,
            **{option.field: getattr(args, option.field) for option in MODE_OPTIONS},
        )
    except ValueError as err:
        raise BadArgument(str(err)) from None


def print_notes(notes) -> None:
    """A timing's notes, after its figures, on stderr (the JSON on stdout stays whole)."""
    sys.stdout.flush()
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
