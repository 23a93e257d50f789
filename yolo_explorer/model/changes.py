"""What changed from one detector family to the next, change by change, and what each change costs.

A family is a layer table (`families`), so a change between two families is an edit of a table: YOLO11 becomes
YOLO26 through five edits (SPPF's linear first conv and residual, C3k blocks in the neck, a PSABlock at P5, the box
branch without DFL, the one-to-one copy of the head). Applied one after another, each edit gives a model that is
built and counted like any other; the last one is the target family's own table (checked: `bill` refuses a route
that does not arrive). A change's cost is the model after it minus the model before it, so the costs add up exactly
to the two families' difference.

    bill = family_bill("yolo11", "yolo26", scale="n", size=640)
    for step in bill.steps:
        print(step.change.title, step.params, step.macs)   # signed: what this change adds (negative: saves)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .config import COCO_CLASS_COUNT, FamilyConfig, family_table
from .families import FAMILY_NAMES
from .stats import ModelStats, model_stats
from .table import ModelTable

__all__ = ["ROUTES", "Bill", "Change", "Step", "family_bill", "route", "without_change"]

_Rows = list[list[Any]]  # [sources (absolute), repeats, module, args] per layer


@dataclass(frozen=True)
class _Plan:
    """A table being edited: rows with absolute sources, the backbone's row count, and the head's flags."""

    rows: tuple[tuple[tuple[int, ...], int, str, tuple[Any, ...]], ...]
    backbone_rows: int
    flags: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, table: ModelTable) -> _Plan:
        rows = tuple((row.sources, row.repeats, row.module, row.args) for row in table.rows)
        flags = {"end2end": table.end2end, "reg_max": table.reg_max, "legacy": table.legacy}
        return cls(rows, table.backbone_rows, tuple(flags.items()))

    def table(self, base: ModelTable, name: str) -> ModelTable:
        """The plan as a checked table with `base`'s scales and classes."""
        rows = [
            [_write_from(sources, i), repeats, module, list(args)] for i, (sources, repeats, module, args) in enumerate(self.rows)
        ]
        flags = dict(self.flags)
        data = base.to_dict() | {
            "backbone": rows[: self.backbone_rows],
            "head": rows[self.backbone_rows :],
            "end2end": flags["end2end"],
            "reg_max": flags["reg_max"],
        }
        return dataclasses.replace(ModelTable.read(data, name=name), legacy=flags["legacy"])


def _write_from(sources: tuple[int, ...], index: int) -> int | list[int]:
    froms = [-1 if s == index - 1 else s for s in sources]
    return froms[0] if len(froms) == 1 else froms


# The edits a change is made of: each takes a plan and gives the edited one.
Edit = Callable[[_Plan], _Plan]


def set_rows(
    indices: Sequence[int],
    *,
    module: str | None = None,
    repeats: int | None = None,
    args: Sequence[Any] | None = None,
    **named: Any,
) -> Edit:
    """Rewrite rows `indices`: a new module, repeats or arguments; `named` sets single arguments by position name
    (`c3k=True` sets C3k2's second argument), keeping the rest."""
    positions = {"c3k": 1, "e": 2, "attn": 3}  # C3k2's
    defaults = {1: False, 2: 0.5, 3: False}

    def edit(plan: _Plan) -> _Plan:
        rows = list(plan.rows)
        for i in indices:
            sources, old_repeats, old_module, old_args = rows[i]
            new_args = list(args if args is not None else old_args)
            for key, value in named.items():
                at = positions[key]
                while len(new_args) <= at:
                    new_args.append(defaults[len(new_args)])
                new_args[at] = value
            rows[i] = (sources, old_repeats if repeats is None else repeats, module or old_module, tuple(new_args))
        return dataclasses.replace(plan, rows=tuple(rows))

    return edit


def drop_rows(indices: Sequence[int]) -> Edit:
    """Remove rows `indices` (single-input layers): a later layer that took one takes what it took instead; the
    indices after it close up."""

    def edit(plan: _Plan) -> _Plan:
        gone = set(indices)
        taken = {}  # a removed row -> the surviving row its output came from
        for i in sorted(gone):
            (source,) = plan.rows[i][0]
            taken[i] = taken.get(source, source)
        renumber = {}
        for i in range(len(plan.rows)):
            if i not in gone:
                renumber[i] = len(renumber)
        rows = []
        for i, (sources, repeats, module, args) in enumerate(plan.rows):
            if i in gone:
                continue
            rows.append((tuple(renumber[taken.get(s, s)] if s >= 0 else s for s in sources), repeats, module, args))
        backbone = sum(1 for i in range(plan.backbone_rows) if i not in gone)
        return dataclasses.replace(plan, rows=tuple(rows), backbone_rows=backbone)

    return edit


