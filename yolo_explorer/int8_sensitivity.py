"""Which layers int8 breaks, and what keeping some in float buys: per-layer sensitivity and mixed precision with ONNX
Runtime's own quantization (its node exclusion lists and its calibration cache).

    lab = Int8Lab.build(model, size=320)               # export, calibration and the float64 reference, once
    rows = lab.sensitivity(progress=print)             # each unit int8 alone, and everything but it
    mixed = lab.quantize(exclude=lab.most_sensitive(2))    # int8 with the two worst units kept in float
    lab.errors(mixed)                                  # P3/P4/P5 (and a detector's outputs) against float64

A unit is one of the model's layers (its index in the model, as the Overview names it), with two finer cuts where
deployments look: the C2PSA block's attention (layer 10's `m.0.attn`), and the Detect head's box branch (cv2), class
branch (cv3) and box decoding (DFL). The nodes of a unit are found from the names the exporter records for each
ONNX node (`pkg.torch.onnx.name_scopes`); a node it records none for (C3k2's Split) belongs to the unit of its input.
"""

from __future__ import annotations

import ast
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .detections import Detection, class_names, detections_from
from .detector import DetectorOutput
from .latency import LatencyRequest, measure
from .object_size import box_iou
from .onnx_models import CALIBRATORS, OnnxModel, calibration_images, error_images, export_onnx, quantize_int8, require
from .onnx_runtime import OutputError, compare_outputs, reference_outputs, run_onnx
from .preprocess import letterbox
from .timing import LatencyResult

__all__ = [
    "BoxChanges",
    "Int8Lab",
    "Recipe",
    "Sensitivity",
    "Unit",
    "Variant",
    "box_changes",
    "compare_precisions",
    "onnx_detections",
    "precision_boxes",
    "units_of",
]

# the finer cuts, by block type: module name inside the block -> what it is
FINER = {
    "C2PSA": {"m.0.attn": "attention"},
    "Detect": {"cv2": "box branch", "cv3": "class branch", "dfl": "box decoding (DFL)"},
}
REST = {"Detect": "outputs (anchors, strides, sigmoid, concat)"}  # what is left of a block after its finer cuts


@dataclass(frozen=True)
class Unit:
    """A part of the model int8 can be switched on or off for: `name` as the model's modules are named ("10",
    "10.m.0.attn", "23.cv2"), its block type, and the ONNX nodes that compute it."""

    name: str
    kind: str
    nodes: tuple[str, ...] = field(repr=False)

    @property
    def label(self) -> str:
        return f"{self.name} {self.kind}"


def _scopes(node) -> list[str] | None:
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                return [s for s in ast.literal_eval(prop.value) if isinstance(s, str)]
            except (ValueError, SyntaxError):
                return None
    return None


def units_of(fp32: OnnxModel, kinds: dict[str, str] | None = None) -> list[Unit]:
    """The model's units, in the order of its layers, each with its ONNX nodes.

    Args:
        kinds: block type by layer index ("10": "C2PSA"); default from the node metadata's class names.
    """
    require("onnx")
    import onnx

    graph = onnx.load_from_string(fp32.data).graph
    producer: dict[str, str] = {}
    owner: dict[str, str] = {}
    kind_of: dict[str, str] = dict(kinds or {})
    for node in graph.node:
        scopes = _scopes(node)
        unit = None
        if scopes and len(scopes) > 1:
            layer = scopes[1]
            if layer not in kind_of:
                kind_of[layer] = _class_name(node) or "layer"
            unit = layer
            cuts = FINER.get(kind_of[layer], {})
            for deeper in scopes[2:]:
                rest = deeper[len(layer) + 1 :] if deeper.startswith(layer + ".") else ""
                finer = next((f for f in cuts if rest == f or rest.startswith(f + ".")), None)
                if finer is not None:
                    unit = f"{layer}.{finer}"
                    break
        if unit is None:  # no scope recorded: the unit of its first input that has one
            unit = next((producer[i] for i in node.input if i in producer), None)
        if unit is None:
            continue
        owner[node.name] = unit
        for output in node.output:
            producer[output] = unit
    nodes: dict[str, list[str]] = {}
    for node, unit in owner.items():
        nodes.setdefault(unit, []).append(node)

    def order(name: str) -> tuple[int, str]:
        head = name.split(".")[0]
        return (int(head) if head.isdigit() else 10**6, name)

    result = []
    for name in sorted(nodes, key=order):
        layer, _, finer = name.partition(".")
        kind = kind_of.get(layer, "layer")
        what = FINER[kind][finer] if finer else REST.get(kind) if any(n.startswith(layer + ".") for n in nodes) else None
        result.append(Unit(name, f"{kind} {what}" if what else kind, tuple(nodes[name])))
    return result


