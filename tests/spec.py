"""The numbers of `../shared/SPEC.md` that the tests check the project against, in one place."""

from __future__ import annotations

# Section 1: the tutorial backbone, parameter counts at w = 64, module by module, in the table's order
PARAMS_W64 = {
    "stem": 1_856,
    "stage1_down": 73_984,
    "stage1_c3k2": 197_632,
    "stage2_down": 295_424,
    "stage2_c3k2": 788_480,
    "stage3_down": 1_180_672,
    "stage3_c3k2": 3_149_824,
    "stage4_down": 4_720_640,
    "stage4_c3k2": 12_591_104,
    "sppf": 2_624_512,
}
TOTALS = {16: 1_606_032, 32: 6_412_064, 64: 25_624_128}  # parameters by base width
SHAPES_640 = [(256, 80, 80), (512, 40, 40), (1024, 20, 20)]  # P3, P4, P5 of w = 64 at 640x640
# w = 64, 640x640, batch 1
FLOPS_W64_640 = 57_815_859_200  # torch.utils.flop_counter, the convolutions
MACS_W64_640 = 28_907_929_600  # the same as multiply-accumulates
TORCHINFO_MULT_ADDS_W64_640 = 28_907_952_000

# Section 2: Ultralytics YOLO11
YOLO11N_BACKBONE_PARAMS = 1_365_472  # layers 0-10 of YOLO11n

# Section 3: the whole YOLO11 detector (layers 0-23, nc = 80): (parameters, FLOPs at 640x640 by flop_counter)
YOLO11_DETECTOR = {
    "n": (2_624_080, 6_542_502_400),
    "s": (9_458_752, 21_589_760_000),
    "m": (20_114_688, 68_104_448_000),
    "l": (25_372_160, 87_155_968_000),
    "x": (56_966_176, 195_272_448_000),
}
# Ultralytics' published figures for the same models: (millions of parameters, GFLOPs)
YOLO11_PUBLISHED = {"n": (2.6, 6.5), "s": (9.4, 21.5), "m": (20.1, 68.0), "l": (25.3, 86.9), "x": (56.9, 194.9)}
# Detect's parameters for YOLO11n (the SPEC table's layer 23)
YOLO11N_DETECT_PARAMS = 464_912
