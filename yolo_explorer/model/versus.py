"""The tutorial's backbone beside Ultralytics' YOLO11: stage by stage, where they differ and what each
difference costs, and which tutorial width comes closest to each YOLO11 scale.

Every cost is computed: a difference is measured by building the YOLO11 backbone without it (the same
layers with that one design choice undone) on the meta device and subtracting.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .config import TUTORIAL_WIDTHS, YOLO11_SCALES, FamilyConfig, LayerSpec, TutorialConfig, YOLO11Config
from .stats import ModelStats, model_stats

__all__ = ["Difference", "StageRow", "WidthMatch", "closest_widths", "differences", "stage_rows"]


@dataclass(frozen=True)
class StageRow:
    """One stage of a backbone: its layers, output shape, parameters and MACs (batch 1)."""

    stage: str
    layers: tuple[str, ...]  # "stage2_c3k2", or "4 C3k2" for YOLO11's numbered layers
    output_shape: tuple[int, int, int]
    params: int
    macs: int
    feature: str  # "P3", or ""


@dataclass(frozen=True)
class Difference:
    """A design choice of YOLO11 that the tutorial does not make, where it sits, and what it changes.

    `params` and `macs` are YOLO11's figures minus those of the same backbone without this choice:
    negative where the choice saves, positive where it costs.
    """

    title: str
    where: str
    explanation: str
    params: int
    macs: int


@dataclass(frozen=True)
class WidthMatch:
    """The tutorial widths that come closest to one YOLO11 scale, in parameters and in MACs."""

    arch: str
    params: int
    macs: int
    width_by_params: int
    params_at_width: int
    width_by_macs: int
    macs_at_width: int


def stage_rows(config: TutorialConfig | FamilyConfig, stats: ModelStats) -> list[StageRow]:
    """Group a backbone's per-layer statistics into its stages (stem, stages 1 to 4)."""
    by_name = {layer.name: layer for layer in stats.layers}
    rows = []
    for stage, names in config.stages().items():
        layers = [by_name[n] for n in names]
        rows.append(
            StageRow(
                stage=stage,
                layers=tuple(_layer_label(layer.name, layer.block) for layer in layers),
                output_shape=layers[-1].output_shape,
                params=sum(layer.params for layer in layers),
                macs=sum(layer.macs for layer in layers),
                feature=next((layer.feature for layer in layers if layer.feature), ""),
            )
        )
    return rows


def _layer_label(name: str, block: str) -> str:
    """Named layers speak for themselves; numbered ones (YOLO11's) get their block: "4 C3k2"."""
    return f"{name} {block.replace('ConvBNSiLU', 'Conv')}" if name.isdigit() else name


@dataclass(frozen=True)
class _Variant:
    """A YOLO11 config with its layer plan edited: the backbone without one design choice."""

    base: FamilyConfig
    edit: Callable[[tuple[LayerSpec, ...]], tuple[LayerSpec, ...]]

    @property
    def outputs(self) -> tuple[tuple[str, str], ...]:
        return self.base.outputs

    def parts(self) -> dict[str, tuple[str, ...]]:
        return self.base.parts()

    @property
    def in_channels(self) -> int:
        return self.base.in_channels

    @property
    def arch(self) -> str:
        return f"{self.base.arch}-variant"

    @property
    def label(self) -> str:
        return self.arch

    def layers(self) -> tuple[LayerSpec, ...]:
        return self.edit(self.base.layers())

    def stages(self) -> dict[str, tuple[str, ...]]:
        return self.base.stages()

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch}


