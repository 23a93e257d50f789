"""Numbers behind the heatmaps: per-channel statistics, channel rankings, channel reductions,
quantisation for light charts, and maps laid back onto the original image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from .preprocess import Letterbox

__all__ = [
    "RANKINGS",
    "REDUCTIONS",
    "ChannelStats",
    "Quantized",
    "channel_stats",
    "map_to_original",
    "quantize",
    "rank_channels",
    "reduce_channels",
    "strength",
]

Ranking = Literal["mean", "max", "energy"]
Reduction = Literal["mean", "max", "topk"]
RANKINGS: dict[str, str] = {"mean": "mean activation", "max": "peak activation", "energy": "L2 energy"}
REDUCTIONS: dict[str, str] = {"mean": "mean over channels", "max": "max over channels", "topk": "mean of the top-k channels"}


def _as_map(fmap: torch.Tensor | np.ndarray) -> torch.Tensor:
    """A (C, H, W) float32 CPU tensor from a (C, H, W) or (1, C, H, W) map."""
    t = torch.as_tensor(fmap).detach()
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 3:
        raise ValueError(f"expected a (C, H, W) map, got shape {tuple(t.shape)}")
    return t.to("cpu", torch.float32)


@dataclass(frozen=True)
class ChannelStats:
    """Statistics of every channel of a (C, H, W) map; each field has one value per channel."""

    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    frac_nonpositive: np.ndarray  # fraction of positions <= 0
    energy: np.ndarray  # L2 norm over the positions

    def row(self, channel: int) -> dict[str, float]:
        """One channel's statistics as plain floats."""
        return {
            "channel": channel,
            "mean": float(self.mean[channel]),
            "std": float(self.std[channel]),
            "min": float(self.min[channel]),
            "max": float(self.max[channel]),
            "frac_nonpositive": float(self.frac_nonpositive[channel]),
            "energy": float(self.energy[channel]),
        }


def channel_stats(fmap: torch.Tensor | np.ndarray) -> ChannelStats:
    """Mean, std (population), min, max, fraction <= 0 and L2 energy of every channel."""
    t = _as_map(fmap).flatten(1)  # (C, H*W)
    return ChannelStats(
        mean=t.mean(1).numpy(),
        std=t.std(1, correction=0).numpy(),
        min=t.amin(1).numpy(),
        max=t.amax(1).numpy(),
        frac_nonpositive=(t <= 0).float().mean(1).numpy(),
        energy=t.norm(dim=1).numpy(),
    )


def strength(stats: ChannelStats, positions: int) -> float:
    """A map's activation strength: the root mean square of all its values, from its channels' L2 energy (the Feature
    maps page's) over its `positions` (H x W): sqrt(sum of energy^2 / (C x H x W))."""
    return float(np.sqrt(np.square(stats.energy.astype(np.float64)).sum() / (len(stats.energy) * positions)))


def rank_channels(fmap: torch.Tensor | np.ndarray | ChannelStats, by: Ranking = "energy") -> np.ndarray:
    """Channel indices, strongest first, by mean activation, peak activation or L2 energy.

    Accepts the map or its `channel_stats` (to rank several ways without recomputing them).
    """
    stats = fmap if isinstance(fmap, ChannelStats) else channel_stats(fmap)
    try:
        score = {"mean": stats.mean, "max": stats.max, "energy": stats.energy}[by]
    except KeyError:
        raise ValueError(f"ranking must be one of {', '.join(RANKINGS)}, got {by!r}") from None
    return np.argsort(-score, kind="stable")


def reduce_channels(fmap: torch.Tensor | np.ndarray, how: Reduction = "mean", k: int = 8) -> np.ndarray:
    """Collapse the channels into one (H, W) map.

    Args:
        fmap: a (C, H, W) map.
        how: "mean" or "max" over channels, or "topk": at every position, the mean of the k largest
            channel values (between mean and max: where a few channels agree, not one outlier).
        k: channels for "topk", clipped to C.
    """
    t = _as_map(fmap)
    if how == "mean":
        out = t.mean(0)
    elif how == "max":
        out = t.amax(0)
    elif how == "topk":
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        out = t.topk(min(k, t.shape[0]), dim=0).values.mean(0)
    else:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {how!r}")
    return out.numpy()


