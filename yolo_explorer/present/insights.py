"""One sentence under each figure saying what to notice, computed from the numbers of the current
config. A sentence states a pattern only when the numbers show it (every claim is checked here)."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from ..detection.assignment import TruthAssignment
from ..detection.object_size import ObjectSize
from ..model.compare import CompareRow
from ..model.stats import ModelStats
from .formatting import human_bytes, human_count, shape_str

__all__ = [
    "ABOUT_4",
    "StageTotal",
    "activation_law_insight",
    "assignment_insight",
    "box_changes_insight",
    "calibration_insight",
    "int8_tradeoff_insight",
    "cost_insight",
    "flow_insight",
    "info_flops_insight",
    "levels_insight",
    "memory_insight",
    "params_law_insight",
    "pixels_law_insight",
    "pyramid_insight",
    "receptive_field_insight",
    "roofline_insight",
    "stage_totals",
    "verdict_insight",
]

ABOUT_4 = (3.2, 4.8)  # a growth from stage to stage said to be "about 4×" (±20 %)


def backbone_of(stats: ModelStats) -> ModelStats:
    """The statistics of a detector's backbone part (its P3/P4/P5 where the backbone's config puts them); a backbone's own."""
    if len(stats.parts) < 2:
        return stats
    names = set(dict(stats.parts)["backbone"])
    backbone = [layer for layer in stats.layers if layer.name in names]
    last = {layer.stride: layer.name for layer in backbone if layer.stride >= 8}  # its last layer at each stride
    features = {name: f"P{stride.bit_length() - 1}" for stride, name in last.items()}  # the backbone's own P3, P4, P5
    layers = tuple(dataclasses.replace(s, feature=features.get(s.name, "")) for s in backbone)
    return dataclasses.replace(stats, layers=layers, parts=())


def flow_insight(stats: ModelStats) -> str:
    """How resolution and channels trade off from the input to the deepest output (and, for a detector, what the
    neck and head do with it)."""
    if len(stats.parts) > 1:
        return _flow(backbone_of(stats)) + " " + _neck_and_head(stats)
    return _flow(stats)


def _neck_and_head(stats: ModelStats) -> str:
    outs = [s for s in stats.layers if s.feature]
    head = stats.layers[-1]
    nc, anchors = head.output_shape[0] - 4, head.output_shape[1]
    cells = " + ".join(f"{s.output_shape[1]}×{s.output_shape[2]}" for s in outs)
    return (
        f"The neck then brings P5 back up (top-down, FPN: upsample, concatenate with backbone layers 6 and 4) and down "
        f"again (bottom-up, PAN: stride-2 convs, concatenate with layers 13 and 10), so its "
        f"{_and([f'{s.feature} ({shape_str(s.output_shape)})' for s in outs])} mix fine detail with context. The head "
        f"predicts one box per cell, {anchors:,} in all ({cells}), each 4 box numbers and {nc} class scores."
    )


def _flow(stats: ModelStats) -> str:
    c, h, w = stats.input_shape
    first = stats.layers[0]
    last = [s for s in stats.layers if s.feature][-1]
    positions = (h * w) / (last.output_shape[1] * last.output_shape[2])
    return (
        f"Every stride-2 conv halves height and width: from {shape_str((c, h, w))} the maps shrink to "
        f"{shape_str(last.output_shape)} at {last.feature} ({positions:,.0f}× fewer positions) while the channels grow "
        f"from {first.output_shape[0]} to {last.output_shape[0]}. P3, P4 and P5 are three of these maps, at strides "
        f"{', '.join(str(s.stride) for s in stats.layers if s.feature)}."
    )


def cost_insight(stats: ModelStats) -> str:
    """Where parameters and MACs sit, whether the stages cost the same, and how parameters grow per stage (for a
    detector: in its backbone, then what the neck and the head add)."""
    if len(stats.parts) < 2:
        return _costs(stats)
    totals = stats.part_totals()
    shares = _and([f"the {part} {t['params'] / stats.params:.0%} and {t['macs'] / stats.macs:.0%}" for part, t in totals.items()])
    head = stats.layers[-1]
    return (
        f"Of the whole detector's parameters and MACs, {shares}. The head is {head.macs / stats.macs:.0%} of the compute with "
        f"{head.params / stats.params:.0%} of the parameters: its branches run on every cell of all three levels, "
        f"P3's {_level_cells(stats, 'P3')} cells included. In the backbone: " + _costs(backbone_of(stats))
    )


