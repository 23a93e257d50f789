"""Many users at once through the app's compute path: K threads, each a session with its own config and
image, on the caches that all sessions share. Each result must equal its isolated run, no hook may be
left on a shared model, and the caches must stay within their bounds."""

from __future__ import annotations

import gc
import weakref
from concurrent.futures import ThreadPoolExecutor

import torch

from pages.ui import compute
from pages.ui.settings import Photo, Settings
from yolo_explorer import Backbone, build_backbone, extract_features, load_image
from yolo_explorer.samples import SAMPLES

SESSIONS = [
    ("tutorial", 8, "astronaut", (128, 128), "batch"),
    ("tutorial", 16, "cat", (160, 128), "running"),
    ("yolo11n", 64, "coffee", (128, 160), "batch"),
    ("tutorial", 8, "rocket", (128, 128), "running"),
    ("yolo11n", 64, "astronaut", (96, 128), "running"),
    ("tutorial", 24, "cat", (128, 96), "batch"),
]
assert {s[2] for s in SESSIONS} <= set(SAMPLES)


def settings(arch: str, width: int, sample: str, size: tuple[int, int], bn: str) -> Settings:
    return Settings(arch, width, 2, 0, size, "cpu", "fp32", bn, Photo.sample(sample))


def isolated(s: Settings):
    model = build_backbone(config=s.config, seed=s.seed)
    return extract_features(model, load_image(s.photo.data), s.size, ("P3", "P4", "P5"), batch_norm=s.batch_norm)


def hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_concurrent_sessions_get_their_own_results_and_leave_no_hooks():
    compute._model.clear()
    compute._features.clear()
    sessions = [settings(*s) for s in SESSIONS]
    expected = [isolated(s) for s in sessions]

    def session(i: int) -> list[bool]:
        same = []
        for _ in range(3):  # first calls race to fill the caches, later ones read them
            result = compute.features_for(sessions[i])
            same += [torch.equal(result.maps[n], expected[i].maps[n]) for n in ("P3", "P4", "P5")]
        return same

    with ThreadPoolExecutor(len(sessions)) as pool:
        outcomes = list(pool.map(session, range(len(sessions))))
    assert all(all(o) for o in outcomes), outcomes
    models = {id(m): m for m in (compute.model_for(s) for s in sessions)}
    assert all(hooks(m) == 0 for m in models.values())


def test_the_model_cache_stays_bounded(monkeypatch):
    """Two configs more than the model cache keeps: of the models the cache built, at most `MAX_MODELS` stay alive."""
    built: list[weakref.ref] = []
    real = compute.build_model
    monkeypatch.setattr(compute, "build_model", lambda *a, **k: _track(real(*a, **k), built))
    compute._model.clear()
    compute._features.clear()
    widths = [8 * (i + 1) for i in range(compute.MAX_MODELS + 2)]
    sessions = [settings("tutorial", w, "cat", (64, 64), "batch") for w in widths]
    with ThreadPoolExecutor(len(widths)) as pool:
        list(pool.map(compute.features_for, sessions))
    gc.collect()
    assert len(built) == len(widths)
    alive = [ref() for ref in built if ref() is not None]
    assert len(alive) <= compute.MAX_MODELS, f"{len(alive)} models alive; the cache keeps {compute.MAX_MODELS}"


def _track(model: Backbone, built: list) -> Backbone:
    built.append(weakref.ref(model))
    return model
