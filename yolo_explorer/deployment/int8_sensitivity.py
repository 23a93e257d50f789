"""Which layers int8 breaks, and what keeping some in float buys: per-layer sensitivity and mixed precision with ONNX
Runtime's own quantization (its node exclusion lists and its calibration cache).

    lab = Int8Lab.build(model, size=320, photos=photos)   # export, calibration photos apart from judged ones, once
    lab.check()                                        # a detector: can this calibration hold its scores?
    rows = lab.sensitivity(progress=print)             # each unit int8 alone, and everything but it
    mixed = lab.quantize(exclude=lab.most_sensitive(2))    # int8 with the two worst units kept in float
    lab.assess(mixed)                                  # P3/P4/P5 (and a detector's outputs) against float64, and
                                                       # a detector's boxes against fp32's (`int8_verdict`)

A unit is one of the model's layers (its index in the model, as the Overview names it), with two finer cuts where
deployments look: the C2PSA block's attention (layer 10's `m.0.attn`), and the Detect head's box branch (cv2), class
branch (cv3) and box decoding (DFL). The nodes of a unit are found from the names the exporter records for each
ONNX node (`pkg.torch.onnx.name_scopes`); a node it records none for (C3k2's Split) belongs to the unit of its input.
"""

from __future__ import annotations

import ast
import functools
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..detection.detections import PREDICT, Detection, Nms, class_names, detections_from
from ..forward.preprocess import letterbox
from ..model.detector import DetectorOutput
from .accuracy import OutputError, output_error
from .int8_verdict import (
    BoxChanges,
    CalibrationCheck,
    Int8Photos,
    LevelReach,
    Verdict,
    box_changes,
    detections_of,
    int8_photos,
    judge,
    level_of,
    level_tops,
    sigmoid,
    split_photos,
)
from .latency import LatencyRequest, measure
from .onnx_models import CALIBRATORS, OnnxModel, export_onnx, quantize_int8, require
from .onnx_runtime import compare_outputs, reference_outputs, run_onnx
from .timing import LatencyResult

__all__ = [
    "BRANCHES",
    "WEIGHTED_OPS",
    "Int8Lab",
    "Recipe",
    "Sensitivity",
    "Unit",
    "VARIANTS",
    "Variant",
    "compare_precisions",
    "layer_errors",
    "onnx_detections",
    "precision_boxes",
    "units_of",
]

BRANCHES = {"one2many": "decoded", "one2one": "one2one_decoded"}  # a branch -> the output its boxes are read from
WEIGHTED_OPS = frozenset({"Conv", "Gemm", "MatMul"})  # Ultralytics 8.4.190's ONNX int8 quantizes these nodes only

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
    """How int8 is calibrated: ONNX Runtime's calibrator, how many of the calibration photos it sees (the first N; None:
    all), weight scales per channel."""

    calibrator: str = "minmax"
    photos: int | None = None
    per_channel: bool = True

    def __post_init__(self) -> None:
        if self.calibrator not in CALIBRATORS:
            raise ValueError(f"calibrator must be one of {', '.join(CALIBRATORS)}, not {self.calibrator!r}")
        if self.photos is not None and self.photos < 1:
            raise ValueError(f"calibrate on at least 1 photo, not {self.photos}")


@dataclass(frozen=True)
class Sensitivity:
    """One unit's share of int8's error: the outputs' errors with that unit alone in int8 (the rest float), and with
    every unit but it in int8; for a detector also what each does to fp32's boxes on the judged photos."""

    unit: Unit
    alone: tuple[OutputError, ...]
    all_but: tuple[OutputError, ...]
    alone_verdict: Verdict | None = None
    all_but_verdict: Verdict | None = None

    def worst(self, which: str = "alone", outputs: Sequence[str] | None = None) -> float:
        """The lowest cosine similarity over `outputs` (default all; 1 is no error)."""
        return min(e.cosine for e in getattr(self, which) if outputs is None or e.name in outputs)


