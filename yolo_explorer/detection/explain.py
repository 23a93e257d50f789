"""Why a box was found: the photo regions and the neck cells that raised one detection's class score.

    why = explain(detector, box, anchor=d.anchor, class_id=d.class_id)   # a kept detection's cell and class
    why.level, why.cam          # the neck level that predicted it, its HiResCAM map on that level's grid
    why.saliency                # |d score / d pixel| on the model input, summed over the colour channels
    heat = map_to_original(why.cam, box)    # laid back over the photo (heatmaps.map_to_original undoes the letterbox)

One backward of the box's class logit (the score before the sigmoid) through the detector: its gradient with respect
to the neck's output on the level whose cell predicted the box, multiplied element-wise by that output and summed over
the channels, negative parts dropped (HiResCAM, Draper et al. 2022: unlike Grad-CAM's channel averages, each cell's
value is its own share of the score, so a score that depends on one region gets a map that lies there); and its
gradient with respect to the input pixels. Only that level's map can be non-zero: a cell of P3 takes nothing from
the neck's P4 or P5 outputs (they are computed after it, and feed other cells).
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """

    anchor: int
    class_id: int
    level: str
    cell: tuple[int, int]
    logit: float
    cam: torch.Tensor
    saliency: torch.Tensor
    share: float

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


def explain(model: nn.Module, box: Letterbox, anchor: int, class_id: int, branch: str = "one2many") -> Explanation:
    """Explain the class score of `anchor` for `class_id` on the letterboxed input `box` (one forward and one
    backward, running BatchNorm statistics, under the model's and its device's locks; no weight gradient is kept).

    Args:
        model: a detector (its forward returns a `DetectorOutput`).
        branch: the head's branch the box came from ("one2one": YOLO26's NMS-free one).

    Raises:
        ValueError: an anchor or class the head does not have.
    """
    param = next(model.parameters())
    x = box.tensor().to(param.device, param.dtype).requires_grad_(True)
    with device_lock(x.device), capture_activations(model, (), batch_norm="running"), torch.enable_grad():
        output = branch_output(model(x), branch)
        classes, anchors = output.scores.shape[1:]
        if not 0 <= anchor < anchors or not 0 <= class_id < classes:
            raise ValueError(f"no prediction {anchor} of class {class_id}: the head has {anchors} anchors and {classes} classes")
        grids = [tuple(level.shape[2:]) for level in output.neck]
        (cell,) = anchor_cells([anchor], grids, box.size)
        neck = output.neck[PYRAMID.index(cell.level)]
        logit = output.scores[0, class_id, anchor]
        neck_grad, input_grad = torch.autograd.grad(logit, (neck, x))
    cam = (neck_grad[0] * neck[0]).sum(0).relu().detach().float().cpu()
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
    )


def _share(cam: torch.Tensor, row: int, col: int) -> float:
    total = float(cam.sum())
    if total <= 0:
        return 0.0
    near = cam[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2]
    return float(near.sum()) / total
