"""The process's configuration: `Environment.read` parses every variable once, and nothing else in the engine reads
the environment (the app and the command line hand the engine what it says)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from yolo_explorer.deployment.devices import DEFAULT_LOCK_DIR
from yolo_explorer.environment import VARIABLES, Environment, variable

ENGINE = Path(__file__).resolve().parents[2] / "yolo_explorer"


def test_a_laptop_without_variables_gets_the_defaults(tmp_path):
    env = Environment.read({"HOME": str(tmp_path)})
    assert env.weights_dir == tmp_path / ".cache" / "yolo-explorer" / "weights" and not env.weights_dir_set
    assert env.weights_url is None and env.fetch and env.calibration_dir is None and env.max_forward_bytes is None
    assert env.lock_dir == DEFAULT_LOCK_DIR and env.compile_modes is None and not env.debug
    assert Environment.read({"XDG_CACHE_HOME": str(tmp_path / "c")}).weights_dir == tmp_path / "c" / "yolo-explorer" / "weights"


def test_a_server_sets_each_variable(tmp_path):
    env = Environment.read(
        {
            "YOLO_EXPLORER_WEIGHTS_DIR": str(tmp_path / "w"),
            "YOLO_EXPLORER_WEIGHTS_URL": "http://127.0.0.1:8000/mirror",
            "YOLO_EXPLORER_FETCH": " OFF ",
            "YOLO_EXPLORER_CALIBRATION_DIR": str(tmp_path / "c"),
            "YOLO_EXPLORER_MAX_FORWARD_MB": "1.5",
            "YOLO_EXPLORER_LOCK_DIR": str(tmp_path / "l"),
            "YOLO_EXPLORER_COMPILE_MODES": "default, reduce-overhead,",
            "YOLO_EXPLORER_DEBUG": "1",
        }
    )
    assert env.weights_dir == tmp_path / "w" and env.weights_dir_set and env.weights_url == "http://127.0.0.1:8000/mirror"
    assert not env.fetch and env.calibration_dir == tmp_path / "c" and env.max_forward_bytes == 1_572_864
    assert env.lock_dir == tmp_path / "l" and env.compile_modes == ("default", "reduce-overhead") and env.debug
    assert Environment.read({"YOLO_EXPLORER_LOCK_DIR": "none", "YOLO_EXPLORER_COMPILE_MODES": "none"}).lock_dir is None
    assert Environment.read({"YOLO_EXPLORER_COMPILE_MODES": "none"}).compile_modes == ()
    assert all(Environment.read({"YOLO_EXPLORER_FETCH": v}).fetch for v in ("on", "1", "yes", ""))
    # every variable the table lists sets the field it names, and every field has its variable
    fields = set(Environment.__dataclass_fields__) - {"weights_dir_set"}
    assert {v.field for v in VARIABLES} == fields and variable("fetch") == "YOLO_EXPLORER_FETCH"


@pytest.mark.parametrize(("value", "words"), [("lots", "must be a number of MiB, got 'lots'"), ("-3", "must be positive")])
def test_a_bad_value_is_refused_in_one_line_naming_its_variable(value, words):
    with pytest.raises(ValueError, match=f"YOLO_EXPLORER_MAX_FORWARD_MB {words}"):
        Environment.read({"YOLO_EXPLORER_MAX_FORWARD_MB": value})


def test_the_command_line_refuses_a_bad_variable_with_exit_2(monkeypatch, capsys):
    from yolo_explorer.cli import main

    monkeypatch.setenv("YOLO_EXPLORER_MAX_FORWARD_MB", "lots")
    assert main(["stats", "--imgsz", "64"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "yolo-explorer: error: YOLO_EXPLORER_MAX_FORWARD_MB must be a number of MiB, got 'lots'"


def test_nothing_in_the_engine_reads_the_environment_but_the_command_lines_start():
    """`os.environ`, `os.getenv` and `environ[...]` appear only where the command line starts (cli/__init__.py passes
    `os.environ` to `Environment.read`): every other engine module is handed what the environment says."""
    readers = {}
    for path in ENGINE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            reads = (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv")) or (
                isinstance(node, ast.Name) and node.id in ("environ", "getenv")
            )
            if reads:
                readers.setdefault(path.relative_to(ENGINE).as_posix(), []).append(node.lineno)
    assert set(readers) == {"cli/__init__.py"}, readers
