"""Numbers for people: 25624128 -> "25.6 M", bytes -> "97.7 MiB", shapes -> "256×80×80"."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from ..deployment.timing import LatencyResult
from ..model.stats import ModelStats

__all__ = [
    "STATS_COLUMNS",
    "escape_markdown",
    "human_bytes",
    "human_count",
    "human_ms",
    "latency_report",
    "photo_list",
    "shape_str",
    "stats_csv",
    "stats_rows",
    "stats_table",
]

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def human_count(n: float, digits: int = 3) -> str:
    """A count with an SI suffix and `digits` significant digits: 25624128 -> "25.6 M"."""
    for factor, suffix in _SI:
        if abs(n) >= factor:
            return f"{_significant(n / factor, digits)} {suffix}"
    return f"{n:,.0f}" if float(n).is_integer() else _significant(n, digits)


def photo_list(labels: Sequence[str], shown: int = 4) -> str:
    """How many photos and which: "5 photos (a.jpg, b.jpg, c.jpg, d.jpg and 1 more)"."""
    names = ", ".join(labels[:shown]) + (f" and {len(labels) - shown} more" if len(labels) > shown else "")
    return f"{len(labels)} photo{'' if len(labels) == 1 else 's'} ({names})"


def human_bytes(n: float) -> str:
    """Bytes in binary units: 102496512 -> "97.7 MiB"."""
    for factor, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= factor:
            return f"{_significant(n / factor, 3)} {suffix}"
    return f"{n:.0f} B"


def human_ms(ms: float) -> str:
    """A duration in milliseconds, to three significant digits, as ms or s."""
    return f"{_significant(ms / 1000, 3)} s" if ms >= 1000 else f"{_significant(ms, 3)} ms"


def latency_report(results: Sequence[LatencyResult], label: str, *, calibrated: bool = False) -> str:
    """The lines `latency` prints for a run (one line per batch size), torch or ONNX Runtime alike.

    Args:
        results: one run per batch size, of one model, size, mode and device.
        label: the model's label.
        calibrated: random weights whose BatchNorm statistics were set from the sample photos first (ONNX Runtime).
    """
    first = results[0]
    h, w = first.input_size
    engine = "" if first.runtime == "onnxruntime" else f", torch {first.torch}"
    threads = "1 thread" if first.threads == 1 else f"{first.threads} threads"
    lines = [f"{label}, {h}x{w} (HxW), {first.mode} on {first.device_name}{engine}, {threads}"]
    if first.runtime == "onnxruntime":
        note = "; random weights: BatchNorm statistics set from the sample photos first" if calibrated else ""
        lines.append(f"export {first.export_s:.1f} s, session {first.compile_s:.1f} s, before timing{note}")
    elif first.compile_s:
        lines.append(f"compile/capture {first.compile_s:.1f} s before timing (not in the figures below)")
    for r in results:
        lines.append(
            f"batch {r.batch:>4}: median {human_ms(r.median_ms)}  p90 {human_ms(r.p90_ms)}  min {human_ms(r.min_ms)}  "
            f"{r.images_per_s:,.1f} images/s  {r.tflops:.3g} TFLOP/s  ({len(r.times_ms)} runs after {r.warmup} warm-up)"
        )
    return "\n".join(lines)


def escape_markdown(text: str) -> str:
    """Text from a file (a class name, a file name) made literal in Markdown: every ASCII punctuation character is
    backslash-escaped (CommonMark allows it for all of them), so no emphasis, link, HTML tag, LaTeX or Streamlit
    directive (":red[...]", ":material/...:") can come of it."""
    return "".join(f"\\{c}" if c in _PUNCTUATION else c for c in text)


_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def shape_str(shape: Sequence[int]) -> str:
    """(256, 80, 80) -> "256×80×80"."""
    return "×".join(str(s) for s in shape)


def _significant(x: float, digits: int) -> str:
    if x == 0:
        return "0"
    whole = len(str(int(abs(x)))) if abs(x) >= 1 else 1
    return f"{x:.{max(digits - whole, 0)}f}"


def stats_table(stats: ModelStats) -> str:
    """An aligned text table of the per-layer statistics with human units, and a total row."""
    header = ("layer", "block", "params", "output C×H×W", "stride", "MACs", "FLOPs", "act. memory", "RF px", "out")
    rows = [
        (
            s.name,
            s.block,
            f"{s.params:,}",
            shape_str(s.output_shape),
            str(s.stride),
            human_count(s.macs),
            human_count(s.flops),
            human_bytes(s.activation_bytes),
            str(s.receptive_field),
            s.feature,
        )
        for s in stats.layers
    ]
    rows.append(
        (
            "total",
            "",
            f"{stats.params:,}",
            "",
            "",
            human_count(stats.macs),
            human_count(stats.flops),
            human_bytes(stats.activation_bytes),
            "",
            "",
        )
    )
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    right = {2, 4, 5, 6, 7, 8}  # numeric columns align right

    def line(row: Sequence[str]) -> str:
        cells = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    body = [line(header), rule, *(line(r) for r in rows[:-1]), rule, line(rows[-1])]
    c, h, w = stats.input_shape
    fields = ", ".join(f"{k} {v}" for k, v in stats.config.items() if k != "arch")
    title = f"{stats.config.get('arch', 'backbone')} ({fields}), input {c}×{h}×{w}, {stats.dtype}, batch 1"
    return "\n".join([title, *body, *(f"note: {n}" for n in stats.notes)])


STATS_COLUMNS = (
    "layer",
    "block",
    "output",
    "params",
    "output shape",
    "stride",
    "MACs",
    "FLOPs",
    "activation bytes",
    "receptive field px",
)


def stats_rows(stats: ModelStats) -> list[dict[str, object]]:
    """One plain row per layer and a total row: exact numbers, for tables and CSV."""
    rows: list[dict[str, object]] = [
        {
            "layer": s.name,
            "block": s.block,
            "output": s.feature,
            "params": s.params,
            "output shape": shape_str(s.output_shape),
            "stride": s.stride,
            "MACs": s.macs,
            "FLOPs": s.flops,
            "activation bytes": s.activation_bytes,
            "receptive field px": s.receptive_field,
        }
        for s in stats.layers
    ]
    for part, totals in stats.part_totals().items():  # a detector's backbone, neck and head
        rows.append(
            {
                "layer": f"{part} total",
                "block": "",
                "output": "",
                "params": totals["params"],
                "output shape": "",
                "stride": None,
                "MACs": totals["macs"],
                "FLOPs": 2 * totals["macs"],
                "activation bytes": totals["activation_bytes"],
                "receptive field px": None,
            }
        )
    rows.append(
        {
            "layer": "total",
            "block": "",
            "output": "",
            "params": stats.params,
            "output shape": "",
            "stride": None,
            "MACs": stats.macs,
            "FLOPs": stats.flops,
            "activation bytes": stats.activation_bytes,
            "receptive field px": None,
        }
    )
    return rows


def stats_csv(stats: ModelStats) -> str:
    """The per-layer table as CSV (exact integers, a total row last)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=STATS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(stats_rows(stats))
    return buffer.getvalue()