def _level_cells(stats: ModelStats, feature: str) -> str:
    s = next(s for s in stats.layers if s.feature == feature)
    return f"{s.output_shape[1]}×{s.output_shape[2]}"


def _costs(stats: ModelStats) -> str:
    parts = []
    by_block: dict[str, list[int]] = {}
    for s in stats.layers[1:]:  # the stem reads the 3 image channels: it is cheaper by design
        by_block.setdefault(s.block, []).append(s.macs)
    equal = [(block, macs[0], len(macs)) for block, macs in by_block.items() if len(macs) > 1 and _within(macs, 0.02)]
    if equal:
        said = " and ".join(f"every {_block_name(b)} ({n} of them) costs the same {human_count(m)} MACs" for b, m, n in equal)
        parts.append(
            f"Notice that {said}: each stage halves H and W (¼ of the positions) and doubles the channels (4× the work "
            "per position), and the two cancel."
        )
    stages = stage_totals(stats)[1:]  # after the stem
    steps = list(zip(stages, stages[1:], strict=False))
    ratios = [b.params / a.params for a, b in steps]
    listed = f"{_and([f'{r:.1f}×' for r in ratios])} from stage 1 to 2, 2 to 3 and 3 to 4"
    if ratios and all(ABOUT_4[0] <= r <= ABOUT_4[1] for r in ratios):
        growth = f"they grow about 4× per stage ({listed})"
    else:
        growth = f"they grow {listed}"
        kept = [
            f"stage {i + 2} keeps the {b.channels} channels of stage {i + 1}"
            for i, (a, b) in enumerate(steps)
            if b.channels == a.channels
        ]
        if kept:
            growth += f" ({_and(kept)})"
    parts.append(("Parameters do not cancel: " if equal else "Parameters: ") + growth + ".")
    heavy = max(stats.layers, key=lambda s: s.params)
    params, macs = heavy.params / stats.params, heavy.macs / stats.macs
    parts.append(
        f"{_layer(heavy.name, start=True)} alone holds {params:.0%} of the {human_count(stats.params)} parameters but "
        f"{macs:.0%} of the MACs."
    )
    return " ".join(parts)


BATCHNORM_THOP_FLOPS = 8  # thop books a BatchNorm's 4 operations per output as 4 MACs; info() doubles MACs to FLOPs


def info_flops_insight(stats: ModelStats) -> str | None:
    """Why Ultralytics' `model.info()` says more GFLOPs than the flop counter does here (6.7 against 6.54 for YOLO11n):
    on an unfused model its counter (thop) books every BatchNorm; fused, it says what is counted here. None but for a
    whole detector (Ultralytics' info() describes detectors only)."""
    if not stats.config.get("detector") or not stats.batchnorm_outputs:
        return None
    extra = BATCHNORM_THOP_FLOPS * stats.batchnorm_outputs
    h, w = stats.input_shape[1:]
    fused = stats.deployed_flops
    branch = (
        f" and keeps one of the head's two branches (the other, {2 * stats.second_branch[1] / 1e9:.2f} GFLOPs, is the "
        "same size and runs only in training or when asked for)"
        if any(stats.second_branch)
        else ""
    )
    return (
        f"Ultralytics' `model.info()` would say {(stats.flops + extra) / 1e9:.1f} GFLOPs for this model unfused at "
        f"{h}×{w} and {fused / 1e9:.1f} fused. Its counter (thop) books each BatchNorm's four operations per "
        f"output element as four multiply-adds, {BATCHNORM_THOP_FLOPS} FLOPs × {stats.batchnorm_outputs:,} outputs = "
        f"{extra / 1e9:.2f} GFLOPs; `fuse()`, which `predict` runs, folds every BatchNorm into its conv{branch}, and "
        f"then it counts what torch.utils.flop_counter counts here, {fused / 1e9:.2f} GFLOPs."
    )


