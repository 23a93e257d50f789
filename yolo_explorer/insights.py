"""One sentence under each figure saying what to notice, computed from the numbers of the current
config. A sentence states a pattern only when the numbers show it (every claim is checked here)."""

from __future__ import annotations

from .formatting import human_bytes, human_count, shape_str
from .stats import ModelStats

__all__ = ["cost_insight", "flow_insight", "memory_insight", "receptive_field_insight"]


def flow_insight(stats: ModelStats) -> str:
    """How resolution and channels trade off from the input to the deepest output."""
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
    """Where parameters and MACs sit, and whether the stages cost the same."""
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
    heavy = max(stats.layers, key=lambda s: s.params)
    parts.append(
        f"Parameters do not cancel: they grow about 4× per stage, so {heavy.name} alone holds "
        f"{heavy.params / stats.params:.0%} of the {human_count(stats.params)} parameters but only "
        f"{heavy.macs / stats.macs:.0%} of the MACs."
    )
    return " ".join(parts)


def memory_insight(stats: ModelStats) -> str:
    """Activation memory sits in the early, high-resolution layers."""
    first = stats.layers[0]
    early = sum(s.activation_bytes for s in stats.layers[:3])
    return (
        f"Activation memory is the opposite of parameters: the high-resolution early layers dominate. The first three "
        "outputs take "
        f"{early / stats.activation_bytes:.0%} of the {human_bytes(stats.activation_bytes)} that all ten layer outputs "
        f"need in {stats.dtype} "
        f"({first.name} alone {human_bytes(first.activation_bytes)})."
    )


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
