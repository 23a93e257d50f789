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

__all__ = [
    "ARCHITECTURES",
    "BackboneConfig",
    "LayerSpec",
    "PYRAMID",
    "TUTORIAL_WIDTHS",
    "TutorialConfig",
    "YOLO11Config",
    "YOLO11_BACKBONE_LAYERS",
    "YOLO11_HEAD_LAYER",
    "YOLO11_HEAD_SOURCES",
    "YOLO11_SCALES",
    "COCO_CLASS_COUNT",
    "config_for",
    "fit_size",
    "make_config",
    "max_stride",
]


@dataclass(frozen=True)
class LayerSpec:
    """One top-level module of a backbone.

    Args:
        name: attribute name of the module, also the layer name users see ("stage2_c3k2").
        block: kind of block, a key of `backbone.BLOCKS` ("conv", "c3k2", "sppf", "yolo11_c3k2", "c2psa").
        channels: output channels.
        kernel: kernel size (conv) or pooling window (sppf).
        stride: spatial stride of the module.
        repeats: number of inner blocks (C3k2, C2PSA).
        shortcut: residual connections inside the inner blocks (C3k2).
        expansion: hidden-channel ratio of the block (C3k2, C2PSA).
        c3k: YOLO11's C3k2 only: inner blocks are C3k (True) or Bottlenecks (False).
        bn_eps: BatchNorm epsilon of every conv in the module.
        bn_momentum: BatchNorm momentum (only matters when training).
        sources: the layers whose outputs it takes, by name (a Concat takes two, Detect three); empty for
            the previous layer, as in a chain.
        num_classes: Detect only: the number of classes it scores.
    """

    name: str
    block: str
    channels: int
    kernel: int = 1
    stride: int = 1
    repeats: int = 1
    shortcut: bool = True
    expansion: float = 0.5
    c3k: bool = False
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    sources: tuple[str, ...] = ()
    num_classes: int = 0


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


# Ultralytics YOLO11 scales: (depth multiple, width multiple, max channels), SPEC section 2
YOLO11_SCALES: dict[str, tuple[float, float, int]] = {
    "n": (0.50, 0.25, 1024),
    "s": (0.50, 0.50, 1024),
    "m": (0.50, 1.00, 512),
    "l": (1.00, 1.00, 512),
    "x": (1.00, 1.50, 512),
}

# YOLO11's neck (FPN top-down, PAN bottom-up) and head, layers 11-23 before scaling (SPEC section 3):
# (block, sources by index, nominal channels, stride or repeats, extra LayerSpec fields)
_YOLO11_NECK_PLAN: tuple[tuple[str, tuple[int, ...], int, int, dict[str, Any]], ...] = (
    ("upsample", (), 0, 2, {}),
    ("concat", (11, 6), 0, 0, {}),
    ("yolo11_c3k2", (), 512, 2, {"c3k": False}),
    ("upsample", (), 0, 2, {}),
    ("concat", (14, 4), 0, 0, {}),
    ("yolo11_c3k2", (), 256, 2, {"c3k": False}),
    ("conv", (), 256, 2, {}),
    ("concat", (17, 13), 0, 0, {}),
    ("yolo11_c3k2", (), 512, 2, {"c3k": False}),
    ("conv", (), 512, 2, {}),
    ("concat", (20, 10), 0, 0, {}),
    ("yolo11_c3k2", (), 1024, 2, {"c3k": True}),
    ("detect", (16, 19, 22), 0, 0, {}),
)
NUM_CLASSES_RANGE = (1, 1000)
COCO_CLASS_COUNT = 80  # the class count of a detector nobody has said otherwise of: COCO's, as Ultralytics' releases
# Ultralytics' published size of each whole YOLO11 detector (its documentation's table, 80 classes, 640x640):
# (parameters, FLOPs), shown beside the counts computed here
ULTRALYTICS_PUBLISHED: dict[str, tuple[float, float]] = {
    "n": (2.6e6, 6.5e9),
    "s": (9.4e6, 21.5e9),
    "m": (20.1e6, 68.0e9),
    "l": (25.3e6, 86.9e9),
    "x": (56.9e6, 194.9e9),
}
# YOLO11's layers 0-10 before scaling: (block, nominal channels, stride or repeats, extra LayerSpec fields)
_YOLO11_PLAN: tuple[tuple[str, int, int, dict[str, Any]], ...] = (
    ("conv", 64, 2, {}),
    ("conv", 128, 2, {}),
    ("yolo11_c3k2", 256, 2, {"c3k": False, "expansion": 0.25}),
    ("conv", 256, 2, {}),
    ("yolo11_c3k2", 512, 2, {"c3k": False, "expansion": 0.25}),
    ("conv", 512, 2, {}),
    ("yolo11_c3k2", 512, 2, {"c3k": True}),
    ("conv", 1024, 2, {}),
    ("yolo11_c3k2", 1024, 2, {"c3k": True}),
    ("sppf", 1024, 0, {"kernel": 5}),
    ("c2psa", 1024, 2, {}),
)