def memory_insight(stats: ModelStats) -> str:
    """Where activation memory sits: the early, high-resolution layers, when the numbers say so."""
    first = stats.layers[0]
    early = sum(s.activation_bytes for s in stats.layers[:3]) / stats.activation_bytes
    early_params = sum(s.params for s in stats.layers[:3]) / stats.params
    share = (
        f"The first three outputs take {early:.0%} of the {human_bytes(stats.activation_bytes)} that all "
        f"{len(stats.layers)} layer outputs need in {stats.dtype} "
        f"({_layer(first.name)} alone {human_bytes(first.activation_bytes)})"
    )
    if early >= 0.5 and early_params < 0.1:
        return (
            f"Activation memory is the opposite of parameters: the high-resolution early layers dominate. {share}, "
            f"and only {early_params:.1%} of the parameters."
        )
    return f"{share}."


def pyramid_insight(stats: ModelStats) -> str:
    """What the pyramid outputs trade: fine detail against how much of the image a cell sees."""
    _, h, w = stats.input_shape
    outs = [s for s in stats.layers if s.feature]
    fine, coarse = outs[0], outs[-1]
    side = max(h, w)
    if coarse.receptive_field >= side:
        reach = f"every {coarse.feature} cell sees the whole {h}×{w} image"
    else:
        reach = (
            f"every {coarse.feature} cell sees a window of {coarse.receptive_field} px, {coarse.receptive_field / side:.0%} "
            f"of the image's longest side"
        )
    return (
        f"Each map is the mean over its channels. {fine.feature} keeps fine detail (a cell per {fine.stride}×{fine.stride} "
        f"pixels); {coarse.feature} is coarse (a cell per {coarse.stride}×{coarse.stride}) but {reach}. The Feature maps "
        "page shows single channels and overlays."
    )


@dataclass(frozen=True)
class StageTotal:
    """The layers of one output stride: the stem (2), stage 1 (4) ... stage 4 (32, SPPF and C2PSA included)."""

    stride: int
    params: int
    macs: int
    channels: int  # of the stage's last output


def stage_totals(stats: ModelStats) -> list[StageTotal]:
    """Parameters and MACs summed over the layers of each output stride, in order."""
    strides = sorted({s.stride for s in stats.layers})
    return [
        StageTotal(
            stride,
            sum(s.params for s in stats.layers if s.stride == stride),
            sum(s.macs for s in stats.layers if s.stride == stride),
            [s for s in stats.layers if s.stride == stride][-1].output_shape[0],
        )
        for stride in strides
    ]


def receptive_field_insight(stats: ModelStats) -> str:
    """How much of the image one cell of each output sees."""
    _, h, w = stats.input_shape
    outs = [s for s in stats.layers if s.feature]
    listed = ", ".join(f"{s.feature} {s.receptive_field} px" for s in outs)
    deepest = outs[-1]
    if deepest.receptive_field >= max(h, w):
        tail = f"so a {deepest.feature} cell can take in the whole {h}×{w} image: that is why it suits large objects."
    else:
        tail = f"so even a {deepest.feature} cell sees only part of the {h}×{w} image."
    return f"One cell of each output depends on a square window of the input: {listed}; {tail}"


def _within(values: list[int], tolerance: float) -> bool:
    lo, hi = min(values), max(values)
    return hi > 0 and (hi - lo) / hi <= tolerance


def _block_name(block: str) -> str:
    return {"ConvBNSiLU": "downsampling conv after the stem"}.get(block, block)


# The Profile page: where the time goes


def roofline_insight(layers: Sequence, peak_tflops: float, peak_gbps: float) -> str:
    """Which layers the memory bounds, and the layer whose time most outgrows its MACs, from a profile's layers
    (`profile.LayerProfile`: name, share, macs_share, intensity, gflops_per_s) and the device's peaks."""
    ridge = peak_tflops * 1e3 / peak_gbps
    memory = [layer for layer in layers if layer.intensity < ridge]
    if memory:
        names = _and([_layer(layer.name) for layer in memory])
        first = (
            f"Left of the ridge ({ridge:.3g} FLOP per byte) the memory, not the arithmetic, sets the pace: {names} "
            f"({sum(layer.share for layer in memory):.0%} of the time)."
        )
    else:
        first = f"Every layer moves few enough bytes to be compute-bound here (right of the ridge, {ridge:.3g} FLOP per byte)."
    worst = max(layers, key=lambda layer: layer.share / layer.macs_share if layer.macs_share else 0.0)
    best = max(layers, key=lambda layer: layer.gflops_per_s)
    peak = peak_tflops * 1e3
    second = (
        f"{_layer(worst.name, start=True)} takes {worst.share:.0%} of the time for {worst.macs_share:.0%} of the MACs, at "
        f"{worst.gflops_per_s:.3g} GFLOP/s ({worst.gflops_per_s / peak:.0%} of the compute peak); {_layer(best.name)} reaches "
        f"{best.gflops_per_s:.3g} ({best.gflops_per_s / peak:.0%})."
    )
    return f"{first} {second}"


