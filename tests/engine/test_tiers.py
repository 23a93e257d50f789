"""The test suite's tiers: every test has exactly one of engine, app and browser, its folder's (conftest adds it), and
the quick loop (`make test-quick`: not browser and not slow) leaves out what is slow."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

TIERS = {"engine", "app", "browser"}
SLOW_CALLS = ("cli(", 'compile="', "compile='")  # the CLI in a subprocess (seconds of imports), a torch.compile


def test_every_collected_test_has_its_folder_s_tier(request):
    for item in request.session.items:
        tiers = {marker.name for marker in item.iter_markers()} & TIERS
        assert tiers == {Path(item.path).parent.name}, (item.nodeid, tiers)


def test_what_runs_the_cli_in_a_subprocess_or_compiles_is_marked_slow(request):
    """`slow` is explicit: a test that starts the CLI as a process or compiles says so, so the quick loop stays quick."""
    unmarked = [
        item.nodeid
        for item in request.session.items
        if getattr(item, "function", None) is not None
        and any(call in inspect.getsource(item.function) for call in SLOW_CALLS)
        and item.get_closest_marker("slow") is None
    ]
    assert unmarked == []


def test_the_tiers_are_what_the_tests_do(request):
    """Spot checks: an AppTest page test is app, a config test engine, a CLI subprocess test slow."""
    by_name = {item.nodeid.split("::", 1)[0].split("/")[-1] + "::" + item.name: item for item in request.session.items}

    def markers(name: str) -> set[str]:
        item = next((i for n, i in by_name.items() if n.startswith(name)), None)
        if item is None:
            pytest.skip(f"{name} is not collected in this run")
        return {marker.name for marker in item.iter_markers()}

    assert "app" in markers("test_page_overview.py::")
    assert "engine" in markers("test_backbone.py::")
    assert {"engine", "slow"} <= markers("test_cli.py::test_stats_json_matches_the_engine_and_spec")
