"""The server weights folder in the app: offered to every session as the default, read once, a bad file listed, a
detection checkpoint served to the backbone and the whole detector."""

from __future__ import annotations

import io

import pytest
import torch
from helpers import no_problems

from yolo_explorer import build_backbone, build_detector, extract_features, load_image
from yolo_explorer.present.formatting import escape_markdown
from yolo_explorer.samples import SAMPLES, sample_bytes


def state_bytes(model: torch.nn.Module, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    torch.save({f"{prefix}{k}": v for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


@pytest.fixture
def folder(tmp_path, server_env):
    """A weights folder as an instructor leaves it: Ultralytics-style YOLO11n weights, a broken file."""
    (tmp_path / "yolo11n_sd.pt").write_bytes(state_bytes(build_backbone("yolo11n", seed=11), prefix="model."))
    (tmp_path / "broken.pt").write_bytes(b"PK\x03\x04 half a zip file")
    server_env("YOLO_EXPLORER_WEIGHTS_DIR", str(tmp_path))
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


def test_the_warm_up_prepares_what_the_first_visitor_gets(tmp_path, server_env):
    """The server's warm-up computes the first page with the folder's weights for the default architecture."""
    from pages.ui.settings import Settings

    (tmp_path / "tutorial_w64.pt").write_bytes(state_bytes(build_backbone(width=64, seed=2)))
    server_env("YOLO_EXPLORER_WEIGHTS_DIR", str(tmp_path))
    first = Settings.first_visit()
    assert first.weights is not None and first.weights.name == "tutorial_w64.pt" and first.batch_norm == "running"
    server_env("YOLO_EXPLORER_WEIGHTS_DIR", None)
    assert Settings.first_visit().weights is None and Settings.first_visit().batch_norm == "batch"


@pytest.mark.slow  # a whole detector checkpoint through the folder and three pages
def test_a_detection_checkpoint_in_the_folder_serves_the_backbone_and_the_whole_detector(app, folder):
    """A whole YOLO11n detection state_dict with 3 classes: offered for the backbone (layers 0-10) and for the whole
    detector, whose head takes its class count; the backbone-only file is not offered for the detector."""

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