def levels_insight(detections: Sequence, scale: float) -> str | None:
    """Which level of the pyramid predicted the kept boxes and how large they are there, from detections with
    their `cell` (`detections.Detection`) and the photo-to-input `scale` (None without boxes). Says that the
    finer level found the smaller objects only when the median sizes grow with the stride."""
    located = [d for d in detections if d.cell is not None]
    if not located:
        return None
    by_level: dict[tuple[int, str], list[float]] = {}
    for d in located:
        x1, y1, x2, y2 = d.box
        by_level.setdefault((d.cell.stride, d.cell.level), []).append(math.sqrt(max(x2 - x1, 0) * max(y2 - y1, 0)) * scale)
    parts = []
    for (stride, level), sides in sorted(by_level.items()):
        count = f"{len(sides)} box{'es' if len(sides) > 1 else ''}"
        parts.append(f"{level} (stride {stride}) {count}, {statistics.median(sides):.0f} px")
    medians = [statistics.median(sides) for _, sides in sorted(by_level.items())]
    listed = "; ".join(parts)
    if len(by_level) == 1:
        return f"Every kept box comes from one level: {listed} (median side at the input)."
    if all(a < b for a, b in zip(medians, medians[1:], strict=False)):
        why = "the finer the grid, the smaller the objects it keeps: each level answers for its own scale"
    else:
        why = "here the sizes do not follow the strides"
    return f"Boxes kept per level, with their median side at the input: {listed}. {why[0].upper()}{why[1:]}."


# The Compare page: sentences about a grid of widths x sizes, from its own numbers


def params_law_insight(rows: Sequence[CompareRow]) -> str | None:
    """How parameters grow from the narrowest to the widest width of the grid (None with one width)."""
    (lo, hi), ratio = _span(rows, "width", "params")
    if lo == hi:
        return None
    law = (hi / lo) ** 2
    near = "close to" if abs(ratio / law - 1) <= 0.1 else "where w² alone would give"
    return (
        f"From w={lo} to w={hi} ({hi / lo:g}× wider) the parameters grow {ratio:.1f}×, {near} the {law:g}× of w²: every "
        "convolution's weights scale with its input and its output channels. The input size does not change them."
    )


def pixels_law_insight(rows: Sequence[CompareRow]) -> str | None:
    """How MACs grow from the smallest to the largest input of the grid, at every width (None with one size)."""
    sizes = sorted({(r.height, r.width_px) for r in rows}, key=lambda hw: hw[0] * hw[1])
    if len(sizes) < 2:
        return None
    small, large = sizes[0], sizes[-1]
    pixels = (large[0] * large[1]) / (small[0] * small[1])
    ratios = [_at(rows, w, large).macs / _at(rows, w, small).macs for w in sorted({r.width for r in rows})]
    grown = f"{ratios[0]:.1f}×" if max(ratios) - min(ratios) < 0.05 else f"between {min(ratios):.1f}× and {max(ratios):.1f}×"
    if all(abs(r / pixels - 1) <= 0.02 for r in ratios):
        why = "the same work per pixel"
    else:
        why = "not quite the pixels' growth, since a side that is not a multiple of 32 rounds up at every stride-2 conv"
    return f"From {_size(small)} to {_size(large)} px ({pixels:.3g}× the pixels) the MACs grow {grown} at every width: {why}."


