"""Statistics over a grid of widths and input sizes, and the scaling laws they follow."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .config import make_config
from .stats import model_stats

__all__ = ["CompareRow", "DetectorRow", "compare_detectors", "compare_grid", "fit_laws", "power_law_fit"]


class _AtSize:
    """What a row at an input size (`height` x `width_px`) says of its size."""

    height: int
    width_px: int

    @property
    def pixels(self) -> int:
        return self.height * self.width_px

    @property
    def size_label(self) -> str:
        return f"{self.height}" if self.height == self.width_px else f"{self.height}x{self.width_px}"


@dataclass(frozen=True)
class CompareRow(_AtSize):
    """Totals of one (width, size) combination, for one image."""

    width: int
    height: int
    width_px: int
    params: int
    macs: int
    activation_bytes: int


def compare_grid(
    widths: Sequence[int],
    sizes: Sequence[tuple[int, int]],
    *,
    depth: int = 2,
    dtype: str = "fp32",
) -> list[CompareRow]:
    """Totals of the tutorial backbone for every width x size, from meta-device statistics (no forward)."""
    rows = []
    for width in widths:
        config = make_config("tutorial", width=width, depth=depth)
        for h, w in sizes:
            s = model_stats(config, (h, w), dtype)
            rows.append(CompareRow(width, h, w, s.params, s.macs, s.activation_bytes))
    return rows


@dataclass(frozen=True)
class DetectorRow(_AtSize):
    """Totals of one whole detector (80 classes) at one input size, with its backbone's share and, for an end-to-end
    head (YOLO26), what a deployed model with one of its two branches costs."""

    arch: str  # "yolo26n"
    height: int
    width_px: int
    params: int
    macs: int
    activation_bytes: int
    backbone_params: int
    backbone_macs: int
    deployed_params: int
    deployed_macs: int
    label: str = ""  # "YOLO26n"

    @property
    def scale(self) -> str:
        return self.arch[-1]


def compare_detectors(archs: Sequence[str], sizes: Sequence[tuple[int, int]], *, dtype: str = "fp32") -> list[DetectorRow]:
    """Totals of whole detectors ("yolo26n", "yolo11s", ...) for every model x size, from meta-device statistics (no
    forward)."""
    rows = []
    for arch in archs:
        config = make_config(arch, detector=True)
        for h, w in sizes:
            s = model_stats(config, (h, w), dtype)
            backbone = s.part_totals()["backbone"]
            rows.append(
                DetectorRow(
                    arch,
                    h,
                    w,
                    s.params,
                    s.macs,
                    s.activation_bytes,
                    backbone["params"],
                    backbone["macs"],
                    s.deployed_params,
                    s.macs - s.second_branch[1],
                    config.backbone.label,
                )
            )
    return rows


def power_law_fit(xs: Sequence[float], ys: Sequence[float], exponent: float) -> tuple[float, list[float]]:
    """Fit y = c * x**exponent with the exponent fixed (least squares in log space).

    Returns:
        (c, fitted y at each x).
    """
    if not xs or len(xs) != len(ys) or any(v <= 0 for v in (*xs, *ys)):
        raise ValueError("power_law_fit needs matching, positive xs and ys")
    log_c = sum(math.log(y) - exponent * math.log(x) for x, y in zip(xs, ys, strict=True)) / len(xs)
    c = math.exp(log_c)
    return c, [c * x**exponent for x in xs]


def fit_laws(xs: Sequence[float], series: dict[str, Sequence[float]], exponent: float) -> dict[str, list[float]]:
    """The law c * x**exponent fitted through each series; empty when there are too few points to show one."""
    if len(xs) < 2:
        return {}
    return {name: power_law_fit(xs, ys, exponent)[1] for name, ys in series.items()}
