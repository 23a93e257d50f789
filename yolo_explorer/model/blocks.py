"""Building blocks of the tutorial's YOLOv11 backbone.

Attribute names follow the tutorial (`conv`, `bn`, `act`, `cv1`, `cv2`, `bottlenecks`, `pool`), so a
state_dict saved from the tutorial's notebook loads as it is, and module paths read like the series.

Every block also knows its receptive-field geometry: `receptive_field(rf, jump, side)` takes the
receptive field (pixels) and jump (input pixels between adjacent positions) of the block's input, and
the side of its input map (positions, the longer axis), and returns those of its output along the
longest path, the standard recurrence rf' = rf + (k - 1) * jump, jump' = jump * stride. Only global
operations (YOLO11's attention) need `side`: their output sees every position.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .config import LayerSpec

__all__ = ["FACTORIES", "Bottleneck", "C3k2", "ConvBNSiLU", "SPPF", "fold_batchnorm"]


class ConvBNSiLU(nn.Module):
    """Conv2d (no bias, padding k // 2) -> BatchNorm2d -> SiLU (or no activation when `act` is False).

    The activation is a separate, not in-place instance per block: an in-place SiLU would overwrite
    the BatchNorm output that a hook has just captured, and a shared one would fire every hook at once.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        k: int = 1,
        s: int = 1,
        groups: int = 1,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
        act: bool = True,
    ):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=bn_eps, momentum=bn_momentum)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def receptive_field(self, rf: int, jump: int, side: int) -> tuple[int, int]:
        (k, _), (s, _) = self.conv.kernel_size, self.conv.stride
        return rf + (k - 1) * jump, jump * s


class Bottleneck(nn.Module):
    """Two 3x3 ConvBNSiLU (c_in -> int(c_out * e) -> c_out), plus the input when shortcut and c_in == c_out."""

    def __init__(self, c_in: int, c_out: int, shortcut: bool = True, e: float = 0.5, **bn: float):
        super().__init__()
        hidden = int(c_out * e)
        self.cv1 = ConvBNSiLU(c_in, hidden, 3, **bn)
        self.cv2 = ConvBNSiLU(hidden, c_out, 3, **bn)
        self.add = shortcut and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y

    def receptive_field(self, rf: int, jump: int, side: int) -> tuple[int, int]:
        return self.cv2.receptive_field(*self.cv1.receptive_field(rf, jump, side), side)


