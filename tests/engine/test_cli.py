"""`python -m yolo_explorer`: outputs parse and agree with the engine; errors are one line, never a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import cli
from PIL import Image
from spec import FLOPS_W64_640, MACS_W64_640, TOTALS

from yolo_explorer import make_config, model_stats
from yolo_explorer.cli import main
from yolo_explorer.model.config import fit_size, max_stride

ROOT = Path(__file__).resolve().parents[2]
SLOW = pytest.mark.slow
SAMPLE = ROOT / "yolo_explorer" / "samples" / "cat.jpg"


@pytest.mark.slow
def test_stats_json_matches_the_engine_and_spec():
    run = cli("stats", "--width", "64", "--imgsz", "640", "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["config"]["width"] == 64 and out["input"] == [3, 640, 640]
    assert [s["name"] for s in out["stages"]] == [s.name for s in model_stats(make_config(width=64), 640).layers]
    assert out["total"] == {
        "params": TOTALS[64],
        "macs": MACS_W64_640,
        "flops": FLOPS_W64_640,
        "activation_bytes": out["total"]["activation_bytes"],
    }
    assert out["stages"][4]["output_shape"] == [256, 80, 80]


@pytest.mark.slow
def test_stats_table_nonsquare_with_summary():
    run = cli("stats", "--width", "16", "--imgsz", "480x641", "--dtype", "fp16", "--summary", "--depth", "1")
    assert run.returncode == 0, run.stderr
    assert "1,606,032" in run.stdout and "not a multiple of 32" in run.stdout
    assert "Total params: 1,606,032" in run.stdout


@pytest.mark.slow
def test_features_writes_maps_input_and_grids(tmp_path):
    run = cli(
        "features", "--image", str(SAMPLE), "--width", "8", "--imgsz", "320", "--seed", "3", "--out", str(tmp_path), "--top", "4"
    )
    assert run.returncode == 0, run.stderr
    assert Image.open(tmp_path / "input.png").size == (320, 320)
    for name, (c, s) in {"P3": (32, 40), "P4": (64, 20), "P5": (128, 10)}.items():
        array = np.load(tmp_path / f"{name}.npy")
        assert array.dtype == np.float32 and array.shape == (c, s, s)
        assert (tmp_path / f"{name}_top4.png").is_file()
    again = tmp_path / "again"
    cli(
        "features",
        "--image",
        str(SAMPLE),
        "--width",
        "8",
        "--imgsz",
        "320",
        "--seed",
        "3",
        "--out",
        str(again),
        "--layers",
        "stage1_c3k2.cv1",
    )
    assert np.load(again / "stage1_c3k2.cv1.npy").shape == (16, 80, 80)  # 2 x int(2w x 0.5)


@pytest.mark.slow
def test_latency_json():
    run = cli("latency", "--width", "8", "--imgsz", "128", "--iters", "3", "--warmup", "1", "--batch", "2", "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert {"median_ms", "p90_ms", "min_ms", "max_ms", "images_per_s", "device", "torch"} <= set(out)
    assert out["batch"] == 2 and len(out["times_ms"]) == 3


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, words",
    [
        (["stats", "--width", "12"], "multiple of 8"),
        (["stats", "--imgsz", "640x"], "size must be"),
        (["stats", "--dtype", "fp64"], "invalid choice"),
        (["stats", "--summary", "--depth", "0"], "positive integer"),
        (["latency", "--device", "cuda:3", "--iters", "1"], "not present"),
        (["latency", "--device", "tpu", "--iters", "1"], "not a device"),
        (["features", "--image", "x.png"], "--out"),
        (["features", "--image", str(SAMPLE), "--out", "/tmp/x", "--layers", "stage9"], "not a layer"),
        (["explode"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, words):
    run = cli(*args)
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and words in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.slow
@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_bad_image_exits_1_with_one_line(tmp_path, content):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    run = cli("features", "--image", str(bad), "--out", str(tmp_path / "out"))
    assert run.returncode == 1
    assert len(run.stderr.strip().splitlines()) == 1 and "bad.png" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_runs_from_another_directory(tmp_path):
    run = cli("stats", "--width", "8", "--json", cwd=tmp_path)
    assert run.returncode == 0 and json.loads(run.stdout)["total"]["params"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["yolo11n", "yolo11m"])
def test_yolo11_stats_json_one_row_per_layer_index(arch):
    run = cli("stats", "--arch", arch, "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert [s["name"] for s in out["stages"]] == [str(i) for i in range(11)]
    assert out["total"]["params"] == model_stats(make_config(arch), 640).params
    assert out["config"] == {"arch": arch, "scale": arch[-1], "in_channels": 3}


@pytest.mark.slow
def test_width_is_refused_for_yolo11():
    run = cli("stats", "--arch", "yolo11s", "--width", "32")
    assert run.returncode == 2 and "apply to the tutorial" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.slow
def test_weights_make_features_independent_of_the_seed(tmp_path):
    import torch

    from yolo_explorer import build_backbone

    weights = tmp_path / "w.pt"
    torch.save({"state_dict": build_backbone(width=8, seed=42).state_dict()}, weights)
    maps = []
    for seed in ("1", "2"):
        out = tmp_path / f"seed{seed}"
        common = ("--width", "8", "--imgsz", "128", "--layers", "P5", "--weights", str(weights))
        run = cli("features", "--image", str(SAMPLE), *common, "--seed", seed, "--out", str(out))
        assert run.returncode == 0, run.stderr
        assert "weights: " in run.stderr
        maps.append(np.load(out / "P5.npy"))
    assert np.array_equal(maps[0], maps[1])


@pytest.mark.slow
def test_bad_or_mismatched_weights_exit_1_with_one_line(tmp_path):
    import torch

    from yolo_explorer import build_backbone

    bad = tmp_path / "bad.pt"
    bad.write_text("not weights")
    wrong = tmp_path / "wrong.pt"
    torch.save(build_backbone(width=16).state_dict(), wrong)
    for path, message in (
        (bad, "not a PyTorch or safetensors"),
        (wrong, "these weights are tutorial w=16's, not tutorial w=8's: load them with --arch tutorial --width 16 --repeats 2"),
        (tmp_path / "no.pt", "cannot read"),
    ):
        run = cli("latency", "--width", "8", "--imgsz", "64", "--iters", "1", "--weights", str(path))
        assert run.returncode == 1 and message in run.stderr and "Traceback" not in run.stderr, run.stderr


@pytest.mark.slow
def test_latency_modes_sweep_json():
    run = cli(
        "latency",
        "--width",
        "8",
        "--imgsz",
        "64",
        "--iters",
        "2",
        "--channels-last",
        "--sweep",
        "1,2",
        "--threads",
        "1",
        "--json",
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert [r["batch"] for r in out] == [1, 2] and all(r["mode"] == "fp32 + channels_last" and r["threads"] == 1 for r in out)
    assert out[1]["flops"] == 2 * out[0]["flops"] == 2 * model_stats(make_config(width=8), 64).flops


@pytest.mark.slow
def test_gpu_only_modes_are_refused_on_cpu():
    run = cli("latency", "--width", "8", "--imgsz", "64", "--cuda-graph")
    assert run.returncode == 2 and "CUDA graphs need a CUDA device" in run.stderr
    run = cli("latency", "--width", "8", "--imgsz", "64", "--cudnn-benchmark")
    assert run.returncode == 2 and "cuDNN autotuning needs a CUDA device" in run.stderr


@pytest.mark.slow
def test_latency_with_folded_batchnorm_reports_its_error():
    run = cli("latency", "--width", "8", "--imgsz", "64", "--iters", "2", "--fold-bn", "--error", "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["mode"] == "fp32 + BN folded" and out["relative_error"] < 1e-5
    assert [o["name"] for o in out["outputs"]] == ["P3", "P4", "P5"]  # each output named, as ONNX Runtime's
    assert out["relative_error"] == max(o["relative_error"] for o in out["outputs"])
    text = cli("latency", "--arch", "yolo11n", "--detector", "--imgsz", "64", "--iters", "1", "--dtype", "bf16", "--error")
    assert text.returncode == 0, text.stderr
    named = re.findall(r"^  (\w+): relative error ([\d.e+-]+), cosine similarity ([\d.]+)$", text.stdout, flags=re.M)
    assert [n for n, _, _ in named] == ["P3", "P4", "P5", "boxes", "scores", "decoded"]
    assert all(1e-4 < float(e) < 0.5 and 0.9 < float(c) < 1 for _, e, c in named)  # bf16 keeps 8 bits


@pytest.mark.slow
def test_a_failed_compile_is_one_line(tmp_path):
    no_compiler = {"CXX": "/nonexistent/g++", "TORCHINDUCTOR_CACHE_DIR": str(tmp_path)}  # and no cached kernels
    run = cli("latency", "--width", "8", "--imgsz", "32", "--compile", "default", env=no_compiler)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert "failed on this machine: InvalidCxxCompiler" in run.stderr and "time the eager modes instead" in run.stderr


@pytest.mark.slow
def test_memory_cap_from_the_environment():
    run = cli("latency", "--width", "64", "--batch", "4", "--iters", "1", env={"YOLO_EXPLORER_MAX_FORWARD_MB": "20"})
    assert run.returncode == 1 and "this server allows 20.0 MiB per forward" in run.stderr, run.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["stats", "--detector", "--arch", "yolo11n", "--json"],
        ["features", "--detector", "--arch", "yolo11n", "--image", str(SAMPLE), "--out", "{tmp}"],
        ["detect", "--image", str(SAMPLE), "--json"],
        ["assign", "--image", str(SAMPLE), "--box", "10,10,200,200", "--json"],
        # the timed commands measure the device's peaks or time runs: seconds each, not in the quick loop
        *(
            pytest.param([command, "--detector", "--arch", "yolo11n", "--iters", "1", "--warmup", "0", "--json"], marks=SLOW)
            for command in ("latency", "profile")
        ),
    ],
    ids=lambda c: c[0],
)
def test_a_detector_at_a_size_not_a_multiple_of_32_runs_rounded_up_and_says_so(command, tmp_path, capsys):
    """As Ultralytics' check_imgsz: 100x150 runs at 128x160 (its neck joins P4 to P5 upsampled twice, which an odd
    P5 grid cannot match), said on stderr; a backbone runs at any size, unchanged."""
    assert main([c.replace("{tmp}", str(tmp_path)) for c in command] + ["--imgsz", "100x150"]) == 0
    out, err = capsys.readouterr()
    assert "--imgsz 100x150: the detector takes sides that are multiples of its largest stride, 32; running at 128x160" in err
    if command[0] == "features":
        assert np.load(tmp_path / "P5.npy").shape[1:] == (4, 5)
    else:
        report = json.loads(out)
        assert report.get("input", [3, *report.get("input_size", [])])[1:] == [128, 160]


def test_a_backbone_runs_at_any_size(capsys):
    assert main(["stats", "--arch", "yolo11n", "--imgsz", "100x150", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["input"] == [3, 100, 150] and "--imgsz" not in err
    assert fit_size(make_config("tutorial"), (100, 150)) == (100, 150)
    assert max_stride(make_config("yolo11x", detector=True)) == 32


def test_weights_alone_pick_their_architecture_and_another_s_are_named_in_one_line(tmp_path, capsys):
    """--weights without --arch build the model they fit (found from their tensors, as the app's upload does); weights
    of another architecture give one line that says what they are and the flags that load them."""
    trained = str(ROOT / "tests" / "data" / "synthetic_yolo11n.pt")
    assert main(["stats", "--weights", trained, "--detector", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["config"] == {"arch": "yolo11n", "scale": "n", "in_channels": 3, "detector": True, "num_classes": 4}
    assert "weights: synthetic_yolo11n.pt are YOLO11n's, with a 4-class detection head" in err
    assert main(["detect", "--image", str(SAMPLE), "--arch", "yolo11s", "--weights", trained]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    said = "these weights are YOLO11n's, with a 4-class detection head, not YOLO11s's: load them with --arch yolo11n"
    assert line.endswith(said)
    odd = tmp_path / "odd.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, odd)
    assert main(["stats", "--arch", "yolo11n", "--weights", str(odd)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "fit no architecture here" in line and len(line) < 300


def test_profile_offers_only_the_modes_it_can_split_per_layer(capsys):
    for command, offered in (("latency", True), ("profile", False)):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert ("--compile" in text) == ("--cuda-graph" in text) == offered
        assert "--channels-last" in text