def differences(config: FamilyConfig, size: int | tuple[int, int] = 640) -> list[Difference]:
    """Each place YOLO11 departs from the tutorial's plan, with its measured cost at `size`."""
    stats = model_stats(config, size)
    layers = {layer.name: layer for layer in stats.layers}
    specs = config.layers()
    depth, width, max_channels = config.multiples

    def delta(edit: Callable[[tuple[LayerSpec, ...]], tuple[LayerSpec, ...]]) -> tuple[int, int]:
        without = model_stats(_Variant(config, edit), size)  # type: ignore[arg-type]
        return stats.params - without.params, stats.macs - without.macs

    def replace(names: Sequence[str], **changes: Any) -> Callable[[tuple[LayerSpec, ...]], tuple[LayerSpec, ...]]:
        return lambda plan: tuple(dataclasses.replace(s, **changes) if s.name in names else s for s in plan)

    out = []
    # 1. which block grows the channels
    channels_in = {s.name: c for s, c in zip(specs, [config.in_channels] + [s.channels for s in specs], strict=False)}
    growing = [s.name for s in specs if s.block == "yolo11_c3k2" and s.channels != channels_in[s.name]]
    kept = [s.name for s in specs if s.block == "conv" and s.stride == 2 and s.channels == channels_in[s.name]]
    out.append(
        Difference(
            "The C3k2 grows the channels, not the stride-2 conv",
            "stages 1 and 2: layers " + ", ".join(growing),
            "In the tutorial every stride-2 conv doubles the channels and the C3k2 keeps them. In YOLO11 the C3k2s of "
            + " and ".join(f"layer {n} ({channels_in[n]} → {layers[n].output_shape[0]})" for n in growing)
            + " double them, and the stride-2 convs "
            + ", ".join(f"{n} ({channels_in[n]} → {layers[n].output_shape[0]})" for n in kept)
            + " keep them. Cost shown: those C3k2 layers.",
            sum(layers[n].params for n in growing),
            sum(layers[n].macs for n in growing),
        )
    )
    # 2. expansion 0.25 in the early C3k2s
    early = [s.name for s in specs if s.block == "yolo11_c3k2" and s.expansion == 0.25]
    p, m = delta(replace(early, expansion=0.5))
    out.append(
        Difference(
            "Expansion 0.25 in the early C3k2s",
            "layers " + ", ".join(early),
            "Their hidden width is a quarter of the output (the tutorial uses half), where the maps are largest. "
            "Cost shown: against expansion 0.5.",
            p,
            m,
        )
    )
    # 3. C3k inner blocks
    c3k = [s.name for s in specs if s.block == "yolo11_c3k2" and s.c3k]
    p, m = delta(replace(c3k, c3k=False))
    out.append(
        Difference(
            "C3k inner blocks",
            "layers " + ", ".join(c3k),
            "Each inner block is a C3k (two 1x1 branches of half width, two Bottlenecks on one, a 1x1 to join) instead of "
            "one Bottleneck: deeper at nearly the same width"
            + (" (the m, l and x scales use them in every C3k2)" if config.scale in "mlx" else "")
            + ". Cost shown: against plain Bottlenecks (expansion 0.5).",
            p,
            m,
        )
    )
    # 4. the max_channels cap
    uncapped = math.ceil(1024 * width / 8) * 8
    nominal = dict(zip((s.name for s in specs), config.nominal_channels, strict=True))
    capped = [name for name, c in nominal.items() if c > max_channels]
    if capped:
        full = {name: math.ceil(nominal[name] * width / 8) * 8 for name in capped}
        p, m = delta(lambda plan: tuple(dataclasses.replace(s, channels=full.get(s.name, s.channels)) for s in plan))
        explanation = (
            f"Channels are capped at {max_channels} before the width multiple ×{width:g}: P5 has "
            f"{config.channels(1024)} channels instead of {uncapped}. Cost shown: against no cap."
        )
        where = "stage 4: layers " + ", ".join(capped)
    else:
        p = m = 0
        explanation = f"The cap ({max_channels}) does not bind at width ×{width:g}: P5 keeps {config.channels(1024)} channels."
        where = "stage 4"
    out.append(Difference("The max_channels cap", where, explanation, p, m))
    # 5. repeats scaled by depth
    repeated = [s.name for s in specs if s.block in ("yolo11_c3k2", "c2psa")]
    if depth < 1:
        p, m = delta(replace(repeated, repeats=2))
        explanation = (
            f"Depth ×{depth:g} runs {config.repeats(2)} inner block instead of the nominal 2 in every C3k2 and the C2PSA "
            "(the tutorial always runs 2). Cost shown: against 2."
        )
    else:
        p = m = 0
        explanation = "Full depth: 2 inner blocks in every C3k2 and the C2PSA, as the tutorial's n = 2."
    out.append(Difference("Repeats scaled by depth", "layers " + ", ".join(repeated), explanation, p, m))
    # 6. the attention at the end
    psa = layers["10"]
    out.append(
        Difference(
            "C2PSA attention after the SPPF",
            "stage 4: layer 10",
            f"Half of P5's channels run through {config.repeats(2)} PSABlock(s): multi-head self-attention over all "
            f"{psa.output_shape[1] * psa.output_shape[2]} positions, then a feed-forward of 1x1 convs. Every P5 cell then "
            f"sees the whole image. {psa.attention_macs:,} of its MACs are the attention's matrix products. "
            "Cost shown: the whole layer (the tutorial stops at the SPPF).",
            psa.params,
            psa.macs,
        )
    )
    return out


def closest_widths(
    size: int | tuple[int, int] = 640,
    archs: Sequence[str] = tuple(f"yolo11{s}" for s in YOLO11_SCALES),
    widths: Sequence[int] = TUTORIAL_WIDTHS,
) -> list[WidthMatch]:
    """For each YOLO11 scale, the tutorial width whose parameters, and the one whose MACs, are closest
    (in ratio) at `size`."""
    tutorial = {w: model_stats(TutorialConfig(width=w), size) for w in widths}
    rows = []
    for arch in archs:
        target = model_stats(YOLO11Config(scale=arch.removeprefix("yolo11")), size)
        by_params = min(widths, key=lambda w: abs(math.log(tutorial[w].params / target.params)))
        by_macs = min(widths, key=lambda w: abs(math.log(tutorial[w].macs / target.macs)))
        rows.append(
            WidthMatch(arch, target.params, target.macs, by_params, tutorial[by_params].params, by_macs, tutorial[by_macs].macs)
        )
    return rows
