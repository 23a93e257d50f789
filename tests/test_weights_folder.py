"""The server's weights folder (YOLO_EXPLORER_WEIGHTS_DIR): which architecture each file fits, files that
are refused with their reason, and in the app: offered to every session as the default, read once."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from helpers import no_problems

from yolo_explorer import build_backbone, build_detector, extract_features, load_image, load_weights, make_config
from yolo_explorer.config import YOLO11_SCALES
from yolo_explorer.formatting import escape_markdown
from yolo_explorer.samples import SAMPLES, sample_bytes
from yolo_explorer.weights import WeightsMismatchError, fitting_config, scan_folder

DATA = Path(__file__).parent / "data"
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


# The app: the folder is a server setting, read once and offered in every session's sidebar.


def state_bytes(model: torch.nn.Module, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    torch.save({f"{prefix}{k}": v for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A weights folder as an instructor leaves it: Ultralytics-style YOLO11n weights, a broken file."""
    (tmp_path / "yolo11n_sd.pt").write_bytes(state_bytes(build_backbone("yolo11n", seed=11), prefix="model."))
    (tmp_path / "broken.pt").write_bytes(b"PK\x03\x04 half a zip file")
    monkeypatch.setenv("YOLO_EXPLORER_WEIGHTS_DIR", str(tmp_path))
    return tmp_path


def test_folder_weights_are_the_default_used_and_a_bad_file_is_listed(app, folder):
    at = app(arch="yolo11n", side=128)
    no_problems(at)
    assert at.get_by_key("server_weights_YOLO11n").value == "yolo11n_sd.pt"
    assert "trained weights (yolo11n_sd.pt)" in at.caption[0].value
    assert at.get_by_key("batch_norm").value == "running"  # trained statistics are used
    notes = " ".join(c.value for c in at.sidebar.caption)
    assert escape_markdown("broken.pt") in notes and "not a PyTorch or safetensors weights file" in notes
    assert f"Using {escape_markdown('yolo11n_sd.pt')} from the server's weights folder" in notes  # a name from a file

    # the maps are those of these weights: a direct forward with them loaded gives the same P3
    from pages.ui import compute

    result = compute.features_for(at.session_state["settings"])
    model = build_backbone("yolo11n", seed=11)
    direct = extract_features(model, load_image(sample_bytes(next(iter(SAMPLES)))), 128, ["P3"], batch_norm="running")
    assert torch.equal(result.maps["P3"], direct.maps["P3"])

    at.get_by_key("server_weights_YOLO11n").set_value("random weights").run()
    no_problems(at)
    assert "random weights (seed 0)" in at.caption[0].value
    assert at.get_by_key("batch_norm").value == "batch"


def test_folder_is_read_once_for_every_session(app, folder, monkeypatch):
    from pages.ui import weights

    reads = []
    real = weights.scan_folder
    monkeypatch.setattr(weights, "scan_folder", lambda path: reads.append(path) or real(path))
    first, second = app(arch="yolo11n", side=128), app(arch="yolo11n", side=128)
    no_problems(first), no_problems(second)
    assert reads == [str(folder)]
    used = [w for w in (first.session_state["settings"].weights, second.session_state["settings"].weights)]
    assert used[0] is used[1] and used[0].origin == "server"  # the same tensors, never a copy per session


def test_other_architectures_are_untouched_and_uploads_still_win(app, folder):
    at = app(width=8, side=128)  # the tutorial: nothing in the folder fits it
    no_problems(at)
    assert "random weights" in at.caption[0].value
    at.get_by_key("arch").set_value("yolo11n").run()
    upload = state_bytes(build_backbone("yolo11n", seed=5), prefix="model.")
    at.file_uploader(key="weights_upload").set_value(("mine.pt", upload, "application/octet-stream")).run()
    no_problems(at)
    assert "trained weights (mine.pt)" in at.caption[0].value


def test_the_warm_up_prepares_what_the_first_visitor_gets(tmp_path, monkeypatch):
    """The server's warm-up computes the first page with the folder's weights for the default architecture."""
    from pages.ui.settings import Settings

    save(tmp_path / "tutorial_w64.pt", build_backbone(width=64, seed=2).state_dict())
    monkeypatch.setenv("YOLO_EXPLORER_WEIGHTS_DIR", str(tmp_path))
    first = Settings.first_visit()
    assert first.weights is not None and first.weights.name == "tutorial_w64.pt" and first.batch_norm == "running"
    monkeypatch.delenv("YOLO_EXPLORER_WEIGHTS_DIR")
    assert Settings.first_visit().weights is None and Settings.first_visit().batch_norm == "batch"


@pytest.mark.slow  # a whole detector checkpoint through the folder and three pages
def test_a_detection_checkpoint_in_the_folder_serves_the_backbone_and_the_whole_detector(app, folder):
    """A whole YOLO11n detection state_dict with 3 classes: offered for the backbone (layers 0-10) and for the whole
    detector, whose head takes its class count; the backbone-only file is not offered for the detector."""
    from yolo_explorer import build_detector

    detector = build_detector("yolo11n", 3, seed=12)
    (folder / "three_classes.pt").write_bytes(state_bytes(detector, prefix="model."))
    at = app(arch="yolo11n", side=128)
    assert at.get_by_key("server_weights_YOLO11n").options == [
        "three_classes.pt (server)",
        "yolo11n_sd.pt (server)",
        "random weights",
    ]
    at.get_by_key("part").set_value("Whole detector").run()
    no_problems(at)
    key = "server_weights_YOLO11n detector"
    assert at.get_by_key(key).options == ["three_classes.pt (server)", "random weights"]
    settings = at.session_state["settings"]
    assert settings.classes == 3 and settings.config.num_classes == 3 and settings.weights.name == "three_classes.pt"
    assert any("a head of 3 classes" in c.value for c in at.sidebar.caption)
    from pages.ui import compute

    model = compute.model_for(settings)
    assert all(torch.equal(v, detector.state_dict()[k]) for k, v in model.state_dict().items())
