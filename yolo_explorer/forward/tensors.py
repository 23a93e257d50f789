"""A module's output walked as a tree of tensors (a tensor; tuples and lists of them, a `DetectorOutput`; anything
else a leaf), with Python alone: torch's own tree helpers live in a private module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["leaves", "map_tensors"]


def leaves(out: Any) -> list[Any]:
    """Every leaf of `out`, depth first: a backbone's (P3, P4, P5), a detector's P3, P4, P5, boxes, scores, decoded (and
    its one-to-one branch's three). None (a branch a head does not have) is no leaf."""
    if isinstance(out, (tuple, list)):
        return [leaf for item in out for leaf in leaves(item)]
    return [] if out is None else [out]


def map_tensors(fn: Callable[[torch.Tensor], Any], out: Any) -> Any:
    """`out` with `fn` applied to each tensor, its tuples (named ones too) and lists rebuilt as they were."""
    if isinstance(out, torch.Tensor):
        return fn(out)
    if isinstance(out, tuple) and hasattr(out, "_fields"):  # a NamedTuple
        return type(out)(*(map_tensors(fn, item) for item in out))
    if isinstance(out, (tuple, list)):
        return type(out)(map_tensors(fn, item) for item in out)
    return out
