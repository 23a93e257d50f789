"""Per-layer statistics of a backbone: parameters, shapes, MACs, activation memory, receptive field,
and the torchinfo summary. All of it comes from a weightless model on the meta device, so asking for
width 256 at 1280 px costs milliseconds and no memory.

Numbers are returned in dataclasses; turning them into "25.6 M" is `formatting`'s job.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torchinfo
from torch import nn

from ..deployment.devices import dtype_from_name
from ..forward.tensors import leaves
from .config import BackboneConfig
from .detector import Detector, build_model
from .head import Detect, HeadOutput
from .yolo11_blocks import Attention, attention_macs
from .yolo12_blocks import AreaAttention

__all__ = [
    "LayerStats",
    "ModelStats",
    "SUMMARY_COLUMNS",
    "Summary",
    "model_stats",
    "model_summary",
    "parse_size",
]

MAX_SIDE = 8192  # largest input side the statistics accept
ALIGN = 32  # YOLO inputs are multiples of the largest stride


@dataclass(frozen=True)
class LayerStats:
    """Statistics of one top-level layer for one image (batch 1).

    Attributes:
        name: layer name ("stage2_c3k2").
        block: block type ("C3k2").
        params: parameters, each shared tensor counted once over the whole model.
        output_shape: (C, H, W) of the layer's output; (4 + nc, anchors) for a detector's head.
        stride: cumulative stride of the layer's output.
        macs: multiply-accumulates of its convolutions and attention products (q^T k, v attn^T).
        flops: 2 x macs.
        activation_bytes: size of the output tensor in the chosen dtype (the head's three outputs together).
        receptive_field: theoretical receptive field, in input pixels, along the longest path.
        feature: pyramid name ("P3") if the layer is an output, else "".
        attention_macs: the part of `macs` spent in attention products (q^T k, v attn^T), which
            counters that hook modules (torchinfo) do not see.
        sources: the layers whose outputs it takes when not only the previous one's (a detector's
            concatenations and head).
    """

    name: str
    block: str
    params: int
    output_shape: tuple[int, ...]
    stride: int
    macs: int
    flops: int
    activation_bytes: int
    receptive_field: int
    feature: str = ""
    attention_macs: int = 0
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelStats:
    """Statistics of a whole backbone for one input size; totals are sums over `layers`."""

    config: dict[str, Any]
    input_shape: tuple[int, int, int]
    dtype: str
    layers: tuple[LayerStats, ...]
    notes: tuple[str, ...] = field(default=())
    parts: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())  # ("backbone", layer names), neck, head
    batchnorm_outputs: int = 0  # elements every BatchNorm outputs for one image (what folding them into convs saves)
    # an end-to-end head's one-to-one branch (YOLO26), included in the head's counts: both branches run in the model's
    # forward, a deployed model keeps one (Ultralytics' fuse()): (parameters, MACs) of one branch
    second_branch: tuple[int, int] = (0, 0)

    @property
    def deployed_params(self) -> int:
        """Parameters of the model as deployed with one branch of its head (all of them for a head with one)."""
        return self.params - self.second_branch[0]

    @property
    def deployed_flops(self) -> int:
        """FLOPs as deployed with one branch of its head: what Ultralytics' info() says after fuse()."""
        return self.flops - 2 * self.second_branch[1]

    def part_totals(self) -> dict[str, dict[str, int]]:
        """Parameters, MACs and activation bytes of each part (backbone, neck, head) of a detector; empty for a
        backbone alone, which is one part."""
        if len(self.parts) < 2:
            return {}
        by_name = {layer.name: layer for layer in self.layers}
        return {
            part: {
                "params": sum(by_name[n].params for n in names),
                "macs": sum(by_name[n].macs for n in names),
                "activation_bytes": sum(by_name[n].activation_bytes for n in names),
            }
            for part, names in self.parts
        }

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def activation_bytes(self) -> int:
        return sum(layer.activation_bytes for layer in self.layers)

    @property
    def attention_macs(self) -> int:
        return sum(layer.attention_macs for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `python -m yolo_explorer stats --json`."""
        stages = []
        for layer in self.layers:
            row = asdict(layer)
            row["output_shape"] = list(layer.output_shape)
            stages.append(row)
        return (
            {
                "config": self.config,
                "input": list(self.input_shape),
                "dtype": self.dtype,
                "stages": stages,
                "total": {
                    "params": self.params,
                    "macs": self.macs,
                    "flops": self.flops,
                    "activation_bytes": self.activation_bytes,
                },
                "notes": list(self.notes),
            }
            | ({"parts": self.part_totals()} if len(self.parts) > 1 else {})
            | ({"deployed": {"params": self.deployed_params, "flops": self.deployed_flops}} if any(self.second_branch) else {})
        )


def parse_size(size: int | str | Sequence[int]) -> tuple[int, int]:
    """An input size as (H, W): 640, "640", "480x640" or (480, 640).

    Raises:
        ValueError: not a size, or a side outside 1..8192.
    """
    if isinstance(size, str):
        parts = size.lower().replace(" ", "").split("x")
        if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
            raise ValueError(f"size must be S or HxW in pixels, e.g. 640 or 480x640; got {size!r}")
        size = int(parts[0]) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if not isinstance(size, Sequence) or len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) for s in size):
        raise ValueError(f"size must be S or (H, W) in pixels, got {size!r}")
    h, w = size
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise ValueError(f"each side must be from 1 to {MAX_SIDE} pixels, got {h}x{w}")
    return h, w


def alignment_note(h: int, w: int) -> str | None:
    """The warning shown for sizes YOLO would not take as they are, or None."""
    if h % ALIGN == 0 and w % ALIGN == 0:
        return None
    up_h, up_w = math.ceil(h / ALIGN) * ALIGN, math.ceil(w / ALIGN) * ALIGN
    return (
        f"{h}x{w} is not a multiple of {ALIGN}: YOLO needs multiples of {ALIGN} and would letterbox to "
        f"{up_h}x{up_w}. The shapes here are exact for {h}x{w} (each stride-2 conv rounds up), "
        f"but the deepest maps no longer tile the image exactly."
    )


def model_stats(
    config: BackboneConfig,
    size: int | str | Sequence[int] = 640,
    dtype: str = "fp32",
) -> ModelStats:
    """Parameters, output shapes, MACs, activation memory and receptive field of every top-level layer.

    Shapes and MACs come from one forward of a weightless model on the meta device: nothing is
    computed and nothing allocated, whatever the width and size.

    Args:
        config: the architecture.
        size: input size, S or (H, W); any size works, those not multiple of 32 get a note.
        dtype: "fp32", "fp16" or "bf16": the element size of the activation memory.

    Returns:
        The per-layer and total statistics for a batch of one image.
    """
    h, w = parse_size(size)
    element_size = torch.empty((), dtype=dtype_from_name(dtype)).element_size()
    model = build_model(config, device="meta")
    layers = dict(model.named_children())

    shapes: dict[str, tuple[int, ...]] = {}
    sizes: dict[str, int] = {}  # elements of each layer's outputs (the head returns three tensors)
    macs = dict.fromkeys(layers, 0)
    attention = dict.fromkeys(layers, 0)
    batchnorm = {"outputs": 0}
    handles = []
    branch = {"second": 0}  # MACs of an end-to-end head's one-to-one branch
    head = layers[model.head_name] if isinstance(model, Detector) else None
    second = [head.one2one_cv2, head.one2one_cv3] if isinstance(head, Detect) and head.end2end else []
    for conv in (m for part in second for m in part.modules() if isinstance(m, nn.Conv2d)):
        handles.append(conv.register_forward_hook(_count_conv_macs(branch, "second")))
    for name, layer in layers.items():
        handles.append(layer.register_forward_hook(_record_shape(shapes, sizes, name)))
        for sub in layer.modules():
            if isinstance(sub, nn.Conv2d):
                handles.append(sub.register_forward_hook(_count_conv_macs(macs, name)))
            elif isinstance(sub, (Attention, AreaAttention)):
                handles.append(sub.register_forward_hook(_count_attention_macs(macs, attention, name)))
            elif isinstance(sub, nn.BatchNorm2d):
                handles.append(sub.register_forward_hook(_count_outputs(batchnorm)))
    try:
        with torch.no_grad():
            model(torch.empty(1, config.in_channels, h, w, device="meta"))
    finally:
        for handle in handles:
            handle.remove()

    features = {info.module: info.name for info in model.feature_info}
    seen: set[int] = set()
    # (receptive field, jump, side) of every layer's output; a layer with several inputs (the neck's
    # concatenations, the head) sees the union of its branches
    fields: dict[str, tuple[int, int, int]] = {}
    previous = (1, 1, max(h, w))  # the input image
    rows = []
    for name, layer in layers.items():
        params = 0
        for p in layer.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                params += p.numel()
        sources = model.sources.get(name)
        rf, jump = layer.receptive_field_of([fields[s] for s in sources]) if sources else layer.receptive_field(*previous)
        shape = shapes[name]
        fields[name] = previous = (rf, jump, max(shape[1:]) if len(shape) == 3 else previous[2])
        rows.append(
            LayerStats(
                name=name,
                block=type(layer).__name__,
                params=params,
                output_shape=shape,
                stride=model.layer_strides[name],
                macs=macs[name],
                flops=2 * macs[name],
                activation_bytes=sizes[name] * element_size,
                receptive_field=rf,
                feature=features.get(name, ""),
                attention_macs=attention[name],
                sources=tuple(sources or ()),
            )
        )
    note = alignment_note(h, w)
    return ModelStats(
        config=config.to_dict(),
        input_shape=(config.in_channels, h, w),
        dtype=dtype,
        layers=tuple(rows),
        notes=(note,) if note else (),
        parts=tuple(config.parts().items()),
        batchnorm_outputs=batchnorm["outputs"],
        second_branch=(sum(p.numel() for part in second for p in part.parameters()), branch["second"]),
    )


def _record_shape(shapes: dict[str, tuple[int, ...]], sizes: dict[str, int], name: str):
    def hook(module: nn.Module, args: Any, output: torch.Tensor | HeadOutput) -> None:
        if isinstance(output, HeadOutput):  # Detect: its decoded predictions (4 + nc, anchors) stand for it
            shapes[name] = tuple(output.decoded.shape[1:])
            sizes[name] = sum(t[0].numel() for t in leaves(output))  # both branches of an end-to-end head
        else:
            shapes[name] = tuple(output.shape[1:])
            sizes[name] = output[0].numel()

    return hook


def _count_outputs(counts: dict[str, int]):
    def hook(module: nn.Module, args: Any, output: torch.Tensor) -> None:
        counts["outputs"] += output[0].numel()  # one image of the batch

    return hook


def _count_conv_macs(macs: dict[str, int], name: str):
    def hook(conv: nn.Conv2d, args: Any, output: torch.Tensor) -> None:
        kh, kw = conv.kernel_size
        # every output element is a dot product over (C_in / groups) x kh x kw inputs
        macs[name] += output.numel() * (conv.in_channels // conv.groups) * kh * kw

    return hook


def _count_attention_macs(macs: dict[str, int], attention_part: dict[str, int], name: str):
    def hook(attention: Attention, args: Any, output: torch.Tensor) -> None:
        b, _, h, w = output.shape
        count = b * attention_macs(attention, h * w)
        macs[name] += count
        attention_part[name] += count

    return hook


# torchinfo column names and what they show
SUMMARY_COLUMNS: dict[str, str] = {
    "input_size": "Input shape",
    "output_size": "Output shape",
    "num_params": "Parameters",
    "params_percent": "% of parameters",
    "kernel_size": "Kernel",
    "mult_adds": "Mult-adds",
    "trainable": "Trainable",
}
DEFAULT_SUMMARY_COLUMNS = ("input_size", "output_size", "num_params", "mult_adds")


@dataclass(frozen=True)
class Summary:
    """A torchinfo summary: its text and one row per listed module."""

    text: str
    rows: tuple[dict[str, Any], ...]
    total_params: int
    total_mult_adds: int


def model_summary(
    config: BackboneConfig,
    size: int | str | Sequence[int] = 640,
    depth: int = 3,
    columns: Sequence[str] = DEFAULT_SUMMARY_COLUMNS,
    dtype: str = "fp32",
) -> Summary:
    """torchinfo's summary of the backbone, computed on a weightless meta-device copy.

    The meta copy has the same modules and shapes as the real model, so the text is identical; no
    hook is ever registered on a real (possibly shared) model.

    Args:
        config: the architecture.
        size: input size, S or (H, W).
        depth: how many levels of nested modules to list (1 = the top-level layers).
        columns: torchinfo column names, keys of `SUMMARY_COLUMNS`.
        dtype: "fp32", "fp16" or "bf16" for the size estimates.

    Raises:
        ValueError: a bad size, depth or column.
    """
    h, w = parse_size(size)
    if not isinstance(depth, int) or not 1 <= depth <= 10:
        raise ValueError(f"depth must be an integer from 1 to 10, got {depth!r}")
    unknown = [c for c in columns if c not in SUMMARY_COLUMNS]
    if unknown:
        raise ValueError(f"unknown summary column {', '.join(unknown)}; choose from {', '.join(SUMMARY_COLUMNS)}")
    torch_dtype = dtype_from_name(dtype)
    model = build_model(config, device="meta", dtype=torch_dtype)
    result = torchinfo.summary(
        model,
        # a meta input: torchinfo would otherwise draw a real random tensor and then move it
        input_data=[torch.empty(1, config.in_channels, h, w, device="meta", dtype=torch_dtype)],
        depth=depth,
        col_names=tuple(columns),
        device="meta",
        verbose=0,
        row_settings=("var_names",),
    )
    rows = tuple(
        {
            "depth": info.depth,
            "name": info.var_name,
            "type": info.class_name,
            "input_shape": _shape(info.input_size),
            "output_shape": _shape(info.output_size),
            "params": info.num_params,
            "kernel": _kernel(info.kernel_size),
            "mult_adds": info.macs,
        }
        for info in result.summary_list
        if info.depth <= depth
    )
    return Summary(
        text=str(result),
        rows=rows,
        total_params=result.total_params,
        total_mult_adds=result.total_mult_adds,
    )


def _kernel(kernel: Any) -> list[int] | None:
    if isinstance(kernel, int):
        return [kernel, kernel]
    return list(kernel) if kernel else None


def _shape(size: Any) -> list[int] | None:
    if isinstance(size, (list, tuple)) and size and all(isinstance(s, int) for s in size):
        return list(size)
    return None
