"""Loading weights: every accepted layout loads exactly, everything else is refused whole with a clear
message, and a pickle that would run code never runs."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import pickle
import sys
from pathlib import Path

import pytest
import torch
from helpers import zip_bytes
from reference_tutorial import YOLOv11Backbone
from safetensors.torch import save as save_safetensors

from yolo_explorer import build_backbone
from yolo_explorer.model.checkpoints import WeightsError, read_state_dict
from yolo_explorer.model.detector import build_model
from yolo_explorer.model.weights import WeightsMismatchError, load_weights

DATA = Path(__file__).parents[1] / "data"


def tutorial_model(width: int = 8, seed: int = 3) -> YOLOv11Backbone:
    torch.manual_seed(seed)
    model = YOLOv11Backbone(base_channels=width).eval()
    for m in model.modules():  # trained-looking BatchNorm statistics, so that they matter
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return model


def to_bytes(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def same_outputs(a: torch.nn.Module, b: torch.nn.Module, size: int = 64) -> bool:
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        return all(torch.equal(p, q) for p, q in zip(a(x), b(x), strict=True))


def test_tutorial_notebook_state_dict_file_gives_the_tutorials_outputs(tmp_path):
    theirs = tutorial_model()
    path = tmp_path / "tutorial.pt"
    torch.save(theirs.state_dict(), path)
    ours = build_backbone(width=8, seed=99)
    report = load_weights(ours, path)
    assert report.layout == "yolo-explorer" and report.params == sum(p.numel() for p in theirs.parameters())
    assert same_outputs(ours, theirs)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"state_dict": sd, "epoch": 3},
        lambda sd: {"model": sd, "optimizer": {"lr": 0.01}},
        lambda sd: {"model_state_dict": sd},
        lambda sd: {"module." + k: v for k, v in sd.items()},
        lambda sd: {"state_dict": {"module." + k: v for k, v in sd.items()}},
    ],
    ids=["plain", "state_dict", "model", "model_state_dict", "module-prefix", "wrapped-and-prefixed"],
)
def test_wrapped_and_prefixed_checkpoints_load(wrap):
    theirs = tutorial_model()
    ours = build_backbone(width=8, seed=99)
    load_weights(ours, to_bytes(wrap(theirs.state_dict())))
    assert same_outputs(ours, theirs)


def test_safetensors_round_trip():
    theirs = tutorial_model()
    data = save_safetensors({k: v.contiguous() for k, v in theirs.state_dict().items()})
    ours = build_backbone(width=8, seed=99)
    load_weights(ours, data)
    assert same_outputs(ours, theirs)


def test_with_weights_the_seed_no_longer_matters():
    state = tutorial_model().state_dict()
    a, b = build_backbone(width=8, seed=1), build_backbone(width=8, seed=2)
    assert not same_outputs(a, b)
    load_weights(a, state)
    load_weights(b, state)
    assert same_outputs(a, b)


def test_ultralytics_key_names_round_trip():
    """Our YOLO11s written under Ultralytics' names, with a neck and head, loads back exactly."""
    source = build_backbone("yolo11s", seed=5)
    state = {f"model.{k}": v for k, v in source.state_dict().items()}
    state["model.23.dfl.conv.weight"] = torch.zeros(1, 16, 1, 1)  # the head: ignored
    state["model.13.cv1.conv.weight"] = torch.zeros(256, 768, 1, 1)  # the neck: ignored
    target = build_backbone("yolo11s", seed=6)
    report = load_weights(target, {"model": state})
    assert report.layout == "ultralytics" and report.ignored == 2
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), target.state_dict().values(), strict=True))
    assert same_outputs(source, target)


