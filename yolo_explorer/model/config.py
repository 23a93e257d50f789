"""Architecture configs: frozen, validated descriptions from which a backbone is built.

A config knows its layer plan (`layers()`, one `LayerSpec` per top-level module, in forward order)
and which layers are the pyramid outputs (`outputs`). `Backbone` builds any config the same way, so a
new architecture is a new config class (and, if needed, new blocks), never new UI code.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from .families import FAMILIES, FAMILY_NAMES
from .layer_spec import LayerSpec
from .table import ModelTable

__all__ = [
    "ARCHITECTURES",
    "BackboneConfig",
    "LayerSpec",
    "PYRAMID",
    "TUTORIAL_WIDTHS",
    "FamilyConfig",
    "TutorialConfig",
    "YOLO11Config",
    "YOLO11_SCALES",
    "family_table",
    "layer_strides",
    "COCO_CLASS_COUNT",
    "config_for",
    "fit_size",
    "make_config",
    "max_stride",
]


class BackboneConfig(Protocol):
    """What `Backbone` needs from any architecture config."""

    in_channels: int
    outputs: ClassVar[tuple[tuple[str, str], ...]]

    @property
    def arch(self) -> str: ...

    def layers(self) -> tuple[LayerSpec, ...]: ...

    def stages(self) -> dict[str, tuple[str, ...]]: ...

    def parts(self) -> dict[str, tuple[str, ...]]: ...

    def to_dict(self) -> dict[str, Any]: ...

    @property
    def label(self) -> str: ...


WIDTH_RANGE = (8, 256)  # base width: multiples of 8 within this range
TUTORIAL_WIDTHS: tuple[int, ...] = tuple(range(WIDTH_RANGE[0], WIDTH_RANGE[1] + 1, 8))  # every width a TutorialConfig takes
DEPTH_RANGE = (1, 8)  # C3k2 repeats
IN_CHANNELS_RANGE = (1, 16)


@dataclass(frozen=True)
class TutorialConfig:
    """The backbone of "Building the YOLOv11 Backbone" (SPEC section 1).

    Stem and four stages, each a stride-2 3x3 conv and a C3k2; SPPF after the last stage. Channels
    double at every stage: w, 2w, 4w (P3), 8w (P4), 16w (P5).

    Args:
        width: base width w, the stem's output channels; a multiple of 8 from 8 to 256 (default 64).
        in_channels: channels of the input image (3 for RGB).
        depth: bottlenecks in every C3k2 (the tutorial's n, default 2).
    """

    width: int = 64
    in_channels: int = 3
    depth: int = 2

    arch: ClassVar[str] = "tutorial"
    # pyramid outputs: (feature name, layer that produces it)
    outputs: ClassVar[tuple[tuple[str, str], ...]] = (
        ("P3", "stage2_c3k2"),
        ("P4", "stage3_c3k2"),
        ("P5", "sppf"),
    )

    def __post_init__(self) -> None:
        lo, hi = WIDTH_RANGE
        if not _is_int(self.width) or self.width % 8 or not lo <= self.width <= hi:
            raise ValueError(f"width must be a multiple of 8 from {lo} to {hi}, got {self.width!r}")
        lo, hi = IN_CHANNELS_RANGE
        if not _is_int(self.in_channels) or not lo <= self.in_channels <= hi:
            raise ValueError(f"in_channels must be an integer from {lo} to {hi}, got {self.in_channels!r}")
        lo, hi = DEPTH_RANGE
        if not _is_int(self.depth) or not lo <= self.depth <= hi:
            raise ValueError(f"depth (C3k2 repeats) must be an integer from {lo} to {hi}, got {self.depth!r}")

    def layers(self) -> tuple[LayerSpec, ...]:
        w, n = self.width, self.depth
        specs = [LayerSpec("stem", "conv", w, kernel=3, stride=2)]
        for i, c in enumerate((2 * w, 4 * w, 8 * w, 16 * w), start=1):
            specs += [
                LayerSpec(f"stage{i}_down", "conv", c, kernel=3, stride=2),
                LayerSpec(f"stage{i}_c3k2", "c3k2", c, repeats=n, shortcut=True, expansion=0.5),
            ]
        specs.append(LayerSpec("sppf", "sppf", 16 * w, kernel=5))
        return tuple(specs)

    def stages(self) -> dict[str, tuple[str, ...]]:
        """Stage name -> its layers, the way the tutorial groups them (the same stages as YOLO11's)."""
        return {
            "stem": ("stem",),
            "stage 1": ("stage1_down", "stage1_c3k2"),
            "stage 2 (P3)": ("stage2_down", "stage2_c3k2"),
            "stage 3 (P4)": ("stage3_down", "stage3_c3k2"),
            "stage 4 (P5)": ("stage4_down", "stage4_c3k2", "sppf"),
        }

    def parts(self) -> dict[str, tuple[str, ...]]:
        """Backbone, neck and head: the tutorial is a backbone only."""
        return {"backbone": tuple(spec.name for spec in self.layers())}

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, **dataclasses.asdict(self)}

    @property
    def label(self) -> str:
        return f"tutorial w={self.width}" + (f" n={self.depth}" if self.depth != 2 else "")


NUM_CLASSES_RANGE = (1, 1000)
COCO_CLASS_COUNT = 80  # the class count of a detector nobody has said otherwise of: COCO's, as Ultralytics' releases
PYRAMID: tuple[str, ...] = ("P3", "P4", "P5")  # the feature levels every shipped family names, finest first
YOLO11_SCALES: dict[str, tuple[float, float, int]] = {  # (depth multiple, width multiple, max channels), SPEC section 2
    letter: tuple(value) for letter, value in FAMILIES["yolo11"]["scales"].items()
}


@functools.cache
def family_table(family: str) -> ModelTable:
    """The shipped table of a family ("yolo26"), read once (tables are immutable)."""
    try:
        return ModelTable.read(FAMILIES[family], name=family)
    except KeyError:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}") from None


