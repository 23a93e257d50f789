"""How far a mode's outputs are from full precision: the relative error against a float64 forward, and a
BatchNorm calibration that makes the error of random weights mean what it would for trained ones."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils._pytree import tree_leaves

from ..model.stats import parse_size
from .devices import check_device
from .modes import LatencyMode, prepared, private_copy

__all__ = ["calibrated_copy", "mode_error"]


def mode_error(
    model: nn.Module,
    mode: LatencyMode,
    *,
    size: int | str | Sequence[int] = 640,
    device: str = "cpu",
    batch: int = 1,
    seed: int = 0,
) -> float:
    """Largest relative error (Frobenius norm) over the model's outputs of `mode` against a float64
    eager forward of the same input on the same device.

    The mode's forward is set up exactly as a latency run sets it up (`modes.prepared`). With random
    weights in eval mode activations shrink about 3x per conv, so the deepest maps fall below fp16's
    range; pass a `calibrated_copy` for errors that mean what they would for trained weights.
    """
    dev = check_device(device)
    mode.check(dev)
    h, w = parse_size(size)
    config = getattr(model, "config", None)
    in_channels = config.in_channels if config is not None else next(model.parameters()).shape[1]
    generator = torch.Generator().manual_seed(seed)
    x64 = torch.rand(batch, in_channels, h, w, generator=generator, dtype=torch.float64).to(dev)
    reference_model = private_copy(model).to(device=dev, dtype=torch.float64)
    with torch.inference_mode():
        reference = reference_model(x64)
    del reference_model
    with prepared(model, mode, mode.input_like(x64), dev) as run, torch.inference_mode():
        out = run()
    errors = [
        (o.double() - r).norm().item() / max(r.norm().item(), 1e-300)
        for o, r in zip(tree_leaves(out), tree_leaves(reference), strict=True)
    ]
    return max(errors)


def calibrated_copy(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """A copy whose BatchNorm running statistics are those of `x`: the activations then keep a unit
    scale through the network, as with trained weights, instead of shrinking at every layer."""
    clone = private_copy(model)
    batchnorms = [m for m in clone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in batchnorms:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average: after one batch, exactly its statistics
    clone.train()
    with torch.no_grad():
        clone(x.to(next(clone.parameters())))
    originals = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn, original in zip(batchnorms, originals, strict=True):
        bn.momentum = original.momentum
    return clone.eval()