def _class_name(node) -> str | None:
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.class_hierarchy":
            try:
                classes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return None
            return classes[1].rsplit(".", 1)[-1] if len(classes) > 1 else None
    return None


@dataclass(frozen=True)
class Recipe:
    """How int8 is calibrated: ONNX Runtime's calibrator, the calibration photos used, weight scales per channel."""

    calibrator: str = "minmax"
    photos: int = 4  # the first N of the calibration photos
    per_channel: bool = True

    def __post_init__(self) -> None:
        if self.calibrator not in CALIBRATORS:
            raise ValueError(f"calibrator must be one of {', '.join(CALIBRATORS)}, not {self.calibrator!r}")
        if self.photos < 1:
            raise ValueError(f"calibrate on at least 1 photo, not {self.photos}")


@dataclass(frozen=True)
class Sensitivity:
    """One unit's share of int8's error: the outputs' errors with that unit alone in int8 (the rest float), and with
    every unit but it in int8."""

    unit: Unit
    alone: tuple[OutputError, ...]
    all_but: tuple[OutputError, ...]

    def worst(self, which: str = "alone", outputs: Sequence[str] | None = None) -> float:
        """The lowest cosine similarity over `outputs` (default all; 1 is no error)."""
        return min(e.cosine for e in getattr(self, which) if outputs is None or e.name in outputs)


