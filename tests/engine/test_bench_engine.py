"""Benchmarks that cannot rot: every engine script in bench/ runs end to end at its smallest setting (numbers are not
checked: a benchmark prints, it does not judge). The scripts of a served app: tests/browser/test_bench_served.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import run_bench as bench

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # each script is a process of its own, seconds to minutes


def test_engine_runs_every_section():
    out = bench("engine.py", "--smoke")
    for heading in ("## model build", "## capture overhead", "## CPU modes", "## per-layer time", "## ONNX Runtime"):
        assert heading in out
    assert "detect(yolo11n, a 512x512 photo, 640)" in out


def test_int8_runs_its_three_tables():
    out = bench("int8.py", "--smoke", "--iters", "2")
    tables = [line for line in out.splitlines() if line.startswith("| model |") or line.startswith("| calibrated on |")]
    assert len(tables) == 3 and "| YOLO11n detector" in out


def test_graph_layouts_measures_igraph_on_yolo11n():
    """The other layout libraries are not the project's: reported as not installed, skipped."""
    out = bench("graph_layouts.py", "--quick")
    assert "# igraph: igraph " in out
    rows = [line for line in out.splitlines() if line.startswith("| yolo11n ")]
    assert len(rows) == 1 and "| igraph " in rows[0]


def test_gpu_script_checks_itself_on_a_cpu(tmp_path):
    out = bench("gpu.py", "--device", "cpu", "--quick", "--out", str(tmp_path))
    assert "benchmark took" in out and (tmp_path / "gpu.txt").read_text().strip()


def test_predict_against_ultralytics():
    python = os.environ.get("ULTRALYTICS_PYTHON")
    if not python:
        pytest.skip("needs Ultralytics in a scratch environment: ULTRALYTICS_PYTHON=/path/to/its/python (../shared/TESTING.md)")
    out = bench("predict.py", "--ultralytics", python, "--runs", "2", "--rounds", "1")
    assert "ms" in out


def test_every_benchmark_script_has_a_smoke_test():
    """A new script in bench/ gets its run here or in the served benchmarks' tests (its helpers excepted)."""
    helpers = {"appserver.py", "wire.py"}  # imported by the scripts, not run
    tests = (Path(__file__).read_text(), (ROOT / "tests" / "browser" / "test_bench_served.py").read_text())
    scripts = sorted(p.name for p in (ROOT / "bench").glob("*.py") if p.name not in helpers)
    assert [s for s in scripts if not any(f'bench("{s}"' in t for t in tests)] == []
