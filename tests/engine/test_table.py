"""A model table of the user's own (Ultralytics' model-YAML format): built as Ultralytics builds it (a P2 head, a P6
level, another class count; keys and parameters from Ultralytics 8.4.190 in tests/data/ultralytics_families.json),
and a malformed one refused in one line that names its row, with nothing built."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import yaml

from yolo_explorer.cli import main
from yolo_explorer.model.config import FamilyConfig, family_table
from yolo_explorer.model.detector import build_model
from yolo_explorer.model.families import FAMILIES
from yolo_explorer.model.stats import model_stats
from yolo_explorer.model.table import ModelTable, TableError, read_table

DATA = Path(__file__).parents[1] / "data"
VARIANTS = json.loads((DATA / "ultralytics_families.json").read_text())["variants"]
_UP = [-1, 1, "nn.Upsample", [None, 2, "nearest"]]


def yolo26_with(head: list, backbone: list | None = None, **fields) -> dict:
    table = copy.deepcopy(FAMILIES["yolo26"])
    table["head"] = head
    if backbone is not None:
        table["backbone"] = backbone
    return table | fields


# YOLO26 with a P2 level (a stride-4 output for small objects), as Ultralytics' yolo26-p2.yaml lays it out
P2_HEAD = [
    _UP,
    [[-1, 6], 1, "Concat", [1]],
    [-1, 2, "C3k2", [512, True]],
    _UP,
    [[-1, 4], 1, "Concat", [1]],
    [-1, 2, "C3k2", [256, True]],
    _UP,
    [[-1, 2], 1, "Concat", [1]],
    [-1, 2, "C3k2", [128, True]],  # 19: P2 out
    [-1, 1, "Conv", [128, 3, 2]],
    [[-1, 16], 1, "Concat", [1]],
    [-1, 2, "C3k2", [256, True]],  # 22: P3 out
    [-1, 1, "Conv", [256, 3, 2]],
    [[-1, 13], 1, "Concat", [1]],
    [-1, 2, "C3k2", [512, True]],  # 25: P4 out
    [-1, 1, "Conv", [512, 3, 2]],
    [[-1, 10], 1, "Concat", [1]],
    [-1, 1, "C3k2", [1024, True, 0.5, True]],  # 28: P5 out
    [[19, 22, 25, 28], 1, "Detect", ["nc"]],
]
# YOLO26 with a P6 level (stride 64, for large inputs), as Ultralytics' yolo26-p6.yaml
P6_BACKBONE = [
    [-1, 1, "Conv", [64, 3, 2]],
    [-1, 1, "Conv", [128, 3, 2]],
    [-1, 2, "C3k2", [256, False, 0.25]],
    [-1, 1, "Conv", [256, 3, 2]],
    [-1, 2, "C3k2", [512, False, 0.25]],
    [-1, 1, "Conv", [512, 3, 2]],
    [-1, 2, "C3k2", [512, True]],
    [-1, 1, "Conv", [768, 3, 2]],
    [-1, 2, "C3k2", [768, True]],
    [-1, 1, "Conv", [1024, 3, 2]],
    [-1, 2, "C3k2", [1024, True]],
    [-1, 1, "SPPF", [1024, 5, 3, False]],
    [-1, 2, "C2PSA", [1024]],
]
P6_HEAD = [
    _UP,
    [[-1, 8], 1, "Concat", [1]],
    [-1, 2, "C3k2", [768, True]],
    _UP,
    [[-1, 6], 1, "Concat", [1]],
    [-1, 2, "C3k2", [512, True]],
    _UP,
    [[-1, 4], 1, "Concat", [1]],
    [-1, 2, "C3k2", [256, True]],  # 21: P3 out
    [-1, 1, "Conv", [256, 3, 2]],
    [[-1, 18], 1, "Concat", [1]],
    [-1, 2, "C3k2", [512, True]],  # 24: P4 out
    [-1, 1, "Conv", [512, 3, 2]],
    [[-1, 15], 1, "Concat", [1]],
    [-1, 2, "C3k2", [768, True]],  # 27: P5 out
    [-1, 1, "Conv", [768, 3, 2]],
    [[-1, 12], 1, "Concat", [1]],
    [-1, 1, "C3k2", [1024, True, 0.5, True]],  # 30: P6 out
    [[21, 24, 27, 30], 1, "Detect", ["nc"]],
]


@pytest.mark.parametrize(
    ("name", "table", "scale", "levels"),
    [
        ("yolo26n-p2", yolo26_with(P2_HEAD), "n", ("P2", "P3", "P4", "P5")),
        ("yolo26s-p6", yolo26_with(P6_HEAD, P6_BACKBONE), "s", ("P3", "P4", "P5", "P6")),
        ("yolo11n-nc5", FAMILIES["yolo11"] | {"nc": 5}, "n", ("P3", "P4", "P5")),
    ],
)
def test_a_users_table_builds_what_ultralytics_builds(tmp_path, name, table, scale, levels):
    reference = VARIANTS[name]
    path = tmp_path / f"{name.split('-nc')[0]}.yaml"
    path.write_text(yaml.safe_dump(table, sort_keys=False))
    read = read_table(path)
    config = FamilyConfig(read.name, scale, detector=True, num_classes=read.nc, table=read)
    model = build_model(config, device="meta")
    ours = {key: list(value.shape) for key, value in model.state_dict().items()}
    assert ours == {key.removeprefix("model."): shape for key, shape in reference["keys"].items()}
    assert sum(p.numel() for p in model.parameters()) == reference["params"]
    assert [int(layer) for _, layer in config.outputs] == reference["detect_from"]
    assert tuple(level for level, _ in config.outputs) == levels
    assert not config.shipped and config.label.endswith(f"(its own table) detector{', 5 classes' if 'nc5' in name else ''}")
    stats = model_stats(config, 256)
    assert stats.params == reference["params"] and stats.layers[-1].output_shape[0] == 4 + read.nc


def test_a_shipped_familys_table_read_from_yaml_is_that_family():
    read = ModelTable.read(yaml.safe_load(yaml.safe_dump(FAMILIES["yolo12"])), name="mine")
    assert read.architecture == family_table("yolo12").architecture
    assert read.architecture != family_table("yolo11").architecture


def test_the_cli_builds_a_users_table(tmp_path, capsys):
    path = tmp_path / "yolo26n-p2.yaml"  # the scale is read from the name, as Ultralytics reads it
    path.write_text(yaml.safe_dump(yolo26_with(P2_HEAD), sort_keys=False))
    assert main(["stats", "--model", str(path), "--detector", "--imgsz", "128", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total"]["params"] == VARIANTS["yolo26n-p2"]["params"] and out["config"]["model"] == "yolo26-p2"
    assert main(["stats", "--model", str(path), "--scale", "q"]) == 2
    assert "scale must be one of n, s, m, l, x" in capsys.readouterr().err
    assert main(["stats", "--model", str(path), "--arch", "yolo11n"]) == 2


BAD = [
    (lambda t: t["backbone"].__setitem__(2, [-1, 2, "C9k9", [256]]), "row 2 ([-1, 2, 'C9k9', [256]]): unknown module 'C9k9'"),
    (lambda t: t["head"].__setitem__(1, [[-1, 40], 1, "Concat", [1]]), "row 12 ([[-1, 40], 1, 'Concat', [1]]): 'from' must name"),
    (lambda t: t["head"].__setitem__(0, [-1, 1, "nn.Upsample"]), "row 11 ([-1, 1, 'nn.Upsample']): a row is [from, repeats"),
    (
        lambda t: t["backbone"].__setitem__(0, [-1, 1, "Conv", [64, 3, 2, None, 2]]),
        "row 0 ([-1, 1, 'Conv', [64, 3, 2, None, 2]])",
    ),
    (lambda t: t["backbone"].__setitem__(3, [-1, 2, "Conv", [256, 3, 2]]), "give Conv 1"),
    (lambda t: t["backbone"].__setitem__(6, [-1, 2, "C3k2", [512, "yes"]]), "C3k2's c3k must be true or false"),
    (lambda t: t.__setitem__("head", []), "'head' must be a list"),
    (lambda t: t.__setitem__("nc", 0), "nc must be a whole number of classes"),
    (lambda t: t.__setitem__("scales", {"n": [0.5, 0.25]}), "scale 'n' must be [depth, width, max_channels]"),
    (lambda t: t["head"].__setitem__(2, [-1, 2, "A2C2f", [500, True, 4]]), "hidden channels"),
    (lambda t: t["head"].__setitem__(1, [[-1, 6], 1, "Concat", [2]]), "Concat joins two or more layers along the channels"),
]


@pytest.mark.parametrize(("edit", "message"), BAD)
def test_a_malformed_table_is_refused_in_one_line_naming_its_row(edit, message):
    table = copy.deepcopy(FAMILIES["yolo26"])
    edit(table)
    with pytest.raises(TableError) as caught:
        ModelTable.read(table, name="mine")
    said = str(caught.value)
    assert message in said and said.startswith("mine") and "\n" not in said


def test_a_file_that_is_not_a_table_says_so(tmp_path):
    cases = {
        "broken.yaml": (b"nc: 80\nbackbone: [[-1, 1, Conv\n", "broken is not valid YAML at line"),
        "binary.yaml": (b"\xff\xfe\x00", "binary is not text"),
        "list.yaml": (b"- 1\n- 2\n", "list: a model table is a mapping"),
        "python.yaml": (b"nc: !!python/object/apply:os.system ['true']\n", "python is not valid YAML"),
        "huge.yaml": (b"#" * 300_000, "a model table is at most"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(TableError, match=message):
            read_table(tmp_path / name)
    with pytest.raises(TableError, match="cannot read"):
        read_table(tmp_path / "absent.yaml")


def test_area_attention_needs_a_map_its_strips_divide():
    model = build_model(FamilyConfig("yolo12", "n"))  # the backbone: layer 6 splits its stride-16 map into 4 strips
    with torch.no_grad():
        assert len(model(torch.rand(1, 3, 64, 64))) == 3  # 4x4 positions: 4 strips of 4
        with pytest.raises(ValueError, match="into 4 strips"):
            model(torch.rand(1, 3, 48, 48))  # 3x3 = 9 positions