@dataclass
class Int8Lab:
    """An exported model, its calibration (ranges computed once, in ONNX Runtime's calibration cache) and the float64
    reference on the error photos: every variant quantized from it shares them.

    Attributes:
        fp32: the float export.
        recipe: how it is calibrated.
        units: its units, in layer order.
        cache: ONNX Runtime's calibration cache (JSON), written by the first quantization.
    """

    fp32: OnnxModel
    recipe: Recipe
    units: list[Unit]
    photos: list[np.ndarray] = field(repr=False)
    error_batch: np.ndarray = field(repr=False)
    reference: list = field(repr=False)
    cache: Path | None = field(repr=False, default=None)
    _folder: tempfile.TemporaryDirectory | None = field(repr=False, default=None)
    step_s: float | None = None  # seconds the last quantization and its error run took (what a sensitivity step costs)

    @classmethod
    def build(
        cls,
        model: nn.Module,
        *,
        size: int | str | Sequence[int] = 640,
        recipe: Recipe = Recipe(),
        photos: Sequence[np.ndarray] | None = None,
        fp32: OnnxModel | None = None,
    ) -> Int8Lab:
        """Export `model` (unless `fp32` is its export), keep `recipe.photos` of the calibration photos (the samples by
        default), and compute the float64 reference on the mirrored samples.

        Raises:
            ValueError: fewer calibration photos than the recipe asks for.
        """
        fp32 = fp32 or export_onnx(model, size=size)
        photos = list(photos) if photos is not None else calibration_images(fp32.size)
        if len(photos) < recipe.photos:
            raise ValueError(f"the recipe calibrates on {recipe.photos} photos, and there are {len(photos)}")
        batch = error_images(fp32.size)
        folder = tempfile.TemporaryDirectory(prefix="yolo-explorer-int8-")
        return cls(
            fp32=fp32,
            recipe=recipe,
            units=units_of(fp32),
            photos=photos[: recipe.photos],
            error_batch=batch,
            reference=reference_outputs(model, batch),
            cache=Path(folder.name) / "calibration.json",
            _folder=folder,
        )

    @property
    def judged(self) -> tuple[str, ...]:
        """The outputs a deployment ships, by which units are ranked: a detector's decoded boxes and scores (its neck's
        outputs carry the Q/DQ of the head's inputs), a backbone's P3, P4 and P5."""
        if "decoded" in self.fp32.outputs:
            return ("decoded boxes", "decoded scores")
        return self.fp32.outputs

    def unit(self, name: str) -> Unit:
        """The unit called `name` ("10", "23.cv2")."""
        for unit in self.units:
            if unit.name == name:
                return unit
        shown = ", ".join(u.name for u in self.units)
        raise ValueError(f"no unit {name!r} in {self.fp32.label}: the units are {shown}")

    def quantize(self, *, exclude: Sequence[str] = (), only: Sequence[str] | None = None) -> OnnxModel:
        """int8 with the units `exclude` kept in float, or with only the units `only` in int8.

        Raises:
            ValueError: a unit that does not exist, or `only` empty.
        """
        if only is not None and not only:
            raise ValueError("name at least one unit to quantize")
        excluded = [node for name in exclude for node in self.unit(name).nodes]
        chosen = None if only is None else [node for name in only for node in self.unit(name).nodes]
        return quantize_int8(
            self.fp32,
            self.photos,
            calibrator=self.recipe.calibrator,
            per_channel=self.recipe.per_channel,
            exclude=excluded,
            only=chosen,
            cache=self.cache,
        )

    def estimate_s(self) -> float | None:
        """About how long `sensitivity` takes, from the last quantization and error run (None before any)."""
        return None if self.step_s is None else 2 * len(self.units) * self.step_s

    def probe(self) -> float:
        """Time one sensitivity step (the first unit alone in int8, and its errors; calibration, the first time, is not
        counted): `estimate_s` then knows what the whole costs here. Returns the step's seconds."""
        self.quantize(only=[self.units[0].name])  # calibrates the first time
        start = time.perf_counter()
        self.errors(self.quantize(only=[self.units[0].name]))
        self.step_s = time.perf_counter() - start
        return self.step_s

    def errors(self, onnx: OnnxModel) -> list[OutputError]:
        """Each output of `onnx` on the mirrored samples against the float64 reference; for a detector also the two
        halves of "decoded" apart ("decoded boxes" in pixels, "decoded scores" from 0 to 1): one cosine over the whole
        tensor is the boxes' alone, and would hide scores int8 has lost."""
        outputs = run_onnx(onnx, self.error_batch)
        errors = compare_outputs(onnx.outputs, outputs, self.reference)
        if "decoded" in onnx.outputs:
            at = onnx.outputs.index("decoded")
            ours, ref = outputs[at], self.reference[at]
            errors += compare_outputs(("decoded boxes", "decoded scores"), [ours[:, :4], ours[:, 4:]], [ref[:, :4], ref[:, 4:]])
        return errors

    def sensitivity(self, progress: Callable[[int, int, str], None] | None = None) -> list[Sensitivity]:
        """Each unit quantized alone and left out alone: 2 x units quantizations (calibration runs once, before the
        first), each run on the error photos. `progress(done, total, label)` is called before each."""
        rows = []
        total = 2 * len(self.units)
        start = time.perf_counter()
        for i, unit in enumerate(self.units):
            if progress:
                progress(2 * i, total, unit.label)
            alone = self.errors(self.quantize(only=[unit.name]))
            if progress:
                progress(2 * i + 1, total, unit.label)
            all_but = self.errors(self.quantize(exclude=[unit.name]))
            rows.append(Sensitivity(unit, tuple(alone), tuple(all_but)))
        self.step_s = (time.perf_counter() - start) / total
        if progress:
            progress(total, total, "")
        return rows

    def most_sensitive(self, k: int, rows: Sequence[Sensitivity] | None = None) -> list[str]:
        """The `k` units whose int8 alone costs most (the lowest cosine of the `judged` outputs), worst first.

        Raises:
            ValueError: k below 1 or above the unit count.
        """
        if not 1 <= k <= len(self.units):
            raise ValueError(f"keep 1 to {len(self.units)} units in float, not {k}")
        rows = rows if rows is not None else self.sensitivity()
        return [row.unit.name for row in sorted(rows, key=lambda r: r.worst("alone", self.judged))[:k]]


