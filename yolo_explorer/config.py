"""Architecture configs: frozen, validated descriptions from which a backbone is built.

A config knows its layer plan (`layers()`, one `LayerSpec` per top-level module, in forward order)
and which layers are the pyramid outputs (`outputs`). `Backbone` builds any config the same way, so a
new architecture is a new config class (and, if needed, new blocks), never new UI code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

__all__ = [
    "ARCHITECTURES",
    "BackboneConfig",
    "LayerSpec",
    "TutorialConfig",
    "make_config",
]


@dataclass(frozen=True)
class LayerSpec:
    """One top-level module of a backbone.

    Args:
        name: attribute name of the module, also the layer name users see ("stage2_c3k2").
        block: kind of block, a key of `blocks.BLOCKS` ("conv", "c3k2", "sppf").
        channels: output channels.
        kernel: kernel size (conv) or pooling window (sppf).
        stride: spatial stride of the module.
        repeats: number of inner blocks (C3k2).
        shortcut: residual connections inside the inner blocks (C3k2).
        expansion: hidden-channel ratio of the block (C3k2).
        bn_eps: BatchNorm epsilon of every conv in the module.
    """

    name: str
    block: str
    channels: int
    kernel: int = 1
    stride: int = 1
    repeats: int = 1
    shortcut: bool = True
    expansion: float = 0.5
    bn_eps: float = 1e-5


class BackboneConfig(Protocol):
    """What `Backbone` needs from any architecture config."""

    arch: ClassVar[str]
    in_channels: int
    outputs: ClassVar[tuple[tuple[str, str], ...]]

    def layers(self) -> tuple[LayerSpec, ...]: ...

    def to_dict(self) -> dict[str, Any]: ...

    @property
    def label(self) -> str: ...


WIDTH_RANGE = (8, 256)  # base width: multiples of 8 within this range
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

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, **dataclasses.asdict(self)}

    @property
    def label(self) -> str:
        return f"tutorial w={self.width}" + (f" n={self.depth}" if self.depth != 2 else "")


# Named architectures: name -> config class. New architectures register here.
ARCHITECTURES: dict[str, type] = {"tutorial": TutorialConfig}


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
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ValueError(f"{arch} configs have no field {', '.join(unknown)}; valid: {', '.join(sorted(fields))}")
    return cls(**kwargs)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
