"""The blocks of Ultralytics' YOLO11 backbone that the tutorial does not have, written from the facts in
SPEC section 2 (Ultralytics' code is AGPL; none of it is copied here).

Attribute names are the ones Ultralytics' state_dict keys use (`cv1`, `cv2`, `cv3`, `m`, `attn`,
`qkv`, `proj`, `pe`, `ffn`), so its trained weights load key for key.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .blocks import Bottleneck, ConvBNSiLU, bn_args
from .config import LayerSpec

__all__ = ["FACTORIES", "C2PSA", "C3k", "C3k2", "Attention", "PSABlock", "attention_macs", "chain_field"]


class C3k(nn.Module):
    """CSP block with three convs: two 1x1 branches of h = c_out / 2; the first runs through n
    Bottlenecks (h -> h, expansion 1.0); concatenate with the second (2h), 1x1 conv to c_out."""

    def __init__(self, c_in: int, c_out: int, n: int = 2, shortcut: bool = True, e: float = 0.5, **bn: float):
        super().__init__()
        hidden = int(c_out * e)
        self.cv1 = ConvBNSiLU(c_in, hidden, 1, **bn)
        self.cv2 = ConvBNSiLU(c_in, hidden, 1, **bn)
        self.cv3 = ConvBNSiLU(2 * hidden, c_out, 1, **bn)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, e=1.0, **bn) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), dim=1))

    def receptive_field(self, rf: int, jump: int, side: int) -> tuple[int, int]:
        rf, jump = self.cv1.receptive_field(rf, jump, side)
        for block in self.m:
            rf, jump = block.receptive_field(rf, jump, side)
        return self.cv3.receptive_field(rf, jump, side)


class C3k2(nn.Module):
    """YOLO11's C3k2: as the tutorial's (split, chain n inner blocks keeping every output, concatenate,
    project), but the inner blocks are C3k (c3k=True) or Bottlenecks with expansion 0.5 (c3k=False),
    and they are called `m`. With `attn` (YOLO26's last C3k2) each inner block is a Bottleneck followed by
    a PSABlock: attention over the whole map inside the neck.

    Channels: c_in -> 2c (cv1) -> halves of c -> n blocks of c -> (2 + n) c -> c_out (cv2), c = int(c_out * e).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        n: int = 1,
        c3k: bool = False,
        e: float = 0.5,
        shortcut: bool = True,
        attn: bool = False,
        **bn: float,
    ):
        super().__init__()
        self.c = int(c_out * e)
        self.cv1 = ConvBNSiLU(c_in, 2 * self.c, 1, **bn)
        self.cv2 = ConvBNSiLU((2 + n) * self.c, c_out, 1, **bn)
        self.m = nn.ModuleList(self._inner(c3k, shortcut, attn, bn) for _ in range(n))

    def _inner(self, c3k: bool, shortcut: bool, attn: bool, bn: dict[str, float]) -> nn.Module:
        if attn:
            return nn.Sequential(Bottleneck(self.c, self.c, shortcut, e=0.5, **bn), PSABlock(self.c, **bn))
        if c3k:
            return C3k(self.c, self.c, 2, shortcut, **bn)
        return Bottleneck(self.c, self.c, shortcut, e=0.5, **bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, dim=1))
        y.extend(block(y[-1]) for block in self.m)
        return self.cv2(torch.cat(y, dim=1))

    def receptive_field(self, rf: int, jump: int, side: int) -> tuple[int, int]:
        rf, jump = self.cv1.receptive_field(rf, jump, side)
        for block in self.m:
            rf, jump = chain_field(block, rf, jump, side)
        return self.cv2.receptive_field(rf, jump, side)


def chain_field(block: nn.Module, rf: int, jump: int, side: int) -> tuple[int, int]:
    """(rf, jump) after a block, or after each block of an `nn.Sequential` in turn."""
    for part in block if isinstance(block, nn.Sequential) else (block,):
        rf, jump = part.receptive_field(rf, jump, side)
    return rf, jump