@dataclass(frozen=True)
class FamilyConfig:
    """An Ultralytics detection model built from its layer table (`table.ModelTable`): YOLOv8, YOLO11, YOLO12, YOLO26,
    or a user's own table (a YAML file, or the one a checkpoint carries). Layers are named by their index in the
    Ultralytics model ("0", "1", ...), so that Ultralytics' `model.6.m.0.cv3` is this model's `6.m.0.cv3`.

    A backbone config (`detector=False`) is the table's backbone rows; its P3/P4/P5 are its last layers at strides 8,
    16 and 32 (YOLO11: layers 4, 6, 10). A detector config is every row; its pyramid is what Detect takes (YOLO11:
    16, 19, 22; YOLO12: 14, 17, 20; YOLOv8: 15, 18, 21). Everything that depends on the family is read off the table.

    Args:
        family: a shipped family ("yolov8", "yolo11", "yolo12", "yolo26"), or the name of the `table` given.
        scale: a letter of the table's scales ("n" ... "x"); "" for a table without scales.
        in_channels: channels of the input image (3 for RGB).
        detector: the whole detector (True) or the backbone only (False, the default).
        num_classes: classes of the detector's head (80 for COCO); ignored for a backbone.
        table: a user's or a checkpoint's table; None takes the family's shipped one.
    """

    family: str = "yolo11"
    scale: str = "n"
    in_channels: int = 3
    detector: bool = False
    num_classes: int = COCO_CLASS_COUNT
    table: ModelTable = dataclasses.field(default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.table is None:
            object.__setattr__(self, "table", family_table(self.family))
        elif not isinstance(self.table, ModelTable):
            raise ValueError(f"table must be a ModelTable, got {type(self.table).__name__}")
        letters = self.table.scale_letters
        if letters and self.scale not in letters:
            name = FAMILY_NAMES.get(self.family, self.family)
            raise ValueError(f"{name} scale must be one of {', '.join(letters)}, got {self.scale!r}")
        if not letters and self.scale:
            raise ValueError(f"{self.family}'s table has no scales: give scale ''")
        lo, hi = IN_CHANNELS_RANGE
        if not _is_int(self.in_channels) or not lo <= self.in_channels <= hi:
            raise ValueError(f"in_channels must be an integer from {lo} to {hi}, got {self.in_channels!r}")
        if not isinstance(self.detector, bool):
            raise ValueError(f"detector must be True or False, got {self.detector!r}")
        lo, hi = NUM_CLASSES_RANGE
        if not _is_int(self.num_classes) or not lo <= self.num_classes <= hi:
            raise ValueError(f"num_classes must be an integer from {lo} to {hi}, got {self.num_classes!r}")

    @property
    def shipped(self) -> bool:
        """A family this explorer ships the table of, with that table (not a user's)."""
        return self.family in FAMILIES and self.table == family_table(self.family)

    @property
    def arch(self) -> str:
        """ "yolo26n" for a shipped family; a user's table: its name and scale ("my-model-n")."""
        if self.shipped:
            return f"{self.family}{self.scale}"
        return f"{self.family}-{self.scale}" if self.scale else self.family

    @property
    def family_name(self) -> str:
        """ "YOLO26", or a user's table's name."""
        return FAMILY_NAMES.get(self.family, self.family) if self.shipped else self.family

    @property
    def backbone(self) -> FamilyConfig:
        """The backbone-only config of the same table and scale."""
        return dataclasses.replace(self, detector=False, num_classes=COCO_CLASS_COUNT)

    @property
    def multiples(self) -> tuple[float, float, int]:
        """(depth multiple, width multiple, max channels) of the scale."""
        return self.table.multiples_of(self.scale or None)

    @property
    def nominal_channels(self) -> tuple[int, ...]:
        """Output channels of the backbone's layers before scaling, as the table states them (0 where a layer follows
        its input: Upsample, Concat)."""
        return tuple(
            row.args[0] if row.module not in ("nn.Upsample", "Concat", "Detect") else 0
            for row in self.table.rows[: self.table.backbone_rows]
        )

    def channels(self, nominal: int) -> int:
        """Output channels of a layer: the nominal count capped at max_channels, times the width multiple, rounded up
        to a multiple of 8."""
        _, width, max_channels = self.multiples
        return math.ceil(min(nominal, max_channels) * width / 8) * 8

    def repeats(self, nominal: int) -> int:
        """Inner blocks of a layer: the nominal count times the depth multiple, at least one."""
        depth = self.multiples[0]
        return max(round(nominal * depth), 1) if nominal > 1 else nominal

    def layers(self) -> tuple[LayerSpec, ...]:
        specs = self.table.layers(self.scale or None, self.num_classes, self.in_channels)
        return specs if self.detector else specs[: self.table.backbone_rows]

    @property
    def outputs(self) -> tuple[tuple[str, str], ...]:
        """(feature name, layer producing it): what Detect takes for a detector; for a backbone its last layer at each
        stride from 8 on. Levels are named by stride: P3 = 8, P4 = 16, P5 = 32."""
        specs = self.layers()
        strides = layer_strides(specs)
        if self.detector:
            layers = specs[-1].sources
        else:
            last = {strides[spec.name]: spec.name for spec in specs if strides[spec.name] >= 8}
            layers = tuple(last[s] for s in sorted(last))
        return tuple((f"P{int(math.log2(strides[layer]))}", layer) for layer in layers)

    @property
    def head_layer(self) -> str | None:
        """The Detect layer's name ("23" for YOLO11), None for a backbone."""
        return self.layers()[-1].name if self.detector else None

    def stages(self) -> dict[str, tuple[str, ...]]:
        """Stage name -> its layers. The backbone: the stem, then a stage from each stride-2 conv, named by the level
        it reaches ("stage 2 (P3)"); a detector's neck: top-down (FPN) up to its first stride-2 conv, bottom-up (PAN)
        from there; then the head."""
        specs = self.layers()
        strides = layer_strides(specs)
        backbone = specs[: self.table.backbone_rows]
        stages: dict[str, list[str]] = {"stem": [backbone[0].name]}
        current = "stem"
        for spec in backbone[1:]:
            if spec.block == "conv" and spec.stride == 2:
                stride = strides[spec.name]
                k = len(stages)
                current = f"stage {k}" + (f" (P{int(math.log2(stride))})" if stride >= 8 else "")
                stages[current] = []
            stages[current].append(spec.name)
        if self.detector:
            neck = specs[self.table.backbone_rows : -1]
            down = next((i for i, s in enumerate(neck) if s.block == "conv" and s.stride == 2), len(neck))
            stages["neck: top-down (FPN)"] = [s.name for s in neck[:down]]
            if neck[down:]:
                stages["neck: bottom-up (PAN)"] = [s.name for s in neck[down:]]
            stages["head"] = [specs[-1].name]
        return {name: tuple(layers) for name, layers in stages.items() if layers}

    def parts(self) -> dict[str, tuple[str, ...]]:
        """Backbone, neck and head: the layers of each (a backbone config has only the first)."""
        names = [spec.name for spec in self.layers()]
        cut = self.table.backbone_rows
        if not self.detector:
            return {"backbone": tuple(names)}
        return {"backbone": tuple(names[:cut]), "neck": tuple(names[cut:-1]), "head": tuple(names[-1:])}

    def to_dict(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"arch": self.arch, "scale": self.scale, "in_channels": self.in_channels}
        if not self.shipped:
            fields["model"] = self.family
        if self.detector:  # a backbone's description stays what it always was
            fields.update(detector=True, num_classes=self.num_classes)
        return fields

    @property
    def label(self) -> str:
        name = f"{self.family_name}{self.scale}" if self.shipped else f"{self.arch} (its own table)"
        if not self.detector:
            return name
        n = self.num_classes
        classes = "" if n == COCO_CLASS_COUNT else f", {n} class" + ("es" if n > 1 else "")
        return f"{name} detector{classes}"


def YOLO11Config(scale: str = "n", **fields: Any) -> FamilyConfig:  # noqa: N802 (the name configs had before families)
    """The config of a YOLO11 scale: `FamilyConfig("yolo11", scale, ...)`."""
    return FamilyConfig("yolo11", scale, **fields)


def layer_strides(specs: tuple[LayerSpec, ...]) -> dict[str, int]:
    """Each layer's output stride in input pixels: a conv multiplies it, an upsample divides it, a layer with several
    inputs takes its first input's (Concat joins maps of one stride; Detect's output has the finest)."""
    strides: dict[str, int] = {}
    stride = 1
    for spec in specs:
        if spec.sources:
            stride = min(strides[s] for s in spec.sources) if spec.block == "detect" else strides[spec.sources[0]]
        if spec.block == "conv":
            stride *= spec.stride
        elif spec.block == "upsample":
            stride = max(stride // spec.stride, 1)
        strides[spec.name] = stride
    return strides


# Named architectures: name -> factory of configs. New architectures register here.
ARCHITECTURES: dict[str, Callable[..., BackboneConfig]] = {
    "tutorial": TutorialConfig,
    **{
        f"{family}{scale}": functools.partial(FamilyConfig, family=family, scale=scale)
        for family, table in FAMILIES.items()
        for scale in table["scales"]
    },
}


def make_config(arch: str = "tutorial", **kwargs: Any) -> BackboneConfig:
    """Build a validated config for a named architecture.

    Args:
        arch: a key of `ARCHITECTURES`.
        **kwargs: fields of that architecture's config (e.g. `width=32`).

    Returns:
        The frozen config.

    Raises:
        ValueError: unknown architecture, unknown field, or a value out of range.
    """
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}") from None
    fixed = getattr(cls, "keywords", {})  # a partial's preset fields (the YOLO11 scale)
    fields = {f.name for f in dataclasses.fields(getattr(cls, "func", cls))} - set(fixed)
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ValueError(f"{arch} configs have no field {', '.join(unknown)}; valid: {', '.join(sorted(fields))}")
    return cls(**kwargs)


def config_for(
    arch: str = "tutorial",
    *,
    width: int | None = None,
    depth: int | None = None,
    detector: bool = False,
    classes: int | None = None,
) -> BackboneConfig:
    """The config a user's choices describe, the one place the app's sidebar and the command line turn them into one:
    the tutorial takes a width and a depth (its defaults when None); a YOLO11 scale fixes its own and is a backbone,
    or the whole detector with `classes` classes (COCO's 80 when None).

    Raises:
        ValueError: a width or depth for a YOLO11 scale, the detector or a class count for the tutorial, a value out
            of range.
    """
    if arch == "tutorial":
        if detector:
            raise ValueError("the tutorial is a backbone only; the whole detector exists for yolo11n ... yolo11x")
        if classes is not None:
            raise ValueError("a class count applies to the whole detector")
        fields = {k: v for k, v in (("width", width), ("depth", depth)) if v is not None}
        return make_config(arch, **fields)
    if width is not None or depth is not None:
        raise ValueError(f"a width and a depth apply to the tutorial backbone; {arch}'s scale fixes its own")
    if not detector:
        if classes is not None:
            raise ValueError("a class count applies to the whole detector")
        return make_config(arch)
    return make_config(arch, detector=True, num_classes=COCO_CLASS_COUNT if classes is None else classes)


def max_stride(config: BackboneConfig) -> int:
    """The stride of a model's coarsest level, P5 (32 here): the product of its backbone's convolution strides."""
    backbone = config.backbone if getattr(config, "detector", False) else config
    return math.prod(spec.stride for spec in backbone.layers() if spec.block == "conv")


def fit_size(config: BackboneConfig, size: tuple[int, int]) -> tuple[int, int]:
    """The (H, W) a model runs at when asked for `size`: a whole detector's sides rounded up to a multiple of its
    largest stride, as Ultralytics' `check_imgsz` rounds `imgsz` (its neck joins each level to the one above it,
    upsampled twice: at 333 px P4's 21 rows would meet P5's 11 x 2 = 22); a backbone runs at any size."""
    if not getattr(config, "detector", False):
        return size
    stride = max_stride(config)
    return (math.ceil(size[0] / stride) * stride, math.ceil(size[1] / stride) * stride)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