PYRAMID: tuple[str, ...] = ("P3", "P4", "P5")  # the feature levels every config names, finest first
YOLO11_BACKBONE_LAYERS = len(_YOLO11_PLAN)  # layers "0" ... "10" are the backbone
YOLO11_HEAD_LAYER = str(YOLO11_BACKBONE_LAYERS + len(_YOLO11_NECK_PLAN) - 1)  # "23": Detect
YOLO11_HEAD_SOURCES: tuple[str, ...] = tuple(str(i) for i in _YOLO11_NECK_PLAN[-1][1])  # ("16", "19", "22")
_YOLO11_BACKBONE_OUTPUTS = ("4", "6", "10")  # the backbone's P3, P4, P5: what the neck's concatenations take, and its last
_NECK = [str(i) for i in range(YOLO11_BACKBONE_LAYERS, int(YOLO11_HEAD_LAYER))]  # "11" ... "22"
_DETECTOR_STAGES = {  # the neck's two halves (6 layers each) and the head
    "neck: top-down (FPN)": tuple(_NECK[: len(_NECK) // 2]),
    "neck: bottom-up (PAN)": tuple(_NECK[len(_NECK) // 2 :]),
    "head": (YOLO11_HEAD_LAYER,),
}


@dataclass(frozen=True)
class YOLO11Config:
    """Layers 0-10 of an Ultralytics YOLO11 detection model, its backbone (SPEC section 2).

    Layers are named by their index in the Ultralytics model ("0" ... "10"), so that Ultralytics'
    `model.6.m.0.cv3` is this backbone's `6.m.0.cv3`. P3, P4 and P5 are layers 4, 6 and 10.

    With `detector=True` the config describes the whole detection model, layers 0-23 (SPEC section 3):
    the same backbone, the neck (top-down FPN 11-16, bottom-up PAN 17-22) and the Detect head (23) with
    `num_classes` classes. Its P3, P4 and P5 are then the neck's outputs, the inputs of Detect (layers
    16, 19 and 22).

    Args:
        scale: "n", "s", "m", "l" or "x".
        in_channels: channels of the input image (3 for RGB).
        detector: the whole detector (True) or the backbone only (False, the default).
        num_classes: classes of the detector's head (80 for COCO); ignored for a backbone.
    """

    scale: str = "n"
    in_channels: int = 3
    detector: bool = False
    num_classes: int = COCO_CLASS_COUNT

    @property
    def outputs(self) -> tuple[tuple[str, str], ...]:
        """(feature name, layer producing it): the backbone's pyramid, or the neck's for a detector."""
        layers = YOLO11_HEAD_SOURCES if self.detector else _YOLO11_BACKBONE_OUTPUTS
        return tuple(zip(PYRAMID, layers, strict=True))

    def __post_init__(self) -> None:
        if self.scale not in YOLO11_SCALES:
            raise ValueError(f"YOLO11 scale must be one of {', '.join(YOLO11_SCALES)}, got {self.scale!r}")
        lo, hi = IN_CHANNELS_RANGE
        if not _is_int(self.in_channels) or not lo <= self.in_channels <= hi:
            raise ValueError(f"in_channels must be an integer from {lo} to {hi}, got {self.in_channels!r}")
        if not isinstance(self.detector, bool):
            raise ValueError(f"detector must be True or False, got {self.detector!r}")
        lo, hi = NUM_CLASSES_RANGE
        if not _is_int(self.num_classes) or not lo <= self.num_classes <= hi:
            raise ValueError(f"num_classes must be an integer from {lo} to {hi}, got {self.num_classes!r}")

    @property
    def arch(self) -> str:
        return f"yolo11{self.scale}"

    @property
    def backbone(self) -> YOLO11Config:
        """The backbone-only config of the same scale."""
        return dataclasses.replace(self, detector=False, num_classes=COCO_CLASS_COUNT)

    @property
    def multiples(self) -> tuple[float, float, int]:
        """(depth multiple, width multiple, max channels) of the scale."""
        return YOLO11_SCALES[self.scale]

    @property
    def nominal_channels(self) -> tuple[int, ...]:
        """Channels of layers 0-10 before scaling, as Ultralytics' model definition states them."""
        return tuple(nominal for _, nominal, _, _ in _YOLO11_PLAN)

    def channels(self, nominal: int) -> int:
        """Output channels of a layer: the nominal count capped at max_channels, times the width
        multiple, rounded up to a multiple of 8."""
        _, width, max_channels = self.multiples
        return math.ceil(min(nominal, max_channels) * width / 8) * 8

    def repeats(self, nominal: int) -> int:
        """Inner blocks of a layer: the nominal count times the depth multiple, at least one."""
        depth = self.multiples[0]
        return max(round(nominal * depth), 1) if nominal > 1 else nominal

    def layers(self) -> tuple[LayerSpec, ...]:
        # the m, l and x scales use C3k inner blocks in every C3k2
        all_c3k = self.scale in ("m", "l", "x")
        bn = {"bn_eps": 1e-3, "bn_momentum": 0.03}
        specs = []
        for index, (block, nominal, number, extra) in enumerate(_YOLO11_PLAN):
            fields: dict[str, Any] = {**bn, **extra}
            if block == "conv":
                fields.update(kernel=3, stride=number)
            elif block in ("yolo11_c3k2", "c2psa"):
                fields["repeats"] = self.repeats(number)
                if block == "yolo11_c3k2":
                    fields["c3k"] = fields["c3k"] or all_c3k
            specs.append(LayerSpec(str(index), block, self.channels(nominal), **fields))
        if not self.detector:
            return tuple(specs)
        for index, (block, sources, nominal, number, extra) in enumerate(_YOLO11_NECK_PLAN, start=len(specs)):
            fields = {**bn, **extra, "sources": tuple(str(i) for i in sources)}
            if block == "conv":
                fields.update(kernel=3, stride=number)
            elif block == "upsample":
                fields["stride"] = number  # the scale factor
            elif block == "yolo11_c3k2":
                fields["repeats"] = self.repeats(number)
                fields["c3k"] = fields["c3k"] or all_c3k
            elif block == "detect":
                fields["num_classes"] = self.num_classes
            channels = self.channels(nominal) if nominal else 0  # Upsample, Concat and Detect follow their inputs
            specs.append(LayerSpec(str(index), block, channels, **fields))
        return tuple(specs)

    def stages(self) -> dict[str, tuple[str, ...]]:
        """Stage name -> its layers: each stage starts with a stride-2 conv, as in the tutorial."""
        return {
            "stem": ("0",),
            "stage 1": ("1", "2"),
            "stage 2 (P3)": ("3", "4"),
            "stage 3 (P4)": ("5", "6"),
            "stage 4 (P5)": ("7", "8", "9", "10"),
        } | (_DETECTOR_STAGES if self.detector else {})

    def parts(self) -> dict[str, tuple[str, ...]]:
        """Backbone, neck and head: the layers of each (a backbone config has only the first)."""
        names = [spec.name for spec in self.layers()]
        if not self.detector:
            return {"backbone": tuple(names)}
        return {"backbone": tuple(names[:11]), "neck": tuple(names[11:23]), "head": tuple(names[23:])}

    def to_dict(self) -> dict[str, Any]:
        fields = dataclasses.asdict(self)
        if not self.detector:  # a backbone's description stays what it always was
            del fields["detector"], fields["num_classes"]
        return {"arch": self.arch, **fields}

    @property
    def label(self) -> str:
        if not self.detector:
            return f"YOLO11{self.scale}"
        classes = "" if self.num_classes == COCO_CLASS_COUNT else f", {self.num_classes} classes"
        return f"YOLO11{self.scale} detector{classes}"


# Named architectures: name -> factory of configs. New architectures register here.
ARCHITECTURES: dict[str, Callable[..., BackboneConfig]] = {
    "tutorial": TutorialConfig,
    **{f"yolo11{scale}": functools.partial(YOLO11Config, scale=scale) for scale in YOLO11_SCALES},
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
