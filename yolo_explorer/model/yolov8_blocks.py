"""The block YOLOv8 is made of, C2f, written from Ultralytics' definition (its code is AGPL; none of it is
copied here). Attribute names are the ones its state_dict keys use (`cv1`, `cv2`, `m`)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .blocks import Bottleneck, ConvBNSiLU, bn_args
from .config import LayerSpec

__all__ = ["FACTORIES", "C2f"]


class C2f(nn.Module):
    """CSP block with two 1x1 convs, YOLOv8's: split, chain n Bottlenecks (3x3, 3x3, expansion 1.0) keeping every
    output, concatenate, project; the tutorial's C3k2 is this block. The backbone's have residuals, the neck's not.

    Channels: c_in -> 2c (cv1) -> halves of c -> n blocks of c -> (2 + n) c -> c_out (cv2), c = int(c_out * e).
    """

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = False, e: float = 0.5, **bn: float):
        super().__init__()
        self.c = int(c_out * e)
        self.cv1 = ConvBNSiLU(c_in, 2 * self.c, 1, **bn)
        self.cv2 = ConvBNSiLU((2 + n) * self.c, c_out, 1, **bn)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, e=1.0, **bn) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, dim=1))  # 2 x (B, c, H, W)
        y.extend(block(y[-1]) for block in self.m)
        return self.cv2(torch.cat(y, dim=1))  # (B, (2 + n) c, H, W) -> (B, c_out, H, W)

    def receptive_field(self, rf: int, jump: int, side: int) -> tuple[int, int]:
        rf, jump = self.cv1.receptive_field(rf, jump, side)
        for block in self.m:
            rf, jump = block.receptive_field(rf, jump, side)
        return self.cv2.receptive_field(rf, jump, side)


def _c2f(spec: LayerSpec, c_in: int) -> nn.Module:
    return C2f(c_in, spec.channels, spec.repeats, spec.shortcut, spec.expansion, **bn_args(spec))


# LayerSpec.block -> factory(spec, input channels), gathered by `backbone.BLOCKS`
FACTORIES: dict[str, Callable[..., nn.Module]] = {"c2f": _c2f}