def activation_law_insight(rows: Sequence[CompareRow]) -> str | None:
    """How activation memory grows with the width (linearly) and with the pixels (None for a single cell)."""
    parts = []
    (lo, hi), by_width = _span(rows, "width", "activation_bytes")
    if lo != hi:
        parts.append(f"from w={lo} to w={hi} ({hi / lo:g}× wider) they grow {by_width:.1f}×, as the channels do")
    sizes = sorted({(r.height, r.width_px) for r in rows}, key=lambda hw: hw[0] * hw[1])
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        width = min(r.width for r in rows)
        ratio = _at(rows, width, large).activation_bytes / _at(rows, width, small).activation_bytes
        pixels = (large[0] * large[1]) / (small[0] * small[1])
        parts.append(f"from {_size(small)} to {_size(large)} px ({pixels:.3g}× the pixels) {ratio:.1f}×")
    if not parts:
        return None
    return "Activations: " + "; ".join(parts) + "."


def _span(rows: Sequence[CompareRow], key: str, value: str) -> tuple[tuple[int, int], float]:
    """(smallest, largest) of `key` over the grid and the ratio of `value` between them (at the smallest size)."""
    keys = sorted({getattr(r, key) for r in rows})
    size = min(((r.height, r.width_px) for r in rows), key=lambda hw: hw[0] * hw[1])
    lo, hi = _at(rows, keys[0], size), _at(rows, keys[-1], size)
    return (keys[0], keys[-1]), getattr(hi, value) / getattr(lo, value)


def _at(rows: Sequence[CompareRow], width: int, size: tuple[int, int]) -> CompareRow:
    return next(r for r in rows if r.width == width and (r.height, r.width_px) == size)


def _size(hw: tuple[int, int]) -> str:
    return f"{hw[0]}" if hw[0] == hw[1] else f"{hw[0]}×{hw[1]}"


def _layer(name: str, start: bool = False) -> str:
    """How a sentence names a layer: YOLO11's are numbers ("layer 8"), the tutorial's names ("stage4_c3k2")."""
    return f"{'Layer' if start else 'layer'} {name}" if name.isdigit() else name


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def object_size_insight(view: ObjectSize) -> str:
    """Which levels can give the object a cell of its own, and whether their cells see all of it."""
    inside = [level for level in view.levels if level.cells_inside]
    none = [level.name for level in view.levels if not level.cells_inside]
    h, w = view.input_size
    if not inside:
        return (
            f"At {h}×{w} no cell centre of any level lies inside this {view.width:.0f}×{view.height:.0f} px box: a larger "
            "input size gives it cells (see below)."
        )
    finest = inside[0]
    counts = ", ".join(f"{level.name}: {level.cells_inside}" for level in inside)
    text = (
        f"At {h}×{w} this object is {finest.width_cells:.1f} {finest.name} cells wide, and {len(inside)} of the "
        f"{len(view.levels)} levels have cell centres inside it ({counts})"
    )
    if none:
        verb, pronoun = ("has", "it") if len(none) == 1 else ("have", "they")
        text += f"; {' and '.join(none)} {verb} none, so {pronoun} cannot be given it"
    blind = [level.name for level in inside if level.field_over_object < 1]
    if blind:
        text += f". The cells of {', '.join(blind)} see less than the whole object"
    else:
        text += (
            f". Every such cell sees at least {min(level.field_over_object for level in inside):.1f}× the object's longer side"
        )
    return text + "."


def assignment_insight(truth: TruthAssignment, topk: int) -> str:
    """Where a ground-truth box's candidates are, which the top-k picked, and which learn it, level by level."""

    def per_level(counts) -> str:
        return ", ".join(f"{level} {n}" for level, n in sorted(counts.items())) or "none"

    candidates, picked, positives = truth.count(), truth.count("picked"), truth.count("positives")
    text = f"Box {truth.index + 1} ({truth.name}): {len(truth.candidates)} cell centres inside ({per_level(candidates)})"
    if truth.widened:
        text += ", counted in the box widened to one P4 cell, as the assigner widens a box that small"
    if not truth.candidates:
        return text + ". No cell can learn it."
    if truth.starved:
        return text + (
            f". None of them predicts a box that overlaps it (every metric is 0), so the top {topk} fall on cells outside "
            "it and no cell learns it in this step of training."
        )
    best = truth.candidates[0]
    text += (
        f"; the {sum(picked.values())} with the highest metric are {per_level(picked)}; "
        f"{len(truth.positives)} learn{'s' if len(truth.positives) == 1 else ''} it ({per_level(positives)})"
    )
    taken = sum(1 for c in truth.candidates if c.taken_by is not None)
    if taken:
        text += f", {taken} went to another box they overlap more"
    return text + (
        f". The best, {best.cell.level} cell ({best.cell.row}, {best.cell.col}), predicts the class at {best.score:.2f} "
        f"and a box of CIoU {best.iou:.2f}."
    )


