"""What the sidebar decides, as one frozen value every page reads: `Settings`, the photo it names, the
options the sidebar offers and the server settings that shape them. No widgets here (see `sidebar`)."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field

from yolo_explorer.deployment.int8_verdict import uses_samples
from yolo_explorer.deployment.modes import COMPILE_MODES
from yolo_explorer.detection.detections import class_names
from yolo_explorer.environment import variable
from yolo_explorer.model.config import COCO_CLASS_COUNT, FamilyConfig
from yolo_explorer.model.config import config_for as engine_config_for
from yolo_explorer.samples import SAMPLES, sample_bytes

from . import controls
from .server import environment
from .weights import Weights, server_weights

WIDTHS = controls.WIDTH.values  # every width the tutorial's config takes
SIZES = list(controls.SIZES)  # square sides and heights/widths the app offers: multiples of the largest stride
DEFAULT_WIDTH, DEFAULT_DEPTH, DEFAULT_SIDE = controls.WIDTH.default, controls.DEPTH.default, controls.SIDE.default


@dataclass(frozen=True)
class Photo:
    """The image a session looks at, read once: a label for captions, its bytes, and their digest (the key
    under which every cache shares its decoding, its forwards and its pictures)."""

    label: str
    data: bytes = field(repr=False, compare=False)
    digest: str

    @classmethod
    def of(cls, label: str, data: bytes) -> Photo:
        return cls(label, data, hashlib.sha256(data).hexdigest()[:16])

    @classmethod
    def sample(cls, name: str) -> Photo:
        return cls.of(f"sample: {name}", sample_bytes(name))


@dataclass(frozen=True)
class Settings:
    """Everything the sidebar decides, as plain values (hashable cache keys)."""

    arch: str
    width: int
    depth: int
    seed: int
    size: tuple[int, int]  # (H, W) of the model input
    device: str
    dtype: str
    batch_norm: str
    photo: Photo
    weights: Weights | None = field(default=None, compare=False)  # trained weights that fit the config
    detector: bool = False  # an Ultralytics family: the whole detector (YOLO11: layers 0-23) instead of the backbone
    classes: int = COCO_CLASS_COUNT  # the detector head's classes (a checkpoint's head sets them)
    model: FamilyConfig | None = None  # the model an uploaded checkpoint's own table describes (not a shipped family)

    @property
    def config(self):
        if self.model is not None:
            whole = dataclasses.replace(self.model, num_classes=self.classes)
            return whole if self.detector else whole.backbone
        return config_for(self.arch, self.width, self.depth, self.detector, self.classes)

    @property
    def part(self) -> str:
        """ "backbone" or "detector", for titles."""
        return "detector" if self.detector else "backbone"

    @property
    def model_key(self) -> tuple:
        """What the model depends on (the weights by their digest)."""
        return (self.config, self.seed, self.device, self.dtype, self.weights and self.weights.digest)

    @property
    def forward_key(self) -> tuple:
        """What one forward of the photo depends on: every view drawn from its maps is cached under it."""
        return (*self.model_key, self.photo.digest, self.size, self.batch_norm)

    @classmethod
    def first_visit(cls) -> Settings:
        """What the sidebar gives a new session before any control is touched (the server warms this up):
        the server folder's weights for the default architecture if it has some, with running statistics."""
        side = (DEFAULT_SIDE, DEFAULT_SIDE)
        offered = server_weights().for_config(config_for("tutorial", DEFAULT_WIDTH, DEFAULT_DEPTH))
        weights = offered[0] if offered else None
        bn = "running" if weights else "batch"
        return cls("tutorial", DEFAULT_WIDTH, DEFAULT_DEPTH, 0, side, "cpu", "fp32", bn, first_sample(), weights)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The detector head's class names: the trained weights' own, else COCO's for 80 classes, else "class k"."""
        return class_names(self.classes, self.weights and self.weights.names)

    @property
    def samples_fit(self) -> bool:
        """Whether the built-in samples show this model its own world (for int8's calibration): random weights, a
        backbone, or a detector of COCO's classes."""
        return uses_samples(
            trained=self.weights is not None, detector=self.detector, names=self.class_names, classes=self.classes
        )

    @property
    def weights_label(self) -> str:
        return f"trained weights ({self.weights.name})" if self.weights else f"random weights (seed {self.seed})"

    @property
    def size_label(self) -> str:
        h, w = self.size
        return f"{h}×{w}"


def first_sample() -> Photo:
    return Photo.sample(next(iter(SAMPLES)))


def config_for(arch: str, width: int, depth: int, detector: bool = False, classes: int = COCO_CLASS_COUNT):
    """The config the sidebar describes (the sidebar always has a width and a depth; they are the tutorial's)."""
    if arch == "tutorial":
        return engine_config_for(arch, width=width, depth=depth)
    return engine_config_for(arch, detector=detector, classes=classes if detector else None)


def compile_modes(device: str) -> tuple[list[str], str | None]:
    """The Latency page's torch.compile choices on `device` ("eager" first), and a note for the page
    when the server's setting names modes that do not exist.

    `YOLO_EXPLORER_COMPILE_MODES` in the server's environment keeps some modes off, e.g.
    "default,reduce-overhead" on a class's shared GPU, where a max-autotune compile holds a CPU core and
    every other compiled run for minutes; "none" leaves eager only. Unset: every mode the device runs.
    """
    runnable = list(COMPILE_MODES) if device.startswith("cuda") else ["default"]  # reduce-overhead replays CUDA graphs
    offered = environment().compile_modes
    if offered is None:
        return ["eager", *runnable], None
    wanted = set(offered)
    unknown = sorted(wanted - set(COMPILE_MODES))
    note = (
        f"The server's {variable('compile_modes')} names unknown modes ({', '.join(unknown)}); "
        f"known: {', '.join(COMPILE_MODES)}, none."
        if unknown
        else None
    )
    return ["eager", *[mode for mode in runnable if mode in wanted]], note
