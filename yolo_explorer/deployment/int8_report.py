"""int8 of one detector as a deployer would want it summed up, so that two families can stand side by side (YOLO11
with DFL beside YOLO26 without): the calibration's check, and for fp32, full int8, Ultralytics' own recipe (the nodes
with weights only) and, once the units are ranked, the fewest most sensitive units kept in float that pass: each
one's verdict on the judged photos, its scores against fp32's cell by cell, and the score threshold it wants.

    lab = Int8Lab.build(model, fp32=fp32, photos=photos, branch="one2one")
    report = int8_report(lab, lab.sensitivity())
    report.precision("int8").spread.compression, report.precision("weighted").sweep.best.conf
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .int8_scores import THRESHOLDS, ScoreSpread, Sweep, score_spread, threshold_sweep
from .int8_sensitivity import Int8Lab, Sensitivity
from .int8_verdict import CalibrationCheck, Verdict

__all__ = ["MAX_KEEP", "Int8Report", "PrecisionScores", "int8_report", "precision_scores"]

WEIGHTED_SUBJECT = "int8 of the weighted nodes only (Ultralytics' recipe)"
MAX_KEEP = 3  # the most units the report keeps in float looking for a variant that passes


@dataclass(frozen=True)
class PrecisionScores:
    """One precision of the lab's export on the judged photos.

    Attributes:
        name: "fp32", "int8", "weighted" (the nodes with weights only) or "mixed".
        subject: how a sentence names it.
        verdict: its boxes against fp32's (None for fp32).
        spread: its scores against fp32's, cell by cell (None for fp32).
        sweep: its boxes over each threshold against the truth, or against fp32's boxes at the lab's threshold.
    """

    name: str
    subject: str
    kept_float: tuple[str, ...]
    verdict: Verdict | None
    spread: ScoreSpread | None
    sweep: Sweep

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kept_float": list(self.kept_float),
            "verdict": self.verdict.to_dict() if self.verdict else None,
            "scores": self.spread.to_dict() if self.spread else None,
            "thresholds": self.sweep.to_dict(),
        }


@dataclass(frozen=True)
class Int8Report:
    """A detector's int8, summed up (`int8_report`).

    Attributes:
        model: the export's label; branch: the branch its boxes are read from.
        check: what the calibration can hold.
        precisions: fp32 first, then full int8, the weighted nodes only, and (once ranked) mixed.
        ranked: the units were ranked by sensitivity; keep: the units "mixed" keeps in float (the fewest of the most
            sensitive that pass, up to `MAX_KEEP`; the `MAX_KEEP` most sensitive when none pass).
    """

    model: str
    branch: str
    size: tuple[int, int]
    calibrated: tuple[str, ...]
    judged: tuple[str, ...]
    check: CalibrationCheck | None
    precisions: tuple[PrecisionScores, ...]
    ranked: bool
    keep: tuple[str, ...] = ()

    def precision(self, name: str) -> PrecisionScores:
        for p in self.precisions:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def against(self) -> str:
        return self.precisions[0].sweep.against

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "branch": self.branch,
            "input_size": list(self.size),
            "photos": {"calibrated": list(self.calibrated), "judged": list(self.judged)},
            "calibration": self.check.to_dict() if self.check else None,
            "thresholds_against": self.against,
            "ranked": self.ranked,
            "keep_float": list(self.keep),
            "precisions": [p.to_dict() for p in self.precisions],
        }


def precision_scores(lab: Int8Lab, name: str, subject: str, onnx, kept: Sequence[str] = ()) -> PrecisionScores:
    """One precision of `lab`'s export: its verdict, its scores against fp32's and its threshold sweep (the boxes read
    once at the lowest threshold)."""
    decoded = lab.decoded_of(onnx)
    fp32 = lab.decoded_of(lab.fp32)
    truths = lab.photos.judged_truths
    if truths is not None:
        targets, against = truths, "truth"
    else:
        targets, against = lab.boxes_of(fp32), f"fp32 at {lab.nms.conf:g}"
    low = replace(lab.nms, conf=min(THRESHOLDS))
    sweep = threshold_sweep(lab.boxes_of(decoded, low), targets, against=against)
    if onnx is lab.fp32:
        return PrecisionScores(name, subject, tuple(kept), None, None, sweep)
    verdict = lab.verdict(onnx)
    return PrecisionScores(name, subject, tuple(kept), verdict, score_spread(fp32, decoded, conf=lab.nms.conf), sweep)


def int8_report(lab: Int8Lab, rows: Sequence[Sensitivity] | None = None, *, max_keep: int = MAX_KEEP) -> Int8Report:
    """fp32, full int8 and the weighted nodes only; with `rows` (the lab's sensitivity) also int8 with the fewest of
    the most sensitive units in float that pass, trying 1 to `max_keep` of them.

    Raises:
        ValueError: a backbone's lab (no boxes to judge).
    """
    if not lab.detector:
        raise ValueError(f"{lab.fp32.label} is a backbone: int8's report judges a detector's boxes")
    check = lab.check()
    precisions = [
        precision_scores(lab, "fp32", "fp32", lab.fp32),
        precision_scores(lab, "int8", "int8", lab.quantize()),
        precision_scores(lab, "weighted", WEIGHTED_SUBJECT, lab.quantize(weighted_only=True)),
    ]
    keep: tuple[str, ...] = ()
    if rows:
        for k in range(1, min(max_keep, len(lab.units)) + 1):
            keep = tuple(lab.most_sensitive(k, rows))
            mixed = precision_scores(lab, "mixed", f"int8 with {', '.join(keep)} in float", lab.quantize(exclude=keep), keep)
            if mixed.verdict is not None and mixed.verdict.status == "passes":
                break
        precisions.append(mixed)
    photos = lab.photos
    return Int8Report(
        lab.fp32.label, lab.branch, lab.fp32.size, photos.calibrate_labels, photos.judged_labels, check,
        tuple(precisions), bool(rows), keep,
    )  # fmt: skip