def int8_tradeoff_insight(variants: Sequence, judged: Sequence[str]) -> str:
    """What int8 costs in accuracy and gains in time, and what keeping units in float buys back (`variants`: fp32, int8
    and maybe mixed, as `int8_sensitivity.compare_precisions` returns them). A detector's variants are said by their
    verdict on the judged photos (a cosine near 1 can hide scores that collapsed), a backbone's by the worst cosine."""
    by = {v.name: v for v in variants}
    fp32, int8 = by["fp32"], by["int8"]
    outputs = " and ".join(judged) if len(judged) < 3 else ", ".join(judged[:-1]) + " and " + judged[-1]
    speed = fp32.latency.median_ms / int8.latency.median_ms

    def result(v) -> str:
        if v.verdict is not None:
            return _VERDICT_WORDS[v.verdict.status] + f" (worst cosine {v.worst(judged):.5f})"
        return f"keeps a worst cosine of {v.worst(judged):.5f} with float over {outputs}"

    text = f"Full int8 runs {speed:.2f}× the speed of fp32 ({int8.latency.median_ms:.2f} vs {fp32.latency.median_ms:.2f} ms) "
    text += f"and {result(int8)}"
    weighted = by.get("weighted")
    if weighted is not None:
        text += (
            f"; int8 of the weighted nodes only (Ultralytics' ONNX recipe: Conv, Gemm and MatMul) {result(weighted)} at "
            f"{weighted.latency.median_ms:.2f} ms"
        )
    mixed = by.get("mixed")
    if mixed is None:
        return text + "."
    kept = ", ".join(mixed.kept_float)
    if mixed.verdict is not None:
        change = result(mixed)
    else:
        gain = mixed.worst(judged) - int8.worst(judged)
        verb = "raises it to" if gain > 0 else "leaves it at" if gain == 0 else "lowers it to"
        change = f"{verb} {mixed.worst(judged):.5f}"
    return text + (
        f"; keeping {kept} in float {change} at {mixed.latency.median_ms:.2f} ms "
        f"({fp32.latency.median_ms / mixed.latency.median_ms:.2f}× fp32's speed)."
    )


_VERDICT_WORDS = {
    "passes": "passes a deployer's check",
    "borderline": "differs only at the score threshold",
    "fails": "fails a deployer's check",
    "unjudged": "cannot be judged (no box on the judged photos)",
}


def verdict_insight(verdict, subject: str = "int8") -> str:
    """A variant's verdict on the judged photos as a deployer reads it (`verdict`: an `int8_verdict.Verdict`): what
    fails it first (collapsed scores, then lost or new boxes, then moved scores), then what it keeps, "int8 with 23 in
    float passes on 4 photos it was not calibrated on: keeps all 16 of fp32's boxes (same class, IoU at least 0.9;
    0.94 at worst), finds none new, scores within 0.012 of fp32's (median 0.003)"."""
    from ..deployment.int8_verdict import SCORE_TOLERANCE

    v = verdict
    photos = f"{v.photos} photo{'' if v.photos == 1 else 's'} it was not calibrated on"
    if v.status == "unjudged":
        return (
            f"{subject} cannot be judged on the {photos}: fp32 finds no box there above {v.conf:g}; judge it on photos "
            "with the objects the model was trained to find."
        )
    head = {
        "passes": "passes",
        "fails": "fails",
        "borderline": f"differs from fp32 only at the score threshold ({v.conf:g} ± {SCORE_TOLERANCE:g})",
    }[v.status]
    reasons = []
    if v.collapse is not None:
        c = v.collapse
        reasons.append(
            f"its scores collapse: {c.boxes} of the {v.kept} boxes it keeps score exactly {c.score:.3f}, where fp32 gave "
            f"them {c.low:.3f} to {c.high:.3f}"
        )
    everything = "all " if v.kept == v.reference and v.kept > 1 else ""
    kept = f"keeps {everything}{v.kept} of fp32's {v.reference} boxes (same class, IoU at least {v.iou:g}"
    kept += f"; {v.min_iou:.2f} at worst)" if v.min_iou is not None else ")"
    if v.lost:
        kept += f", loses {len(v.lost)} (fp32 scored {_score_span(v.lost)})"
    kept += f", finds {len(v.new)} new (scored {_score_span(v.new)})" if v.new else ", finds none new"
    if v.pairs:
        kept += f", scores within {v.worst_change:.3f} of fp32's (median {v.median_change:.3f})"
    reasons.append(kept)
    return f"{subject} {head} on {photos}: " + "; ".join(reasons) + "."