@dataclass(frozen=True)
class Variant:
    """One precision of the same export, timed and checked: "fp32", "int8", or "mixed" (int8 with `kept_float` in
    float)."""

    name: str
    kept_float: tuple[str, ...]
    onnx: OnnxModel = field(repr=False)
    errors: tuple[OutputError, ...]
    latency: LatencyResult

    def worst(self, outputs: Sequence[str] | None = None) -> float:
        return min(e.cosine for e in self.errors if outputs is None or e.name in outputs)


def compare_precisions(
    lab: Int8Lab,
    model: nn.Module,
    request: LatencyRequest,
    keep: Sequence[str],
    *,
    on_progress: Callable[[str], None] | None = None,
) -> list[Variant]:
    """fp32, full int8 and (with `keep`) int8 with those units in float: each one's errors against float64 and its
    latency, timed alike (`request`'s batch, counts and threads; ONNX Runtime)."""
    chosen = [("fp32", (), lab.fp32), ("int8", (), lab.quantize())]
    if keep:
        chosen.append(("mixed", tuple(keep), lab.quantize(exclude=keep)))
    variants = []
    for name, kept, onnx in chosen:
        if on_progress:
            on_progress(name)
        timed = replace(request, runtime="onnxruntime", dtype="fp32" if name == "fp32" else "int8", batches=request.batches[:1])
        (latency,) = measure(model, timed, onnx=onnx)
        errors = lab.errors(onnx)
        variants.append(Variant(name, kept, onnx, tuple(errors), latency))
    return variants


@dataclass(frozen=True)
class BoxChanges:
    """How another precision's boxes compare with float's on one photo: matched pairs (same class, IoU at least the
    threshold, best first), float's boxes it lost, and boxes it found that float did not."""

    kept: tuple[tuple[Detection, Detection, float], ...]
    lost: tuple[Detection, ...]
    new: tuple[Detection, ...]


def box_changes(reference: Sequence[Detection], other: Sequence[Detection], iou: float = 0.5) -> BoxChanges:
    """Greedy matching: each of float's boxes, best score first, takes the unmatched box of its class that overlaps it
    most, when that IoU is at least `iou`."""
    free = list(other)
    kept, lost = [], []
    for ref in sorted(reference, key=lambda d: -d.score):
        candidates = [(box_iou(ref.box, o.box), i) for i, o in enumerate(free) if o.class_id == ref.class_id]
        best = max(candidates, default=(0.0, -1))
        if best[0] >= iou:
            kept.append((ref, free.pop(best[1]), best[0]))
        else:
            lost.append(ref)
    return BoxChanges(tuple(kept), tuple(lost), tuple(free))


def onnx_detections(
    onnx: OnnxModel, image, names: Sequence[str] | None = None, *, conf: float = 0.25, iou: float = 0.7
) -> tuple[Detection, ...]:
    """A detector's ONNX export on a photo: letterboxed to the export's size, run in ONNX Runtime, suppressed and
    mapped back as `detections.detect` does with torch.

    Raises:
        ValueError: an export without a detector's outputs.
    """
    if "decoded" not in onnx.outputs:
        raise ValueError(f"{onnx.label} is a backbone: it has no boxes")
    box = letterbox(image, onnx.size)
    outputs = dict(zip(onnx.outputs, run_onnx(onnx, box.tensor().numpy()), strict=True))
    tensor = {name: torch.from_numpy(value) for name, value in outputs.items()}
    neck = tuple(tensor[name] for name in onnx.outputs[:3])
    output = DetectorOutput(neck, tensor["boxes"], tensor["scores"], tensor["decoded"])
    names = class_names(tensor["scores"].shape[1], names)
    return detections_from(output, box, names, conf=conf, iou=iou).detections


def precision_boxes(variants: Sequence[Variant], image, names: Sequence[str] | None = None) -> dict[str, BoxChanges]:
    """What each precision other than fp32 keeps, loses and adds of fp32's boxes on a photo (`variants` as
    `compare_precisions` returns them, fp32 first)."""
    found = {v.name: onnx_detections(v.onnx, image, names) for v in variants}
    return {name: box_changes(found["fp32"], boxes) for name, boxes in found.items() if name != "fp32"}