@dataclass(frozen=True)
class Quantized:
    """Maps scaled to uint8 (0..255) for light charts, and how to read the levels back.

    A level q of map i stands for the value lo[i] + q / 255 * (hi[i] - lo[i]).
    """

    levels: np.ndarray  # (N, H, W) uint8
    lo: np.ndarray  # (N,)
    hi: np.ndarray  # (N,)

    def value(self, index: int, level: float) -> float:
        return float(self.lo[index] + level / 255.0 * (self.hi[index] - self.lo[index]))


def quantize(maps: torch.Tensor | np.ndarray, shared: bool = False, clip: float = 0.0) -> Quantized:
    """Scale (N, H, W) maps to uint8, each over its own range, or all over one shared range.

    Args:
        maps: the maps.
        shared: one range for all maps instead of one per map.
        clip: percent cut from each end of the range (1.0: the 1st to 99th percentile), so that a
            few extreme cells do not leave the rest of a map dark; values beyond are saturated.
            0 uses the true min..max.

    A constant map becomes all zeros (its range is empty).
    """
    a = np.asarray(torch.as_tensor(maps).detach().to("cpu", torch.float32))
    if a.ndim != 3:
        raise ValueError(f"expected (N, H, W) maps, got shape {a.shape}")
    if not 0.0 <= clip < 50.0:
        raise ValueError(f"clip must be a percentage from 0 to 50, got {clip!r}")
    if not a.size:
        lo = hi = np.zeros(len(a), dtype=np.float32)
    elif shared:
        low, high = np.percentile(a, [clip, 100 - clip]) if clip else (a.min(), a.max())
        lo, hi = np.full(len(a), low, dtype=np.float32), np.full(len(a), high, dtype=np.float32)
    elif clip:
        flat = a.reshape(len(a), -1)
        lo, hi = np.percentile(flat, clip, axis=1), np.percentile(flat, 100 - clip, axis=1)
    else:
        lo, hi = a.min(axis=(1, 2)), a.max(axis=(1, 2))
    span = np.where(hi > lo, hi - lo, 1.0)[:, None, None]
    levels = np.rint((a - lo[:, None, None]) / span * 255.0).clip(0, 255).astype(np.uint8)
    return Quantized(levels, lo.astype(np.float32), hi.astype(np.float32))


def map_to_original(
    fmap: torch.Tensor | np.ndarray,
    box: Letterbox,
    out_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Lay a feature map computed on the letterboxed input back onto the original image.

    The map covers the whole letterboxed canvas (its cell centres at (j + 0.5) * stride); every
    pixel of the output is sampled bilinearly at the point where the original pixel's centre landed.
    The padding is thus dropped and the resize undone in one step.

    Args:
        fmap: an (h, w) map or (C, h, w) maps on the letterboxed grid.
        box: the letterbox the input was made with.
        out_size: (width, height) of the result; default the original image's size. A smaller size
            (for display) is the same picture at a lower resolution.

    Returns:
        float32 array of (height, width), or (C, height, width) for several maps.
    """
    t = torch.as_tensor(fmap).detach().to("cpu", torch.float32)
    single = t.ndim == 2
    if single:
        t = t[None]
    if t.ndim != 3:
        raise ValueError(f"expected an (h, w) or (C, h, w) map, got shape {tuple(t.shape)}")
    w0, h0 = box.original
    out_w, out_h = out_size or (w0, h0)
    canvas_h, canvas_w = box.size
    # centres of the output pixels, in original-image coordinates
    xs = (torch.arange(out_w, dtype=torch.float64) + 0.5) * (w0 / out_w)
    ys = (torch.arange(out_h, dtype=torch.float64) + 0.5) * (h0 / out_h)
    lx, ly = box.to_letterbox(xs, ys)
    gx = (2 * lx / canvas_w - 1).float()  # grid_sample's [-1, 1] spans the canvas (align_corners=False)
    gy = (2 * ly / canvas_h - 1).float()
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)[None]  # (1, out_h, out_w, 2)
    out = F.grid_sample(t[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    return (out[0] if single else out).numpy()