class C3k2(nn.Module):
    """CSP block with two 1x1 convs: split, chain n bottlenecks keeping every output, concatenate, project.

    Channels: c_in -> 2c (cv1) -> halves of c -> n bottlenecks of c -> (2 + n) c -> c_out (cv2),
    where c = int(c_out * e).
    """

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True, e: float = 0.5, **bn: float):
        super().__init__()
        self.c = int(c_out * e)
        self.cv1 = ConvBNSiLU(c_in, 2 * self.c, 1, **bn)
        self.cv2 = ConvBNSiLU((2 + n) * self.c, c_out, 1, **bn)
        self.bottlenecks = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, e=1.0, **bn) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, dim=1))  # 2 x (B, c, H, W)
        y.extend(m(y[-1]) for m in self.bottlenecks)  # each bottleneck takes the previous output
        return self.cv2(torch.cat(y, dim=1))  # (B, (2 + n) c, H, W) -> (B, c_out, H, W)

    def receptive_field(self, rf: int, jump: int, side: int) -> tuple[int, int]:
        rf, jump = self.cv1.receptive_field(rf, jump, side)
        for m in self.bottlenecks:  # the longest path runs through every bottleneck
            rf, jump = m.receptive_field(rf, jump, side)
        return self.cv2.receptive_field(rf, jump, side)


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: 1x1 conv to c_in // 2, the same k x k max-pool `pools` times in a row,
    concatenate the maps ((pools + 1) c_in / 2 channels), 1x1 conv to c_out.

    The one `pool` module is called `pools` times per forward (as in the tutorial); a capture of "sppf.pool"
    therefore holds its outputs, the 5x5, 9x9 and 13x13 pooled maps for three pools of 5.

    Args:
        c_in, c_out: channels.
        k: pooling window.
        pools: max-pools in a row (3 in every family).
        act: the first 1x1 conv ends in SiLU (the tutorial, YOLOv8-12) or in nothing (YOLO26).
        residual: add the input to the output when the channels allow (YOLO26's table asks for it).
    """

    def __init__(self, c_in: int, c_out: int, k: int = 5, pools: int = 3, act: bool = True, residual: bool = False, **bn: float):
        super().__init__()
        hidden = c_in // 2
        self.cv1 = ConvBNSiLU(c_in, hidden, 1, act=act, **bn)
        self.cv2 = ConvBNSiLU(hidden * (pools + 1), c_out, 1, **bn)
        self.pool = nn.MaxPool2d(k, stride=1, padding=k // 2)
        self.pools = pools
        self.add = residual and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]  # (B, c_in / 2, H, W)
        y.extend(self.pool(y[-1]) for _ in range(self.pools))
        out = self.cv2(torch.cat(y, dim=1))  # (B, (pools + 1) c_in / 2, H, W) -> (B, c_out, H, W)
        return x + out if self.add else out

    def receptive_field(self, rf: int, jump: int, side: int) -> tuple[int, int]:
        rf, jump = self.cv1.receptive_field(rf, jump, side)
        rf += self.pools * (self.pool.kernel_size - 1) * jump  # stride-1 pools in a row
        return self.cv2.receptive_field(rf, jump, side)


def bn_args(spec: LayerSpec) -> dict[str, float]:
    """The BatchNorm settings of a layer, as keyword arguments of the blocks."""
    return {"bn_eps": spec.bn_eps, "bn_momentum": spec.bn_momentum}


def _conv(spec: LayerSpec, c_in: int) -> nn.Module:
    return ConvBNSiLU(c_in, spec.channels, spec.kernel, spec.stride, **bn_args(spec))


def _c3k2(spec: LayerSpec, c_in: int) -> nn.Module:
    return C3k2(c_in, spec.channels, spec.repeats, spec.shortcut, spec.expansion, **bn_args(spec))


def _sppf(spec: LayerSpec, c_in: int) -> nn.Module:
    return SPPF(c_in, spec.channels, spec.kernel, spec.pools, spec.activation, spec.residual, **bn_args(spec))


# LayerSpec.block -> factory(spec, input channels): the tutorial's blocks (`backbone.BLOCKS` gathers every module's)
FACTORIES: dict[str, Callable[..., nn.Module]] = {"conv": _conv, "c3k2": _c3k2, "sppf": _sppf}


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every ConvBNSiLU's BatchNorm into its convolution, in place, as a deployed model is run.

    The conv's weights are scaled by gamma / sqrt(var + eps) and it gains the bias beta - mean * scale,
    so one kernel and one pass over the map are saved per block; the outputs stay the same up to float
    rounding. The running statistics are baked in, so the model must be in eval mode, and it stays a
    deployment copy: there is no BatchNorm left to train or to capture. Call it on a copy of a shared model.

    Returns:
        How many BatchNorms were folded (0 if already folded).

    Raises:
        ValueError: the model is in training mode.
    """
    if any(m.training for m in model.modules()):
        raise ValueError("fold BatchNorm in eval mode only: folding bakes in the running statistics (call model.eval())")
    blocks = [m for m in model.modules() if isinstance(m, ConvBNSiLU) and isinstance(m.bn, nn.BatchNorm2d)]
    for block in blocks:
        block.conv = fuse_conv_bn_eval(block.conv, block.bn)  # a new Conv2d with a bias
        block.bn = nn.Identity().eval()  # new modules start in training mode
    return len(blocks)
