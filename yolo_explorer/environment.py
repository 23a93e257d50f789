"""A process's configuration from its environment, read once at start-up: the server's folders, caps and switches.

The engine reads no environment variable. The app (its start-up, then every session from a shared cache) and
the command line (in `main`) call `Environment.read(os.environ)` once and hand what it holds to the engine's
functions: the weights folder to `pretrained.fetch`, the memory cap to `memory.check_forward_fits`, the
calibration folder to `onnx_models.calibration_folder`, the lock folder to `devices.share_device_locks`.
A bad value is refused there, in one line that names the variable. `VARIABLES` lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .deployment.devices import DEFAULT_LOCK_DIR

__all__ = ["VARIABLES", "Environment", "Variable", "variable"]


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, the `Environment` field it sets, and what it means."""

    name: str
    field: str
    meaning: str


VARIABLES = (
    Variable(
        "YOLO_EXPLORER_WEIGHTS_DIR",
        "weights_dir",
        "the weights folder: trained weights offered to every session, where fetched checkpoints go "
        "(default: $XDG_CACHE_HOME/yolo-explorer/weights, else ~/.cache/yolo-explorer/weights)",
    ),
    Variable("YOLO_EXPLORER_WEIGHTS_URL", "weights_url", "where checkpoints are fetched from: a mirror (default: Ultralytics')"),
    Variable("YOLO_EXPLORER_FETCH", "fetch", '"off" (or 0, no, false): the app offers no download (an offline host)'),
    Variable("YOLO_EXPLORER_CALIBRATION_DIR", "calibration_dir", "the server's own photos, offered for int8's calibration"),
    Variable("YOLO_EXPLORER_MAX_FORWARD_MB", "max_forward_bytes", "the most memory one forward may take, in MiB (default none)"),
    Variable(
        "YOLO_EXPLORER_LOCK_DIR",
        "lock_dir",
        'where the processes of a host share their device locks (default: the temp dir\'s yolo-explorer-locks); "none": '
        "each process locks alone",
    ),
    Variable(
        "YOLO_EXPLORER_COMPILE_MODES",
        "compile_modes",
        'the torch.compile modes the app offers, e.g. "default,reduce-overhead"; "none": eager only (default: all)',
    ),
    Variable("YOLO_EXPLORER_DEBUG", "debug", "any value: the command line shows a traceback instead of one line"),
)
_OFF = ("off", "0", "no", "false")


@dataclass(frozen=True)
class Environment:
    """What the environment says, parsed and checked; the defaults are a laptop's (no variable set)."""

    weights_dir: Path  # the weights folder
    weights_dir_set: bool = False  # the server named it: its files are offered to every visitor (and refusals logged)
    weights_url: str | None = None  # a mirror to fetch from; None: Ultralytics' release
    fetch: bool = True  # the app may download checkpoints
    calibration_dir: Path | None = None  # the server's photos for int8's calibration
    max_forward_bytes: int | None = None  # the cap on one forward's memory
    lock_dir: Path | None = None  # the host's shared device locks; None: per process
    compile_modes: tuple[str, ...] | None = None  # the torch.compile modes offered; None: every mode
    debug: bool = False  # tracebacks on the command line

    @classmethod
    def read(cls, values: Mapping[str, str]) -> Environment:
        """Parse `values`: pass `os.environ`.

        Raises:
            ValueError: a variable's value is not allowed; the message names it and says what is.
        """

        def get(name: str) -> str | None:
            value = values.get(name, "").strip()
            return value or None

        named = get("YOLO_EXPLORER_WEIGHTS_DIR")
        cache = Path(get("XDG_CACHE_HOME") or Path(get("HOME") or Path.home()) / ".cache")
        locks = get("YOLO_EXPLORER_LOCK_DIR")
        modes = get("YOLO_EXPLORER_COMPILE_MODES")
        calibration = get("YOLO_EXPLORER_CALIBRATION_DIR")
        return cls(
            weights_dir=Path(named).expanduser() if named else cache / "yolo-explorer" / "weights",
            weights_dir_set=named is not None,
            weights_url=get("YOLO_EXPLORER_WEIGHTS_URL"),
            fetch=(get("YOLO_EXPLORER_FETCH") or "on").lower() not in _OFF,
            calibration_dir=Path(calibration).expanduser() if calibration else None,
            max_forward_bytes=_mebibytes("YOLO_EXPLORER_MAX_FORWARD_MB", get("YOLO_EXPLORER_MAX_FORWARD_MB")),
            lock_dir=None if (locks or "").lower() == "none" else Path(locks).expanduser() if locks else DEFAULT_LOCK_DIR,
            compile_modes=None if modes is None else tuple(m.strip() for m in modes.split(",") if m.strip() not in ("", "none")),
            debug=get("YOLO_EXPLORER_DEBUG") is not None,
        )


def _mebibytes(name: str, value: str | None) -> int | None:
    """A number of MiB, as bytes; None when unset."""
    if value is None:
        return None
    try:
        mib = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of MiB, got {value!r}") from None
    if not mib > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return int(mib * 2**20)


def variable(field: str) -> str:
    """The name of the variable that sets `Environment.<field>`, for messages: variable("fetch") -> "YOLO_EXPLORER_FETCH"."""
    return next(v.name for v in VARIABLES if v.field == field)
