"""Architecture as data: a model's layer table in Ultralytics' model-YAML format, read, checked and turned into the
`LayerSpec`s the builder takes.

A table has `nc`, `scales` (letter -> [depth, width, max_channels]), `backbone` and `head` (rows of
`[from, repeats, module, args]`), and optionally `end2end` and `reg_max` (YOLO26). The row format and the scaling
rules are Ultralytics' (`parse_model`, 8.4.190); the reading is this project's own: plain data in, no code run, and
a malformed table refused with one line that names its row.

    table = ModelTable.read(yaml.safe_load(text), name="my-yolo")
    specs = table.layers("n", num_classes=3)             # LayerSpec per layer, named "0", "1", ...
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .layer_spec import LayerSpec

__all__ = ["MAX_TABLE_BYTES", "MODULES", "ModelTable", "Row", "TableError", "read_table"]

MAX_TABLE_BYTES = 256 * 1024  # a model table is a few kB; anything this big is not one
_BN = {"bn_eps": 1e-3, "bn_momentum": 0.03}  # every Ultralytics family's BatchNorm (its `initialize_weights`)
_MAX_ROWS = 512


class TableError(ValueError):
    """A model table that cannot be built: the message names the row and what is wrong with it."""


# The modules a table may name, with the arguments after the input channels as Ultralytics' constructors take them
# (name, default); None marks a required one. `c2` is scaled by the width multiple and capped by max_channels.
MODULES: dict[str, tuple[tuple[str, Any], ...]] = {
    "Conv": (("c2", None), ("k", 1), ("s", 1), ("p", None), ("g", 1), ("d", 1), ("act", True)),
    "C2f": (("c2", None), ("shortcut", False), ("g", 1), ("e", 0.5)),
    "C3k2": (("c2", None), ("c3k", False), ("e", 0.5), ("attn", False), ("g", 1), ("shortcut", True)),
    "SPPF": (("c2", None), ("k", 5), ("n", 3), ("shortcut", False)),
    "C2PSA": (("c2", None), ("e", 0.5)),
    "A2C2f": (
        ("c2", None),
        ("a2", True),
        ("area", 1),
        ("residual", False),
        ("mlp_ratio", 2.0),
        ("e", 0.5),
        ("g", 1),
        ("shortcut", True),
    ),
    "nn.Upsample": (("size", None), ("scale_factor", None), ("mode", "nearest")),
    "Concat": (("dimension", 1),),
    "Detect": (("nc", None),),
}
_REPEATED = {"C2f", "C3k2", "C2PSA", "A2C2f"}  # modules whose repeats are inner blocks (the others would be copies)
_MODERN = {"C3k2", "A2C2f"}  # Ultralytics' Detect uses its depthwise class branch once a table has one of these


@dataclass(frozen=True)
class Row:
    """One row of a table, as written: the layer's index, where it takes its input from (absolute layer indices,
    -1 resolved), its nominal repeats, module and arguments."""

    index: int
    sources: tuple[int, ...]
    repeats: int
    module: str
    args: tuple[Any, ...]

    @property
    def where(self) -> str:
        return f"row {self.index} ([{_show_from(self.sources, self.index)}, {self.repeats}, {self.module}, {list(self.args)}])"


@dataclass(frozen=True)
class ModelTable:
    """A checked model table (Ultralytics' model-YAML format).

    Attributes:
        name: what the table is called ("yolo26", or a user's file name without its suffix).
        rows: every layer's row, the backbone's first.
        backbone_rows: how many of them are the backbone.
        scales: letter -> (depth multiple, width multiple, max channels); empty for a table of one size.
        nc: the class count the table states.
        end2end: the head has a one-to-one branch (YOLO26).
        reg_max: bins per box side (16; 1 for YOLO26).
        multiples: (depth, width, max channels) of a table without scales.
        scale: the scale the table was saved at, when it says (a checkpoint's table does).
        legacy: Detect's class branch held as YOLOv8's (True) or as the depthwise one (False) whatever the rows say;
            None follows Ultralytics' rule. Never read from a file: it lets a change between families be priced on
            its own (`changes`).
    """

    name: str
    rows: tuple[Row, ...]
    backbone_rows: int
    scales: tuple[tuple[str, tuple[float, float, int]], ...]
    nc: int = 80
    end2end: bool = False
    reg_max: int = 16
    multiples: tuple[float, float, float] = (1.0, 1.0, math.inf)
    scale: str | None = field(default=None, compare=False)
    legacy: bool | None = None

    @classmethod
    def read(cls, table: Mapping[str, Any], name: str = "model") -> ModelTable:
        """Check a table given as plain data (a YAML file's, or the one a checkpoint carries) and resolve its rows.

        Raises:
            TableError: anything that is not a buildable detection table, in one line naming the row.
        """
        if not isinstance(table, Mapping):
            raise TableError(f"{name}: a model table is a mapping with nc, scales, backbone and head")
        nc = table.get("nc", 80)
        if not _is_int(nc) or not 1 <= nc <= 1000:
            raise TableError(f"{name}: nc must be a whole number of classes from 1 to 1000, got {nc!r}")
        scales = _read_scales(name, table.get("scales"))
        multiples = (1.0, 1.0, math.inf)
        if not scales:
            depth, width = table.get("depth_multiple", 1.0), table.get("width_multiple", 1.0)
            if not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 4 for v in (depth, width)):
                raise TableError(f"{name}: depth_multiple and width_multiple must be numbers from 0 to 4")
            multiples = (float(depth), float(width), math.inf)
        end2end, reg_max = table.get("end2end", False) or False, table.get("reg_max", 16)
        if not isinstance(end2end, bool):
            raise TableError(f"{name}: end2end must be true or false, got {end2end!r}")
        if not _is_int(reg_max) or not 1 <= reg_max <= 64:
            raise TableError(f"{name}: reg_max must be a whole number from 1 to 64, got {reg_max!r}")
        backbone, head = table.get("backbone"), table.get("head")
        for part, rows in (("backbone", backbone), ("head", head)):
            if not isinstance(rows, Sequence) or isinstance(rows, str) or not rows:
                raise TableError(f"{name}: '{part}' must be a list of [from, repeats, module, args] rows")
        if len(backbone) + len(head) > _MAX_ROWS:
            raise TableError(f"{name}: {len(backbone) + len(head)} rows; a table has at most {_MAX_ROWS}")
        rows = tuple(_read_row(name, index, row, nc) for index, row in enumerate([*backbone, *head]))
        scale = table.get("scale")
        scale = scale if isinstance(scale, str) and scale in dict(scales) else None
        built = cls(name, rows, len(backbone), scales, nc, end2end, reg_max, multiples, scale)
        for letter in built.scale_letters or (None,):  # every row checked at every scale: channels, inputs
            built.layers(letter)
        return built

    @property
    def architecture(self) -> tuple[Any, ...]:
        """What decides the layers, apart from the name and the class count: two tables with the same architecture
        build the same model at any scale and class count (a checkpoint's table against a shipped family's)."""
        head = self.detect_row
        rows = (*self.rows[:-1], Row(head.index, head.sources, head.repeats, head.module, ()))
        return rows, self.backbone_rows, tuple(sorted(self.scales)), self.end2end, self.reg_max, self.multiples, self.legacy

    def to_dict(self) -> dict[str, Any]:
        """The table as plain data in Ultralytics' format (what `read` takes, and a model YAML holds): `from` is -1 for
        the previous layer, absolute indices otherwise."""
        rows = [[_from(row), row.repeats, row.module, list(row.args)] for row in self.rows]
        out: dict[str, Any] = {"nc": self.nc}
        if self.end2end:
            out["end2end"] = True
        if self.reg_max != 16:
            out["reg_max"] = self.reg_max
        if self.scales:
            out["scales"] = {letter: list(value) for letter, value in self.scales}
        else:
            out["depth_multiple"], out["width_multiple"] = self.multiples[:2]
        return out | {"backbone": rows[: self.backbone_rows], "head": rows[self.backbone_rows :]}

    @property
    def scale_letters(self) -> tuple[str, ...]:
        return tuple(letter for letter, _ in self.scales)

    def multiples_of(self, scale: str | None) -> tuple[float, float, float]:
        """(depth multiple, width multiple, max channels) at `scale`."""
        if not self.scales:
            return self.multiples
        found = dict(self.scales).get(scale or "")
        if found is None:
            raise TableError(f"{self.name} has scales {', '.join(self.scale_letters)}, not {scale!r}")
        return found

    @property
    def detect_row(self) -> Row:
        return self.rows[-1]

    def layers(self, scale: str | None, num_classes: int | None = None, in_channels: int = 3) -> tuple[LayerSpec, ...]:
        """The LayerSpec of every layer at `scale`, named by index ("0" ... ), with `num_classes` classes (the
        table's own when None). The rules are Ultralytics' `parse_model`: repeats x depth (at least 1) where a row
        asks for more than one, output channels min(c2, max_channels) x width rounded up to a multiple of 8, C3k
        inner blocks in every C3k2 at the m, l and x scales, and YOLO12's l and x A2C2f with a residual and MLP
        ratio 1.2."""
        depth, width, max_channels = self.multiples_of(scale)
        classes = self.nc if num_classes is None else num_classes
        modern = False if self.legacy is None else not self.legacy
        channels: list[int] = []
        specs = []
        for row in self.rows:
            modern = modern or (self.legacy is None and row.module in _MODERN)
            c_in = [in_channels if s < 0 else channels[s] for s in row.sources] if row.index else [in_channels]
            spec, c_out = _spec(row, c_in, depth, width, max_channels, scale, classes, modern, self)
            channels.append(c_out)
            specs.append(spec)
        return tuple(specs)


def read_table(source: str | Path | bytes, name: str | None = None) -> ModelTable:
    """A model table from a YAML file (a path, or its bytes), read with `yaml.safe_load` (no Python objects built) and
    checked by `ModelTable.read`. The name is the file's stem ("yolo26-p6") unless given.

    Raises:
        TableError: the file cannot be read, is too big, is not YAML, or is not a buildable table.
    """
    if isinstance(source, bytes):
        data, name = source, name or "model"
    else:
        path = Path(source)
        name = name or path.stem
        try:
            if path.stat().st_size > MAX_TABLE_BYTES:
                raise TableError(f"{path.name} is {path.stat().st_size:,} bytes; a model table is at most {MAX_TABLE_BYTES:,}")
            data = path.read_bytes()
        except OSError as err:
            raise TableError(f"cannot read {path}: {err.strerror or err}") from None
    if len(data) > MAX_TABLE_BYTES:
        raise TableError(f"{name} is {len(data):,} bytes; a model table is at most {MAX_TABLE_BYTES:,}")
    try:
        table = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise TableError(f"{name} is not text: a model table is a YAML file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise TableError(f"{name} is not valid YAML{where}: {getattr(err, 'problem', None) or err}") from None
    return ModelTable.read(table, name=name)


def _spec(
    row: Row,
    c_in: list[int],
    depth: float,
    width: float,
    max_channels: float,
    scale: str | None,
    classes: int,
    modern: bool,
    table: ModelTable,
) -> tuple[LayerSpec, int]:
    """(LayerSpec, output channels) of one row."""
    # Ultralytics appends (residual True, mlp_ratio 1.2) to the arguments of YOLO12's l and x A2C2f rows
    args = _bind(row, (True, 1.2) if row.module == "A2C2f" and scale in ("l", "x") else (), table)
    repeats = max(round(row.repeats * depth), 1) if row.repeats > 1 else row.repeats
    sources = tuple(str(s) for s in row.sources) if row.sources != (row.index - 1,) else ()
    name = str(row.index)
    if row.module == "Concat":
        return LayerSpec(name, "concat", 0, sources=sources, **_BN), sum(c_in)
    if row.module == "nn.Upsample":
        return LayerSpec(name, "upsample", 0, stride=int(args["scale_factor"]), sources=sources, **_BN), c_in[0]
    if row.module == "Detect":
        legacy = not modern
        spec = LayerSpec(
            name,
            "detect",
            0,
            sources=sources,
            num_classes=classes,
            reg_max=table.reg_max,
            end2end=table.end2end,
            legacy=legacy,
            **_BN,
        )
        return spec, 4 + classes
    c2 = math.ceil(min(args["c2"], max_channels) * width / 8) * 8
    if len(c_in) != 1:
        raise TableError(f"{table.name}: {row.where}: {row.module} takes one input, not {len(c_in)}")
    fields: dict[str, Any] = {"sources": sources, **_BN}
    if row.module == "Conv":
        fields.update(block="conv", kernel=args["k"], stride=args["s"])
    elif row.module == "C2f":
        fields.update(block="c2f", repeats=repeats, shortcut=args["shortcut"], expansion=args["e"])
    elif row.module == "C3k2":
        c3k = args["c3k"] or scale in ("m", "l", "x")  # Ultralytics turns C3k on for the larger scales
        fields.update(
            block="yolo11_c3k2", repeats=repeats, c3k=c3k, expansion=args["e"], attention=args["attn"], shortcut=args["shortcut"]
        )
    elif row.module == "SPPF":
        # a row that gives the pool count is YOLO26's: its first conv has no activation (older rows keep SiLU)
        activation = len(row.args) <= 2
        fields.update(block="sppf", kernel=args["k"], pools=args["n"], residual=args["shortcut"], activation=activation)
    elif row.module == "C2PSA":
        if c_in[0] != c2:
            raise TableError(f"{table.name}: {row.where}: C2PSA keeps its channels, but takes {c_in[0]} and gives {c2}")
        fields.update(block="c2psa", repeats=repeats, expansion=args["e"])
    elif row.module == "A2C2f":
        hidden = int(c2 * args["e"])
        if args["a2"] and hidden % 32:
            raise TableError(f"{table.name}: {row.where}: A2C2f's hidden channels ({hidden}) must be a multiple of 32")
        fields.update(
            block="a2c2f",
            repeats=repeats,
            attention=args["a2"],
            area=max(int(args["area"]), 1),
            residual=args["residual"],
            mlp_ratio=args["mlp_ratio"],
            expansion=args["e"],
            shortcut=args["shortcut"],
        )
    return LayerSpec(name, channels=c2, **fields), c2


def _bind(row: Row, extra: tuple[Any, ...] = (), table: ModelTable | None = None) -> dict[str, Any]:
    """The row's arguments (and any `extra` appended) by name, defaults filled in (the row's own were checked by
    `_read_row`; appended ones are checked here)."""
    names, values = MODULES[row.module], (*row.args, *extra)
    if len(values) > len(names):
        raise TableError(f"{table.name if table else 'model'}: {row.where}: too many arguments for {row.module}")
    bound = {key: values[i] if i < len(values) else default for i, (key, default) in enumerate(names)}
    if extra:
        problem = _check(row.module, bound, len(row.sources))
        if problem:
            raise TableError(f"{table.name if table else 'model'}: {row.where}: {problem}")
    return bound


def _read_scales(name: str, scales: object) -> tuple[tuple[str, tuple[float, float, int]], ...]:
    if scales is None:
        return ()
    if not isinstance(scales, Mapping) or not scales:
        raise TableError(f"{name}: scales must map letters to [depth, width, max_channels]")
    out = []
    for letter, value in scales.items():
        ok = isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 3
        ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        if not ok or not (0 < value[0] <= 4 and 0 < value[1] <= 4 and _is_int(value[2]) and 8 <= value[2] <= 8192):
            raise TableError(f"{name}: scale {letter!r} must be [depth, width, max_channels], got {value!r}")
        out.append((str(letter), (float(value[0]), float(value[1]), int(value[2]))))
    return tuple(out)


def _read_row(name: str, index: int, row: object, nc: int) -> Row:
    """One row checked: four fields, sources that exist, a known module, arguments of the right kinds."""
    where = f"{name}: row {index} ({row!r})"
    if not isinstance(row, Sequence) or isinstance(row, str) or len(row) != 4:
        raise TableError(f"{where}: a row is [from, repeats, module, args]")
    source, repeats, module, args = row
    if module not in MODULES:
        raise TableError(f"{where}: unknown module {module!r}; this explorer builds {', '.join(MODULES)}")
    froms = [source] if _is_int(source) else source
    if not isinstance(froms, Sequence) or isinstance(froms, str) or not froms or not all(_is_int(f) for f in froms):
        raise TableError(f"{where}: 'from' must be a layer index or a list of them")
    sources = tuple(index + f if f < 0 else f for f in froms)
    if index == 0 and froms != [-1]:
        raise TableError(f"{where}: the first layer takes the image (from -1)")
    if index and not all(0 <= s < index for s in sources):
        raise TableError(f"{where}: 'from' must name earlier layers (0 to {index - 1}, or -1 for the previous one)")
    if not _is_int(repeats) or not 1 <= repeats <= 64:
        raise TableError(f"{where}: repeats must be a whole number from 1 to 64")
    if repeats > 1 and module not in _REPEATED:
        raise TableError(f"{where}: only {', '.join(sorted(_REPEATED))} repeat inner blocks; give {module} 1")
    if not isinstance(args, Sequence) or isinstance(args, str):
        raise TableError(f"{where}: args must be a list")
    values = tuple(_value(a, nc) for a in args)
    names = MODULES[module]
    if len(values) > len(names):
        raise TableError(f"{where}: {module} takes at most {len(names)} arguments ({', '.join(n for n, _ in names)})")
    bound = {key: values[i] if i < len(values) else default for i, (key, default) in enumerate(names)}
    problem = _check(module, bound, len(sources))
    if problem:
        raise TableError(f"{where}: {problem}")
    return Row(index, sources, repeats, module, values)


def _check(module: str, args: dict[str, Any], inputs: int) -> str | None:
    """What is wrong with a module's arguments, or None."""
    if "c2" in args and (not _is_int(args["c2"]) or not 1 <= args["c2"] <= 8192):
        return f"{module}'s output channels must be a whole number from 1 to 8192"
    if module == "Conv":
        if not _is_int(args["k"]) or args["k"] not in (1, 3, 5, 7) or not _is_int(args["s"]) or args["s"] not in (1, 2):
            return "Conv builds kernels 1, 3, 5 or 7 with stride 1 or 2"
        if (args["p"], args["g"], args["d"], args["act"]) != (None, 1, 1, True):
            return "Conv with its own padding, groups, dilation or activation is not built here"
    if args.get("g", 1) != 1:
        return f"{module} with groups is not built here"
    for key in ("shortcut", "c3k", "attn", "a2", "residual"):
        if key in args and not isinstance(args[key], bool):
            return f"{module}'s {key} must be true or false"
    for key in ("e", "mlp_ratio"):
        if key in args and (not isinstance(args[key], int | float) or isinstance(args[key], bool) or not 0 < args[key] <= 4):
            return f"{module}'s {key} must be a number from 0 to 4"
    if module == "SPPF" and (args["k"] not in (3, 5, 7, 9) or not _is_int(args["n"]) or not 1 <= args["n"] <= 8):
        return "SPPF pools with a window of 3, 5, 7 or 9, 1 to 8 times"
    if module == "A2C2f" and (not _is_int(args["area"]) or not -1 <= args["area"] <= 16):
        return "A2C2f's area must be a whole number of strips up to 16 (1 or less: global)"
    upsample = (args.get("size"), args.get("scale_factor"), args.get("mode"))
    if module == "nn.Upsample" and (upsample[0] is not None or upsample[1] not in (2, 2.0) or upsample[2] != "nearest"):
        return "nn.Upsample is built as [None, 2, 'nearest']"
    if module == "Concat" and (args["dimension"] != 1 or inputs < 2):
        return "Concat joins two or more layers along the channels ([[...], 1, Concat, [1]])"
    if module == "Detect":
        if not _is_int(args["nc"]) or not 1 <= args["nc"] <= 1000:
            return "Detect's class count must be nc or a whole number from 1 to 1000"
        if not 1 <= inputs <= 8:
            return "Detect takes the pyramid's levels, 1 to 8 layers"
    elif inputs != 1 and module != "Concat":
        return f"{module} takes one input"
    return None


def _value(arg: object, nc: int) -> object:
    """An argument as Ultralytics reads it: "nc" is the class count, other text a Python literal when it is one."""
    if isinstance(arg, str):
        if arg == "nc":
            return nc
        try:
            return ast.literal_eval(arg)
        except (ValueError, SyntaxError):
            return arg
    if isinstance(arg, list):
        return tuple(arg)
    return arg


def _from(row: Row) -> int | list[int]:
    """A row's `from` as Ultralytics writes it: -1 for the previous layer, absolute indices otherwise."""
    froms = [-1 if s == row.index - 1 else s for s in row.sources]
    return froms[0] if len(froms) == 1 else froms


def _show_from(sources: tuple[int, ...], index: int) -> str:
    shown = [s - index if s == index - 1 else s for s in sources]
    return str(shown[0]) if len(shown) == 1 else str(shown)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