def test_wrong_scale_is_refused_with_the_mismatches_and_nothing_is_loaded():
    state = {f"model.{k}": v for k, v in build_backbone("yolo11s").state_dict().items()}
    target = build_backbone("yolo11n", seed=0)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(WeightsMismatchError, match="do not fit YOLO11n; nothing was loaded") as info:
        load_weights(target, state)
    assert info.value.wrong_shape and "0.conv.weight: file (32, 3, 3, 3), model (16, 3, 3, 3)" in str(info.value)
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_wrong_width_missing_and_unexpected_keys_are_listed():
    state = tutorial_model(width=16).state_dict()
    with pytest.raises(WeightsMismatchError, match="wrong shape"):
        load_weights(build_backbone(width=8), state)
    del state["sppf.cv2.conv.weight"]
    state["head.weight"] = torch.zeros(3)
    with pytest.raises(WeightsMismatchError) as info:
        load_weights(build_backbone(width=16), state)
    assert info.value.missing == ["sppf.cv2.conv.weight"] and info.value.unexpected == ["head.weight"]
    assert "1 missing: sppf.cv2.conv.weight" in str(info.value) and "1 unexpected: head.weight" in str(info.value)


def test_ultralytics_file_for_the_tutorial_is_refused():
    state = {f"model.{k}": v for k, v in build_backbone("yolo11n").state_dict().items()}
    with pytest.raises(WeightsMismatchError, match="do not fit tutorial w=64"):
        load_weights(build_backbone(), state)


def test_non_finite_weights_are_refused():
    state = tutorial_model().state_dict()
    state["stem.conv.weight"][0, 0, 0, 0] = float("nan")
    with pytest.raises(WeightsMismatchError, match="NaN or infinite"):
        load_weights(build_backbone(width=8), state)


class _Trap(torch.nn.Module):
    """A module that writes a file when it is unpickled (its __setstate__ runs on load)."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def __setstate__(self, state):
        Path(state["marker"]).touch()
        super().__setstate__(state)


class _RunsCode:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    payload = {"stem.conv.weight": torch.zeros(1), "evil": _RunsCode(str(marker))}
    buffer = io.BytesIO()
    torch.save(payload, buffer, pickle_module=pickle)
    with pytest.raises(WeightsError, match="refused: this checkpoint holds Python objects or code"):
        read_state_dict(buffer.getvalue())
    assert not marker.exists()


def test_an_ultralytics_checkpoint_is_read_as_ultralytics_reads_it_without_running_it():
    """A checkpoint written by Ultralytics (pickled DetectionModel in fp16, train_args, numpy metrics): the
    state_dict read here is the one Ultralytics' own loader gives, key for key, bit for bit."""
    reference = json.loads((DATA / "ultralytics_tiny_state_dict.json").read_text())["state_dict"]
    data = (DATA / "ultralytics_tiny_checkpoint.pt").read_bytes()
    assert "ultralytics.nn.tasks.DetectionModel" in torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(data))
    state = read_state_dict(data)
    assert list(state) == list(reference) and len(state) == 499
    for key, tensor in state.items():
        digest = hashlib.sha256(tensor.contiguous().numpy().tobytes()).hexdigest()
        assert [str(tensor.dtype), list(tensor.shape), digest] == reference[key], key
    assert "ultralytics" not in sys.modules  # nothing of it was imported (it is not even installed here)


def test_a_whole_pickled_model_loads_as_its_state_dict():
    model = tutorial_model()
    state = read_state_dict(to_bytes(model))
    assert list(state) == list(model.state_dict())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    ours = build_backbone(width=8, seed=99)
    load_weights(ours, to_bytes({"model": model, "ema": None}))  # as a checkpoint's "model", too
    assert same_outputs(ours, model)


def test_a_pickled_model_beside_code_is_refused_whole_and_the_code_never_runs(tmp_path):
    """torch refuses stand-ins for os, subprocess and the like (its blocklist): such a file is not read at all."""
    marker = tmp_path / "pwned"
    with pytest.raises(WeightsError, match="refused: this checkpoint holds Python objects or code"):
        read_state_dict(to_bytes({"model": tutorial_model(), "evil": _RunsCode(str(marker))}))
    assert not marker.exists()


def test_a_stand_in_runs_nothing_of_the_class_it_stands_for(tmp_path):
    """A class of this test module, with a side effect on unpickling, inside a pickled model: read as an
    inert stand-in, the side effect never happens."""
    marker = tmp_path / "ran"
    model = tutorial_model()
    model.stem.add_module("trap", _Trap(str(marker)))
    state = read_state_dict(to_bytes(model))
    assert "stem.conv.weight" in state and not marker.exists()


