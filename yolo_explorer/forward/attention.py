"""Where attention looks: for one cell of an attention block's map, its row of the softmax, per head, on the photo.

YOLO11's and YOLO26's C2PSA (and YOLO26's last C3k2) attend from every cell of P5 to every other; YOLO12's area
attention cuts the map into strips of whole rows and attends within each. The weights are the block's own: its
`weights()` is what its `forward` multiplies the values by, computed here from the output of its `qkv` conv captured
in one forward of the photo.

    blocks = attention_blocks(model)                    # {"10.m.0.attn": "global", "6.m.0.0.attn": "4 strips", ...}
    row = attention_row(model, image, 640, "10.m.0.attn", cell=(4, 7))
    row.mean                                            # (H, W): where cell (4, 7) looks, averaged over the heads
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..model.yolo11_blocks import Attention
from ..model.yolo12_blocks import AreaAttention
from .features import extract_features
from .preprocess import Letterbox

__all__ = ["AttentionRow", "attention_blocks", "attention_input", "attention_row", "row_of"]


@dataclass(frozen=True)
class AttentionRow:
    """Where one cell of an attention block's map looks.

    Attributes:
        block: the attention module's name ("10.m.0.attn").
        cell: (row, column) of the query cell in the block's map.
        heads: (heads, H, W): each head's softmax row for that cell, laid on the map (0 outside the cell's strip).
        strips: 1 for global attention, else YOLO12's strip count.
        strip_rows: (first, last) row of the map the cell's strip covers (the whole map for global attention).
        box: the letterboxed input the forward ran on (to lay the map back on the photo).
    """

    block: str
    cell: tuple[int, int]
    heads: torch.Tensor
    strips: int
    strip_rows: tuple[int, int]
    box: Letterbox

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.heads.shape[1:])

    @property
    def mean(self) -> torch.Tensor:
        """(H, W): the heads' rows averaged; sums to 1 over the map."""
        return self.heads.mean(dim=0)

    def share_within(self, radius: int = 1) -> float:
        """The share of the mean row on the cells within `radius` of the query cell (1: its 3x3 neighbourhood)."""
        r, c = self.cell
        return float(self.mean[max(r - radius, 0) : r + radius + 1, max(c - radius, 0) : c + radius + 1].sum())


def attention_blocks(model: nn.Module) -> dict[str, str]:
    """Every attention module of a model by name, with what it attends over ("global", "4 strips")."""
    found = {}
    for name, module in model.named_modules():
        if isinstance(module, AreaAttention):
            found[name] = "global" if module.area <= 1 else f"{module.area} strips"
        elif isinstance(module, Attention):
            found[name] = "global"
    return found


def attention_input(
    model: nn.Module, image: Image.Image | np.ndarray, size: int | tuple[int, int], block: str, *, rect: bool = False
) -> tuple[torch.Tensor, Letterbox]:
    """One forward of the photo, and the output of attention module `block`'s `qkv` conv, (1, C', H, W): all its
    attention is computed from it (cheap to keep, unlike the N x N weights). With the letterboxed input (the whole
    `size`, as the Feature maps page shows it; `rect`: padded only to a multiple of 32, as predict).

    Raises:
        KeyError: `block` is not an attention module of the model (the message lists them).
    """
    blocks = attention_blocks(model)
    if block not in blocks:
        raise KeyError(f"{block!r} is not an attention block; this model has {', '.join(blocks) or 'none'}")
    forward = extract_features(model, image, size, (f"{block}.qkv",), batch_norm="running", rect=rect)
    qkv = forward.maps[f"{block}.qkv"]
    return (qkv[0] if isinstance(qkv, tuple) else qkv)[None], forward.box


def row_of(model: nn.Module, block: str, qkv: torch.Tensor, box: Letterbox, cell: tuple[int, int]) -> AttentionRow:
    """The softmax row of `cell` in attention module `block`, from its `qkv` output (`attention_input`).

    Raises:
        ValueError: a cell outside the block's map.
    """
    module = model.get_submodule(block)
    h, w = qkv.shape[2:]
    row, col = cell
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"cell ({row}, {col}) is outside the block's {h}x{w} map")
    with torch.inference_mode():
        weights = module.weights(qkv.to(next(module.parameters()).dtype))  # (strips, heads, per, per)
    strips, heads, per, _ = weights.shape
    strip, within = divmod(row * w + col, per)
    laid = torch.zeros(heads, h * w, dtype=torch.float32)
    laid[:, strip * per : (strip + 1) * per] = weights[strip, :, within].float()
    first, last = strip * per // w, ((strip + 1) * per - 1) // w
    return AttentionRow(block, (row, col), laid.view(heads, h, w), strips, (first, last), box)


def attention_row(
    model: nn.Module,
    image: Image.Image | np.ndarray,
    size: int | tuple[int, int],
    block: str,
    cell: tuple[int, int],
    *,
    rect: bool = False,
) -> AttentionRow:
    """One forward of the photo, and the softmax row of `cell` in attention module `block`.

    Raises:
        KeyError: `block` is not an attention module of the model (the message lists them).
        ValueError: a cell outside the block's map.
    """
    qkv, box = attention_input(model, image, size, block, rect=rect)
    return row_of(model, block, qkv, box, cell)