def layer_errors(rows: Sequence[Sensitivity], outputs: Sequence[str] | None = None) -> dict[str, float]:
    """Each layer's int8 error, as the sensitivity ranking measured it: 1 - the worst cosine over `outputs` (default
    all) with one of its units alone in int8, the rest float; a layer cut finer ("10" and "10.m.0.attn") takes its
    worst unit's."""
    errors: dict[str, float] = {}
    for row in rows:
        layer = row.unit.name.split(".")[0]
        errors[layer] = max(errors.get(layer, 0.0), 1 - row.worst("alone", outputs))
    return errors


@dataclass
class Int8Lab:
    """An exported model, its calibration (ranges computed once, in ONNX Runtime's calibration cache), the photos it is
    judged on (none of them calibrates) and the float64 reference there: every variant quantized from it shares them.

    Attributes:
        fp32: the float export.
        recipe: how it is calibrated.
        units: its units, in layer order.
        photos: the calibration photos and the judged ones.
        nms: the suppression with which a detector's boxes are compared (Ultralytics' predict defaults).
        cache: ONNX Runtime's calibration cache (JSON), written by the first quantization.
        branch: which of an end-to-end head's branches a detector's boxes are read from: "one2many" (through NMS, as
            Ultralytics' predict reads YOLO26 by default) or "one2one" (its top scores, no NMS: YOLO26's export).
    """

    fp32: OnnxModel
    recipe: Recipe
    units: list[Unit]
    photos: Int8Photos = field(repr=False)
    error_batch: np.ndarray = field(repr=False)
    reference: list = field(repr=False)
    nms: Nms = PREDICT
    cache: Path | None = field(repr=False, default=None)
    _folder: tempfile.TemporaryDirectory | None = field(repr=False, default=None)
    _check: CalibrationCheck | None = field(repr=False, default=None)
    step_s: float | None = None  # seconds the last quantization and its error run took (what a sensitivity step costs)
    branch: str = "one2many"

    @classmethod
    def build(
        cls,
        model: nn.Module,
        *,
        size: int | str | Sequence[int] = 640,
        recipe: Recipe = Recipe(),
        photos: Int8Photos | Sequence[np.ndarray] | None = None,
        fp32: OnnxModel | None = None,
        nms: Nms = PREDICT,
        branch: str = "one2many",
    ) -> Int8Lab:
        """Export `model` (unless `fp32` is its export), split the photos (an `Int8Photos` as it is; letterboxed arrays
        by `split_photos`; by default the samples), keep `recipe.photos` of the calibration ones, and compute the
        float64 reference on the judged ones.

        Raises:
            ValueError: fewer calibration photos than the recipe asks for, or none; the one-to-one branch of a model
                without one.
        """
        fp32 = fp32 or export_onnx(model, size=size)
        if branch not in BRANCHES:
            raise ValueError(f"branch must be one of {', '.join(BRANCHES)}, not {branch!r}")
        if branch == "one2one" and "one2one_decoded" not in fp32.outputs:
            raise ValueError(f"{fp32.label} has no one-to-one branch: only an end-to-end head (YOLO26) has")
        if photos is None:
            photos = int8_photos((), size=fp32.size, samples=True)
        elif not isinstance(photos, Int8Photos):
            photos = split_photos([(f"photo {i + 1}", photo) for i, photo in enumerate(photos)])
        photos = photos.first(recipe.photos)
        batch = np.ascontiguousarray(np.concatenate(photos.judged).astype(np.float32))
        folder = tempfile.TemporaryDirectory(prefix="yolo-explorer-int8-")
        return cls(
            fp32=fp32,
            recipe=recipe,
            units=units_of(fp32),
            photos=photos,
            error_batch=batch,
            reference=reference_outputs(model, batch),
            nms=nms,
            cache=Path(folder.name) / "calibration.json",
            _folder=folder,
            branch=branch,
        )

    @property
    def detector(self) -> bool:
        return "decoded" in self.fp32.outputs

    @property
    def decoded(self) -> str:
        """The output a detector's boxes are read from: the branch's decoded boxes and scores."""
        return BRANCHES[self.branch]

    def boxes_of(self, decoded: np.ndarray, nms: Nms | None = None) -> list[list[Detection]]:
        """Each judged photo's boxes from a run's decoded output, read as the lab's branch is read."""
        return detections_of(decoded, nms or self.nms, branch=self.branch)

    @property
    def judged(self) -> tuple[str, ...]:
        """The outputs a deployment ships, by which units are ranked: a detector's decoded boxes and scores (its neck's
        outputs carry the Q/DQ of the head's inputs), a backbone's P3, P4 and P5."""
        if self.detector:
            return ("decoded boxes", "decoded scores")
        return self.fp32.outputs

    def unit(self, name: str) -> Unit:
        """The unit called `name` ("10", "23.cv2")."""
        for unit in self.units:
            if unit.name == name:
                return unit
        shown = ", ".join(u.name for u in self.units)
        raise ValueError(f"no unit {name!r} in {self.fp32.label}: the units are {shown}")

    def quantize(
        self, *, exclude: Sequence[str] = (), only: Sequence[str] | None = None, weighted_only: bool = False
    ) -> OnnxModel:
        """int8 with the units `exclude` kept in float, or with only the units `only` in int8; with `weighted_only`,
        only the nodes with weights (`WEIGHTED_OPS`) in int8, as Ultralytics' own ONNX export quantizes.

        Raises:
            ValueError: a unit that does not exist, or `only` empty.
        """
        if only is not None and not only:
            raise ValueError("name at least one unit to quantize")
        excluded = [node for name in exclude for node in self.unit(name).nodes]
        if weighted_only:
            excluded += [node for node, op in self._op_types.items() if op not in WEIGHTED_OPS]
        chosen = None if only is None else [node for name in only for node in self.unit(name).nodes]
        return quantize_int8(
            self.fp32,
            self.photos.calibrate,
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
        self.assess(self.quantize(only=[self.units[0].name]))
        self.step_s = time.perf_counter() - start
        return self.step_s

    def assess(self, onnx: OnnxModel) -> tuple[list[OutputError], Verdict | None]:
        """One run of `onnx` on the judged photos: each output against the float64 reference (for a detector also the
        two halves of "decoded" apart, "decoded boxes" in pixels and "decoded scores" from 0 to 1: one cosine over the
        whole tensor is the boxes' alone, and would hide scores int8 has lost), and for a detector its boxes against
        fp32's, as a deployer judges them."""
        outputs = self._fp32_outputs if onnx is self.fp32 else run_onnx(onnx, self.error_batch)
        errors = compare_outputs(onnx.outputs, outputs, self.reference)
        if not self.detector:
            return errors, None
        at = onnx.outputs.index(self.decoded)
        ours, ref = outputs[at], self.reference[at]
        errors += compare_outputs(("decoded boxes", "decoded scores"), [ours[:, :4], ours[:, 4:]], [ref[:, :4], ref[:, 4:]])
        boxes = self.boxes_of(ours)
        return errors, judge(self._fp32_boxes, boxes, conf=self.nms.conf)

    @functools.cached_property
    def _op_types(self) -> dict[str, str]:
        require("onnx")
        import onnx

        return {node.name: node.op_type for node in onnx.load_from_string(self.fp32.data).graph.node}

    def decoded_of(self, onnx: OnnxModel) -> np.ndarray:
        """A detector's decoded output (the lab's branch) from `onnx` on the judged photos."""
        if onnx is self.fp32:
            return self._fp32_outputs[self.fp32.outputs.index(self.decoded)]
        return run_onnx(onnx, self.error_batch)[onnx.outputs.index(self.decoded)]

    def errors(self, onnx: OnnxModel) -> list[OutputError]:
        """Each output of `onnx` on the judged photos against the float64 reference (as `assess`)."""
        return self.assess(onnx)[0]

    def verdict(self, onnx: OnnxModel) -> Verdict | None:
        """A detector's boxes from `onnx` against fp32's on the judged photos (None for a backbone)."""
        return self.assess(onnx)[1]

    def layer_drift(self, onnx: OnnxModel) -> dict[str, float]:
        """Where a variant's error builds up: each layer's output in `onnx` against the same tensor of the float export,
        on the judged photos, as 1 - cosine (0: unchanged). A tensor inside an int8 graph is the float its node computes
        from dequantized inputs, before its own rounding. The head, whose outputs are the model's, takes the worst of
        the `judged` outputs; a layer whose output tensor the variant renamed is left out."""
        tensors = self._layer_tensors
        present = _node_outputs(onnx) & set(tensors.values())
        names = [layer for layer, tensor in tensors.items() if tensor in present]
        ours = _run_with(onnx, [tensors[n] for n in names], self.error_batch)
        ref = dict(zip(tensors, _run_with(self.fp32, list(tensors.values()), self.error_batch), strict=True))
        drift = {
            name: 1 - output_error(name, torch.from_numpy(out), torch.from_numpy(ref[name])).cosine
            for name, out in zip(names, ours, strict=True)
        }
        head = self._head_layer
        if head is not None:
            drift[head] = 1 - min(e.cosine for e in self.errors(onnx) if e.name in self.judged)
        return drift

    @functools.cached_property
    def _layer_tensors(self) -> dict[str, str]:
        """Each layer's output tensor in the float export (the last one its nodes hand another layer or the model's
        outputs), in layer order; the head's are the model's outputs (`_head_layer`)."""
        require("onnx")
        import onnx

        graph = onnx.load_from_string(self.fp32.data).graph
        layer_of = {node: unit.name.split(".")[0] for unit in self.units for node in unit.nodes}
        producer = {out: layer_of.get(node.name) for node in graph.node for out in node.output}
        handed = {out for node in graph.node for out in node.input if producer.get(out) not in (None, layer_of.get(node.name))}
        handed |= {o.name for o in graph.output}
        tensors: dict[str, str] = {}
        for node in graph.node:
            layer = layer_of.get(node.name)
            for out in node.output:
                if layer is not None and out in handed:
                    tensors[layer] = out
        head = self._head_layer
        return {layer: tensor for layer, tensor in tensors.items() if layer != head}

    @functools.cached_property
    def _head_layer(self) -> str | None:
        """The layer that computes a detector's decoded output (None for a backbone)."""
        if not self.detector:
            return None
        require("onnx")
        import onnx

        graph = onnx.load_from_string(self.fp32.data).graph
        node = next(n for n in graph.node if self.decoded in n.output)
        return next(unit.name.split(".")[0] for unit in self.units if node.name in unit.nodes)

    @functools.cached_property
    def _fp32_outputs(self) -> list[np.ndarray]:
        return run_onnx(self.fp32, self.error_batch)

    @functools.cached_property
    def _fp32_boxes(self) -> list[list[Detection]]:
        return self.boxes_of(self.decoded_of(self.fp32))

    def check(self) -> CalibrationCheck | None:
        """For a detector, what its calibration can hold (computed once; calibrates first if no variant has): how many
        boxes fp32 finds on the calibration photos, and per level the highest score the calibrated range of its class
        logits allows against the scores of fp32's boxes there on the judged photos. None for a backbone."""
        if not self.detector:
            return None
        if self._check is None:
            photos = self.photos
            calibration, reach = self._calibration_boxes(), self._reach()
            self._check = CalibrationCheck(
                len(photos.calibrate), len(photos.judged), photos.mirrored, calibration, reach, self.nms.conf
            )
        return self._check

    def _levels(self) -> list[tuple[str, int]]:
        """Each level's name and cell count, in Detect's order (from fp32's neck outputs: every output before "boxes",
        "scores" and "decoded")."""
        names = self.fp32.outputs[: self.fp32.outputs.index("boxes")]
        return [(name, int(np.prod(level.shape[2:]))) for name, level in zip(names, self._fp32_outputs, strict=False)]

    def _reach(self) -> tuple[LevelReach, ...]:
        """Per level: the top of the calibrated range of its class logits (ONNX Runtime's calibration cache), as a score,
        and fp32's scores there on the judged photos."""
        if self.cache is None or not self.cache.exists():
            self.quantize(only=[self.units[0].name])  # writes the calibration cache
        ranges = json.loads(self.cache.read_text())["data"]
        levels = self._levels()
        tops = level_tops(self.decoded_of(self.fp32), levels)
        scores: dict[str, list[float]] = {name: [] for name, _ in levels}
        for box in (box for photo in self._fp32_boxes for box in photo):
            scores[level_of(box.anchor, levels)].append(box.score)
        logits = _class_logits(self.fp32, "one2one_scores" if self.branch == "one2one" else "scores")
        highest = [_highest(ranges, tensor, logits.producers) for tensor in logits.tensors]
        return tuple(
            LevelReach(name, sigmoid(top), tops[name], tuple(sorted(scores[name], reverse=True)))
            for (name, _), top in zip(levels, highest, strict=True)
            if top is not None
        )

    def _calibration_boxes(self) -> int:
        """fp32's boxes on the calibration photos (eight photos a run)."""
        found = 0
        for start in range(0, len(self.photos.calibrate), 8):
            batch = np.ascontiguousarray(np.concatenate(self.photos.calibrate[start : start + 8]).astype(np.float32))
            decoded = run_onnx(self.fp32, batch)[self.fp32.outputs.index(self.decoded)]
            found += sum(map(len, self.boxes_of(decoded)))
        return found

    def sensitivity(self, progress: Callable[[int, int, str], None] | None = None) -> list[Sensitivity]:
        """Each unit quantized alone and left out alone: 2 x units quantizations (calibration runs once, before the
        first), each run on the judged photos. `progress(done, total, label)` is called before each."""
        rows = []
        total = 2 * len(self.units)
        start = time.perf_counter()
        for i, unit in enumerate(self.units):
            if progress:
                progress(2 * i, total, unit.label)
            alone, alone_verdict = self.assess(self.quantize(only=[unit.name]))
            if progress:
                progress(2 * i + 1, total, unit.label)
            all_but, all_but_verdict = self.assess(self.quantize(exclude=[unit.name]))
            rows.append(Sensitivity(unit, tuple(alone), tuple(all_but), alone_verdict, all_but_verdict))
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


def _node_outputs(model: OnnxModel) -> set[str]:
    require("onnx")
    import onnx

    return {out for node in onnx.load_from_string(model.data).graph.node for out in node.output}


def _run_with(model: OnnxModel, tensors: Sequence[str], batch: np.ndarray) -> list[np.ndarray]:
    """`tensors` of `model` (inner ones made outputs of a copy) on `batch`."""
    require("onnx")
    import onnx

    proto = onnx.load_from_string(model.data)
    del proto.graph.output[:]
    proto.graph.output.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in tensors)
    copy = replace(model, data=proto.SerializeToString(), outputs=tuple(tensors))
    return run_onnx(copy, batch)