class Attention(nn.Module):
    """Multi-head self-attention over all positions of a map, with a depthwise-conv positional term.

    heads = max(dim // 64, 1), head_dim = dim // heads, key_dim = head_dim // 2. One 1x1 conv (`qkv`)
    gives per head key_dim query, key_dim key and head_dim value channels; every position attends to
    every other: out = v softmax(q^T k / sqrt(key_dim))^T + pe(v), then a 1x1 conv (`proj`).
    """

    def __init__(self, dim: int, attn_ratio: float = 0.5, **bn: float):
        super().__init__()
        self.heads = max(dim // 64, 1)
        self.head_dim = dim // self.heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim**-0.5
        self.qkv = ConvBNSiLU(dim, dim + 2 * self.key_dim * self.heads, 1, act=False, **bn)
        self.proj = ConvBNSiLU(dim, dim, 1, act=False, **bn)
        self.pe = ConvBNSiLU(dim, dim, 3, groups=dim, act=False, **bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(x)
        v = self._split(qkv)[2]  # (B, heads, head_dim, N)
        attn = self.weights(qkv)  # (B, heads, N, N)
        out = (v @ attn.transpose(-2, -1)).view(b, c, h, w) + self.pe(v.reshape(b, c, h, w))
        return self.proj(out)

    def weights(self, qkv: torch.Tensor) -> torch.Tensor:
        """The attention of every position over every position, (B, heads, N, N), from `qkv`'s output (B, C', H, W):
        row i is where position i (row-major) looks; each row sums to 1. What `forward` multiplies the values by."""
        q, k, _ = self._split(qkv)
        return ((q.transpose(-2, -1) @ k) * self.scale).softmax(dim=-1)

    def _split(self, qkv: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b, _, h, w = qkv.shape
        return qkv.view(b, self.heads, 2 * self.key_dim + self.head_dim, h * w).split(
            [self.key_dim, self.key_dim, self.head_dim], dim=2
        )  # (B, heads, key_dim | key_dim | head_dim, N)

    def receptive_field(self, rf: int, jump: int, side: int) -> tuple[int, int]:
        # every output position sees every input position: the union of their windows
        return rf + (side - 1) * jump, jump

    def product_macs(self, positions: int) -> int:
        """Multiply-accumulates of the two attention products for one image of `positions` (H x W) positions:
        q^T k is (N x key_dim)(key_dim x N), v attn^T is (head_dim x N)(N x N), per head."""
        return self.heads * positions * positions * (self.key_dim + self.head_dim)


def attention_macs(attention: nn.Module, positions: int) -> int:
    """Multiply-accumulates of an attention module's two matrix products for one image of `positions` (H x W)
    positions (`product_macs` of `Attention` and of YOLO12's `AreaAttention`). Module-based counters (torchinfo,
    conv hooks) do not see these: they are not modules."""
    return attention.product_macs(positions)


class PSABlock(nn.Module):
    """x + Attention(x), then x + FFN(x); the FFN is a 1x1 conv h -> 2h (SiLU) and a 1x1 conv 2h -> h."""

    def __init__(self, dim: int, **bn: float):
        super().__init__()
        self.attn = Attention(dim, **bn)
        self.ffn = nn.Sequential(ConvBNSiLU(dim, 2 * dim, 1, **bn), ConvBNSiLU(2 * dim, dim, 1, act=False, **bn))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.ffn(x)

    def receptive_field(self, rf: int, jump: int, side: int) -> tuple[int, int]:
        return self.attn.receptive_field(rf, jump, side)  # the FFN's 1x1 convs add nothing


class C2PSA(nn.Module):
    """CSP block around attention: 1x1 conv c -> 2h, split into a and b; b runs through n PSABlocks;
    concatenate a and b, 1x1 conv 2h -> c (h = c * e)."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, e: float = 0.5, **bn: float):
        super().__init__()
        if c_in != c_out:
            raise ValueError(f"C2PSA keeps its channels: got {c_in} in and {c_out} out")
        self.c = int(c_in * e)
        self.cv1 = ConvBNSiLU(c_in, 2 * self.c, 1, **bn)
        self.cv2 = ConvBNSiLU(2 * self.c, c_out, 1, **bn)
        self.m = nn.Sequential(*(PSABlock(self.c, **bn) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        return self.cv2(torch.cat((a, self.m(b)), dim=1))

    def receptive_field(self, rf: int, jump: int, side: int) -> tuple[int, int]:
        rf, jump = self.cv1.receptive_field(rf, jump, side)
        for block in self.m:
            rf, jump = block.receptive_field(rf, jump, side)
        return self.cv2.receptive_field(rf, jump, side)


def _c3k2(spec: LayerSpec, c_in: int) -> nn.Module:
    return C3k2(c_in, spec.channels, spec.repeats, spec.c3k, spec.expansion, spec.shortcut, spec.attention, **bn_args(spec))


def _c2psa(spec: LayerSpec, c_in: int) -> nn.Module:
    return C2PSA(c_in, spec.channels, spec.repeats, spec.expansion, **bn_args(spec))


# LayerSpec.block -> factory(spec, input channels), gathered by `backbone.BLOCKS`
FACTORIES: dict[str, Callable[..., nn.Module]] = {"yolo11_c3k2": _c3k2, "c2psa": _c2psa}
