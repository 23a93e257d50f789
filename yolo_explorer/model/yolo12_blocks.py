"""The blocks of YOLO12: A2C2f with area attention, written from Ultralytics' definitions (its code is AGPL;
none of it is copied here). Attribute names are the ones its state_dict keys use (`cv1`, `cv2`, `m`, `gamma`,
`attn`, `mlp`, `qkv`, `proj`, `pe`), so its trained weights load key for key.

Area attention: the map's positions, in row order, are cut into `area` equal runs (with the map's width a
divisor of the run, strips of whole rows); each position attends to the positions of its own strip only, so the
cost falls by the number of strips. With one area it is global attention, as YOLO11's `Attention`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .blocks import ConvBNSiLU, bn_args
from .config import LayerSpec
from .yolo11_blocks import C3k

__all__ = ["FACTORIES", "A2C2f", "AreaAttention", "AreaBlock"]

HEAD_CHANNELS = 32  # channels per attention head in every area-attention block


class AreaAttention(nn.Module):
    """Multi-head self-attention within `area` strips of the map, plus a depthwise 7x7 conv of the values (`pe`).

    heads = dim / 32 of head_dim 32 each; one 1x1 conv (`qkv`) gives per head query, key and value channels; per strip
    out = v softmax(q^T k / sqrt(head_dim))^T; then + pe(v) and a 1x1 conv (`proj`).
    """

    def __init__(self, dim: int, heads: int, area: int = 1, **bn: float):
        super().__init__()
        self.area = area
        self.heads = heads
        self.head_dim = dim // heads
        inner = self.head_dim * heads
        self.qkv = ConvBNSiLU(dim, 3 * inner, 1, act=False, **bn)
        self.proj = ConvBNSiLU(inner, dim, 1, act=False, **bn)
        self.pe = ConvBNSiLU(inner, inner, 7, groups=inner, act=False, **bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        inner = self.heads * self.head_dim
        qkv = self.qkv(x)
        v = self._split(qkv)[2]  # (B areas, heads, head_dim, N / areas)
        attn = self.weights(qkv)  # (B areas, heads, N/areas, N/areas)
        out = (v @ attn.transpose(-2, -1)).permute(0, 3, 1, 2)  # (B areas, N / areas, heads, head_dim)
        out = out.reshape(b, h, w, inner).permute(0, 3, 1, 2)
        values = v.permute(0, 3, 1, 2).reshape(b, h, w, inner).permute(0, 3, 1, 2)
        return self.proj(out + self.pe(values))

    def weights(self, qkv: torch.Tensor) -> torch.Tensor:
        """The attention within each strip, (B x areas, heads, N/areas, N/areas), from `qkv`'s output (B, C', H, W):
        strip s holds positions s N/areas to (s + 1) N/areas - 1 (row-major), and row i of it is where its i-th position
        looks; each row sums to 1. What `forward` multiplies the values by."""
        q, k, _ = self._split(qkv)
        return ((q * self.head_dim**-0.5).transpose(-2, -1) @ k).softmax(dim=-1)

    def _split(self, qkv: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b, _, h, w = qkv.shape
        n = h * w
        if n % self.area:
            raise ValueError(f"area attention cuts {h}x{w} = {n} positions into {self.area} strips: pick a size that divides")
        strips, per = b * self.area, n // self.area
        flat = qkv.flatten(2).transpose(1, 2)  # (B, N, 3 inner)
        return flat.reshape(strips, per, self.heads, 3 * self.head_dim).permute(0, 2, 3, 1).split(self.head_dim, dim=2)

    def product_macs(self, positions: int) -> int:
        """Multiply-accumulates of q^T k and v attn^T for one image of `positions` positions: per strip and head
        (N/areas)^2 x head_dim each."""
        per = positions // self.area
        return self.area * self.heads * per * per * 2 * self.head_dim

    def receptive_field(self, rf: int, jump: int, side: int) -> tuple[int, int]:
        # a strip spans the map's whole width: along the longer side every position can be seen
        return rf + (side - 1) * jump, jump


class AreaBlock(nn.Module):
    """x + AreaAttention(x), then x + MLP(x); the MLP is a 1x1 conv dim -> dim x mlp_ratio (SiLU) and back."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 1.2, area: int = 1, **bn: float):
        super().__init__()
        self.attn = AreaAttention(dim, heads, area, **bn)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(ConvBNSiLU(dim, hidden, 1, **bn), ConvBNSiLU(hidden, dim, 1, act=False, **bn))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)

    def receptive_field(self, rf: int, jump: int, side: int) -> tuple[int, int]:
        return self.attn.receptive_field(rf, jump, side)


class A2C2f(nn.Module):
    """YOLO12's block: 1x1 conv to c, n inner blocks chained keeping every output, concatenate (1 + n) c, 1x1 conv to
    c_out. Each inner block is two AreaBlocks (a2) or a C3k. With `residual` (l and x scales) the output is
    x + gamma * y, gamma a learned per-channel scale starting at 0.01.

    Args:
        c_in, c_out: channels; c = int(c_out * e) must be a multiple of 32 (one attention head per 32 channels).
        n: inner blocks.
        a2: area-attention inner blocks (True) or C3k (False).
        area: strips of the attention (1: global).
        residual: the scaled residual around the block.
        mlp_ratio: the AreaBlocks' MLP width.
        e: hidden-channel ratio.
        shortcut: residuals inside the C3k blocks.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        n: int = 1,
        a2: bool = True,
        area: int = 1,
        residual: bool = False,
        mlp_ratio: float = 2.0,
        e: float = 0.5,
        shortcut: bool = True,
        **bn: float,
    ):
        super().__init__()
        c = int(c_out * e)
        if a2 and c % HEAD_CHANNELS:
            raise ValueError(f"A2C2f's hidden channels ({c}) must be a multiple of {HEAD_CHANNELS}, one per attention head")
        self.cv1 = ConvBNSiLU(c_in, c, 1, **bn)
        self.cv2 = ConvBNSiLU((1 + n) * c, c_out, 1, **bn)
        self.gamma = nn.Parameter(torch.full((c_out,), 0.01)) if a2 and residual else None
        self.m = nn.ModuleList(
            nn.Sequential(*(AreaBlock(c, c // HEAD_CHANNELS, mlp_ratio, area, **bn) for _ in range(2)))
            if a2
            else C3k(c, c, 2, shortcut, **bn)
            for _ in range(n)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]  # (B, c, H, W)
        y.extend(block(y[-1]) for block in self.m)
        out = self.cv2(torch.cat(y, dim=1))  # (B, (1 + n) c, H, W) -> (B, c_out, H, W)
        return x + self.gamma.view(1, -1, 1, 1) * out if self.gamma is not None else out

    def receptive_field(self, rf: int, jump: int, side: int) -> tuple[int, int]:
        rf, jump = self.cv1.receptive_field(rf, jump, side)
        for block in self.m:
            for part in block if isinstance(block, nn.Sequential) else (block,):
                rf, jump = part.receptive_field(rf, jump, side)
        return self.cv2.receptive_field(rf, jump, side)


def _a2c2f(spec: LayerSpec, c_in: int) -> nn.Module:
    return A2C2f(
        c_in,
        spec.channels,
        spec.repeats,
        spec.attention,
        spec.area,
        spec.residual,
        spec.mlp_ratio,
        spec.expansion,
        spec.shortcut,
        **bn_args(spec),
    )


# LayerSpec.block -> factory(spec, input channels), gathered by `backbone.BLOCKS`
FACTORIES: dict[str, Callable[..., nn.Module]] = {"a2c2f": _a2c2f}
