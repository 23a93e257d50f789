"""Ultralytics' trained checkpoints (its release assets: YOLO11, YOLO26, YOLO12, YOLOv8), fetched once into a weights
folder.

    fetched = fetch("yolo11n", folder)  # e.g. Environment.read(os.environ).weights_dir
    fetched.path, fetched.sha256         # .../yolo11n.pt, "0ebbc80d…"
    load_weights(build_detector("yolo11n"), fetched.path)

A download is streamed (a timeout, a size limit, a progress callback) into a temporary file beside its destination,
then checked: the whole length arrived, the SHA-256 equals the published one where it is pinned, and the file reads
with the safe loader (`checkpoints.read_checkpoint`: no pickled code runs) and fits its architecture. Only then is it
renamed into place, its SHA-256 written beside it (`yolo11n.pt.sha256`, in `sha256sum`'s format). Whatever fails
leaves nothing half-written in the folder and raises `FetchError`, whose message says what happened and which file
to copy where to do it by hand. A file lock beside the destination makes processes and threads that ask for the
same file at once download it once: the others wait (their `wait` callback sees the bytes arrive) and then find it.

The weights are Ultralytics', under the AGPL-3.0 (`LICENCE`), which the app and the command line say where they
offer them.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from .checkpoints import DEFAULT_MAX_WEIGHT_BYTES, WeightsError, read_checkpoint
from .config import make_config
from .detector import build_detector
from .weights import checkpoint_config, match_state_dict

__all__ = [
    "DEFAULT_BASE_URL",
    "FetchError",
    "Fetched",
    "LICENCE",
    "RELEASES",
    "Release",
    "fetch",
    "find_release",
    "present",
]

RELEASE_TAG = "v8.3.0"  # the release YOLO11's checkpoints were published in
RELEASES_URL = "https://github.com/ultralytics/assets/releases/download"
DEFAULT_BASE_URL = f"{RELEASES_URL}/{RELEASE_TAG}"
LICENCE = "AGPL-3.0"
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Release:
    """One checkpoint Ultralytics publishes.

    Attributes:
        name: its name, the file's without ".pt" ("yolo11n", "yolo11n-seg").
        arch: the architecture it fits ("yolo11n"): segmentation and pose models' heads hold a Detect head.
        task: "detect", "segment" or "pose".
        size: its length in bytes as published (what the app's button says), or None where unknown.
        sha256: its digest, pinned only where independent sources agree on it; else None, and the digest of what
            was fetched is printed and kept beside it (trust on first use).
    """

    name: str
    arch: str
    task: str
    size: int | None
    sha256: str | None
    tag: str = RELEASE_TAG  # the release of Ultralytics' assets that holds it

    @property
    def file(self) -> str:
        return f"{self.name}.pt"

    @property
    def url(self) -> str:
        """Where Ultralytics publishes it."""
        return f"{RELEASES_URL}/{self.tag}/{self.file}"

    @property
    def label(self) -> str:
        """ "YOLO11n", "YOLO11n-seg"."""
        return "YOLO" + self.name.removeprefix("yolo")

    @property
    def megabytes(self) -> str:
        return f"{self.size / 1e6:.1f} MB" if self.size else "size unknown"


# Digests of the detection models and YOLO11n-seg: each the same in several independent public projects that pin
# these files by hash (found with a code search on 2026-12-01); sizes as those projects record them. Other
# segmentation and pose models: no two sources were found, so nothing is pinned for them.
RELEASES: dict[str, Release] = {
    r.name: r
    for r in (
        Release("yolo11n", "yolo11n", "detect", 5_613_764, "0ebbc80d4a7680d14987a577cd21342b65ecfd94632bd9a8da63ae6417644ee1"),
        Release("yolo11s", "yolo11s", "detect", 19_313_732, "85a76fe86dd8afe384648546b56a7a78580c7cb7b404fc595f97969322d502d5"),
        Release("yolo11m", "yolo11m", "detect", 40_684_120, "d5ffc1a674953a08e11a8d21e022781b1b23a19b730afc309290bd9fb5305b95"),
        Release("yolo11l", "yolo11l", "detect", 51_387_343, "9ebd0e09d59811db4b1d61e2bc6730649608b1ac47f8dd01e2da6bca7c20023f"),
        Release("yolo11x", "yolo11x", "detect", 114_636_239, "7bc158aa95c0ebfdd87f70f01653c1131b93e92522dbe15c228bcd742e773a24"),
        Release(
            "yolo11n-seg", "yolo11n", "segment", 6_182_636, "55ed65c56c91713d23e8402371c6c49a6fd84f257f7dce452e8d70e41dcbe152"
        ),
        *(Release(f"yolo11{s}-seg", f"yolo11{s}", "segment", None, None) for s in "smlx"),
        *(Release(f"yolo11{s}-pose", f"yolo11{s}", "pose", None, None) for s in "nsmlx"),
        # YOLO26 (Ultralytics' default since 8.4), YOLO12 and YOLOv8 from release v8.4.0: each digest and size the same
        # in two or more public projects of different owners, two of which state they read them from GitHub's own
        # record of the release's assets (found with a code search on 2026-12-07)
        *(
            Release(name, name, "detect", size, digest, "v8.4.0")
            for name, size, digest in (
                ("yolo26n", 5_544_453, "9b09cc8bf347f0fc8a5f7657480587f25db09b34bf33b0652110fb03a8ad4fef"),
                ("yolo26s", 20_422_725, "646f8bc3fe0a656803d95c294f7852321748cb29d13466a1af8862e2db384a1b"),
                ("yolo26m", 44_255_705, "401cea9ab23ad19246ff7744859816bc599f350e93c9dd30367b6f0a0745d0b7"),
                ("yolo26l", 53_211_173, "9fe3c544f2b19bebad7ea41e76d7ad3d88b7c2f10d11d24430c5311f6b32db26"),
                ("yolo26x", 118_667_365, "9fdd44a31c504547ffb81d2c6d9e6dac3493c8eaa8b0398d3f43bae6c7003e92"),
                ("yolo12n", 5_595_063, "419ff3dca37d69bacc93a50fa0c186a1c6f9fe62fae0f108b0872829689e9ca6"),
                ("yolo12s", 19_006_455, "e915c2c4286e3f6f8610ef106fa3f94a7b8c19b30eccede5887e22c33ef75f58"),
                ("yolo12m", 40_904_955, "4c6d179786eddf6134ee469ae2f4ce04cbe4e9d1a47d6b669d9cd6b9c6c513d8"),
                ("yolo12l", 53_699_086, "0babd8dc8f775bb64bb052debdff3d8b9e9b57efa9d7bfa11c84bb82c3fec336"),
                ("yolo12x", 119_322_638, "682ce8dadee004dbe964950f1bf3eda451671815a6ed62db80b398916b9b7c6f"),
                ("yolov8n", 6_549_796, "f59b3d833e2ff32e194b5bb8e08d211dc7c5bdf144b90d2c8412c47ccfc83b36"),
                ("yolov8s", 22_588_772, "1f47a78bf100391c2a140b7ac73a1caae18c32779be7d310658112f7ac9aa78a"),
                ("yolov8m", 52_136_884, "5d4a90cdc7a21786cc59cd19778e9eafff836df9e2da32524737c7ee6efe4fe5"),
                ("yolov8l", 87_792_836, "64c9115303f6a25575f82200d1b22ec409fa6bd7d08d0313884fc20d919478cd"),
                ("yolov8x", 136_890_692, "3df4ada6b4dad6d657868f2fdf7faecfb34dcfccf3a25c4b82079064718524c8"),
            )
        ),
    )
}


class FetchError(RuntimeError):
    """A fetch that did not give a usable checkpoint; the message says what happened and how to do it by hand.
    Nothing was left in the folder."""


@dataclass(frozen=True)
class Fetched:
    """A checkpoint in the weights folder: where, its SHA-256, and whether this call downloaded it."""

    release: Release
    path: Path
    sha256: str
    downloaded: bool


def find_release(name: str) -> Release:
    """The release called `name` ("yolo11n" or "yolo11n.pt").

    Raises:
        KeyError: not one of `RELEASES`; the message lists them.
    """
    release = RELEASES.get(name.removesuffix(".pt"))
    if release is None:
        raise KeyError(f"no release called {name!r}; Ultralytics' YOLO11 checkpoints are {', '.join(RELEASES)}")
    return release


def present(folder: str | Path) -> dict[str, Path]:
    """The releases already in the folder, by name (a file of the release's name; its digest is not checked here)."""
    root = Path(folder)
    return {name: root / r.file for name, r in RELEASES.items() if (root / r.file).is_file()}


def fetch(
    name: str | Release,
    folder: str | Path,
    *,
    base_url: str | None = None,
    timeout: float = 30.0,
    max_bytes: int = DEFAULT_MAX_WEIGHT_BYTES,
    progress: Callable[[int, int | None], None] | None = None,
    wait: Callable[[int, int | None], None] | None = None,
) -> Fetched:
    """Download one of Ultralytics' checkpoints into `folder`, once.

    Args:
        name: a release ("yolo11n"; see `RELEASES`), or a `Release` described by hand (another mirror's file).
        folder: where to keep it (`Environment.weights_dir`: a server's, or the per-user cache), created if needed.
        base_url: where the files are (`Environment.weights_url`, a mirror holding them by name; default the release
            of Ultralytics' assets that holds each).
        timeout: seconds without an answer or a byte before giving up.
        max_bytes: the largest file accepted.
        progress: called with (bytes so far, total or None) as the download goes.
        wait: called the same way, every quarter second, while another process or thread downloads the file.

    Returns:
        The checkpoint in the folder (`downloaded` False when it was there already).

    Raises:
        KeyError: an unknown release.
        FetchError: anything else, with what happened and how to do it by hand; the folder is left as it was.
    """
    release = name if isinstance(name, Release) else find_release(name)
    root = Path(folder)
    url = f"{base_url.rstrip('/')}/{release.file}" if base_url else release.url
    destination = root / release.file
    by_hand = f"To do it by hand, download {url} and copy it to {destination}."
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FetchError(f"cannot create the weights folder {root} ({err.strerror or err}). {by_hand}") from None
    partial = root / f".{release.file}.part"
    lock = FileLock(root / f".{release.file}.lock")
    try:
        _acquire(lock, partial, release.size, wait)
    except OSError as err:
        raise FetchError(f"cannot lock {root} for the download ({err.strerror or err}). {by_hand}") from None
    try:
        if destination.is_file():
            return Fetched(release, destination, _existing(release, destination), downloaded=False)
        try:
            digest = _download(url, partial, timeout, max_bytes, progress, release)
            _check(release, partial, digest, max_bytes)
            os.replace(partial, destination)
            _write_digest(destination, digest)
        except FetchError as err:
            raise FetchError(f"{err} {by_hand}") from None
        except OSError as err:
            if err.errno == errno.ENOSPC:
                full = f"the disk is full: {release.file} ({release.megabytes}) does not fit in {root}."
                raise FetchError(f"{full} {by_hand}") from None
            raise FetchError(f"cannot write {release.file} into {root} ({err.strerror or err}). {by_hand}") from None
        finally:
            partial.unlink(missing_ok=True)
        return Fetched(release, destination, digest, downloaded=True)
    finally:
        lock.release()


def _acquire(lock: FileLock, partial: Path, total: int | None, wait: Callable[[int, int | None], None] | None) -> None:
    """Take the file's lock; while another holds it, report how far its download is (the partial file's size)."""
    while True:
        try:
            lock.acquire(timeout=0.25)
            return
        except Timeout:
            if wait is not None:
                try:
                    done = partial.stat().st_size
                except FileNotFoundError:  # not begun, or just renamed into place
                    done = 0
                wait(done, total)


def _download(
    url: str,
    partial: Path,
    timeout: float,
    max_bytes: int,
    progress: Callable[[int, int | None], None] | None,
    release: Release,
) -> str:
    """Stream `url` into `partial`; returns the SHA-256 of what arrived (every failure a FetchError or OSError)."""
    request = urllib.request.Request(url, headers={"User-Agent": "yolo-explorer"})
    host = urllib.parse.urlsplit(url).netloc
    try:  # an opener of its own reads the proxy settings (HTTPS_PROXY, NO_PROXY, ...) as they are now
        response = urllib.request.build_opener().open(request, timeout=timeout)  # follows GitHub's redirect to its CDN
    except urllib.error.HTTPError as err:
        hint = " (the proxy asks for a login: set HTTPS_PROXY with credentials)" if err.code == 407 else ""
        raise FetchError(f"{url} answered {err.code} {err.reason}{hint}; nothing was downloaded.") from None
    except urllib.error.URLError as err:
        raise FetchError(
            f"could not reach {host} ({_reason(err.reason)}): no network, or a proxy or "
            "firewall that refuses; nothing was downloaded."
        ) from None
    except TimeoutError:
        raise FetchError(f"no answer from {host} within {timeout:g} s; nothing was downloaded.") from None
    with response:
        content_type = response.headers.get("Content-Type", "")
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if "text/html" in content_type:
            raise FetchError(
                f"{url} sent a web page, not a checkpoint (a proxy's or a captive portal's login page?); nothing was kept."
            )
        if total is not None and total > max_bytes:
            limit = f"over the limit of {_mb(max_bytes)}"
            raise FetchError(f"{release.file} would be {_mb(total)}, {limit}; nothing was kept.")
        digest, done = hashlib.sha256(), 0
        with open(partial, "wb") as out:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except TimeoutError:
                    raise FetchError(f"the transfer stalled for {timeout:g} s after {_mb(done)}; nothing was kept.") from None
                except (http.client.IncompleteRead, ConnectionError) as err:
                    why = _reason(err)
                    raise FetchError(f"the transfer broke off after {_mb(done)} ({why}); nothing was kept.") from None
                if not chunk:
                    break
                if done == 0 and chunk.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
                    raise FetchError(f"{url} sent a web page, not a checkpoint (a proxy's login page?); nothing was kept.")
                done += len(chunk)
                if done > max_bytes:
                    raise FetchError(f"{release.file} is larger than the limit of {_mb(max_bytes)}; nothing was kept.")
                out.write(chunk)
                digest.update(chunk)
                if progress is not None:
                    progress(done, total)
            out.flush()
            os.fsync(out.fileno())
    if total is not None and done != total:
        raise FetchError(f"the transfer stopped after {_mb(done)} of {_mb(total)}; nothing was kept.")
    return digest.hexdigest()


def _check(release: Release, path: Path, digest: str, max_bytes: int) -> None:
    """The downloaded file is the published one (where pinned), reads safely, and fits its architecture."""
    if release.sha256 is not None and digest != release.sha256:
        raise FetchError(
            f"the file's SHA-256 is {digest}, not the published {release.sha256}: it was changed or damaged on the way; "
            "nothing was kept."
        )
    try:
        checkpoint = read_checkpoint(path, max_bytes=max_bytes)
        config = checkpoint_config(make_config(release.arch, detector=True), checkpoint.state)
        match_state_dict(build_detector(config=config, device="meta"), checkpoint.state)  # a file without a head fails
    except WeightsError as err:
        raise FetchError(f"what arrived is not a usable {release.label} checkpoint ({err}); nothing was kept.") from None


def _existing(release: Release, path: Path) -> str:
    """The digest of a file already in the folder (written beside it if missing); a file that is not the pinned
    release is left alone and refused."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if release.sha256 is not None and digest != release.sha256:
        raise FetchError(
            f"{path} is already there and is not Ultralytics' {release.file} (SHA-256 {digest}); it was left as it is: "
            "move it away (or rename it) to fetch the release."
        )
    sidecar = path.with_name(path.name + ".sha256")
    if not sidecar.is_file():
        _write_digest(path, digest)
    return digest


def _write_digest(path: Path, digest: str) -> None:
    """`<file>.sha256` beside the file, as `sha256sum` writes it (so `sha256sum -c` checks it)."""
    sidecar = path.with_name(path.name + ".sha256")
    temporary = path.with_name(f".{path.name}.sha256.part")
    temporary.write_text(f"{digest}  {path.name}\n")
    os.replace(temporary, sidecar)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _reason(reason: object) -> str:
    text = str(reason).strip()
    if isinstance(reason, OSError) and reason.strerror:
        text = reason.strerror
    return text[:160] or type(reason).__name__
