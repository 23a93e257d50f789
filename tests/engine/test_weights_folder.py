"""The server's weights folder (YOLO_EXPLORER_WEIGHTS_DIR): which architecture each file fits, files that
are refused with their reason (the app's use of it: tests/app/test_page_weights_folder.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from yolo_explorer import build_backbone, build_detector, load_weights, make_config
from yolo_explorer.model.config import YOLO11_SCALES
from yolo_explorer.model.weights import WeightsMismatchError, fitting_config, scan_folder

DATA = Path(__file__).parents[1] / "data"
ULTRALYTICS = json.loads((DATA / "ultralytics_yolo11_keys.json").read_text())["scales"]


def ultralytics_state(scale: str) -> dict[str, torch.Tensor]:
    """A whole detection model's state_dict with Ultralytics' own keys and shapes (zeros, no memory)."""
    return {k: torch.zeros(()).expand(shape) for k, shape in ULTRALYTICS[scale]["keys"].items()}


def save(path: Path, state: dict[str, torch.Tensor]) -> Path:
    torch.save({k: v.contiguous() for k, v in state.items()}, path)
    return path


@pytest.mark.parametrize("scale", YOLO11_SCALES)
def test_a_whole_ultralytics_model_fits_its_scale(scale):
    assert fitting_config(ultralytics_state(scale)) == make_config(f"yolo11{scale}")


@pytest.mark.parametrize(("width", "depth"), [(8, 1), (16, 2), (64, 3)])
def test_a_tutorial_state_dict_fits_its_width_and_depth(width, depth):
    state = build_backbone(width=width, depth=depth, device="meta").state_dict()
    state = {f"module.{k}": torch.zeros(()).expand(v.shape) for k, v in state.items()}  # as DataParallel saves it
    assert fitting_config(state) == make_config("tutorial", width=width, depth=depth)


def test_a_state_dict_that_fits_nothing_names_the_closest_architecture():
    state = ultralytics_state("n")
    state["model.2.cv1.conv.weight"] = torch.zeros(7, 7, 1, 1)
    with pytest.raises(WeightsMismatchError, match=r"fits none of the architectures.*closest is YOLO11n: 1 wrong shape"):
        fitting_config(state)


def test_scan_reads_every_file_and_says_why_one_is_refused(tmp_path):
    save(tmp_path / "yolo11n_sd.pt", ultralytics_state("n"))
    save(tmp_path / "tiny.pt", build_backbone(width=8, seed=1).state_dict())
    (tmp_path / "notes.txt").write_text("not weights")
    save(tmp_path / "other.pt", {"fc.weight": torch.zeros(3, 3)})
    (tmp_path / ".hidden.pt").write_bytes(b"skipped")
    (tmp_path / "sub").mkdir()
    found = {f.name: f for f in scan_folder(tmp_path)}
    assert sorted(found) == ["notes.txt", "other.pt", "tiny.pt", "yolo11n_sd.pt"]
    assert found["yolo11n_sd.pt"].config == make_config("yolo11n")
    whole = found["yolo11n_sd.pt"].state  # a whole detection model: kept for the detector, renamed to its keys
    detector_keys = {k for k in build_detector("yolo11n", device="meta").state_dict() if not k.endswith("num_batches_tracked")}
    assert detector_keys <= set(whole) <= set(build_detector("yolo11n", device="meta").state_dict())
    backbone = build_backbone("yolo11n", seed=0)
    report = load_weights(backbone, whole)  # the backbone takes layers 0-10 of it and ignores the rest
    assert report.ignored == sum(1 for k in whole if int(k.split(".")[0]) > 10) and report.ignored > 0
    assert torch.equal(backbone.state_dict()["4.cv1.conv.weight"], whole["4.cv1.conv.weight"])
    assert found["tiny.pt"].config == make_config("tutorial", width=8)
    assert found["notes.txt"].config is None and "not a PyTorch or safetensors weights file" in found["notes.txt"].problem
    assert found["other.pt"].config is None and "fits none of the architectures" in found["other.pt"].problem
