"""Trained weights in the app: the `Weights` value (an upload, or a file of the server's weights folder, read
once), the server's weights folder (read once per change of its files, shared by every session), and the
downloads of Ultralytics' checkpoints into it (one per checkpoint for the whole server, whichever session asked).

The weights folder is `YOLO_EXPLORER_WEIGHTS_DIR` (an instructor's, for a class) or else the per-user cache that
`python -m yolo_explorer weights fetch` fills; every file in it that fits an architecture is offered in every
session's sidebar, and is the default for that architecture.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st
import torch

from yolo_explorer import build_model
from yolo_explorer.environment import Environment, variable
from yolo_explorer.model.checkpoints import Checkpoint, WeightsError, checkpoint_classes, checkpoint_task, read_checkpoint
from yolo_explorer.model.config import BackboneConfig
from yolo_explorer.model.pretrained import RELEASES, FetchError, Release, fetch
from yolo_explorer.model.weights import checkpoint_config, match_state_dict, scan_folder

from .server import environment

log = logging.getLogger("yolo_explorer.app")


@dataclass(frozen=True)
class Weights:
    """Trained weights, read once: a name to show, the content digest (the caches' key), the tensors and the class
    names the file carries.

    `origin` is "upload" (this session's) or "server" (the server's weights folder, shared by everyone).
    """

    name: str
    digest: str
    state: dict[str, torch.Tensor] = field(repr=False, compare=False)
    origin: str = "upload"
    names: tuple[str, ...] | None = field(default=None, compare=False)
    table: dict | None = field(default=None, repr=False, compare=False)  # an Ultralytics model's table, if it carries one

    @classmethod
    def read(cls, name: str, data: bytes) -> Weights:
        """Read an upload (raises `WeightsError` with a clear message on a bad file)."""
        checkpoint = read_checkpoint(data)
        digest = hashlib.sha256(data).hexdigest()[:16]
        return cls(name, digest, checkpoint.state, names=checkpoint.names, table=checkpoint.table)

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.state, self.names, self.table)

    @property
    def task(self) -> str | None:
        """ "segment" or "pose" for those models' weights (their head is a detector's plus a branch), else None."""
        return checkpoint_task(self.state)

    @property
    def classes(self) -> int | None:
        """The class count of a detection head in these weights, or None (backbone weights)."""
        return checkpoint_classes(self.state)

    @property
    def release(self) -> Release | None:
        """The Ultralytics release these are, byte for byte (a pinned digest), or None."""
        return next((r for r in RELEASES.values() if r.sha256 and r.sha256.startswith(self.digest)), None)

    def check(self, config: BackboneConfig) -> None:
        """Raise `WeightsMismatchError`, listing the keys, if these weights do not fit `config` (for a detector,
        with the class count of the weights' own head)."""
        _check_fit(checkpoint_config(config, self.state), self.digest, self.state)


@st.cache_data(max_entries=64, show_spinner=False)
def _check_fit(config: BackboneConfig, digest: str, _state: dict[str, torch.Tensor]) -> None:
    match_state_dict(build_model(config, device="meta"), _state)


@dataclass(frozen=True)
class WeightsFolder:
    """The server's weights folder as read: usable weights by architecture, and the files refused."""

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
    """The weights folder (`YOLO_EXPLORER_WEIGHTS_DIR`, else the per-user cache), read again only when its files
    change (a download, an instructor copying a file in): listing it costs microseconds per run."""
    env = environment()
    return _read_folder(str(env.weights_dir), _listing(env.weights_dir), env.weights_dir_set)


def _listing(folder: Path) -> tuple[tuple[str, int, int], ...] | None:
    """(name, size, modification time) of the files the folder offers; None when it cannot be listed."""
    try:
        with os.scandir(folder) as entries:
            files = [e for e in entries if e.is_file() and not e.name.startswith(".") and not e.name.endswith(".sha256")]
            return tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in files))
    except OSError:
        return None


@st.cache_resource(max_entries=2, show_spinner="Reading the server's weights folder…")
def _read_folder(path: str, listing: tuple | None, configured: bool) -> WeightsFolder:
    """Read once per server and per state of the folder: every session shares the tensors. A missing per-user
    cache is simply empty; a configured folder that cannot be read is reported."""
    if listing is None and not configured:
        return WeightsFolder(path)
    try:
        files = scan_folder(path)
    except WeightsError as err:
        log.warning("%s: %s", variable("weights_dir"), err)
        return WeightsFolder(path, refused=((path, str(err)),))
    usable, refused = [], []
    for f in files:
        if f.config is None:
            log.warning("weights folder %s: %s is not offered: %s", path, f.name, f.problem)
            refused.append((f.name, f.problem or "unreadable"))
        else:
            usable.append((f.config, Weights(f.name, f.digest, f.state, origin="server", names=f.names)))
            log.info("weights folder %s: %s offered for %s", path, f.name, f.config.label)
    return WeightsFolder(path, tuple(usable), tuple(refused))


@dataclass
class Download:
    """One checkpoint being fetched into the weights folder, as every session sees it."""

    release: Release
    done: int = 0  # bytes so far
    total: int | None = None
    waiting: bool = False  # another process (a replica) is downloading it: this one waits for its file
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def fraction(self) -> float:
        total = self.total or self.release.size
        return min(1.0, self.done / total) if total else 0.0


class Downloads:
    """The server's downloads: one per checkpoint, started by the first session that asks, in a thread of its own
    (a session that reruns or leaves does not stop it), followed by every session that looks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._downloads: dict[str, Download] = {}

    def current(self, release: Release) -> Download | None:
        return self._downloads.get(release.name)

    def start(self, release: Release) -> Download:
        """The download of `release`: the one running, or a new one."""
        with self._lock:
            download = self._downloads.get(release.name)
            if download is None or download.finished.is_set():
                download = Download(release)
                self._downloads[release.name] = download
                threading.Thread(
                    target=self._run, args=(download, environment()), name=f"fetch {release.name}", daemon=True
                ).start()
            return download

    @staticmethod
    def _run(download: Download, env: Environment) -> None:
        def progress(done: int, total: int | None) -> None:
            download.done, download.total, download.waiting = done, total, False

        def wait(done: int, total: int | None) -> None:
            download.done, download.total, download.waiting = done, total, True

        try:
            fetched = fetch(download.release, env.weights_dir, base_url=env.weights_url, progress=progress, wait=wait)
            log.info("fetched %s into %s (SHA-256 %s)", fetched.release.file, fetched.path.parent, fetched.sha256)
        except FetchError as err:
            download.error = str(err)
            log.warning("fetching %s failed: %s", download.release.file, err)
        except Exception as err:  # a thread's failure must reach the page, not vanish
            download.error = f"the download failed ({type(err).__name__}: {err})"
            log.exception("fetching %s failed", download.release.file)
        finally:
            download.finished.set()


@st.cache_resource
def downloads() -> Downloads:
    """The server's downloads, shared by every session."""
    return Downloads()
