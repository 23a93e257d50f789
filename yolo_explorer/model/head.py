"""The blocks of YOLO11's neck and head that the backbone does not have: nearest-neighbour upsampling,
concatenation, and the Detect head with its distribution focal loss (DFL) decoding, written from the
facts in SPEC section 3 (Ultralytics' code is AGPL; none of it is copied here).

Attribute names are the ones Ultralytics' state_dict keys use (`cv2`, `cv3`, `dfl.conv`), so a trained
detection checkpoint loads key for key.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import nn

from .blocks import ConvBNSiLU, bn_args
from .config import COCO_CLASS_COUNT, LayerSpec

__all__ = ["FACTORIES", "Concat", "DFL", "Detect", "HeadOutput", "Upsample", "anchor_points", "decode_boxes"]

REG_MAX = 16  # bins of the distribution over each box side's distance


class Upsample(nn.Upsample):
    """Nearest-neighbour upsampling by an integer factor (2 in YOLO11's top-down path)."""

    def __init__(self, factor: int = 2):
        super().__init__(scale_factor=factor, mode="nearest")
        self.factor = factor

    def receptive_field(self, rf: int, jump: int, side: int) -> tuple[int, int]:
        # every output position copies one input position: the field stays, positions get closer
        return rf, max(jump // self.factor, 1)


class Concat(nn.Module):
    """Concatenates its inputs along the channels; its receptive field is the union of its branches'."""

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(xs), dim=1)

    def receptive_field_of(self, inputs: Sequence[tuple[int, int, int]]) -> tuple[int, int]:
        """(rf, jump) of the output from each input's (rf, jump, side): the widest field, the finest jump."""
        return max(rf for rf, _, _ in inputs), min(jump for _, jump, _ in inputs)


class DFL(nn.Module):
    """The expected value of a softmax over 16 bins, per box side: a fixed 1x1 conv with weights 0..15."""

    def __init__(self, bins: int = REG_MAX):
        super().__init__()
        self.bins = bins
        self.conv = nn.Conv2d(bins, 1, 1, bias=False).requires_grad_(False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(bins, dtype=torch.float32).view(1, bins, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape  # (B, 4 x bins, A) -> (B, 4, A): distances in cells
        return self.conv(x.view(b, 4, self.bins, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class HeadOutput(NamedTuple):
    """What Detect computes for a batch: raw box and class logits, the decoded predictions, and for an end-to-end
    head (YOLO26) the same three from its one-to-one branch.

    Attributes:
        boxes: (B, 4 x reg_max, A): per anchor reg_max logits for each of the left, top, right and bottom distances
            (16 bins decoded by the DFL), or the four distances themselves (reg_max 1, YOLO26).
        scores: (B, nc, A), class logits.
        decoded: (B, 4 + nc, A): (cx, cy, w, h) in input pixels, then the sigmoid class scores.
        one2one: the one-to-one branch's (boxes, scores, decoded), read without NMS; None for a head without one.
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    decoded: torch.Tensor
    one2one: HeadOutput | None = None


def anchor_points(
    shapes: Sequence[tuple[int, int]], strides: Sequence[int], like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres of every level in cells, (2, A), and the stride of each, (1, A), in Detect's order
    (level by level, rows then columns)."""
    points, level_strides = [], []
    for (h, w), stride in zip(shapes, strides, strict=True):
        x = torch.arange(w, device=like.device, dtype=like.dtype) + 0.5
        y = torch.arange(h, device=like.device, dtype=like.dtype) + 0.5
        yy, xx = torch.meshgrid(y, x, indexing="ij")
        points.append(torch.stack((xx, yy)).view(2, -1))
        level_strides.append(torch.full((1, h * w), float(stride), device=like.device, dtype=like.dtype))
    return torch.cat(points, dim=1), torch.cat(level_strides, dim=1)


def decode_boxes(distances: torch.Tensor, points: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
    """(l, t, r, b) distances in cells from each anchor point, (B, 4, A), to (cx, cy, w, h) in pixels."""
    left_top, right_bottom = distances.chunk(2, dim=1)
    top_left = points - left_top
    bottom_right = points + right_bottom
    return torch.cat(((top_left + bottom_right) / 2, bottom_right - top_left), dim=1) * strides


class Detect(nn.Module):
    """The detection head over the pyramid's levels (SPEC sections 3 and 4): YOLO11's, YOLOv8's and YOLO26's.

    Per level i a box branch `cv2[i]` (3x3 conv, 3x3 conv, 1x1 conv to 4 x reg_max logits) and a class branch
    `cv3[i]` ([depthwise 3x3, 1x1], [depthwise 3x3, 1x1], 1x1 conv to nc logits; YOLOv8's "legacy" one is two plain
    3x3 convs); `dfl` turns each side's 16 logits into a distance (YOLO26 predicts the distance itself: reg_max 1,
    no DFL). Channels: c2 = max(16, ch[0] // 4, 4 x reg_max), c3 = max(ch[0], min(nc, 100)).

    An end-to-end head (YOLO26) has a second copy of both branches, `one2one_cv2` and `one2one_cv3`, trained to give
    one box per object, read by taking the top scores without NMS; both branches run in every forward.

    Args:
        channels: input channels of each level (the neck's P3, P4, P5).
        strides: stride of each level in input pixels (8, 16, 32).
        num_classes: classes scored.
        reg_max: bins per box side (16), or 1 for a direct distance.
        end2end: add the one-to-one branches.
        legacy: YOLOv8's class branch.
    """

    def __init__(
        self,
        channels: Sequence[int],
        strides: Sequence[int],
        num_classes: int = COCO_CLASS_COUNT,
        reg_max: int = REG_MAX,
        end2end: bool = False,
        legacy: bool = False,
        **bn: float,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.strides = tuple(strides)
        self.reg_max = reg_max
        self.legacy = legacy
        c2 = max(16, channels[0] // 4, 4 * reg_max)
        c3 = max(channels[0], min(num_classes, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(ConvBNSiLU(c, c2, 3, **bn), ConvBNSiLU(c2, c2, 3, **bn), nn.Conv2d(c2, 4 * reg_max, 1))
            for c in channels
        )
        self.cv3 = nn.ModuleList(self._class_branch(c, c3, bn) for c in channels)
        self.dfl = DFL(reg_max) if reg_max > 1 else nn.Identity()
        if end2end:
            self.one2one_cv2 = copy.deepcopy(self.cv2)
            self.one2one_cv3 = copy.deepcopy(self.cv3)

    def _class_branch(self, c: int, c3: int, bn: dict[str, float]) -> nn.Sequential:
        if self.legacy:
            return nn.Sequential(ConvBNSiLU(c, c3, 3, **bn), ConvBNSiLU(c3, c3, 3, **bn), nn.Conv2d(c3, self.num_classes, 1))
        return nn.Sequential(
            nn.Sequential(_depthwise(c, c, **bn), ConvBNSiLU(c, c3, 1, **bn)),
            nn.Sequential(_depthwise(c3, c3, **bn), ConvBNSiLU(c3, c3, 1, **bn)),
            nn.Conv2d(c3, self.num_classes, 1),
        )

    @property
    def end2end(self) -> bool:
        """Whether the head has a one-to-one branch (YOLO26)."""
        return hasattr(self, "one2one_cv2")

    def branches(self) -> dict[str, tuple[nn.ModuleList, nn.ModuleList]]:
        """(box branches, class branches) by name: "one2many" (NMS follows), and "one2one" for an end-to-end head."""
        out = {"one2many": (self.cv2, self.cv3)} if self.cv2 is not None else {}
        if self.end2end:
            out["one2one"] = (self.one2one_cv2, self.one2one_cv3)
        return out

    def keep_branch(self, branch: str) -> None:
        """Keep one branch of an end-to-end head, as a deployed model does (Ultralytics' `fuse()`): "one2many" drops
        the one-to-one copy; "one2one" drops the one-to-many branches, and the one-to-one branch's outputs then stand
        in front of `HeadOutput` too. For a copy of a model (a shared one keeps both)."""
        if branch not in ("one2many", "one2one"):
            raise ValueError(f"a head's branch is one2many or one2one, not {branch!r}")
        if not self.end2end:
            if branch == "one2one":
                raise ValueError("this head has one branch: the one-to-one branch is YOLO26's (end2end)")
            return
        if branch == "one2many":
            del self.one2one_cv2, self.one2one_cv3
        else:
            self.cv2 = self.cv3 = None

    def forward(self, xs: Sequence[torch.Tensor]) -> HeadOutput:
        if self.cv2 is None:  # only the one-to-one branch kept
            one2one = self._branch(xs, self.one2one_cv2, self.one2one_cv3)
            return one2one._replace(one2one=one2one)
        out = self._branch(xs, self.cv2, self.cv3)
        if self.end2end:
            out = out._replace(one2one=self._branch(xs, self.one2one_cv2, self.one2one_cv3))
        return out

    def _branch(self, xs: Sequence[torch.Tensor], box: nn.ModuleList, cls: nn.ModuleList) -> HeadOutput:
        b = xs[0].shape[0]
        boxes = torch.cat([branch(x).view(b, 4 * self.reg_max, -1) for branch, x in zip(box, xs, strict=True)], dim=2)
        scores = torch.cat([branch(x).view(b, self.num_classes, -1) for branch, x in zip(cls, xs, strict=True)], dim=2)
        points, strides = anchor_points([tuple(x.shape[2:]) for x in xs], self.strides, boxes)
        decoded = torch.cat((decode_boxes(self.dfl(boxes), points, strides), scores.sigmoid()), dim=1)
        return HeadOutput(boxes, scores, decoded)

    def receptive_field_of(self, inputs: Sequence[tuple[int, int, int]]) -> tuple[int, int]:
        """The widest field of any prediction: each level's input through its deeper branch."""
        fields = []
        boxes, classes = (self.cv2, self.cv3) if self.cv2 is not None else (self.one2one_cv2, self.one2one_cv3)
        for (rf, jump, _), box, cls in zip(inputs, boxes, classes, strict=True):
            fields.append(max(_branch_field(box, rf, jump), _branch_field(cls, rf, jump)))
        return max(fields), min(jump for _, jump, _ in inputs)

    def bias_init(self) -> None:
        """The starting biases Ultralytics gives an untrained head, in every branch: box logits 2.0, class logits for
        about one object in 100 cells over 80 classes at 640 pixels (sigmoid scores near 1e-4 to 1e-2)."""
        with torch.no_grad():
            for boxes, classes in self.branches().values():
                for box, cls, stride in zip(boxes, classes, self.strides, strict=True):
                    box[-1].bias.fill_(2.0)
                    cls[-1].bias.fill_(math.log(5 / self.num_classes / (640 / stride) ** 2))


def _depthwise(c_in: int, c_out: int, **bn: float) -> ConvBNSiLU:
    """A 3x3 conv with one group per shared channel divisor (depthwise when c_in == c_out)."""
    return ConvBNSiLU(c_in, c_out, 3, groups=math.gcd(c_in, c_out), **bn)


def _branch_field(branch: nn.Module, rf: int, jump: int) -> int:
    for module in branch.modules():
        if isinstance(module, nn.Conv2d):
            (k, _), (s, _) = module.kernel_size, module.stride
            rf, jump = rf + (k - 1) * jump, jump * s
    return rf


def _upsample(spec: LayerSpec, c_in: int | tuple[int, ...]) -> nn.Module:
    return Upsample(spec.stride)


def _concat(spec: LayerSpec, c_in: int | tuple[int, ...]) -> nn.Module:
    return Concat()


def _detect(spec: LayerSpec, c_in: int | tuple[int, ...], strides: tuple[int, ...] = (8, 16, 32)) -> nn.Module:
    channels = tuple(c_in) if isinstance(c_in, tuple) else (c_in,)
    return Detect(channels, strides, spec.num_classes, spec.reg_max, spec.end2end, spec.legacy, **bn_args(spec))


# LayerSpec.block -> factory(spec, input channels), gathered by `backbone.BLOCKS`
FACTORIES: dict[str, Callable[..., nn.Module]] = {"upsample": _upsample, "concat": _concat, "detect": _detect}
