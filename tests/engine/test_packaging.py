"""`pip install .` gives a working engine and CLI: the wheel holds the package and its samples, declares
every distribution the engine imports (and nothing of the app's), and its CLI runs from the wheel alone."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from spec import YOLO11N_BACKBONE_PARAMS

pytestmark = pytest.mark.slow  # builds the wheel

ROOT = Path(__file__).resolve().parents[2]
# import name -> distribution, for what the engine may import
DISTRIBUTIONS = {
    "torch": "torch",
    "torchinfo": "torchinfo",
    "numpy": "numpy",
    "PIL": "pillow",
    "plotly": "plotly",
    "safetensors": "safetensors",
    "filelock": "filelock",
    "cv2": "opencv-python-headless",
    "yaml": "pyyaml",
    "igraph": "igraph",  # the model graph's layout
}
OPTIONAL = {"onnx": "onnx", "onnxscript": "onnxscript", "onnxruntime": "onnxruntime"}  # the [onnx] extra, imported when used


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT), "-w", str(out)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("yolo_explorer-*.whl")
    return found


def test_the_wheel_declares_what_the_engine_imports(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        metadata = Parser().parsestr(z.read(next(n for n in names if n.endswith("METADATA"))).decode())
        sources = {n: z.read(n).decode() for n in names if n.endswith(".py")}
    assert {"yolo_explorer/samples/cat.jpg", "yolo_explorer/samples/SOURCES.md"} <= set(names)
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "yolo_explorer").rglob("*.py")}
    assert modules <= set(names), f"the wheel lacks {sorted(modules - set(names))}"  # every subpackage ships
    imported = set()
    for text in sources.values():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"yolo_explorer"}
    known = set(DISTRIBUTIONS) | set(OPTIONAL)
    assert third_party <= known, f"the engine imports {sorted(third_party - known)}"

    def declared(extra: str | None) -> set[str]:
        rows = [r for r in metadata.get_all("Requires-Dist") if (f'extra == "{extra}"' in r if extra else "extra ==" not in r)]
        return {r.split(">")[0].split("=")[0].split(";")[0].strip() for r in rows}

    assert {DISTRIBUTIONS[m] for m in third_party - set(OPTIONAL)} <= declared(None)
    assert {OPTIONAL[m] for m in third_party & set(OPTIONAL)} <= declared("onnx")
    assert "streamlit" not in declared(None)  # the app's, in the [app] extra


def test_every_bound_is_the_tested_version():
    """Each lower bound in pyproject.toml is the version requirements.lock holds (the set CI installs)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            locked[name.lower().replace("_", "-")] = version
    bounds = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    for bound in bounds:
        name, _, version = bound.replace("==", ">=").partition(">=")
        assert locked[name.lower()].startswith(version), f"{bound}: the tested set has {name}=={locked[name.lower()]}"


def test_the_cli_runs_from_the_wheel_alone(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    run = subprocess.run(
        [sys.executable, "-c", "import sys, yolo_explorer.cli as c; print(c.__file__, file=sys.stderr); c.main()"]
        + ["stats", "--arch", "yolo11n", "--imgsz", "64", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip().endswith(
        str(target / "yolo_explorer" / "cli" / "__init__.py")
    )  # the wheel's copy, not the checkout
    assert json.loads(run.stdout)["total"]["params"] == YOLO11N_BACKBONE_PARAMS