def insert_after(index: int, repeats: int, module: str, args: Sequence[Any]) -> Edit:
    """Add a layer after row `index` that takes its output and stands in for it: later layers that took row `index`
    take the new one."""

    def edit(plan: _Plan) -> _Plan:
        def shift(s: int) -> int:
            return s + 1 if s > index else (index + 1 if s == index else s)

        rows = list(plan.rows[: index + 1])
        rows.append(((index,), repeats, module, tuple(args)))
        rows += [(tuple(shift(s) for s in sources), r, m, a) for sources, r, m, a in plan.rows[index + 1 :]]
        backbone = plan.backbone_rows + (index < plan.backbone_rows)
        return dataclasses.replace(plan, rows=tuple(rows), backbone_rows=backbone)

    return edit


def set_flags(**flags: Any) -> Edit:
    """Set the head's flags: end2end, reg_max, legacy."""
    return lambda plan: dataclasses.replace(plan, flags=tuple((dict(plan.flags) | flags).items()))


def set_scales(family: str) -> Edit:
    """Take another family's scale table (its depth and width multiples and channel caps): marked on the plan, applied
    when the plan becomes a table."""
    return set_flags(scales=family)


@dataclass(frozen=True)
class Change:
    """One design change between two families.

    Attributes:
        key: a short name for links and the command line ("sppf").
        title: what changed, in a line.
        explanation: why, and what it does, in a few sentences.
        edits: the table edits that make it.
        same_weights: the change leaves every weight's name and shape as they were (a trained model can run either
            way: its effect on a photo can be shown with trained weights).
    """

    key: str
    title: str
    explanation: str
    edits: tuple[Edit, ...]
    same_weights: bool = False

    def apply(self, plan: _Plan) -> _Plan:
        for edit in self.edits:
            plan = edit(plan)
        return plan


_V8_TO_11 = (
    Change(
        "scales",
        "YOLO11's scale table",
        "The depth and width multiples and the channel cap of each scale: YOLO11 runs half the nominal inner blocks at "
        "n, s and m (YOLOv8 a third at n and s, two thirds at m) and caps m, l and x at 512 channels before widening.",
        (set_scales("yolo11"),),
    ),
    Change(
        "c2psa",
        "C2PSA attention after the SPPF",
        "Half of P5's channels go through PSABlocks (multi-head self-attention over every P5 cell, then a feed-forward "
        "of 1x1 convs): each cell of the coarsest level then sees the whole image. The neck takes P5 from it.",
        (insert_after(9, 2, "C2PSA", (1024,)),),
    ),
    Change(
        "backbone_c3k2",
        "C3k2 for C2f in the backbone",
        "C3k2 is C2f with two inner blocks per nominal repeat and C3k blocks (two bottlenecks in a CSP split) at P4 and "
        "P5: fewer, deeper inner blocks at the same width.",
        (
            set_rows((2,), module="C3k2", repeats=2, args=(128, False)),
            set_rows((4,), module="C3k2", repeats=2, args=(256, False)),
            set_rows((6,), module="C3k2", repeats=2, args=(512, True)),
            set_rows((8,), module="C3k2", repeats=2, args=(1024, True)),
            set_flags(legacy=True),  # Ultralytics switches the class branch with the first C3k2: priced apart below
        ),
    ),
    Change(
        "early_growth",
        "The early C3k2s grow the channels, at expansion 0.25",
        "Layers 2 and 4 double their input's channels themselves (YOLOv8's next stride-2 conv did) and run their hidden "
        "width at a quarter of the output, where the maps are largest.",
        (set_rows((2,), args=(256, False, 0.25)), set_rows((4,), args=(512, False, 0.25))),
    ),
    Change(
        "neck_c3k2",
        "C3k2 for C2f in the neck",
        "The neck's blocks become C3k2 too (two inner blocks per nominal repeat; C3k in the P5 output block).",
        (
            set_rows((13, 19), module="C3k2", repeats=2, args=(512, False)),
            set_rows((16,), module="C3k2", repeats=2, args=(256, False)),
            set_rows((22,), module="C3k2", repeats=2, args=(1024, True)),
        ),
    ),
    Change(
        "depthwise_head",
        "A depthwise class branch in the head",
        "Each level's class branch becomes two depthwise 3x3 + pointwise 1x1 pairs instead of two full 3x3 convs: "
        "most of YOLOv8's head cost was there.",
        (set_flags(legacy=None),),
    ),
)

