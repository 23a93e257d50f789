"""The layer tables of the Ultralytics detector families this explorer builds: YOLOv8, YOLO11, YOLO12 and YOLO26,
in Ultralytics' model-table format, as Ultralytics 8.4.190 defines these models (SPEC sections 2-4: the
architecture restated as data). A row is `[from, repeats, module, args]`: `from` -1 is the previous layer; repeats
and the first argument (output channels) are scaled by the scale's depth and width multiples.

Everything else follows from a table (`family.FamilyConfig`): its P3/P4/P5 are the layers Detect takes, the backbone
is the `backbone` rows, the neck the rest. A new family is a new table here, never new code elsewhere.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FAMILIES", "FAMILY_NAMES"]

# letter -> [depth multiple, width multiple, max channels]
_SCALES_V8 = {
    "n": [0.33, 0.25, 1024],
    "s": [0.33, 0.50, 1024],
    "m": [0.67, 0.75, 768],
    "l": [1.00, 1.00, 512],
    "x": [1.00, 1.25, 512],
}
_SCALES = {
    "n": [0.50, 0.25, 1024],
    "s": [0.50, 0.50, 1024],
    "m": [0.50, 1.00, 512],
    "l": [1.00, 1.00, 512],
    "x": [1.00, 1.50, 512],
}
_UP = [-1, 1, "nn.Upsample", [None, 2, "nearest"]]

FAMILIES: dict[str, dict[str, Any]] = {
    "yolov8": {
        "nc": 80,
        "scales": _SCALES_V8,
        "backbone": [
            [-1, 1, "Conv", [64, 3, 2]],  # 0: P1/2
            [-1, 1, "Conv", [128, 3, 2]],  # 1: P2/4
            [-1, 3, "C2f", [128, True]],
            [-1, 1, "Conv", [256, 3, 2]],  # 3: P3/8
            [-1, 6, "C2f", [256, True]],
            [-1, 1, "Conv", [512, 3, 2]],  # 5: P4/16
            [-1, 6, "C2f", [512, True]],
            [-1, 1, "Conv", [1024, 3, 2]],  # 7: P5/32
            [-1, 3, "C2f", [1024, True]],
            [-1, 1, "SPPF", [1024, 5]],  # 9
        ],
        "head": [
            _UP,
            [[-1, 6], 1, "Concat", [1]],  # join the backbone's P4
            [-1, 3, "C2f", [512]],  # 12
            _UP,
            [[-1, 4], 1, "Concat", [1]],  # join the backbone's P3
            [-1, 3, "C2f", [256]],  # 15: P3 out
            [-1, 1, "Conv", [256, 3, 2]],
            [[-1, 12], 1, "Concat", [1]],
            [-1, 3, "C2f", [512]],  # 18: P4 out
            [-1, 1, "Conv", [512, 3, 2]],
            [[-1, 9], 1, "Concat", [1]],
            [-1, 3, "C2f", [1024]],  # 21: P5 out
            [[15, 18, 21], 1, "Detect", ["nc"]],
        ],
    },
    "yolo11": {
        "nc": 80,
        "scales": _SCALES,
        "backbone": [
            [-1, 1, "Conv", [64, 3, 2]],  # 0: P1/2
            [-1, 1, "Conv", [128, 3, 2]],  # 1: P2/4
            [-1, 2, "C3k2", [256, False, 0.25]],
            [-1, 1, "Conv", [256, 3, 2]],  # 3: P3/8
            [-1, 2, "C3k2", [512, False, 0.25]],
            [-1, 1, "Conv", [512, 3, 2]],  # 5: P4/16
            [-1, 2, "C3k2", [512, True]],
            [-1, 1, "Conv", [1024, 3, 2]],  # 7: P5/32
            [-1, 2, "C3k2", [1024, True]],
            [-1, 1, "SPPF", [1024, 5]],  # 9
            [-1, 2, "C2PSA", [1024]],  # 10
        ],
        "head": [
            _UP,
            [[-1, 6], 1, "Concat", [1]],
            [-1, 2, "C3k2", [512, False]],  # 13
            _UP,
            [[-1, 4], 1, "Concat", [1]],
            [-1, 2, "C3k2", [256, False]],  # 16: P3 out
            [-1, 1, "Conv", [256, 3, 2]],
            [[-1, 13], 1, "Concat", [1]],
            [-1, 2, "C3k2", [512, False]],  # 19: P4 out
            [-1, 1, "Conv", [512, 3, 2]],
            [[-1, 10], 1, "Concat", [1]],
            [-1, 2, "C3k2", [1024, True]],  # 22: P5 out
            [[16, 19, 22], 1, "Detect", ["nc"]],
        ],
    },
    "yolo12": {
        "nc": 80,
        "scales": _SCALES,
        "backbone": [
            [-1, 1, "Conv", [64, 3, 2]],  # 0: P1/2
            [-1, 1, "Conv", [128, 3, 2]],  # 1: P2/4
            [-1, 2, "C3k2", [256, False, 0.25]],
            [-1, 1, "Conv", [256, 3, 2]],  # 3: P3/8
            [-1, 2, "C3k2", [512, False, 0.25]],
            [-1, 1, "Conv", [512, 3, 2]],  # 5: P4/16
            [-1, 4, "A2C2f", [512, True, 4]],  # area attention in 4 strips
            [-1, 1, "Conv", [1024, 3, 2]],  # 7: P5/32
            [-1, 4, "A2C2f", [1024, True, 1]],  # 8: global attention
        ],
        "head": [
            _UP,
            [[-1, 6], 1, "Concat", [1]],
            [-1, 2, "A2C2f", [512, False, -1]],  # 11
            _UP,
            [[-1, 4], 1, "Concat", [1]],
            [-1, 2, "A2C2f", [256, False, -1]],  # 14: P3 out
            [-1, 1, "Conv", [256, 3, 2]],
            [[-1, 11], 1, "Concat", [1]],
            [-1, 2, "A2C2f", [512, False, -1]],  # 17: P4 out
            [-1, 1, "Conv", [512, 3, 2]],
            [[-1, 8], 1, "Concat", [1]],
            [-1, 2, "C3k2", [1024, True]],  # 20: P5 out
            [[14, 17, 20], 1, "Detect", ["nc"]],
        ],
    },
    "yolo26": {
        "nc": 80,
        "end2end": True,  # Detect has a one-to-one branch beside its one-to-many one
        "reg_max": 1,  # a box side is one distance, no DFL
        "scales": _SCALES,
        "backbone": [
            [-1, 1, "Conv", [64, 3, 2]],  # 0: P1/2
            [-1, 1, "Conv", [128, 3, 2]],  # 1: P2/4
            [-1, 2, "C3k2", [256, False, 0.25]],
            [-1, 1, "Conv", [256, 3, 2]],  # 3: P3/8
            [-1, 2, "C3k2", [512, False, 0.25]],
            [-1, 1, "Conv", [512, 3, 2]],  # 5: P4/16
            [-1, 2, "C3k2", [512, True]],
            [-1, 1, "Conv", [1024, 3, 2]],  # 7: P5/32
            [-1, 2, "C3k2", [1024, True]],
            [-1, 1, "SPPF", [1024, 5, 3, True]],  # 9: three pools, a residual, no SiLU on its first conv
            [-1, 2, "C2PSA", [1024]],  # 10
        ],
        "head": [
            _UP,
            [[-1, 6], 1, "Concat", [1]],
            [-1, 2, "C3k2", [512, True]],  # 13
            _UP,
            [[-1, 4], 1, "Concat", [1]],
            [-1, 2, "C3k2", [256, True]],  # 16: P3 out
            [-1, 1, "Conv", [256, 3, 2]],
            [[-1, 13], 1, "Concat", [1]],
            [-1, 2, "C3k2", [512, True]],  # 19: P4 out
            [-1, 1, "Conv", [512, 3, 2]],
            [[-1, 10], 1, "Concat", [1]],
            [-1, 1, "C3k2", [1024, True, 0.5, True]],  # 22: P5 out, a PSABlock after each bottleneck
            [[16, 19, 22], 1, "Detect", ["nc"]],
        ],
    },
}
FAMILY_NAMES: dict[str, str] = {"yolov8": "YOLOv8", "yolo11": "YOLO11", "yolo12": "YOLO12", "yolo26": "YOLO26"}
