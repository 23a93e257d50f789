"""Writes what Ultralytics' own task-aligned assigner does: the reference the label-assignment tests compare against.
Not part of the project and not run by the tests (Ultralytics is AGPL and never a dependency). Run once in a scratch
environment with Ultralytics installed (../shared/TESTING.md; the assigner itself needs no torchvision):

    /tmp/ultra/bin/python tests/data/make_assignment_reference.py tests/data

Writes ultralytics_assignment.pt:
- "assigner": the parameters of the assigner that YOLO11's training criterion builds (`DetectionModel.init_criterion()`
  on the test checkpoint: top-k, top-k2, alpha, beta, strides, the smallest box side it enlarges to, eps).
- "random": predictions drawn from a seeded generator for two images of one batch (320x320, 10 classes), ground truths
  of several classes and sizes (a box under one P4 cell, which the assigner enlarges; two boxes that pick the same cells; one
  at the border; a box on the second image only, so the batch pads), and everything the assigner returns, with its
  intermediate masks and metrics (`get_pos_mask`).
- "trained": the test checkpoint `synthetic_yolo11n.pt` in eval mode on drawn photos (photos/truth.json's boxes as the
  ground truth), letterboxed to 320x320 (their pixels kept, PNG-compressed): the tensors the training criterion hands its
  assigner (`v8DetectionLoss.get_assigned_targets_and_loss`, captured by a forward hook) and what it returns.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

SIZE = 320
PHOTOS = ("wide_1920x1080.jpg", "panorama_1600x400.jpg")


def assigner_parameters(assigner) -> dict:
    keys = ("topk", "topk2", "num_classes", "alpha", "beta", "stride", "stride_val", "eps")
    return {key: getattr(assigner, key) for key in keys}


def inputs(pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt) -> dict:
    """What the assigner is called with, by the names of its arguments."""
    return {
        "pd_scores": pd_scores,
        "pd_bboxes": pd_bboxes,
        "anc_points": anc_points,
        "gt_labels": gt_labels,
        "gt_bboxes": gt_bboxes,
        "mask_gt": mask_gt,
    }


def targets(labels, bboxes, scores, fg, gt_idx) -> dict:
    """What the assigner returns, kept small: the soft target of each anchor is one-hot in its class, so its largest
    value and the class say it all; the target box is the ground truth of `target_gt_idx`."""
    assert torch.equal(scores.argmax(-1)[fg], labels[fg]) and torch.equal(scores.amax(-1) > 0, fg & (scores.amax(-1) > 0))
    return {
        "target_labels": labels.to(torch.int16),
        "target_score": scores.amax(-1),
        "fg_mask": fg,
        "target_gt_idx": gt_idx.to(torch.int16),
        "target_bboxes_fg": bboxes[fg],
    }


def run(assigner, pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt) -> dict:
    """The assigner's outputs and its intermediate masks for one batch."""
    assigner.bs, assigner.n_max_boxes = pd_scores.shape[0], gt_bboxes.shape[1]
    mask_pos, align_metric, overlaps = assigner.get_pos_mask(pd_scores, pd_bboxes, gt_labels, gt_bboxes, anc_points, mask_gt)
    mask_in_gts = assigner.select_candidates_in_gts(anc_points, gt_bboxes, mask_gt)
    labels, bboxes, scores, fg, gt_idx = assigner(pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt)
    return {
        "inputs": inputs(pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt),
        "mask_in_gts": mask_in_gts,
        "align_metric_in": align_metric[mask_in_gts],  # the metric and the CIoU of the anchors inside each box
        "overlaps_in": overlaps[mask_in_gts],
        "mask_topk_in": mask_pos,  # top-k of the metric, inside the box, before conflicts are resolved
        **targets(labels, bboxes, scores, fg, gt_idx),
    }


