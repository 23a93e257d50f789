"""What Ultralytics publishes for each detector family on COCO at 640: accuracy, speed, size. Shown beside the figures
measured here, never in their place, with where each came from.

Read from Ultralytics' documentation (the model pages' "Performance" tables, as printed, the spread after "±"
dropped), cross-checked against a second Ultralytics file (`docs/model_data.py`, the README, the compare pages):

- mAP val 50-95: COCO val2017, single model, single scale. YOLO26 has two: through its one-to-many head and NMS
  (`map50_95`), and through its one-to-one head without NMS (`map50_95_e2e`, the column Ultralytics marks "(e2e)").
- CPU ONNX ms: averaged over COCO val images, batch 1, ONNX Runtime, on the CPU of an Amazon EC2 P4d instance
  (YOLO26's paper: an Intel Xeon @ 2.00 GHz). YOLO12 publishes none. YOLOv8's figure is its 2023 one.
- T4 TensorRT ms: an NVIDIA T4 with TensorRT 10 (YOLO12's page: TensorRT FP16). YOLOv8's model page gives A100 times;
  its T4 ones are from `docs/model_data.py` and the YOLOv8-vs-YOLO26 compare page.
- YOLO26's speeds run its one-to-one head (`nms=False`): no NMS in the time; the others' include no NMS either
  (Ultralytics times the network; NMS is postprocessing).
- Params and FLOPs: the fused model (`model.fuse()`: BatchNorm folded; YOLO26's one-to-many branch removed).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PUBLISHED", "SOURCES", "Published", "counted_as_published", "published"]


@dataclass(frozen=True)
class Published:
    """One model's published figures (None where Ultralytics gives none)."""

    map50_95: float
    map50_95_e2e: float | None
    cpu_onnx_ms: float | None
    t4_ms: float
    params_m: float
    flops_b: float


def _rows(*rows: tuple) -> dict[str, Published]:
    return {scale: Published(*values) for scale, *values in rows}


PUBLISHED: dict[str, dict[str, Published]] = {
    "yolov8": _rows(
        ("n", 37.3, None, 80.4, 1.47, 3.2, 8.7),
        ("s", 44.9, None, 128.4, 2.66, 11.2, 28.6),
        ("m", 50.2, None, 234.7, 5.86, 25.9, 78.9),
        ("l", 52.9, None, 375.2, 9.06, 43.7, 165.2),
        ("x", 53.9, None, 479.1, 14.37, 68.2, 257.8),
    ),
    "yolo11": _rows(
        ("n", 39.5, None, 56.1, 1.5, 2.6, 6.5),
        ("s", 47.0, None, 90.0, 2.5, 9.4, 21.5),
        ("m", 51.5, None, 183.2, 4.7, 20.1, 68.0),
        ("l", 53.4, None, 238.6, 6.2, 25.3, 86.9),
        ("x", 54.7, None, 462.8, 11.3, 56.9, 194.9),
    ),
    "yolo12": _rows(
        ("n", 40.6, None, None, 1.64, 2.6, 6.5),
        ("s", 48.0, None, None, 2.61, 9.3, 21.4),
        ("m", 52.5, None, None, 4.86, 20.2, 67.5),
        ("l", 53.7, None, None, 6.77, 26.4, 88.9),
        ("x", 55.2, None, None, 11.79, 59.1, 199.0),
    ),
    "yolo26": _rows(
        ("n", 40.9, 40.1, 38.9, 1.7, 2.4, 5.4),
        ("s", 48.6, 47.8, 87.2, 2.5, 9.5, 20.7),
        ("m", 53.1, 52.5, 220.0, 4.7, 20.4, 68.2),
        ("l", 55.0, 54.4, 286.2, 6.2, 24.8, 86.4),
        ("x", 57.5, 56.9, 525.8, 11.8, 55.7, 193.9),
    ),
}

SOURCES: dict[str, str] = {
    "yolov8": "Ultralytics docs, models/yolov8.md (commit 0059318); T4 times: docs/model_data.py (002363f) and "
    "ultralytics/docs compare/yolov8-vs-yolo26.md (08f0965)",
    "yolo11": "Ultralytics docs, models/yolo11.md (commit 040502b); the same in docs/model_data.py (002363f) and the README",
    "yolo12": "Ultralytics docs, models/yolo12.md (commit 00772cf; T4 TensorRT FP16, no CPU time published); the same "
    "in docs/model_data.py (002363f)",
    "yolo26": "Ultralytics docs, macros/yolo-det-perf.md (commit 3efa3ff) as models/yolo26.md includes it; the same on "
    "docs.ultralytics.com/tasks/detect (a later page prints FLOPs 5.5/20.9/68.4/86.8/194.4)",
}


def published(family: str, scale: str) -> Published | None:
    """Ultralytics' published figures for a shipped family's scale, None for anything else (a user's table)."""
    return PUBLISHED.get(family, {}).get(scale)


def counted_as_published(family: str, scale: str) -> tuple[float, float]:
    """(parameters in millions, GFLOPs) of a shipped detector counted here the way Ultralytics' table counts them: at
    640, deployed (one head branch), and with attention's matrix products left out (its counter counts none)."""
    from .config import FamilyConfig
    from .stats import model_stats

    stats = model_stats(FamilyConfig(family, scale, detector=True), 640)
    return stats.deployed_params / 1e6, (stats.deployed_flops - 2 * stats.attention_macs) / 1e9
