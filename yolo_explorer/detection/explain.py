"""Why a box was found: the photo regions and the neck cells that raised one detection's class score.

    why = explain(detector, box, anchor=d.anchor, class_id=d.class_id)   # a kept detection's cell and class
    why.level, why.cam          # the neck level that predicted it, its HiResCAM map on that level's grid
    why.saliency                # |d score / d pixel| on the model input, summed over the colour channels
    explain(detector, box, d.anchor, d.class_id, layers=("2", "16")).layer_shares   # the same share at other layers
    heat = map_to_original(why.cam, box)    # laid back over the photo (heatmaps.map_to_original undoes the letterbox)

One backward of the box's class logit (the score before the sigmoid) through the detector: its gradient with respect
to the neck's output on the level whose cell predicted the box, multiplied element-wise by that output and summed over
the channels, negative parts dropped (HiResCAM, Draper et al. 2022: unlike Grad-CAM's channel averages, each cell's
value is its own share of the score, so a score that depends on one region gets a map that lies there); and its
gradient with respect to the input pixels. Only that level's map can be non-zero: a cell of P3 takes nothing from
the neck's P4 or P5 outputs (they are computed after it, and feed other cells).

The same map at any other layer's output (`layers`), in the same backward, says how near the box's cell that layer's
evidence lies: its share within the predicting cell's neighbourhood (3x3 cells of the predicting level, in pixels)
laid onto that layer's grid. A layer the score does not depend on (it feeds only other levels) has no share.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..deployment.devices import device_lock
from ..forward.capture import capture_activations
from ..forward.preprocess import Letterbox
from ..model.config import PYRAMID
from .detections import anchor_cells, branch_output

__all__ = ["Explanation", "explain"]


@dataclass(frozen=True)
class Explanation:
    """What raised one prediction's class score.

    Attributes:
        anchor, class_id: the prediction explained (its index among the head's predictions, its class).
        level: the neck level of its cell ("P3", "P4" or "P5"), and `cell` its (row, column) there.
        logit: the class logit explained (the score is its sigmoid).
        cam: (h, w) HiResCAM on that level's grid: relu(sum over channels of gradient x activation).
        saliency: (H, W) on the model input: |gradient| summed over the three colour channels.
        share: the fraction of the map's total inside the cell's own neighbourhood (3x3 cells): 1 when it looked only
            there.
        layer_shares: the same fraction of the same map at each asked layer's output (the neighbourhood in input
            pixels laid onto that layer's grid); None for a layer the score does not depend on, or whose map is 0.
    """

    anchor: int
    class_id: int
    level: str
    cell: tuple[int, int]
    logit: float
    cam: torch.Tensor
    saliency: torch.Tensor
    share: float
    layer_shares: Mapping[str, float | None] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return float(torch.sigmoid(torch.tensor(self.logit)))

    def to_dict(self, box: Letterbox) -> dict:
        """The level and cell, the class logit, the map's share near the cell, and where each map peaks, in the
        photo's pixels (`box`: the letterbox of the explained forward)."""
        stride = box.size[0] / self.cam.shape[0]
        row, col = divmod(int(self.cam.argmax()), self.cam.shape[1])
        grow, gcol = divmod(int(self.saliency.argmax()), self.saliency.shape[1])
        return {
            "level": self.level,
            "cell": list(self.cell),
            "logit": self.logit,
            "share": self.share,
            "cam_peak": list(box.to_original((col + 0.5) * stride, (row + 0.5) * stride)),
            "gradient_peak": list(box.to_original(gcol + 0.5, grow + 0.5)),
        }


def explain(
    model: nn.Module, box: Letterbox, anchor: int, class_id: int, branch: str = "one2many", layers: Sequence[str] = ()
) -> Explanation:
    """Explain the class score of `anchor` for `class_id` on the letterboxed input `box` (one forward and one
    backward, running BatchNorm statistics, under the model's and its device's locks; no weight gradient is kept).

    Args:
        model: a detector (its forward returns a `DetectorOutput`).
        branch: the head's branch the box came from ("one2one": YOLO26's NMS-free one).
        layers: module names whose map's share to compute too (`layer_shares`); a layer whose output is not one
            (1, C, H, W) tensor (the head) has none; a module called several times, its first call's.

    Raises:
        ValueError: an anchor or class the head does not have.
        AttributeError: a layer the model does not have (`get_submodule`'s error).
    """
    param = next(model.parameters())
    x = box.tensor().to(param.device, param.dtype).requires_grad_(True)
    modules = {name: model.get_submodule(name) for name in layers}  # an unknown name fails before any work
    outputs: dict[str, torch.Tensor] = {}
    owner = threading.get_ident()

    def keep(name: str):
        def hook(module: nn.Module, args, output) -> None:
            if threading.get_ident() == owner and isinstance(output, torch.Tensor) and output.dim() == 4:
                outputs.setdefault(name, output)  # a module called again (SPPF's pool): its first call

        return hook

    with device_lock(x.device), capture_activations(model, (), batch_norm="running"), torch.enable_grad():
        handles = [module.register_forward_hook(keep(name)) for name, module in modules.items()]
        try:
            output = branch_output(model(x), branch)
        finally:
            for handle in handles:
                handle.remove()
        classes, anchors = output.scores.shape[1:]
        if not 0 <= anchor < anchors or not 0 <= class_id < classes:
            raise ValueError(f"no prediction {anchor} of class {class_id}: the head has {anchors} anchors and {classes} classes")
        grids = [tuple(level.shape[2:]) for level in output.neck]
        (cell,) = anchor_cells([anchor], grids, box.size)
        neck = output.neck[PYRAMID.index(cell.level)]
        logit = output.scores[0, class_id, anchor]
        kept = [name for name in layers if name in outputs]
        grads = torch.autograd.grad(logit, (neck, x, *(outputs[n] for n in kept)), allow_unused=True)
    neck_grad, input_grad = grads[:2]
    cam = (neck_grad[0] * neck[0]).sum(0).relu().detach().float().cpu()
    stride = box.size[0] / cam.shape[0]
    shares: dict[str, float | None] = dict.fromkeys(layers)
    for name, grad in zip(kept, grads[2:], strict=True):
        if grad is not None:
            layer_cam = (grad[0] * outputs[name][0]).sum(0).relu().detach().float().cpu()
            shares[name] = _share_at(layer_cam, cell.row, cell.col, stride, box.size[0] / layer_cam.shape[0])
    saliency = input_grad[0].abs().sum(0).detach().float().cpu()
    return Explanation(
        anchor=anchor,
        class_id=class_id,
        level=cell.level,
        cell=(cell.row, cell.col),
        logit=float(logit.detach()),
        cam=cam,
        saliency=saliency,
        share=_share(cam, cell.row, cell.col),
        layer_shares=shares,
    )


def _share_at(cam: torch.Tensor, row: int, col: int, stride: float, layer_stride: float) -> float | None:
    """`_share` on another layer's grid: the predicting cell's 3x3 neighbourhood (cells of `stride` pixels) in the
    rows and columns of a grid of `layer_stride` pixels that it covers; None where the map is 0."""
    if float(cam.sum()) <= 0:
        return None
    top, left = max(row - 1, 0) * stride / layer_stride, max(col - 1, 0) * stride / layer_stride
    bottom, right = (row + 2) * stride / layer_stride, (col + 2) * stride / layer_stride
    near = cam[math.floor(top) : math.ceil(bottom), math.floor(left) : math.ceil(right)]
    return float(near.sum()) / float(cam.sum())


def _share(cam: torch.Tensor, row: int, col: int) -> float:
    total = float(cam.sum())
    if total <= 0:
        return 0.0
    near = cam[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2]
    return float(near.sum()) / total
