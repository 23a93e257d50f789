"""The backbone is the tutorial's, exactly: SPEC's numbers, shapes, weights and outputs."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from reference_tutorial import YOLOv11Backbone
from spec import PARAMS_W64, TOTALS

from yolo_explorer import build_backbone, make_config
from yolo_explorer.model.blocks import fold_batchnorm
from yolo_explorer.model.config import TutorialConfig


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_width64_matches_spec_table_module_by_module():
    model = build_backbone(width=64, device="meta")
    assert {name: n_params(m) for name, m in model.named_children()} == PARAMS_W64
    assert list(dict(model.named_children())) == list(PARAMS_W64)  # the table's order
    assert n_params(model) == TOTALS[64]


@pytest.mark.parametrize("width, total", TOTALS.items())
def test_totals_match_spec(width, total):
    assert n_params(build_backbone(width=width, device="meta")) == total


@pytest.mark.parametrize("width", range(8, 257, 8))
def test_every_width_matches_the_tutorial_class(width):
    ours = build_backbone(width=width, device="meta")
    with torch.device("meta"):
        theirs = YOLOv11Backbone(base_channels=width)
    assert n_params(ours) == n_params(theirs)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}


def test_same_seed_gives_the_tutorials_weights_and_outputs():
    """build_backbone(seed=s) == the tutorial's class built right after torch.manual_seed(s)."""
    ours = build_backbone(width=16, seed=7)
    torch.manual_seed(7)
    theirs = YOLOv11Backbone(base_channels=16).eval()
    theirs_sd = theirs.state_dict()
    for key, value in ours.state_dict().items():
        assert torch.equal(value, theirs_sd[key]), key
    x = torch.rand(2, 3, 256, 320, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        for a, b in zip(ours(x), theirs(x), strict=True):
            assert torch.equal(a, b)


def test_tutorial_state_dict_loads_directly():
    torch.manual_seed(3)
    theirs = YOLOv11Backbone(base_channels=8)
    ours = build_backbone(width=8, seed=99)
    ours.load_state_dict(theirs.state_dict(), strict=True)


def test_seed_is_deterministic_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = build_backbone(width=8, seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = build_backbone(width=8, seed=5)
    c = build_backbone(width=8, seed=6)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["stem.conv.weight"], sc["stem.conv.weight"])


@pytest.mark.parametrize(
    "size, p3, p4, p5",
    [
        ((320, 320), (40, 40), (20, 20), (10, 10)),
        ((640, 640), (80, 80), (40, 40), (20, 20)),
        ((1280, 1280), (160, 160), (80, 80), (40, 40)),
        ((480, 640), (60, 80), (30, 40), (15, 20)),
    ],
)
def test_output_shapes(size, p3, p4, p5):
    """Real forwards at w = 8 (cheap), meta at w = 64: H/8, H/16, H/32 with 4w, 8w, 16w channels."""
    for width, device in ((8, "cpu"), (64, "meta")):
        model = build_backbone(width=width, device=device)
        with torch.inference_mode():
            outs = model(torch.zeros(1, 3, *size, device=device))
        assert [tuple(o.shape) for o in outs] == [(1, 4 * width, *p3), (1, 8 * width, *p4), (1, 16 * width, *p5)]


def test_odd_sizes_round_up_at_every_stride():
    model = build_backbone(width=8, device="meta")
    outs = model(torch.zeros(1, 3, 481, 639, device="meta"))
    # ceil at each of the five stride-2 convs
    assert [tuple(o.shape[2:]) for o in outs] == [(61, 80), (31, 40), (16, 20)]


def test_feature_info_matches_forward():
    model = build_backbone(width=16)
    outs = model(torch.zeros(1, 3, 128, 128))
    assert [i.name for i in model.feature_info] == ["P3", "P4", "P5"]
    assert [i.module for i in model.feature_info] == ["stage2_c3k2", "stage3_c3k2", "sppf"]
    for info, out in zip(model.feature_info, outs, strict=True):
        assert out.shape[1] == info.channels
        assert 128 // out.shape[2] == info.stride
    assert [i.stride for i in model.feature_info] == [8, 16, 32]
    assert [i.channels for i in model.feature_info] == [64, 128, 256]


def test_model_is_built_in_eval_mode_and_finite():
    model = build_backbone(width=8)
    assert not model.training
    with torch.inference_mode():
        outs = model(torch.rand(1, 3, 96, 128))
    assert all(torch.isfinite(o).all() for o in outs)


def test_no_shared_activation_modules():
    model = build_backbone(width=8, device="meta")
    acts = [m for m in model.modules() if isinstance(m, torch.nn.SiLU)]
    assert len(acts) == len({id(a) for a in acts}) > 10
    assert not any(a.inplace for a in acts)


def trained_looking(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random BatchNorm statistics and affine parameters, as training leaves them (fresh ones are 0/1)."""
    generator = torch.Generator().manual_seed(seed)
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        for tensor, low, high in (
            (bn.running_mean, -0.5, 0.5),
            (bn.running_var, 0.2, 2.0),
            (bn.weight, 0.5, 1.5),
            (bn.bias, -0.3, 0.3),
        ):
            tensor.data = torch.empty(tensor.shape).uniform_(low, high, generator=generator)
    return model


@pytest.mark.parametrize("arch, fields", [("tutorial", {"width": 16}), ("yolo11n", {}), ("yolo11m", {})])
def test_folding_batchnorm_keeps_the_outputs(arch, fields):
    model = trained_looking(build_backbone(arch, **fields))
    folded = copy.deepcopy(model)
    batchnorms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert fold_batchnorm(folded) == batchnorms > 0
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert fold_batchnorm(folded) == 0  # nothing left to fold
    x = torch.rand(2, 3, 96, 128)
    with torch.inference_mode():
        for out, ref in zip(folded(x), model(x), strict=True):
            assert (out - ref).norm() / ref.norm() < 1e-5
    assert n_params(folded) == n_params(model) - sum(  # gamma and beta become the conv's bias: one vector per BN, not two
        m.num_features for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
    )


def test_folding_batchnorm_refuses_training_mode():
    model = build_backbone(width=8).train()
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(model)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_copies_get_their_own_lock():
    model = build_backbone(width=8)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone.lock is not model.lock
        with clone.lock:
            pass


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"width": 12}, "multiple of 8"),
        ({"width": 0}, "multiple of 8"),
        ({"width": 264}, "from 8 to 256"),
        ({"width": 64.0}, "multiple of 8"),
        ({"width": True}, "multiple of 8"),
        ({"depth": 0}, "repeats"),
        ({"in_channels": 0}, "in_channels"),
        ({"colour": 1}, "no field colour"),
    ],
)
def test_config_validation(fields, message):
    with pytest.raises(ValueError, match=message):
        make_config("tutorial", **fields)


def test_config_is_frozen_and_named():
    cfg = make_config("tutorial", width=32)
    with pytest.raises(AttributeError):
        cfg.width = 64  # type: ignore[misc]
    assert cfg == TutorialConfig(width=32)
    assert cfg.to_dict() == {"arch": "tutorial", "width": 32, "in_channels": 3, "depth": 2}
    with pytest.raises(ValueError, match="unknown architecture"):
        make_config("yolo99")


def test_grayscale_input_and_more_repeats():
    model = build_backbone(width=8, in_channels=1, depth=3)
    outs = model(torch.zeros(1, 1, 64, 64))
    assert outs[0].shape == (1, 32, 8, 8)
    assert len(model.stage1_c3k2.bottlenecks) == 3


def test_seeded_builds_in_many_threads_are_exact():
    """Found by the concurrency test: seeding the global RNG let simultaneous builds steal each other's draws."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    reference = build_backbone(width=16, seed=11).state_dict()
    stop = threading.Event()

    def noise() -> None:  # another user drawing from the global RNG all the while
        while not stop.is_set():
            torch.rand(64)

    noisy = threading.Thread(target=noise)
    noisy.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            builds = list(pool.map(lambda _: build_backbone(width=16, seed=11).state_dict(), range(16)))
    finally:
        stop.set()
        noisy.join()
    assert all(torch.equal(b[k], reference[k]) for b in builds for k in reference)