def _score_span(scores: Sequence[float]) -> str:
    low, high = min(scores), max(scores)
    return f"{low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f} to {high:.2f}"


def calibration_insight(check, remedy: str) -> str | None:
    """What is wrong with a detector's calibration, in one sentence ending with `remedy` (what to do, in the words of
    the page or the command line), or None when nothing is (`check`: an `int8_verdict.CalibrationCheck`)."""
    if check is None or check.sound:
        return None
    photos = f"{check.photos} calibration photo{'' if check.photos == 1 else 's'}"
    clipped = [
        f"{r.level} at {r.cap:.3f} ({len(r.over)} of fp32's {len(r.scores)} boxes there score more, up to {r.top:.3f})"
        for r in check.clipped
    ]
    reach = (
        f"int8's ranges cap the class scores of {' and '.join(clipped)} on the {check.judged} judged photos, so those "
        "boxes lose their scores"
        if clipped
        else ""
    )
    if check.blind:
        text = (
            f"The {photos} give{'s' if check.photos == 1 else ''} this detector no box above {check.conf:g}: "
            f"{'it shows' if check.photos == 1 else 'they show'} nothing it was trained to find, "
            "so int8's ranges are set on background alone" + (f", and {reach}" if reach else "")
        )
    else:
        text = f"Calibrated on these {check.photos} photo{'' if check.photos == 1 else 's'}, {reach}"
    return f"{text}: {remedy}."


def box_changes_insight(changes) -> str:
    """What one precision makes of fp32's boxes on a photo, "keeps 3 of fp32's 3 boxes at IoU 0.9 or more (0.97 at
    worst), loses 0, finds 0 new" (`changes`: an `int8_verdict.BoxChanges`)."""
    worst = min((iou for *_, iou in changes.kept), default=None)
    return (
        f"keeps {len(changes.kept)} of fp32's {len(changes.kept) + len(changes.lost)} boxes at IoU {changes.iou:g} or more"
        + (f" ({worst:.2f} at worst)" if worst is not None else "")
        + f", loses {len(changes.lost)}, finds {len(changes.new)} new"
    )


NOISY_SPREAD = 0.2  # (p90 - min) / median above this: the timings are noisy


@dataclass(frozen=True)
class Remedies:
    """How the user acts on a timing note, in the words of the page or the command line."""

    more_runs: str  # "more timed runs" / "--iters 200"
    fewer_threads: str  # "fewer CPU threads" / "--threads 1"


def timing_notes(result, load: float | None, cpus: int, remedies: Remedies) -> list[str]:
    """What makes a timing unreliable, each a sentence that ends with what to do: runs spread widely (another
    program shares the device), and a CPU that was busy before the run (its threads then wait on each other's cores:
    a loaded 2-core machine timed a small model 10 to 170 times too slow with 2 threads, right with 1).

    Args:
        result: a `LatencyResult`.
        load: the system's 1-minute load average just before the run (None where the system does not tell).
        cpus: the machine's logical CPUs.
    """
    notes = []
    if result.spread > NOISY_SPREAD:
        notes.append(
            f"Noisy measurement: the runs spread {result.spread:.0%} of the median between the fastest and p90. "
            f"Another program (or user) is probably using the device; run again when it is idle, or with "
            f"{remedies.more_runs}."
        )
    if load is not None and load > 0.5 * cpus and result.device == "cpu":
        threads = "its one thread waits" if result.threads == 1 else f"its {result.threads} threads wait on each other"
        remedy = "" if result.threads == 1 else f", or with {remedies.fewer_threads}"
        notes.append(
            f"The CPU was busy before this run (load {load:.1f} on {cpus} cores): other processes share it, and "
            f"{threads} for cores; the figures may be many times too slow. Time again when the machine is idle{remedy}."
        )
    return notes
