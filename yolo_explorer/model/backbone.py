"""Backbone(config): the named layers of a config in a chain, returning the pyramid features."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from . import blocks, head, yolo11_blocks, yolo12_blocks, yolov8_blocks
from .config import BackboneConfig, LayerSpec, make_config
from .head import DFL, Detect
from .yolo12_blocks import A2C2f

# LayerSpec.block -> factory(spec, input channels, **context): every block module's, gathered here once
BLOCKS: dict[str, Any] = {
    **blocks.FACTORIES,
    **yolov8_blocks.FACTORIES,
    **yolo11_blocks.FACTORIES,
    **yolo12_blocks.FACTORIES,
    **head.FACTORIES,
}


def build_block(spec: LayerSpec, c_in: int | tuple[int, ...], **context: Any) -> nn.Module:
    """Instantiate the module a LayerSpec describes, given its input channels (one count per source for a
    layer with several inputs) and any context its factory takes (Detect: the strides of its inputs)."""
    try:
        factory = BLOCKS[spec.block]
    except KeyError:
        raise ValueError(f"layer {spec.name!r}: unknown block {spec.block!r}; known: {', '.join(BLOCKS)}") from None
    return factory(spec, c_in, **context)


__all__ = ["BLOCKS", "Backbone", "FeatureInfo", "build_backbone", "build_block", "instantiate"]


@dataclass(frozen=True)
class FeatureInfo:
    """One pyramid output: its name ("P3"), the layer producing it, its channels and stride."""

    name: str
    module: str
    channels: int
    stride: int


class Backbone(nn.Module):
    """A chain of the config's layers; `forward` returns the pyramid features (P3, P4, P5).

    Attributes:
        config: the frozen config the model was built from.
        feature_info: one `FeatureInfo` per output, in the order `forward` returns them.
        layer_strides: cumulative stride of every top-level layer, by name.
        lock: serialises hook-based work (captures, summaries) on this model; the app shares one
            model between browser sessions.
    """

    def __init__(self, config: BackboneConfig):
        super().__init__()
        self.config = config
        channels, stride = config.in_channels, 1
        self.layer_strides: dict[str, int] = {}
        self.layer_channels: dict[str, int] = {}
        self.sources: dict[str, tuple[str, ...]] = {}  # layers that take other layers' outputs than the previous one
        for spec in config.layers():
            if spec.sources:
                self.sources[spec.name] = spec.sources
                c_in = tuple(self.layer_channels[s] for s in spec.sources)
                strides = tuple(self.layer_strides[s] for s in spec.sources)
                if spec.block == "detect":
                    self.add_module(spec.name, build_block(spec, c_in, strides=strides))
                    channels, stride = 4 + spec.num_classes, min(strides)
                elif spec.block == "concat":
                    self.add_module(spec.name, build_block(spec, c_in))
                    channels, stride = sum(c_in), strides[0]
                else:  # one input, not the previous layer's
                    self.add_module(spec.name, build_block(spec, c_in[0]))
                    channels, stride = spec.channels or c_in[0], strides[0]
                    stride = stride // spec.stride if spec.block == "upsample" else stride * spec.stride
            elif spec.block == "upsample":
                self.add_module(spec.name, build_block(spec, channels))
                stride //= spec.stride
            else:
                self.add_module(spec.name, build_block(spec, channels))
                channels, stride = spec.channels, stride * spec.stride
            self.layer_strides[spec.name] = stride
            self.layer_channels[spec.name] = channels
        self.feature_info = tuple(
            FeatureInfo(name, layer, self.layer_channels[layer], self.layer_strides[layer]) for name, layer in config.outputs
        )
        self._output_layers = {info.module for info in self.feature_info}
        self.lock = threading.RLock()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.sources:
            raise TypeError(f"{self.config.label} is not a chain of layers: build it with build_model (a Detector)")
        features = {}
        for name, layer in self.named_children():
            x = layer(x)
            if name in self._output_layers:
                features[name] = x
        return tuple(features[info.module] for info in self.feature_info)

    # A lock cannot be pickled or deep-copied: give every copy its own.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.lock = threading.RLock()


def build_backbone(
    arch: str = "tutorial",
    *,
    seed: int | None = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    config: BackboneConfig | None = None,
    **config_fields: Any,
) -> Backbone:
    """Build a backbone in eval mode with deterministic random weights.

    With the same seed, the weights equal those of the tutorial's `YOLOv11Backbone` built right
    after `torch.manual_seed(seed)`: PyTorch's default initialisation, drawn in the tutorial's order,
    but from a private generator, so the global RNG is left untouched and concurrent builds in
    several threads cannot disturb each other's weights.

    Args:
        arch: architecture name (see `config.ARCHITECTURES`), used when `config` is not given.
        seed: seed of the initialisation; None draws fresh weights from the global RNG.
        device: where to put the model; "meta" builds a weightless model for shapes and costs.
        dtype: parameter dtype.
        config: a ready config; otherwise one is made from `arch` and `config_fields`.
        **config_fields: config fields, e.g. `width=32`.

    Returns:
        The model, in eval mode.
    """
    if config is None:
        config = make_config(arch, **config_fields)
    elif config_fields:
        raise TypeError("pass either config or config fields, not both")
    if getattr(config, "detector", False):
        raise ValueError(f"{config.label} is a whole detector: build it with build_detector or build_model")
    return instantiate(Backbone, config, seed, device, dtype)


def instantiate(
    cls: type[Backbone], config: BackboneConfig, seed: int | None, device: str | torch.device, dtype: torch.dtype
) -> Backbone:
    """`cls(config)` (a Backbone or a Detector) on `device` in `dtype`, in eval mode: on the meta device without
    weights, else with PyTorch's default initialisation, from `seed` when one is given (see `_seeded`)."""
    device = torch.device(device)
    if device.type == "meta":
        with torch.device("meta"):
            model = cls(config)
    elif seed is None:
        model = cls(config)
    else:
        model = _seeded(cls, config, seed)
    return model.to(device=device, dtype=dtype).eval()