def random_case(assigner, make_anchors) -> dict:
    generator = torch.Generator().manual_seed(2026)
    feats = [torch.zeros(2, 1, SIZE // s, SIZE // s) for s in (8, 16, 32)]
    points, strides = make_anchors(feats, torch.tensor([8.0, 16.0, 32.0]), 0.5)
    anc_points = points * strides
    a, nc = anc_points.shape[0], assigner.num_classes
    pd_scores = torch.rand(2, a, nc, generator=generator) ** 2
    distances = (torch.rand(2, a, 4, generator=generator) * 6 + 0.3) * strides  # 0.3 to 6.3 cells a side
    pd_bboxes = torch.cat((anc_points - distances[..., :2], anc_points + distances[..., 2:]), dim=-1)
    boxes = [
        [(3, 40.0, 50.0, 140.0, 170.0), (7, 45.0, 60.0, 145.0, 175.0), (1, 150.0, 20.0, 159.0, 27.0),
         (5, 0.0, 200.0, 60.0, 320.0), (2, 180.0, 180.0, 316.0, 300.0)],
        [(0, 20.0, 30.0, 300.0, 290.0), (9, 200.0, 40.0, 230.0, 110.0)],
    ]  # fmt: skip
    n_max = max(len(b) for b in boxes)
    gt_labels, gt_bboxes, mask_gt = torch.zeros(2, n_max, 1), torch.zeros(2, n_max, 4), torch.zeros(2, n_max, 1)
    for i, image_boxes in enumerate(boxes):
        for j, (label, *xyxy) in enumerate(image_boxes):
            gt_labels[i, j, 0], gt_bboxes[i, j], mask_gt[i, j, 0] = label, torch.tensor(xyxy), 1.0
    return run(assigner, pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt)


def letterbox(path: Path) -> tuple[np.ndarray, float, tuple[float, float]]:
    """The photo resized (long side to SIZE, OpenCV's linear) and padded with grey to SIZE x SIZE, centred."""
    rgb = np.asarray(Image.open(path).convert("RGB"))
    h, w = rgb.shape[:2]
    scale = min(SIZE / h, SIZE / w)
    new_w, new_h = round(w * scale), round(h * scale)
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    left, top = (SIZE - new_w) // 2, (SIZE - new_h) // 2
    out = np.full((SIZE, SIZE, 3), 114, dtype=np.uint8)
    out[top : top + new_h, left : left + new_w] = resized
    return out, scale, (left, top)


def trained_case(root: Path) -> tuple[dict, list]:
    checkpoint = torch.load(root / "synthetic_yolo11n.pt", weights_only=False)
    model = checkpoint["model"].float().eval()
    from ultralytics.cfg import get_cfg

    model.args = get_cfg()
    criterion = model.init_criterion()
    captured = {}

    def keep(module, args, output):
        captured["inputs"], captured["outputs"] = [a.clone() for a in args], [o.clone() for o in output]

    criterion.assigner.register_forward_hook(keep)
    truth = json.loads((root / "photos" / "truth.json").read_text())
    cases = []
    for name in PHOTOS:
        pixels, scale, (left, top) = letterbox(root / "photos" / name)
        x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            _, preds = model(x)
        boxes = torch.tensor([[x1 * scale + left, y1 * scale + top, x2 * scale + left, y2 * scale + top]
                              for _, x1, y1, x2, y2 in truth[name]])  # fmt: skip
        xywh = torch.cat(((boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]), dim=1) / SIZE
        batch = {
            "batch_idx": torch.zeros(len(boxes)),
            "cls": torch.tensor([[c] for c, *_ in truth[name]], dtype=torch.float32),
            "bboxes": xywh,
        }
        with torch.no_grad():
            criterion.get_assigned_targets_and_loss(preds, batch)
        png = io.BytesIO()
        Image.fromarray(pixels).save(png, format="PNG")
        labels, bboxes, scores, fg, gt_idx = captured["outputs"]
        cases.append(
            {
                "photo": name,
                "pixels_png": png.getvalue(),
                "inputs": inputs(*captured["inputs"]),
                **targets(labels, bboxes, scores, fg, gt_idx),
            }
        )
    return assigner_parameters(criterion.assigner), cases


def main(out: Path) -> None:
    from ultralytics.utils.tal import TaskAlignedAssigner, make_anchors

    parameters, trained = trained_case(out)
    assigner = TaskAlignedAssigner(
        topk=parameters["topk"], num_classes=10, alpha=parameters["alpha"], beta=parameters["beta"], stride=[8, 16, 32]
    )
    reference = {"assigner": parameters, "random": random_case(assigner, make_anchors), "trained": trained}
    torch.save(reference, out / "ultralytics_assignment.pt")
    import ultralytics

    print(f"ultralytics {ultralytics.__version__}: {parameters}")
    for case in trained:
        print(case["photo"], "positives:", int(case["fg_mask"].sum()), "of", case["fg_mask"].numel())
    print(f"{(out / 'ultralytics_assignment.pt').stat().st_size / 1e6:.2f} MB")
    print("random positives:", [int(m.sum()) for m in reference["random"]["fg_mask"]])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
