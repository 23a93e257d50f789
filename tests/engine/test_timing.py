"""The one timing path: the loop every runtime times through, the request both the Latency page and `latency`
send to `latency.measure`, the mode options declared once, and no private helper imported across modules."""

from __future__ import annotations

import ast
import json
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from yolo_explorer import build_backbone
from yolo_explorer.cli import main
from yolo_explorer.deployment.latency import LatencyRequest, measure
from yolo_explorer.deployment.modes import MODE_OPTIONS, LatencyMode
from yolo_explorer.deployment.timing import LatencyResult, check_counts, cpu_threads, time_runs
from yolo_explorer.present.insights import Remedies, timing_notes

ROOT = Path(__file__).resolve().parents[2]


def test_time_runs_times_each_run_and_calls_after_each_outside_the_timing():
    events: list[str] = []
    times = time_runs(lambda: events.append("run"), torch.device("cpu"), 2, 3, after_each=lambda t: events.append(f"after {t}"))
    assert len(times) == 3
    assert events == ["run", "after False"] * 2 + ["run", "after True"] * 3
    assert not torch.is_inference_mode_enabled()  # inference mode only inside


def test_the_result_statistics_are_numpy_s():
    times = (3.0, 1.0, 2.0, 10.0, 4.0)
    r = LatencyResult(times, 2, (64, 64), "fp32", "cpu", "CPU", "2.13", 1, 0, flops=8_000_000)
    assert r.median_ms == np.median(times) and r.p90_ms == np.percentile(times, 90)
    assert (r.min_ms, r.max_ms) == (1.0, 10.0)
    assert r.images_per_s == pytest.approx(2 / (np.median(times) / 1000))
    assert r.tflops == pytest.approx(8e6 / (np.median(times) / 1000) / 1e12)


@pytest.mark.parametrize(
    ("counts", "match"),
    [((0, 1, 0, None), "batch"), ((1, 0, 0, None), "iters"), ((1, 1, -1, None), "warmup"), ((1, 1, 0, 0), "threads")],
)
def test_counts_are_checked_once_for_every_runtime(counts, match):
    with pytest.raises(ValueError, match=match):
        check_counts(*counts)
    with pytest.raises(ValueError, match=match):
        batch, iters, warmup, threads = counts
        LatencyRequest(batches=(batch,), iters=iters, warmup=warmup, threads=threads)


def test_cpu_threads_are_restored():
    before = torch.get_num_threads()
    with cpu_threads(1) as used:
        assert used == torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_measure_counts_the_flops_of_each_batch_as_torch_does():
    """The FLOPs of a run come from the statistics, counted once; torch's own counter on a real forward agrees."""
    model = build_backbone(width=8)
    request = LatencyRequest(size=(64, 96), batches=(1, 3), warmup=0, iters=2)
    progress: list[tuple[int, int, int]] = []
    results = measure(model, request, on_progress=lambda b, d, t: progress.append((b, d, t)))
    for result, batch in zip(results, (1, 3), strict=True):
        counter = FlopCounterMode(display=False)
        with counter, torch.inference_mode():
            model(torch.rand(batch, 3, 64, 96))
        assert result.flops == counter.get_total_flops()
        assert result.batch == batch and result.mode == "fp32" and result.runtime == "torch"
    assert progress == [(1, 1, 2), (1, 2, 2), (3, 1, 2), (3, 2, 2)]


@pytest.mark.slow
def test_a_request_refuses_what_its_runtime_cannot_run():
    with pytest.raises(ValueError, match="int8 runs in ONNX Runtime"):
        LatencyRequest(dtype="int8")
    with pytest.raises(ValueError, match="--channels-last, --fold-bn: torch modes"):
        LatencyRequest(runtime="onnxruntime", mode=LatencyMode(channels_last=True, fold_bn=True))
    with pytest.raises(ValueError, match="--compile: torch modes"):
        LatencyRequest(runtime="onnxruntime", mode=LatencyMode(compile="default"))
    with pytest.raises(ValueError, match="contradicts"):
        LatencyRequest(dtype="bf16", mode=LatencyMode(dtype="fp32"))
    with pytest.raises(ValueError, match="runtime must be"):
        LatencyRequest(runtime="tensorrt")
    with pytest.raises(ValueError, match="exported in int8 at 64x64"):
        measure(build_backbone(width=8), LatencyRequest(runtime="onnxruntime", dtype="int8", size=(64, 64)))


