"""Trained weights in the app: the `Weights` value (an upload, or a file of the server's weights folder,
read once), and the server's weights folder, read once and shared by every session.

An instructor starts the server with `YOLO_EXPLORER_WEIGHTS_DIR=/path/to/folder`; every file in it that
fits an architecture is offered in every session's sidebar, and is the default for that architecture.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field

import streamlit as st
import torch

from yolo_explorer import build_model
from yolo_explorer.config import BackboneConfig
from yolo_explorer.detector import with_classes
from yolo_explorer.weights import (
    WeightsError,
    checkpoint_classes,
    checkpoint_task,
    match_state_dict,
    read_state_dict,
    scan_folder,
)

log = logging.getLogger("yolo_explorer.app")

WEIGHTS_DIR_ENV = "YOLO_EXPLORER_WEIGHTS_DIR"


@dataclass(frozen=True)
class Weights:
    """Trained weights, read once: a name to show, the content digest (the caches' key) and the tensors.

    `origin` is "upload" (this session's) or "server" (the server's weights folder, shared by everyone).
    """

    name: str
    digest: str
    state: dict[str, torch.Tensor] = field(repr=False, compare=False)
    origin: str = "upload"

    @classmethod
    def read(cls, name: str, data: bytes) -> Weights:
        """Read an upload (raises `WeightsError` with a clear message on a bad file)."""
        return cls(name, hashlib.sha256(data).hexdigest()[:16], read_state_dict(data))

    @property
    def task(self) -> str | None:
        """ "segment" or "pose" for those models' weights (their head is a detector's plus a branch), else None."""
        return checkpoint_task(self.state)

    @property
    def classes(self) -> int | None:
        """The class count of a detection head in these weights, or None (backbone weights)."""
        return checkpoint_classes(self.state)

    def check(self, config: BackboneConfig) -> None:
        """Raise `WeightsMismatchError`, listing the keys, if these weights do not fit `config` (for a detector,
        with the class count of the weights' own head)."""
        if getattr(config, "detector", False) and self.classes is not None:
            config = with_classes(config, self.classes)
        _check_fit(config, self.digest, self.state)


@st.cache_data(max_entries=64, show_spinner=False)
def _check_fit(config: BackboneConfig, digest: str, _state: dict[str, torch.Tensor]) -> None:
    match_state_dict(build_model(config, device="meta"), _state)


@dataclass(frozen=True)
class WeightsFolder:
    """The server's weights folder as read at start: usable weights by architecture, and the files refused."""

    path: str | None
    usable: tuple[tuple[BackboneConfig, Weights], ...] = ()
    refused: tuple[tuple[str, str], ...] = ()  # (file name, why)

    def for_config(self, config: BackboneConfig) -> list[Weights]:
        """The folder's weights that fit `config`, in file-name order: for a whole detector, the detection
        checkpoints of its scale, whatever their class count."""
        if getattr(config, "detector", False):
            return [weights for fits, weights in self.usable if fits == config.backbone and weights.classes is not None]
        return [weights for fits, weights in self.usable if fits == config]


def server_weights() -> WeightsFolder:
    """The folder named by YOLO_EXPLORER_WEIGHTS_DIR in the server's environment (empty when unset)."""
    return _read_folder(os.environ.get(WEIGHTS_DIR_ENV) or None)


@st.cache_resource(show_spinner="Reading the server's weights folder…")
def _read_folder(path: str | None) -> WeightsFolder:
    """Read once per server (and per path): every session shares the tensors."""
    if path is None:
        return WeightsFolder(None)
    try:
        files = scan_folder(path)
    except WeightsError as err:
        log.warning("%s: %s", WEIGHTS_DIR_ENV, err)
        return WeightsFolder(path, refused=((path, str(err)),))
    usable, refused = [], []
    for f in files:
        if f.config is None:
            log.warning("weights folder %s: %s is not offered: %s", path, f.name, f.problem)
            refused.append((f.name, f.problem or "unreadable"))
        else:
            usable.append((f.config, Weights(f.name, f.digest, f.state, origin="server")))
            log.info("weights folder %s: %s offered for %s", path, f.name, f.config.label)
    return WeightsFolder(path, tuple(usable), tuple(refused))