@dataclass(frozen=True)
class _Logits:
    tensors: tuple[str, ...]  # per level, the tensor of its class logits
    producers: dict[str, object]


def _class_logits(fp32: OnnxModel, output: str = "scores") -> _Logits:
    """The class logits of each level in a detector's graph: the inputs of the Concat that makes the `output` scores."""
    import onnx

    graph = onnx.load_from_string(fp32.data).graph
    producers = {out: node for node in graph.node for out in node.output}
    scores = producers.get(output)
    return _Logits(tuple(scores.input) if scores is not None and scores.op_type == "Concat" else (), producers)


def _highest(ranges: dict, tensor: str, producers: dict) -> float | None:
    """The top of the calibrated range of `tensor`, or of the tensor it reshapes (calibration records one of them)."""
    for _ in range(4):
        if tensor in ranges:
            return float(np.asarray(ranges[tensor]["highest"]["data"]).max())
        node = producers.get(tensor)
        if node is None or node.op_type not in ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"):
            return None
        tensor = node.input[0]
    return None


@dataclass(frozen=True)
class Variant:
    """One precision of the same export, timed and checked: "fp32", "int8", "weighted" (int8 of the nodes with weights
    only, Ultralytics' own ONNX recipe: the head's decoding and every other node stay float), or "mixed" (int8 with
    `kept_float` in float)."""

    name: str
    kept_float: tuple[str, ...]
    onnx: OnnxModel = field(repr=False)
    errors: tuple[OutputError, ...]
    latency: LatencyResult
    verdict: Verdict | None = None  # a detector's boxes against fp32's on the judged photos

    def worst(self, outputs: Sequence[str] | None = None) -> float:
        return min(e.cosine for e in self.errors if outputs is None or e.name in outputs)

    @property
    def subject(self) -> str:
        """How a sentence names it: "int8", "int8 with 23, 22 in float", "int8 of the weighted nodes only"."""
        if self.name == "weighted":
            return "int8 of the weighted nodes only (Ultralytics' recipe)"
        return self.name if not self.kept_float else f"int8 with {', '.join(self.kept_float)} in float"


