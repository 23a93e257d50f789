"""Activation capture: exact tensors, no hooks left behind, modes restored, isolation between threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from yolo_explorer import build_backbone, capture_activations, list_layers, run_with_capture


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(scope="module")
def model():
    return build_backbone(width=8, seed=0)


def test_list_layers(model):
    names = list_layers(model)
    assert names[:4] == ["P3", "P4", "P5", "stem"]
    assert "stage1_c3k2.bottlenecks.0.cv2.act" in names
    assert "stage1_c3k2.bottlenecks" not in names  # a ModuleList is never called
    assert "sppf.pool" in names
    assert len(names) == len(set(names))


def test_captured_pyramid_is_exactly_the_forward_output(model):
    x = torch.rand(1, 3, 128, 160)
    with capture_activations(model, ["P3", "P4", "P5", "stage2_c3k2", "sppf"]) as acts, torch.inference_mode():
        p3, p4, p5 = model(x)
    assert acts["P3"] is p3 or torch.equal(acts["P3"], p3)
    assert torch.equal(acts["P4"], p4) and torch.equal(acts["P5"], p5)
    assert torch.equal(acts["stage2_c3k2"], p3) and torch.equal(acts["sppf"], p5)


def test_any_layer_can_be_captured(model):
    x = torch.rand(1, 3, 64, 64)
    with capture_activations(model, list_layers(model)) as acts, torch.inference_mode():
        model(x)
    assert set(acts) == set(list_layers(model))
    with torch.inference_mode():
        expected = model.stem.bn(model.stem.conv(x))
    assert torch.equal(acts["stem.bn"], expected)  # not overwritten by the activation
    assert torch.equal(acts["stem.act"], F.silu(expected))
    assert not acts["stem"].requires_grad


def test_module_called_several_times_gives_every_call(model):
    x = torch.rand(1, 3, 64, 64)
    with capture_activations(model, ["sppf.cv1", "sppf.pool"]) as acts, torch.inference_mode():
        model(x)
    y1, y2, y3 = acts["sppf.pool"]
    pool = model.sppf.pool
    assert torch.equal(y1, pool(acts["sppf.cv1"]))
    assert torch.equal(y2, pool(y1)) and torch.equal(y3, pool(y2))


def test_tuple_outputs_are_captured_as_tuples():
    class Pair(nn.Module):
        def forward(self, x):
            return x + 1, x * 2

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.pair = Pair()

        def forward(self, x):
            a, b = self.pair(x)
            return a + b

    net = Net()
    with capture_activations(net, ["pair"]) as acts:
        net(torch.ones(2))
    a, b = acts["pair"]
    assert torch.equal(a, torch.full((2,), 2.0)) and torch.equal(b, torch.full((2,), 2.0))
    assert hook_count(net) == 0


def test_unknown_name_fails_before_any_work(model):
    model.train()
    try:
        message = r"'stage9' is not a layer; list_layers\(model\) gives the \d+ valid names"
        with pytest.raises(KeyError, match=message), capture_activations(model, ["P3", "stage9"]):
            pytest.fail("the block must not run")
        assert hook_count(model) == 0 and model.training
    finally:
        model.eval()


def test_hooks_removed_and_modes_restored_even_when_forward_raises(model):
    model.train()
    model.stem.eval()  # mixed modes come back exactly
    try:
        with pytest.raises(RuntimeError), capture_activations(model, ["P3", "stem.conv"]):
            assert not model.training
            model(torch.rand(1, 5, 64, 64))  # wrong channel count
        assert hook_count(model) == 0
        assert model.training and not model.stem.training and model.stage1_c3k2.training
    finally:
        model.eval()


def test_to_cpu_and_detached(model):
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    with capture_activations(model, ["P5"], to_cpu=True) as acts:
        model(x)
    assert acts["P5"].device.type == "cpu" and not acts["P5"].requires_grad


def test_batch_norm_batch_mode_uses_batch_statistics_and_touches_no_buffer():
    model = build_backbone(width=8, seed=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(2, 3, 64, 64)
    outputs, acts = run_with_capture(model, x, ["stem.bn"], batch_norm="batch")
    conv = model.stem.conv(x).detach()
    bn = model.stem.bn
    expected = F.batch_norm(conv, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
    torch.testing.assert_close(acts["stem.bn"], expected)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats, num_batches_tracked
    assert not model.training and all(m.track_running_stats for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    running, _ = run_with_capture(model, x, [])
    assert not torch.allclose(running[0], outputs[0])


def test_bad_batch_norm_mode(model):
    with pytest.raises(ValueError, match="running' or 'batch"), capture_activations(model, ["P3"], batch_norm="train"):
        pass


def test_concurrent_captures_never_see_each_others_activations():
    """8 threads x 12 captures on one shared model, each with its own input; compare to isolated runs."""
    model = build_backbone(width=8, seed=2)
    inputs = [torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(i)) for i in range(8)]
    with torch.inference_mode():
        expected = [model(x) for x in inputs]

    def worker(i: int) -> int:
        mismatches = 0
        for _ in range(12):
            _, acts = run_with_capture(model, inputs[i], ["P3", "P4", "P5"])
            mismatches += sum(not torch.equal(acts[n], e) for n, e in zip(("P3", "P4", "P5"), expected[i], strict=True))
        return mismatches

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(worker, range(8))) == 0
    assert hook_count(model) == 0


def test_plain_forward_in_another_thread_does_not_leak_into_a_capture():
    """A forward run without a capture (e.g. a latency run) while a capture is open records nothing."""
    model = build_backbone(width=8, seed=3)
    mine, theirs = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64) + 1
    opened, other_done = threading.Event(), threading.Event()

    def other():
        opened.wait()
        with torch.inference_mode():
            model(theirs)  # no capture, no lock: hooks of the open capture fire but must ignore it
        other_done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with capture_activations(model, ["P3"]) as acts:
        opened.set()
        other_done.wait(timeout=30)
        assert "P3" not in acts
        with torch.inference_mode():
            p3, _, _ = model(mine)
    thread.join()
    assert torch.equal(acts["P3"], p3)


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device here; GPU captures are checked only where one is present"
)
@pytest.mark.parametrize("arch, fields", [("tutorial", {"width": 16}), ("yolo11n", {})])
def test_capture_on_cuda_equals_cpu(arch, fields):
    cpu = build_backbone(arch, **fields)
    gpu = build_backbone(arch, device="cuda", **fields)
    torch.backends.cudnn.allow_tf32 = False  # compare full fp32 with full fp32
    try:
        x = torch.rand(1, 3, 160, 192)
        out_cpu, acts_cpu = run_with_capture(cpu, x, ["P3", "P4", "P5"])
        out_gpu, acts_gpu = run_with_capture(gpu, x.cuda(), ["P3", "P4", "P5"])
    finally:
        torch.backends.cudnn.allow_tf32 = True
    for name in ("P3", "P4", "P5"):
        assert acts_gpu[name].device.type == "cpu"
        torch.testing.assert_close(acts_gpu[name], acts_cpu[name], rtol=1e-3, atol=1e-5)


def test_outputs_are_walked_as_the_model_returns_them():
    """`forward.tensors` walks outputs in the order they are returned (a detector's neck first), and rebuilds them as
    they were, a DetectorOutput included; what is not a tensor is left as it is."""
    from yolo_explorer.forward.tensors import leaves, map_tensors
    from yolo_explorer.model.detector import DetectorOutput

    neck = tuple(torch.full((1, 2), float(i)) for i in range(3))
    out = DetectorOutput(neck, torch.ones(1), torch.zeros(1), torch.full((1,), 5.0))
    assert [t.flatten()[0].item() for t in leaves(out)] == [0.0, 1.0, 2.0, 1.0, 0.0, 5.0]
    doubled = map_tensors(lambda t: t * 2, out)
    assert isinstance(doubled, DetectorOutput) and isinstance(doubled.neck, tuple)
    assert doubled.decoded.item() == 10.0 and doubled.neck[2][0, 1].item() == 4.0
    assert map_tensors(lambda t: t * 2, [torch.ones(1), "label", None])[1:] == ["label", None]