_11_TO_26 = (
    Change(
        "sppf",
        "SPPF: a linear first conv and a residual",
        "The SPPF's first 1x1 conv has no SiLU, and its output is added to its input: the same weights, computed differently.",
        (set_rows((9,), args=(1024, 5, 3, True)),),
        same_weights=True,
    ),
    Change(
        "neck_c3k",
        "C3k blocks in the neck",
        "The neck's C3k2s at P3 and P4 (layers 13, 16, 19) run C3k inner blocks at every scale, as YOLO11 does only "
        "from m up: deeper blocks at n and s.",
        (set_rows((13, 16, 19), c3k=True),),
    ),
    Change(
        "p5_psa",
        "A PSABlock after each bottleneck at P5",
        "The neck's last C3k2 (layer 22, the P5 output) puts an attention block after each inner block, with one "
        "nominal repeat instead of two.",
        (set_rows((22,), repeats=1, args=(1024, True, 0.5, True)),),
    ),
    Change(
        "no_dfl",
        "A box branch without DFL",
        "Each box side is one predicted distance instead of 16 bins read by the Distribution Focal Loss' softmax: the "
        "box branch ends in 4 channels, not 64, and its width is max(16, P3 channels / 4) instead of at least 64.",
        (set_flags(reg_max=1),),
    ),
    Change(
        "one2one",
        "A one-to-one copy of the head",
        "A second box and class branch per level, trained to give one box per object (read by its top scores, no NMS). "
        "Both branches train; a deployed model keeps one, so the copy costs nothing at inference.",
        (set_flags(end2end=True),),
    ),
)

_11_TO_12 = (
    Change(
        "area_attention",
        "Area attention in the backbone's P4 and P5 blocks",
        "Layers 6 and 8 become A2C2f: R-ELAN blocks of area attention (P4's map cut into 4 strips, each attending within "
        "itself; P5 attends globally) with 4 nominal repeats.",
        (
            set_rows((6,), module="A2C2f", repeats=4, args=(512, True, 4)),
            set_rows((8,), module="A2C2f", repeats=4, args=(1024, True, 1)),
        ),
    ),
    Change(
        "no_sppf_c2psa",
        "No SPPF and no C2PSA",
        "The backbone ends at its attention block: the pooling pyramid and the separate attention layer go, and the "
        "neck takes P5 from layer 8.",
        (drop_rows((9, 10)),),
    ),
    Change(
        "neck_a2c2f",
        "A2C2f without attention in the neck",
        "The neck's P4 and P3 blocks (layers 11, 14, 17) become R-ELAN blocks of plain bottlenecks (A2C2f with its "
        "attention off); the P5 output block stays a C3k2.",
        (set_rows((11, 17), module="A2C2f", args=(512, False, -1)), set_rows((14,), module="A2C2f", args=(256, False, -1))),
    ),
)

ROUTES: dict[tuple[str, str], tuple[Change, ...]] = {
    ("yolov8", "yolo11"): _V8_TO_11,
    ("yolo11", "yolo26"): _11_TO_26,
    ("yolo11", "yolo12"): _11_TO_12,
    ("yolov8", "yolo26"): _V8_TO_11 + _11_TO_26,
    ("yolov8", "yolo12"): _V8_TO_11 + _11_TO_12,
}


def route(source: str, target: str) -> tuple[Change, ...]:
    """The changes from family `source` to family `target`, in the order they are applied.

    Raises:
        ValueError: no route between the two (the routes go forward in time: YOLOv8 -> YOLO11 -> YOLO12 or YOLO26).
    """
    try:
        return ROUTES[(source, target)]
    except KeyError:
        pairs = ", ".join(f"{FAMILY_NAMES[a]} → {FAMILY_NAMES[b]}" for a, b in ROUTES)
        raise ValueError(f"no route from {source!r} to {target!r}; this explorer prices {pairs}") from None


@dataclass(frozen=True)
class Step:
    """One change applied: the model after it and what it changed against the model before.

    `params`, `macs`, `activation_bytes`, `deployed_params` and `deployed_macs` are signed: after minus before."""

    change: Change
    config: FamilyConfig
    stats: ModelStats
    rows: tuple[int, ...]  # the layers (of the model after) the change touched
    removed: tuple[int, ...]  # the layers (of the model before) it removed
    params: int
    macs: int
    activation_bytes: int
    deployed_params: int
    deployed_macs: int