VARIANTS = ("fp32", "int8", "weighted", "mixed")  # in the order `compare_precisions` gives them


def compare_precisions(
    lab: Int8Lab,
    model: nn.Module,
    request: LatencyRequest,
    keep: Sequence[str],
    *,
    on_progress: Callable[[str], None] | None = None,
) -> list[Variant]:
    """fp32, full int8, int8 of the weighted nodes only (Ultralytics' ONNX export: `WEIGHTED_OPS`) and (with `keep`)
    int8 with those units in float: each one's errors against float64, a detector's verdict on the judged photos, and
    its latency, timed alike (`request`'s batch, counts and threads; ONNX Runtime)."""
    chosen = [("fp32", (), lab.fp32), ("int8", (), lab.quantize()), ("weighted", (), lab.quantize(weighted_only=True))]
    if keep:
        chosen.append(("mixed", tuple(keep), lab.quantize(exclude=keep)))
    variants = []
    for name, kept, onnx in chosen:
        if on_progress:
            on_progress(name)
        timed = replace(request, runtime="onnxruntime", dtype="fp32" if name == "fp32" else "int8", batches=request.batches[:1])
        (latency,) = measure(model, timed, onnx=onnx)
        errors, verdict = lab.assess(onnx)
        variants.append(Variant(name, kept, onnx, tuple(errors), latency, verdict))
    return variants


def onnx_detections(onnx: OnnxModel, image, names: Sequence[str] | None = None, nms: Nms = PREDICT) -> tuple[Detection, ...]:
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
    neck = tuple(tensor[name] for name in onnx.outputs[: onnx.outputs.index("boxes")])
    output = DetectorOutput(neck, tensor["boxes"], tensor["scores"], tensor["decoded"])
    names = class_names(tensor["scores"].shape[1], names)
    return detections_from(output, box, names, nms).detections


def precision_boxes(variants: Sequence[Variant], image, names: Sequence[str] | None = None) -> dict[str, BoxChanges]:
    """What each precision other than fp32 keeps, loses and adds of fp32's boxes on a photo (`variants` as
    `compare_precisions` returns them, fp32 first), matched as a deployer matches them (`MATCH_IOU`)."""
    found = {v.name: onnx_detections(v.onnx, image, names) for v in variants}
    return {name: box_changes(found["fp32"], boxes) for name, boxes in found.items() if name != "fp32"}
