"""How far a mode's outputs are from full precision: the relative error against a float64 forward, and a
BatchNorm calibration that makes the error of random weights mean what it would for trained ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..model.detector import output_tensors
from ..model.stats import parse_size
from .devices import check_device
from .modes import LatencyMode, prepared, private_copy

__all__ = ["OutputError", "calibrated_copy", "mode_error", "mode_errors", "output_error"]


@dataclass(frozen=True)
class OutputError:
    """How far one output is from float64: relative error (Frobenius norm) and cosine similarity."""

    name: str
    relative_error: float
    cosine: float


def output_error(name: str, out: torch.Tensor, reference: torch.Tensor) -> OutputError:
    """One output against its reference, both taken in float64."""
    o, r = out.double().flatten(), reference.double().flatten()
    relative = ((o - r).norm() / r.norm().clamp_min(1e-300)).item()
    cosine = torch.nn.functional.cosine_similarity(o, r, dim=0, eps=1e-300).item()
    return OutputError(name, relative, cosine)


def mode_error(model: nn.Module, mode: LatencyMode, **options) -> float:
    """The largest relative error over the model's outputs (`mode_errors`, which takes the same options)."""
    return max(e.relative_error for e in mode_errors(model, mode, **options))


def mode_errors(
    model: nn.Module,
    mode: LatencyMode,
    *,
    size: int | str | Sequence[int] = 640,
    device: str = "cpu",
    batch: int = 1,
    seed: int = 0,
) -> list[OutputError]:
    """Each output of the model run in `mode`, by name (P3, P4, P5; a detector's boxes, scores and decoded too),
    against a float64 eager forward of the same random input on the same device: relative error (Frobenius norm) and
    cosine similarity.

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
    outs, references = output_tensors(out), output_tensors(reference)
    return [output_error(name, outs[name], references[name]) for name in outs]


_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def calibrated_copy(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """A copy whose BatchNorm running statistics are those of `x`: the activations then keep a unit
    scale through the network, as with trained weights, instead of shrinking at every layer."""
    clone = private_copy(model)
    batchnorms = [m for m in clone.modules() if isinstance(m, _BATCHNORMS)]
    for bn in batchnorms:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average: after one batch, exactly its statistics
    clone.train()
    with torch.no_grad():
        clone(x.to(next(clone.parameters())))
    originals = [m for m in model.modules() if isinstance(m, _BATCHNORMS)]
    for bn, original in zip(batchnorms, originals, strict=True):
        bn.momentum = original.momentum
    return clone.eval()