@dataclass(frozen=True)
class Bill:
    """The route from one family to another at one scale and size, change by change."""

    source: FamilyConfig
    target: FamilyConfig
    start: ModelStats
    steps: tuple[Step, ...]

    @property
    def end(self) -> ModelStats:
        return self.steps[-1].stats if self.steps else self.start

    @property
    def configs(self) -> tuple[FamilyConfig, ...]:
        """The source, every model between, and the target."""
        return (self.source, *(step.config for step in self.steps))

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `python -m yolo_explorer changes --json`."""

        def totals(stats: ModelStats) -> dict[str, int]:
            return {
                "params": stats.params,
                "macs": stats.macs,
                "activation_bytes": stats.activation_bytes,
                "deployed_params": stats.deployed_params,
                "deployed_macs": stats.deployed_flops // 2,
            }

        return {
            "from": self.source.to_dict(),
            "to": self.target.to_dict(),
            "input": list(self.start.input_shape),
            "start": totals(self.start),
            "end": totals(self.end),
            "changes": [
                {
                    "key": step.change.key,
                    "title": step.change.title,
                    "explanation": step.change.explanation,
                    "layers": list(map(str, step.rows)),
                    "removed_layers": list(map(str, step.removed)),
                    "same_weights": step.change.same_weights,
                    "delta": {
                        "params": step.params,
                        "macs": step.macs,
                        "activation_bytes": step.activation_bytes,
                        "deployed_params": step.deployed_params,
                        "deployed_macs": step.deployed_macs,
                    },
                    "after": totals(step.stats),
                }
                for step in self.steps
            ],
        }


def family_bill(
    source: str,
    target: str,
    scale: str = "n",
    size: int | tuple[int, int] = 640,
    num_classes: int = COCO_CLASS_COUNT,
    dtype: str = "fp32",
) -> Bill:
    """Price the route from family `source` to family `target`, change by change, for whole detectors at `scale`
    and `size` (statistics on the meta device).

    Raises:
        ValueError: no route between the families, or a scale neither has.
    """
    changes = route(source, target)
    base = FamilyConfig(source, scale, detector=True, num_classes=num_classes)
    goal = FamilyConfig(target, scale, detector=True, num_classes=num_classes)
    start = model_stats(base, size, dtype)
    plan, before, before_config, steps = _Plan.of(base.table), start, base, []
    scales = base.table
    for change in changes:
        edited = change.apply(plan)
        flags = dict(edited.flags)
        scales = family_table(flags.pop("scales")) if "scales" in flags else scales
        edited = dataclasses.replace(edited, flags=tuple(flags.items()))
        table = edited.table(scales, f"{source} → {change.key}")
        config = FamilyConfig(table.name, scale, detector=True, num_classes=num_classes, table=table)
        after = model_stats(config, size, dtype)
        steps.append(
            Step(
                change,
                config,
                after,
                *_touched(before_config, config),
                after.params - before.params,
                after.macs - before.macs,
                after.activation_bytes - before.activation_bytes,
                after.deployed_params - before.deployed_params,
                (after.deployed_flops - before.deployed_flops) // 2,
            )
        )
        plan, before, before_config = edited, after, config
    if steps[-1].config.table.architecture != goal.table.architecture:  # a route must arrive: the costs then add up
        raise RuntimeError(f"the route {source} → {target} does not arrive at {target}'s table")
    last = steps[-1]
    steps[-1] = dataclasses.replace(last, config=goal, stats=dataclasses.replace(last.stats, config=goal.to_dict()))
    return Bill(base, goal, start, tuple(steps))


def _touched(before: FamilyConfig, after: FamilyConfig) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(layers of `after` built differently from `before`'s, layers of `before` gone): where layers were added or
    removed, the rows new in one and not in the other (the rest only moved)."""
    old, new = before.layers(), after.layers()
    if len(old) == len(new):
        return tuple(i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b), ()
    old_rows, new_rows = (tuple(row[1:] for row in _Plan.of(c.table).rows) for c in (before, after))
    return (
        tuple(i for i, row in enumerate(new_rows) if row not in old_rows),
        tuple(i for i, row in enumerate(old_rows) if row not in new_rows),
    )


def without_change(bill: Bill, index: int) -> FamilyConfig:
    """The route's target with change `index` (of `bill.steps`) alone undone: the layers it touched as they were before
    it. Only for a change that keeps every weight's name and shape (`Change.same_weights`), so that trained weights of
    the target run in it unchanged: what that one change does to a trained model's output.

    Raises:
        ValueError: a change that alters the weights.
    """
    step = bill.steps[index]
    if not step.change.same_weights:
        raise ValueError(f"{step.change.title!r} changes the weights: trained weights cannot run without it")
    before, target = _Plan.of(bill.configs[index].table), _Plan.of(bill.target.table)
    rows = list(target.rows)
    for i in step.rows:
        rows[i] = before.rows[i]
    plan = dataclasses.replace(target, rows=tuple(rows))
    table = plan.table(bill.target.table, f"{bill.target.family} without {step.change.key}")
    return FamilyConfig(table.name, bill.target.scale, detector=True, num_classes=bill.target.num_classes, table=table)