@pytest.mark.parametrize("option", MODE_OPTIONS, ids=lambda o: o.field)
def test_each_mode_option_is_one_flag_one_field_one_tag(option, capsys):
    """The command line's flags, the mode's label and the pages' toggles come from one table."""
    assert option.field in LatencyMode.__dataclass_fields__
    mode = LatencyMode(**{option.field: True})
    assert mode.label == f"fp32 + {option.tag}"
    with pytest.raises(SystemExit):
        main(["latency", "--help"])
    assert option.flag in capsys.readouterr().out
    if not option.cuda_only:
        assert main(["latency", "--width", "8", "--imgsz", "64", "--iters", "1", "--warmup", "0", option.flag, "--json"]) == 0
        assert option.tag in capsys.readouterr().out


def test_pages_draw_the_mode_options_from_the_table():
    for page, prefix in (("latency.py", "lat_"), ("layer_profile.py", "prof_")):
        code = (ROOT / "pages" / page).read_text()
        assert "MODE_OPTIONS" in code and f'key=f"{prefix}{{option.field}}"' in code
        for label in ("channels_last", "Fold BatchNorm"):
            assert f'"{label}"' not in code  # not spelled again


def test_no_module_imports_another_modules_private_names():
    found = []
    for path in [*(ROOT / "yolo_explorer").rglob("*.py"), *(ROOT / "pages").rglob("*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                found += [f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert not found, found


def test_the_profile_times_its_plain_forward_through_the_same_loop(monkeypatch):
    """profile_layers' plain forwards are timed by timing.time_runs (the hooked ones run in after_each)."""
    from yolo_explorer.deployment import profile, timing

    calls = []
    real = timing.time_runs

    def spy(*args, **kwargs):
        calls.append(kwargs.get("after_each") is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(profile, "time_runs", spy)
    result = profile.profile_layers(build_backbone(width=8), size=64, warmup=0, iters=3)
    assert calls == [True]
    assert result.runs == 3 and result.forward_ms > 0
    assert statistics.median([layer.ms for layer in result.layers]) > 0


def _timed(times, device="cpu", threads=2) -> LatencyResult:
    return LatencyResult(tuple(times), 1, (64, 64), "fp32", device, "CPU", "2.13", threads, 0)


def test_timing_notes_say_what_makes_a_timing_unreliable_and_what_to_do():
    remedies = Remedies("more runs", "one thread")
    steady, spread = _timed([10.0, 10.1, 10.2, 10.3, 10.4]), _timed([10.0, 10.1, 10.2, 30.0, 40.0])
    assert (steady.p90_ms - steady.min_ms) / steady.median_ms < 0.2 < (spread.p90_ms - spread.min_ms) / spread.median_ms
    assert timing_notes(steady, 0.3, 2, remedies) == []
    (noisy,) = timing_notes(spread, None, 2, remedies)
    assert noisy.startswith("Noisy measurement") and noisy.endswith("or with more runs.")
    (busy,) = timing_notes(steady, 1.5, 2, remedies)  # a load over half the cores: this run's threads wait for them
    assert "load 1.5 on 2 cores" in busy and busy.endswith("or with one thread.")
    (alone,) = timing_notes(_timed([10.0] * 5, threads=1), 1.5, 2, remedies)  # already one thread: no such advice
    assert "its one thread waits for cores" in alone and alone.endswith("when the machine is idle.")
    assert timing_notes(_timed([10.0] * 5, device="cuda:0"), 99.0, 2, remedies) == []  # the CPU's load, not a GPU's


def test_latency_notes_a_busy_cpu_after_its_figures(capsys, monkeypatch):
    monkeypatch.setattr("yolo_explorer.cli.latency.os.getloadavg", lambda: (64.0, 64.0, 64.0))
    assert main(["latency", "--width", "8", "--imgsz", "64", "--iters", "3", "--warmup", "0", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["input_size"] == [64, 64]  # the JSON on stdout stays whole
    assert "note: The CPU was busy before this run (load 64.0" in err and "--threads 1" in err