def test_a_module_tree_that_loops_back_is_read_once():
    model = tutorial_model()
    model.stem.add_module("again", model)  # a cycle: torch's own state_dict() would never end
    state = read_state_dict(to_bytes(model))
    assert "stem.conv.weight" in state and not any(k.startswith("stem.again.") for k in state)


def test_a_pickle_of_objects_that_are_not_modules_is_refused():
    with pytest.raises(WeightsError, match="refused: this checkpoint holds Python objects or code"):
        read_state_dict(to_bytes({"model": argparse.Namespace(lr=0.1)}))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"hello, I am a text file\n" * 10, "not a PyTorch or safetensors weights file"),
        (zip_bytes(), "not a PyTorch or safetensors weights file"),
        (to_bytes({"stem.conv.weight": torch.zeros(2)})[:200], "not a PyTorch or safetensors weights file"),
        (to_bytes([1, 2, 3]), "holds no state_dict"),
        (to_bytes({"a": torch.zeros(1), "b": 3}), "not named tensors: b"),
        (b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}", "safetensors file is damaged"),
    ],
    ids=["empty", "text", "zip", "truncated", "list", "mixed", "bad-safetensors"],
)
def test_bad_files_give_a_clear_error(data, message):
    with pytest.raises(WeightsError, match=message):
        read_state_dict(data)


def test_size_cap_and_unreadable_path(tmp_path):
    with pytest.raises(WeightsError, match="limit is"):
        read_state_dict(b"x" * 2048, max_bytes=1024)
    with pytest.raises(WeightsError, match="cannot read"):
        read_state_dict(tmp_path / "nope.pt")


def test_a_checkpoint_opens_through_the_table_it_carries_or_says_why_it_cannot(capsys):
    """Ultralytics' checkpoints carry their model's table (`model.yaml`), read safely as plain data: a YOLO26n saved by
    Ultralytics 8.4.190 at width 1/16 with one class (tests/data/make_yolo26_checkpoint.py) is built from it, both
    branches of its head load, and `detect` runs it with no --arch; a table naming a module not built here is said in
    one line, with its row."""
    import dataclasses
    from pathlib import Path

    from yolo_explorer.cli import main
    from yolo_explorer.model.checkpoints import read_checkpoint
    from yolo_explorer.model.weights import foreign_model, table_config

    data = Path(__file__).parents[1] / "data"
    yolo26 = read_checkpoint(data / "ultralytics_tiny_yolo26.pt")
    assert yolo26.model_file == "yolo26n.yaml" and yolo26.table["end2end"] is True and yolo26.table["reg_max"] == 1
    assert [row[2] for row in yolo26.table["backbone"]][:2] == ["Conv", "Conv"]  # rows as Ultralytics writes them
    config = table_config(yolo26)
    assert (config.family, config.scale, config.num_classes, config.shipped) == ("yolo26", "n", 1, False)  # width 1/16
    model = build_model(config)
    report = load_weights(model, yolo26)
    assert report.loaded == len(yolo26.state) and model.get_submodule(model.head_name).end2end
    assert foreign_model(yolo26) is None and foreign_model(read_checkpoint(data / "ultralytics_tiny_checkpoint.pt")) is None
    photo = str(data / "photos" / "tiny_40x24.png")
    assert main(["detect", "--weights", str(data / "ultralytics_tiny_yolo26.pt"), "--image", photo]) == 0
    assert "ultralytics_tiny_yolo26.pt are yolo26-n (its own table)'s, with a 1-class detection head" in capsys.readouterr().err

    table = dict(
        yolo26.table, backbone=[*yolo26.table["backbone"][:2], [-1, 3, "C2", [128, True]], *yolo26.table["backbone"][3:]]
    )
    other = dataclasses.replace(yolo26, table=table)
    said = foreign_model(other)
    assert said.startswith("Ultralytics' yolo26n (yolo26n.yaml, 1 class), which this explorer cannot build: yolo26: row 2")
    assert "unknown module 'C2'" in said
