"""LayerSpec: one top-level module of a model, as a config describes it and the builder makes it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LayerSpec"]


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
        attention: C3k2: each inner block is a Bottleneck then a PSABlock (YOLO26's last C3k2); A2C2f: its inner
            blocks are area-attention blocks (True) or C3k (False).
        area: A2C2f only: the strips its attention splits the map into (1: global).
        residual: A2C2f only: the block adds its input, scaled per channel by a learned gamma (YOLO12 l and x).
        mlp_ratio: A2C2f only: hidden width of each attention block's MLP, relative to its input.
        pools: SPPF only: max-pools in a row (3).
        activation: SPPF only: its first 1x1 conv ends in SiLU (YOLO11 and earlier) or in nothing (YOLO26).
        reg_max: Detect only: bins of each box side's distribution (16, decoded by the DFL), or 1 (a distance, no DFL).
        end2end: Detect only: a second, one-to-one copy of its branches (YOLO26), read without NMS.
        legacy: Detect only: the class branch is two 3x3 convs (YOLOv8) instead of depthwise-separable pairs.
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
    attention: bool = False
    area: int = 1
    residual: bool = False
    mlp_ratio: float = 2.0
    pools: int = 3
    activation: bool = True
    reg_max: int = 16
    end2end: bool = False
    legacy: bool = False
