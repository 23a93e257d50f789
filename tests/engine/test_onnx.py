"""ONNX Runtime: the export computes what the model computes (against float64), at any batch size; int8 is
QDQ with per-channel weights calibrated on the sample photos; latency in torch's terms; and every way it
can fail says so in one line while the torch runtime goes on."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import pytest
import torch
from helpers import cli

from yolo_explorer import build_backbone, build_model, make_config, model_stats
from yolo_explorer.cli import main
from yolo_explorer.deployment.accuracy import calibrated_copy
from yolo_explorer.deployment.onnx_models import (
    OnnxExportError,
    RuntimeUnavailableError,
    calibration_images,
    deployable,
    error_images,
    export_onnx,
    quantize_int8,
    require,
)
from yolo_explorer.deployment.onnx_runtime import measure_onnx_latency, output_errors, run_onnx, session

pytestmark = pytest.mark.slow  # every test exports to ONNX (seconds each)


@pytest.fixture(scope="module")
def yolo():
    model = build_backbone("yolo11n", seed=3)
    return calibrated_copy(model, torch.from_numpy(np.concatenate(calibration_images(128))))


@pytest.fixture(scope="module")
def exported(yolo):
    return export_onnx(yolo, size=128)


def test_fp32_export_matches_float64_for_both_architectures(exported, yolo):
    errors = output_errors(yolo, exported, error_images(128))
    assert [e.name for e in errors] == ["P3", "P4", "P5"] == list(exported.outputs)
    assert all(e.relative_error < 1e-4 and e.cosine > 0.99999 for e in errors), errors
    tutorial = build_backbone(width=8, seed=1)
    assert max(e.relative_error for e in output_errors(tutorial, export_onnx(tutorial, size=96), error_images(96))) < 1e-4


def test_any_batch_size_runs_and_matches_torch(exported, yolo):
    x = np.random.default_rng(1).random((3, 3, 128, 128), dtype=np.float32)
    outputs = run_onnx(exported, x)
    with torch.inference_mode():
        reference = yolo(torch.from_numpy(x))
    assert [o.shape for o in outputs] == [tuple(r.shape) for r in reference]


@pytest.mark.parametrize("arch", ["yolo12n", "yolo26n"])
def test_attention_families_export_for_any_batch(arch):
    """YOLO12's area attention multiplies batched matrices: traced with an example batch of 1, the exporter fixed the
    batch at 1 and refused the dynamic one (fixed by tracing a batch of 2). Whole detectors, batches 1 and 3."""
    model = build_model(make_config(arch, detector=True), seed=2).eval()
    exported = export_onnx(model, size=96)
    for batch in (1, 3):
        x = np.random.default_rng(batch).random((batch, 3, 96, 96), dtype=np.float32)
        outputs = dict(zip(exported.outputs, run_onnx(exported, x), strict=True))
        with torch.inference_mode():
            reference = model(torch.from_numpy(x))
        np.testing.assert_allclose(outputs["decoded"], reference.decoded.numpy(), rtol=1e-3, atol=1e-3)


def test_int8_is_qdq_with_per_channel_weights_and_stays_close(exported, yolo):
    int8 = quantize_int8(exported, calibration_images(128))
    graph = onnx.load_from_string(int8.data).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > ops.count("QuantizeLinear")
    inits = {i.name: i for i in graph.initializer}
    conv_weights = {n.input[1] for n in graph.node if n.op_type == "Conv"}
    weight_dq = [n for n in graph.node if n.op_type == "DequantizeLinear" and n.output[0] in conv_weights]
    assert weight_dq and all(onnx.numpy_helper.to_array(inits[n.input[1]]).size > 1 for n in weight_dq)  # a scale per channel
    assert len(int8.data) < 0.5 * len(exported.data) and int8.dtype == "int8" and int8.export_s > exported.export_s
    errors = output_errors(yolo, int8, error_images(128))
    assert all(e.relative_error > 1e-3 for e in errors), errors  # quantization shows (fp32: < 1e-4)
    assert errors[0].cosine > 0.95 and all(e.cosine > 0.5 for e in errors), errors  # P3 close; deeper outputs drift


def test_latency_in_torch_s_terms(exported):
    flops = model_stats(make_config("yolo11n"), 128).flops
    result = measure_onnx_latency(exported, flops=flops, batch=2, warmup=1, iters=3)
    d = result.to_dict()
    assert d["runtime"] == "onnxruntime" and d["mode"] == "onnxruntime fp32" and d["export_s"] == exported.export_s
    assert d["flops"] == 2 * flops and len(d["times_ms"]) == 3 and d["batch"] == 2 and d["input_size"] == [128, 128]


def test_deployable_calibrates_random_weights_and_refuses_other_dtypes():
    model = build_backbone("yolo11n")
    reference, onnx_model = deployable(model, size=96, calibrate_batchnorm=True)
    assert reference is not model and onnx_model.dtype == "fp32"
    bn = [m for m in reference.modules() if isinstance(m, torch.nn.BatchNorm2d)][0]
    assert not torch.equal(bn.running_var, torch.ones_like(bn.running_var))  # statistics from the photos
    with pytest.raises(ValueError, match="runs fp32 and int8 here, not fp16"):
        deployable(model, size=96, dtype="fp16")


def test_a_runtime_that_is_not_installed_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    with pytest.raises(RuntimeUnavailableError, match="onnxruntime is not installed here: pip install"):
        require("onnxruntime")
    code = main(["latency", "--arch", "yolo11n", "--imgsz", "64", "--runtime", "onnxruntime", "--iters", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "onnxruntime is not installed here" in err and err.count("\n") == 1
    assert main(["latency", "--arch", "yolo11n", "--imgsz", "64", "--iters", "1"]) == 0  # torch goes on


def test_an_export_that_fails_is_one_line(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("Unsupported operator aten::frobnicate\nlong details")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(OnnxExportError, match="YOLO11n at 64x64 could not be exported to ONNX: Unsupported operator"):
        export_onnx(build_backbone("yolo11n"), size=64)
    assert main(["latency", "--arch", "yolo11n", "--imgsz", "64", "--runtime", "onnxruntime", "--iters", "1"]) == 1
    err = capsys.readouterr().err
    assert "could not be exported to ONNX: Unsupported operator aten::frobnicate" in err and "long details" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without a CUDA device")
def test_onnxruntime_on_a_missing_gpu_is_refused(exported):
    with pytest.raises(ValueError, match="not present"):
        session(exported, device="cuda:0")


def test_cli_onnxruntime_fp32_and_int8_json_and_the_refusals(tmp_path):
    run = cli("latency", "--arch", "yolo11n", "--imgsz", "64", "--runtime", "onnxruntime", "--dtype", "int8", "--iters", "2")
    run_json = cli(
        "latency", "--arch", "yolo11n", "--imgsz", "64", "--runtime", "onnxruntime", "--iters", "2", "--error", "--json",
        "--save-onnx", str(tmp_path / "m.onnx"),
    )  # fmt: skip
    assert run.returncode == 0 and "onnxruntime int8" in run.stdout, run.stderr
    assert run_json.returncode == 0, run_json.stderr
    out = json.loads(run_json.stdout)
    assert out["runtime"] == "onnxruntime" and out["export_s"] > 0 and out["relative_error"] < 1e-4
    assert [o["name"] for o in out["outputs"]] == ["P3", "P4", "P5"] and all(o["cosine"] > 0.9999 for o in out["outputs"])
    assert onnx.load(tmp_path / "m.onnx").graph.input[0].name == "images"
    int8_on_torch = cli("latency", "--imgsz", "64", "--dtype", "int8")
    assert int8_on_torch.returncode == 2 and "add --runtime onnxruntime" in int8_on_torch.stderr
    fp16_on_ort = cli("latency", "--imgsz", "64", "--runtime", "onnxruntime", "--dtype", "fp16")
    assert fp16_on_ort.returncode == 2 and "runs fp32 and int8 here" in fp16_on_ort.stderr
    torch_mode_on_ort = cli("latency", "--imgsz", "64", "--runtime", "onnxruntime", "--fold-bn")
    assert torch_mode_on_ort.returncode == 2 and "--fold-bn: torch modes" in torch_mode_on_ort.stderr


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device here: ONNX Runtime's CUDA provider is checked only where one is present"
)
def test_onnxruntime_on_cuda_runs_or_says_what_to_install(exported, yolo):
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(RuntimeUnavailableError, match="pip install onnxruntime-gpu"):
            session(exported, device="cuda:0")
    else:
        errors = output_errors(yolo, exported, error_images(128), device="cuda:0")
        assert all(e.relative_error < 1e-2 for e in errors), errors  # cuDNN may use TF32


def test_weights_use_7_bits_only_where_the_cpu_would_saturate(monkeypatch):
    """x86 without VNNI saturates uint8 x int8 sums in int16 (AVX2, AVX-512): 7-bit weights there, 8 elsewhere."""
    import platform

    from yolo_explorer.deployment.onnx_models import needs_reduced_range

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert needs_reduced_range("processor : 0\nflags : fpu sse2 avx avx2 fma\n")
    assert needs_reduced_range("flags : fpu avx2 avx512f avx512bw\n")
    assert not needs_reduced_range("flags : fpu avx2 avx512f avx512_vnni\n")
    assert not needs_reduced_range("flags : fpu avx2 avx_vnni\n")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert not needs_reduced_range("Features : fp asimd asimddp\n")
