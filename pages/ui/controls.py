"""One table of the choices a user makes, the sidebar's and the pages' own: for each, its widget's key, its name in a
link, its default, the values it takes (options, or a range on steps) and how a link's text becomes one. The widgets
take their arguments from it (`Control.widget`), and `links` reads and writes a link with it (`Control.parse`,
`Control.text`): a range, a list of options or a default is written here once.

What depends on the server or the model (the devices, their precisions, the server's weights, Feature maps' layers)
is decided where it is known; the input size is one link value (`size=640`, `size=480x640`) for three widgets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from yolo_explorer import ARCHITECTURES
from yolo_explorer.detection.detections import PREDICT
from yolo_explorer.model.config import TUTORIAL_WIDTHS
from yolo_explorer.model.families import FAMILIES
from yolo_explorer.model.graph import METRICS, PAINTS
from yolo_explorer.samples import SAMPLES

__all__ = ["CONTROLS", "Control", "by_link"]

SIZES = tuple(range(128, 1281, 32))  # square sides and heights/widths the app offers: multiples of the largest stride
BN_MODES = {
    "batch": "Batch statistics (as the tutorial's figures)",
    "running": "Running statistics (eval mode, as deployed)",
}
PARTS = {"backbone": "Backbone only", "detector": "Whole detector"}  # a link's word -> the widget's option
INPUTS = {"predict": "As `yolo predict`", "full": "The sidebar's whole size"}  # Detections' input: a link's word -> option
BRANCH_OPTIONS = {  # Detections' branch of a YOLO26 head: a link's word -> option
    "one2many": "One-to-many + NMS (predict's default)",
    "one2one": "One-to-one, no NMS (nms=False)",
}


@dataclass(frozen=True)
class Control:
    """One choice: a widget under `key`, `link=` in a link to the view."""

    key: str  # the widget's key in Session State
    link: str | None  # its name in a link's query string (None: never in a link)
    default: Any  # its value before any choice
    options: Mapping[str, Any] = field(default_factory=dict)  # a choice: a link's word -> the widget's value
    low: float | None = None  # a number: its range, inclusive ...
    high: float | None = None
    step: float | None = None  # ... and its steps from `low` (None: any whole number in the range)
    what: str = ""  # what a link's value must be, said when it is not

    @property
    def values(self) -> list[Any]:
        """The widget's options, in order."""
        return list(self.options.values())

    def widget(self) -> dict[str, Any]:
        """The key, default and range or options a widget of this control takes (Streamlit's argument names)."""
        if self.options:
            return {"key": self.key, "default": self.default, "options": self.values}
        bounds = {"min_value": self.low, "max_value": self.high}
        return {"key": self.key, "default": self.default, **bounds, **({"step": self.step} if self.step else {})}

    def parse(self, text: str) -> Any:
        """The value a link's text asks for.

        Raises:
            ValueError: it is not one of this control's values; the message is `what` it must be.
        """
        if self.options:
            if text not in self.options:
                raise ValueError(self.what)
            return self.options[text]
        if self.step is None:  # a whole number: digits only
            if not (text.isdigit() and len(text) <= 12 and self.low <= int(text) <= self.high):
                raise ValueError(self.what)
            return int(text)
        try:
            number = float(text) if len(text) <= 12 else math.nan
        except ValueError:
            raise ValueError(self.what) from None
        if not self.low <= number <= self.high:  # NaN and infinities too
            raise ValueError(self.what)
        steps = round((number - self.low) / self.step)
        value = round(self.low + steps * self.step, 6)
        if abs(value - number) > 1e-6:
            raise ValueError(self.what)
        return value

    def text(self, value: Any) -> str | None:
        """A link's text for `value`; None for the default (links stay short)."""
        if value == self.default:
            return None
        if self.options:
            return next(word for word, option in self.options.items() if option == value)
        return f"{value:.2f}" if self.step is not None and self.step < 1 else str(value)


def _choice(words: Sequence[str]) -> dict[str, str]:
    return {word: word for word in words}


# the tutorial, then the families newest first (YOLO26, Ultralytics' default, at the top), each at its scales n-x
_ARCHS = ["tutorial", *(arch for family in reversed(FAMILIES) for arch in ARCHITECTURES if arch.startswith(family))]
ARCH = Control("arch", "arch", "tutorial", _choice(_ARCHS), what=f"an architecture ({', '.join(_ARCHS)})")
PART = Control("part", "part", PARTS["backbone"], PARTS, what="backbone or detector")
WIDTH = Control(
    "width",
    "w",
    64,  # the tutorial's own
    {str(w): w for w in TUTORIAL_WIDTHS},
    what=f"a width from {TUTORIAL_WIDTHS[0]} to {TUTORIAL_WIDTHS[-1]} in steps of 8",
)
DEPTH = Control("depth", "n", 2, low=1, high=4, what="a number of bottlenecks from 1 to 4")  # the tutorial's n = 2
SEED = Control("seed", "seed", 0, low=0, high=2**31 - 1, what="a seed from 0 to 2^31 - 1")
BATCH_NORM = Control("batch_norm", "bn", "batch", _choice(BN_MODES), what="running or batch")
SQUARE = Control("square", None, True)
SIDE = Control("side", None, 640, {str(s): s for s in SIZES})  # the tutorial's own
HEIGHT = Control("height", None, 480, {str(s): s for s in SIZES})
WIDTH_PX = Control("width_px", None, 640, {str(s): s for s in SIZES})
SAMPLE = Control("sample", "sample", next(iter(SAMPLES)), _choice(SAMPLES), what=f"a sample ({', '.join(SAMPLES)})")
CONF = Control("det_conf", "conf", PREDICT.conf, low=0.05, high=0.95, step=0.05, what="from 0.05 to 0.95 in steps of 0.05")
IOU = Control("det_iou", "iou", PREDICT.iou, low=0.10, high=0.95, step=0.05, what="from 0.1 to 0.95 in steps of 0.05")
INPUT = Control("det_input", "input", INPUTS["predict"], INPUTS, what="predict or full")
BRANCH = Control("det_branch", "branch", BRANCH_OPTIONS["one2many"], BRANCH_OPTIONS, what="one2many or one2one")
PAINT = Control("graph_metric", "paint", METRICS["macs"], PAINTS, what=f"one of {', '.join(PAINTS)}")  # Model graph
BESIDE = Control(
    "graph_beside", "beside", "", _choice(["", "int8", *_ARCHS]), what="an architecture, or int8"
)  # Model graph: nothing beside, this model in int8, or another model

CONTROLS = (
    ARCH, PART, WIDTH, DEPTH, SEED, BATCH_NORM, SQUARE, SIDE, HEIGHT, WIDTH_PX, SAMPLE, CONF, IOU, INPUT, BRANCH, PAINT, BESIDE
)  # fmt: skip
SIZE_WHAT = f"a size S or HxW, multiples of 32 from {SIZES[0]} to {SIZES[-1]}"


def by_link(name: str) -> Control:
    """The control a link's parameter sets."""
    return next(c for c in CONTROLS if c.link == name)