def _seeded(cls: type[Backbone], config: BackboneConfig, seed: int) -> Backbone:
    """The model PyTorch's default initialisation gives right after `torch.manual_seed(seed)`, drawn from a
    private generator: the global RNG is neither read nor changed, so models built at the same time in
    several threads (the app's sessions) each get exactly their seed's weights.

    Only the convolutions draw random numbers (kaiming-uniform, as `Conv2d.reset_parameters`; they have
    no bias); they are drawn in construction order, which is the order of `modules()`.
    A detector's head adds convolutions with a bias (drawn as `Conv2d.reset_parameters` draws it), the
    DFL's fixed weights 0..15, and the starting biases Ultralytics gives an untrained head.
    """
    with torch.device("meta"):
        model = cls(config)
    model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, DFL):
            module.conv.weight.copy_(torch.arange(module.bins, dtype=torch.float32).view(1, -1, 1, 1))
        elif isinstance(module, nn.Conv2d) and module.weight.requires_grad:
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                fan_in = module.weight[0].numel()
                bound = 1 / math.sqrt(fan_in)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
        elif isinstance(module, nn.BatchNorm2d):
            module.reset_parameters()  # ones, zeros, and fresh running statistics: no randomness
        elif isinstance(module, A2C2f) and module.gamma is not None:
            with torch.no_grad():
                module.gamma.fill_(0.01)  # the residual's starting scale
        elif next(module.parameters(recurse=False), None) is not None and not isinstance(module, nn.Conv2d):
            raise NotImplementedError(f"seeded initialisation of {type(module).__name__}")
    for module in model.modules():  # after its convolutions were drawn
        if isinstance(module, Detect):
            module.bias_init()
    return model
