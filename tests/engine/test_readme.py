"""The README's Python example runs as written (on the CPU, in a folder holding the photo.jpg and yolo11n.pt it
names: a sample photo, and a YOLO11n detector's state_dict standing in for Ultralytics' checkpoint)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from yolo_explorer import build_detector
from yolo_explorer.samples import sample_bytes

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.slow  # an ONNX export and an int8 quantization, latency runs at 640
def test_the_python_example_runs_as_written(tmp_path, monkeypatch):
    section = README.read_text().split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    (tmp_path / "photo.jpg").write_bytes(sample_bytes("cat"))
    torch.save(build_detector("yolo11n", num_classes=80).state_dict(), tmp_path / "yolo11n.pt")
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(code, str(README), "exec"), names)  # the README is ours: run it as a reader would
    assert [r.batch for r in names["results"]] == [1, 2] and {r.dtype for r in names["results"]} == {"bf16"}
    assert names["p3"].shape[1] == 256 and len(names["profile"].layers) >= 11  # the tutorial's 4w at w=64; YOLO11n's 0-10


def test_every_command_line_example_parses():
    """Each `python -m yolo_explorer …` line of the README names a command and flags the parser takes, with values
    it accepts (what an example would do with its files is the command line's tests' business)."""
    import shlex

    from yolo_explorer.cli import build_parser

    lines = [
        line.split("#")[0].strip()
        for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
        for line in block.splitlines()
        if "-m yolo_explorer " in line
    ]
    assert len(lines) >= 25
    for line in lines:
        argv = shlex.split(line.split("-m yolo_explorer ", 1)[1])
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"the README's example does not parse: {line}")
