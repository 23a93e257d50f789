"""A whole detector of any family: the backbone, the neck and the Detect head (YOLO11: layers 0-10, 11-22 and 23),
named by Ultralytics' layer index so that a trained detection checkpoint's `model.16.cv1.conv.weight` is this
model's `16.cv1.conv.weight`.

    detector = build_detector("yolo26n")
    out = detector(x)                       # DetectorOutput
    out.neck                                # (P3, P4, P5): the inputs of Detect (YOLO26: layers 16, 19 and 22)
    out.boxes, out.scores, out.decoded      # (B, 4 x reg_max, A), (B, nc, A), (B, 4 + nc, A): the one-to-many branch
    out.one2one                             # YOLO26's one-to-one branch (boxes, scores, decoded), else None

`build_model(config)` builds whichever a config describes, a backbone or a detector.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import torch

from .backbone import Backbone, build_backbone, build_block, instantiate
from .config import COCO_CLASS_COUNT, PYRAMID, BackboneConfig, make_config
from .head import HeadOutput

__all__ = ["Detector", "DetectorOutput", "build_detector", "build_model", "pyramid", "output_tensors"]


class DetectorOutput(NamedTuple):
    """What a detector computes for a batch (what Ultralytics' `DetectionModel` computes in eval mode).

    Attributes:
        neck: (P3, P4, P5), the neck's outputs that Detect takes (YOLO11: layers 16, 19 and 22).
        boxes: (B, 4 x reg_max, A) raw box outputs: 16 DFL logits per box side, or the side's distance (YOLO26); A
            anchors over the levels.
        scores: (B, nc, A) raw class logits.
        decoded: (B, 4 + nc, A): (cx, cy, w, h) in input pixels and sigmoid class scores.
        one2one: an end-to-end head's one-to-one branch, the same three (`head.HeadOutput`); None for others.
    """

    neck: tuple[torch.Tensor, ...]
    boxes: torch.Tensor
    scores: torch.Tensor
    decoded: torch.Tensor
    one2one: HeadOutput | None = None


class Detector(Backbone):
    """Backbone, neck and head of a detector config (`FamilyConfig(detector=True)`).

    The layers run in index order; a layer with `sources` takes those layers' outputs (YOLO11's neck's
    concatenations take backbone layers 4, 6 and 10, Detect takes 16, 19 and 22), any other the previous
    layer's. Only outputs that a later layer takes are kept during the forward.
    """

    def __init__(self, config: BackboneConfig):
        if not getattr(config, "detector", False):
            raise ValueError(f"{config.label} is a backbone config: build it with build_backbone")
        super().__init__(config)
        self._kept = {source for sources in self.sources.values() for source in sources}
        self._joins = {spec.name for spec in config.layers() if spec.block in ("concat", "detect")}  # take a list
        self.head_name = next(reversed(self._modules))
        self.class_names: tuple[str, ...] | None = None  # the trained weights' own names (`load_weights` sets them)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def replace_head(self, config: BackboneConfig) -> None:
        """Take `config` (this detector's with another class count) and a fresh head for it, on this model's device
        and in its dtype. The caller holds the model's lock when the model is shared."""
        reference = next(self.parameters())
        sources = self.sources[self.head_name]
        channels = tuple(self.layer_channels[s] for s in sources)
        head = build_block(config.layers()[-1], channels, strides=tuple(self.layer_strides[s] for s in sources))
        self.add_module(self.head_name, head.to(device=reference.device, dtype=reference.dtype).eval())
        self.layer_channels[self.head_name] = 4 + config.num_classes
        self.config = config
        self.class_names = None

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        kept: dict[str, Any] = {}
        for name, layer in self.named_children():
            sources = self.sources.get(name)
            if not sources:
                x = layer(x)
            elif name in self._joins:
                x = layer([kept[s] for s in sources])
            else:  # one input, not the previous layer's
                x = layer(kept[sources[0]])
            if name in self._kept:
                kept[name] = x
        neck = tuple(kept[s] for s in self.sources[self.head_name])
        return DetectorOutput(neck, x.boxes, x.scores, x.decoded, x.one2one)


def build_detector(
    arch: str = "yolo11n",
    num_classes: int = COCO_CLASS_COUNT,
    *,
    seed: int | None = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    config: BackboneConfig | None = None,
) -> Detector:
    """Build a detector in eval mode with deterministic random weights.

    The backbone layers are the modules `build_backbone(arch)` builds. The head starts with the biases
    Ultralytics gives an untrained one (class scores near 1e-4 to 1e-2): random weights detect nothing;
    load a trained checkpoint with `weights.load_weights`.

    Args:
        arch: "yolov8n" ... "yolo26x" (`config.ARCHITECTURES` without the tutorial).
        num_classes: classes of the head (80 for COCO).
        seed, device, dtype: as `build_backbone`.
        config: a ready detector config instead of `arch` and `num_classes`.
    """
    if config is None:
        if arch == "tutorial":
            raise ValueError("the tutorial is a backbone only; the whole detector exists for the Ultralytics families")
        config = make_config(arch, detector=True, num_classes=num_classes)
    return instantiate(Detector, config, seed, device, dtype)


def build_model(config: BackboneConfig, **kwargs: Any) -> Backbone:
    """The model a config describes: a `Detector` for a detector config, else a `Backbone`."""
    if getattr(config, "detector", False):
        return build_detector(config=config, **kwargs)
    return build_backbone(config=config, **kwargs)


def with_classes(config: BackboneConfig, num_classes: int) -> BackboneConfig:
    """The same detector config with another class count (a checkpoint's head decides it)."""
    return dataclasses.replace(config, num_classes=num_classes)


def pyramid(output: Any) -> tuple[torch.Tensor, ...]:
    """The P3/P4/P5 maps of a forward's output: a backbone's outputs, or the neck's of a detector."""
    return tuple(output.neck) if isinstance(output, DetectorOutput) else tuple(output)


def output_tensors(output: Any, names: tuple[str, ...] = PYRAMID) -> dict[str, torch.Tensor]:
    """Every tensor a forward returns, by name: P3/P4/P5, and a detector's boxes, scores and decoded (and YOLO26's
    one-to-one branch's, one2one_boxes ...)."""
    tensors = dict(zip(names, pyramid(output), strict=True))
    if isinstance(output, DetectorOutput):
        tensors.update(boxes=output.boxes, scores=output.scores, decoded=output.decoded)
        if output.one2one is not None:
            tensors.update({f"one2one_{name}": getattr(output.one2one, name) for name in ("boxes", "scores", "decoded")})
    return tensors
