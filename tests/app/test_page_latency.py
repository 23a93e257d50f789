"""AppTest of the Latency page: runs on a button, a history, and refusals before any work."""

from __future__ import annotations

import re

import pytest
from helpers import no_problems, run_latency

PAGE = "latency.py"


def test_nothing_runs_until_the_button(app):
    at = app(PAGE)
    no_problems(at)
    assert "press **Run**" in at.info[0].value and not at.metric


def test_runs_fill_a_history(app):
    at = app(PAGE, width=8, side=128)
    run_latency(at, lat_iters=3, lat_warmup=1)
    no_problems(at)
    labels = [m.label for m in at.metric]
    assert labels == ["Median", "p90", "Min", "Images / s", "TFLOP/s", "Compile / capture"]
    assert at.dataframe[0].value["run"].tolist() == ["tutorial w=8 128×128 b1 fp32 cpu"]
    at.get_by_key("width").set_value(16).run()
    run_latency(at, lat_iters=3, lat_warmup=1, lat_channels_last=True, lat_fold_bn=True)
    no_problems(at)
    assert at.dataframe[0].value["run"].tolist() == [
        "tutorial w=8 128×128 b1 fp32 cpu",
        "tutorial w=16 128×128 b1 fp32 + channels_last + BN folded cpu",
    ]
    assert len(at.get("plotly_chart")) == 2  # this run's distribution and the history
    at.get_by_key("lat_clear").click().run()
    assert "press **Run**" in at.info[0].value


def test_each_run_is_compared_with_plain_fp32(app):
    at = app(PAGE, width=8, side=128)
    run_latency(at, lat_iters=3, lat_warmup=1, lat_fold_bn=True)
    assert any("Run plain fp32 (no options, eager)" in c.value for c in at.caption)
    run_latency(at, lat_iters=3, lat_warmup=1, lat_fold_bn=False)
    run_latency(at, lat_iters=3, lat_warmup=1, lat_fold_bn=True)
    no_problems(at)
    runs = at.dataframe[0].value
    assert runs["× fp32 eager"][1] == 1.0  # every run of the same setting against the fp32 one, earlier runs too
    for i in (0, 2):
        assert runs["× fp32 eager"][i] == pytest.approx(runs["median ms"][1] / runs["median ms"][i])
    told = next(c.value for c in at.caption if "the speed of plain fp32 eager" in c.value)
    assert f"**{runs['× fp32 eager'][2]:.2f}×**" in told


def test_a_failed_compile_is_explained_and_eager_still_works(app, monkeypatch):
    import torch

    def no_compiler(model, **options):  # as on a laptop without g++ (the real failure: tests/engine/test_latency.py)
        def fail(*args):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found in torch._inductor.config.cpp.cxx")

        return fail

    at = app(PAGE, width=8, side=128)
    at.get_by_key("lat_compile").set_value("default").run()
    with monkeypatch.context() as patch:
        patch.setattr(torch, "compile", no_compiler)
        run_latency(at, lat_iters=3, lat_warmup=0)
    assert not at.exception
    assert len(at.error) == 1 and "time the eager modes instead." in at.error[0].value
    at.get_by_key("lat_compile").set_value("eager").run()
    run_latency(at, lat_iters=3, lat_warmup=0)
    no_problems(at)
    assert at.dataframe[0].value["run"].tolist() == ["tutorial w=8 128×128 b1 fp32 cpu"]


def test_the_server_chooses_which_compile_modes_it_offers(server_env):
    from pages.ui.settings import compile_modes

    server_env("YOLO_EXPLORER_COMPILE_MODES", None)
    assert compile_modes("cuda:0") == (["eager", "default", "reduce-overhead", "max-autotune"], None)
    assert compile_modes("cpu") == (["eager", "default"], None)
    server_env("YOLO_EXPLORER_COMPILE_MODES", "default, reduce-overhead")
    assert compile_modes("cuda:0") == (["eager", "default", "reduce-overhead"], None)
    server_env("YOLO_EXPLORER_COMPILE_MODES", "none")
    assert compile_modes("cpu") == (["eager"], None)
    server_env("YOLO_EXPLORER_COMPILE_MODES", "default,max-autotun")
    modes, note = compile_modes("cuda:0")
    assert modes == ["eager", "default"] and "unknown modes (max-autotun)" in note


def test_a_server_without_compiling(app, server_env):
    server_env("YOLO_EXPLORER_COMPILE_MODES", "none")
    at = app(PAGE)
    no_problems(at)
    assert at.get_by_key("lat_compile").options == ["eager"] and at.get_by_key("lat_freeze").disabled


def test_a_batch_that_cannot_fit_is_refused_at_once(app):
    at = app(PAGE, width=128, side=1280)
    run_latency(at, lat_batch=64, lat_iters=3, lat_warmup=0)  # 64 images of 1280 px at width 128: ~52 GiB of activations
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("Not enough memory:")
    assert "Lower the width, the input size or the batch size" in at.error[0].value


def test_batch_sweep_and_yolo11(app):
    at = app(PAGE, arch="yolo11n", side=128)
    run_latency(at, lat_batch=4, lat_sweep=True, lat_iters=3, lat_warmup=0, lat_threads=1)
    no_problems(at)
    runs = at.dataframe[0].value
    assert runs["run"].tolist() == [f"YOLO11n 128×128 b{b} fp32 cpu" for b in (1, 2, 4)]
    assert (runs["TFLOP/s"] > 0).all()
    assert any(h.value == "Batch sweep" for h in at.subheader)
    assert any("compute peak, measured here" in (c.value or "") for c in at.caption)
    for key in ("lat_cuda_graph", "lat_cudnn_benchmark"):  # no CUDA here
        assert not at.get_by_key(key).value and at.get_by_key(key).disabled
    assert at.get_by_key("lat_compile").options == ["eager", "default"]


@pytest.mark.slow  # torch.compile
def test_compile_cost_is_announced_before_running_and_remembered(app):
    at = app(PAGE, width=8, side=128)
    assert at.get_by_key("lat_freeze").disabled  # freezing is a compile option
    at.get_by_key("lat_compile").set_value("default").run()
    no_problems(at)
    assert not at.get_by_key("lat_freeze").disabled
    assert "Compiling comes first and is reported apart" in at.info[0].value  # before anyone presses Run
    run_latency(at, lat_iters=3, lat_warmup=1)
    no_problems(at)
    compiled = at.dataframe[0].value
    assert compiled["run"].tolist() == ["tutorial w=8 128×128 b1 fp32 + compile default cpu"]
    seconds = next(m.value for m in at.metric if m.label == "Compile / capture")
    assert seconds.endswith(" s") and float(seconds[:-2]) > 0
    at.run()  # the next run (any session's) is told what it will cost
    told = re.search(r"took (\d+) s on this server last time", at.info[0].value)
    assert told and abs(int(told[1]) - float(seconds[:-2])) <= 0.5 + 0.05  # the same figure, rounded to seconds
    at.get_by_key("lat_freeze").set_value(True).run()  # another compile: its cost is not known yet
    assert "Compiling comes first and is reported apart" in at.info[0].value
    run_latency(at, lat_iters=3, lat_warmup=1)
    no_problems(at)
    assert at.dataframe[0].value["run"].tolist()[-1] == "tutorial w=8 128×128 b1 fp32 + compile default (frozen weights) cpu"


@pytest.mark.slow  # exports and quantizes
def test_onnx_runtime_fp32_then_int8_with_errors_download_and_a_channel_side_by_side(app):
    import json

    at = app(PAGE, arch="yolo11n", side=128)
    at.get_by_key("lat_runtime").set_value("ONNX Runtime").run()
    no_problems(at)
    assert at.get_by_key("lat_channels_last").disabled and at.get_by_key("lat_fold_bn").disabled  # torch modes
    run_latency(at, lat_iters=3, lat_warmup=1)
    no_problems(at)
    assert at.dataframe[0].value["output"].tolist() == ["P3", "P4", "P5"]
    assert (at.dataframe[0].value["relative error"] < 1e-4).all()  # the export computes what the model computes
    assert any(d.proto.label.startswith("Download .onnx") for d in at.get("download_button"))
    assert [m.label for m in at.metric][-1] == "Export"
    assert not [c.value for c in at.caption if "calibration" in c.value]  # fp32 is not calibrated: no word of it
    run_latency(at, lat_iters=3, lat_warmup=1, lat_dtype_onnx="int8")
    no_problems(at)
    assert any("int8's calibration then sees" in c.value for c in at.caption)
    errors = at.dataframe[0].value
    assert (errors["relative error"] > 1e-3).all()
    fp32_map, int8_map = (json.loads(c.proto.spec) for c in at.get("plotly_chart")[-3:-1])
    assert fp32_map["data"][0]["zmin"] == int8_map["data"][0]["zmin"]  # one colour scale for both
    assert "int8 (ONNX Runtime)" in int8_map["layout"]["title"]["text"]
    history = at.dataframe[-1].value["run"].tolist()
    assert [run.split(" b1 ")[1] for run in history] == ["onnxruntime fp32 cpu", "onnxruntime int8 cpu"]


def test_an_export_that_fails_is_a_message_and_torch_goes_on(app, monkeypatch):
    import torch

    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("unsupported op")))
    at = app(PAGE, width=24, side=128)  # a config no other test exports
    at.get_by_key("lat_runtime").set_value("ONNX Runtime").run()
    run_latency(at, lat_iters=3, lat_warmup=1)
    assert not at.exception
    assert "could not be exported to ONNX: unsupported op. The torch runtime times it as it is." in at.error[0].value
    at.get_by_key("lat_runtime").set_value("torch").run()
    run_latency(at, lat_iters=3, lat_warmup=1)
    no_problems(at)


@pytest.mark.slow  # exports, quantizes each unit
def test_int8_trust_measures_each_unit_and_times_mixed_precision(app, tmp_path, server_env):
    """After an int8 run: each unit's error as the engine measures it on the same export, ranked; then fp32, int8 and
    the two most sensitive kept in float, timed and checked, with the sentence computed from the table."""
    import numpy as np

    from yolo_explorer import build_model, make_config
    from yolo_explorer.deployment.int8_sensitivity import Int8Lab
    from yolo_explorer.deployment.int8_verdict import int8_photos
    from yolo_explorer.deployment.onnx_models import calibration_folder, deployable
    from yolo_explorer.forward.preprocess import letterbox, load_image
    from yolo_explorer.present.formatting import escape_markdown
    from yolo_explorer.samples import sample_bytes
    from yolo_explorer.synthetic import scene

    for i in range(2):
        scene(70 + i, 160, 120)[0].save(tmp_path / f"photo{i}.jpg")
    server_env("YOLO_EXPLORER_CALIBRATION_DIR", str(tmp_path))
    at = app(PAGE, arch="yolo11n", side=128)
    at.get_by_key("lat_runtime").set_value("ONNX Runtime").run()
    run_latency(at, lat_iters=3, lat_warmup=1, lat_dtype_onnx="int8")
    no_problems(at)
    assert any(s.value == "Can this int8 be trusted?" for s in at.subheader)
    server = at.get_by_key("int8_with_server")
    assert server.label == "Server's 2" and not server.disabled and server.value  # the server's own photos first
    assert at.get_by_key("int8_with_samples_True").value  # random weights: the samples too
    said = escape_markdown(
        "Calibrated (MinMax, per-channel weights) on 3 photos (photo0.jpg, sample: astronaut, sample: coffee); judged on "
        "3 photos (photo1.jpg, sample: cat, sample: rocket), which calibration did not see."
    )
    assert any(c.value.startswith(said) for c in at.caption)
    button = next(b for b in at.button if b.label.startswith("Which units does int8 break? 24 quantizations"))
    assert re.search(r"\(about \d+ s here\)", button.label)
    button.click().run()
    no_problems(at)
    table = next(d.value for d in at.dataframe if "int8 alone" in d.value.columns)

    model, fp32 = deployable(build_model(make_config("yolo11n"), seed=0).eval(), size=128, calibrate_batchnorm=True)
    own = calibration_folder(tmp_path, 128)[0]
    astronaut = letterbox(load_image(sample_bytes("astronaut")), 128).tensor().numpy()  # the sidebar's photo
    photos = int8_photos([*own, ("sample: astronaut", astronaut)], size=(128, 128), samples=True)
    lab = Int8Lab.build(model, fp32=fp32, photos=photos)
    rows = sorted(lab.sensitivity(), key=lambda r: r.worst("alone"))
    assert list(table["unit"]) == [r.unit.name for r in rows]
    np.testing.assert_allclose(table["int8 alone"], [r.worst("alone") for r in rows], atol=1e-6)
    np.testing.assert_allclose(table["all but it in int8"], [r.worst("all_but") for r in rows], atol=1e-6)

    kept = at.multiselect[-1]
    assert kept.value == [r.unit.name for r in rows[:2]]  # the two most sensitive, once measured
    next(b for b in at.button if b.label == "Time fp32, int8 and mixed").click().run()
    no_problems(at)
    trade = next(d.value for d in at.dataframe if "speed-up" in d.value.columns)
    assert list(trade["precision"]) == ["fp32", "int8", "weighted", "mixed"] and trade["speed-up"].iloc[0] == 1.0
    int8 = {e.name: e.cosine for e in lab.errors(lab.quantize())}
    assert trade.loc[1, "P5"] == pytest.approx(int8["P5"], abs=1e-6)
    sentence = next(m.value for m in at.markdown if m.value.startswith("Full int8 runs"))
    ms = trade["median ms"]
    assert escape_markdown(f"({ms[1]:.2f} vs {ms[0]:.2f} ms)") in sentence
    assert escape_markdown(f"keeping {', '.join(r.unit.name for r in rows[:2])} in float") in sentence

    at.get_by_key("int8_with_server").set_value(False).run()  # the four samples alone
    no_problems(at)
    said = escape_markdown("Calibrated (MinMax, per-channel weights) on 2 photos (sample: astronaut, sample: coffee)")
    assert any(c.value.startswith(said) for c in at.caption)
    for key in ("int8_with_photo", "int8_with_samples_True"):
        at.get_by_key(key).set_value(False).run()
    no_problems(at)
    assert any(w.value.startswith("Choose at least one source of photos") for w in at.warning)


@pytest.mark.slow  # exports and quantizes a detector
def test_int8_trust_of_a_custom_detector_calibrates_on_its_own_photos_and_says_what_it_cannot_judge(app, trained_detector):
    """The trained shapes detector: the samples are off by default (not its world); a photo it sees nothing in is said
    first, in the warning; six uploaded photos of shapes calibrate on three and judge on three, and the verdict of each
    variant is the engine's on the same photos."""
    import io

    from helpers import TRAINED, detector_app, image_bytes, upload

    from yolo_explorer.deployment.int8_report import precision_scores
    from yolo_explorer.deployment.int8_sensitivity import Int8Lab
    from yolo_explorer.deployment.int8_verdict import int8_photos
    from yolo_explorer.forward.preprocess import letterbox, load_image
    from yolo_explorer.present.formatting import escape_markdown
    from yolo_explorer.present.insights import verdict_insight
    from yolo_explorer.synthetic import scene

    at = upload(detector_app(app, PAGE, side=320), "best.pt", TRAINED.read_bytes())
    at.get_by_key("source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value(("gray.png", image_bytes((400, 300), (128, 128, 128)), "image/png")).run()
    at.get_by_key("lat_runtime").set_value("ONNX Runtime").run()
    run_latency(at, lat_iters=3, lat_warmup=1, lat_dtype_onnx="int8")
    no_problems(at)
    samples = at.get_by_key("int8_with_samples_False")
    assert not samples.value and "these weights detect red disc, blue disc, yellow square" in samples.help
    said = escape_markdown("The 1 calibration photo gives this detector no box above 0.25: it shows")
    warning = next(w.value for w in at.warning if w.value.startswith(said))  # (a busy CPU has its own warning)
    assert escape_markdown("upload a few under “Photos of your model's scenes”") in warning
    assert any(escape_markdown("judged on upload: gray.png, mirrored: the one photo there is") in c.value for c in at.caption)

    files = []
    for seed in range(120, 126):
        buffer = io.BytesIO()
        scene(seed, 640, 480)[0].save(buffer, format="PNG")
        files.append((f"shapes{seed}.png", buffer.getvalue(), "image/png"))
    at.file_uploader(key="int8_uploads").set_value([*files, ("broken.png", b"not an image", "image/png")]).run()
    at.get_by_key("int8_with_photo").set_value(False).run()
    no_problems(at)
    assert any(c.value.startswith("Left out: " + escape_markdown("broken.png: ")) for c in at.caption)
    assert not [w for w in at.warning if "calibrat" in w.value]  # a calibration that holds the scores says nothing
    said = escape_markdown(
        "Calibrated (MinMax, per-channel weights) on 3 photos (upload: shapes120.png, upload: shapes122.png, upload: "
        "shapes124.png)"
    )
    assert any(c.value.startswith(said) for c in at.caption)
    at.multiselect[-1].set_value(["23"]).run()
    next(b for b in at.button if b.label == "Time fp32, int8 and mixed").click().run()
    no_problems(at)
    trade = next(d.value for d in at.dataframe if "speed-up" in d.value.columns)
    assert list(trade["verdict"]) == ["the reference", "fails", "passes", "passes"]  # Ultralytics' recipe passes too

    model = trained_detector
    photos = [(f"upload: {name}", letterbox(load_image(data), 320).tensor().numpy()) for name, data, _ in files]
    lab = Int8Lab.build(model.eval(), size=320, photos=int8_photos(photos, size=(320, 320), samples=False))
    mixed = lab.verdict(lab.quantize(exclude=["23"]))
    assert mixed.status == "passes"
    scores = next(d.value for d in at.dataframe if "best threshold" in d.value.columns)
    assert list(scores["precision"]) == ["fp32", "int8", "weighted", "mixed"]
    weighted = precision_scores(lab, "weighted", "", lab.quantize(weighted_only=True))
    row = scores[scores["precision"] == "weighted"].iloc[0]
    assert row["best threshold"] == weighted.sweep.best.conf
    assert row["score / fp32's"] == pytest.approx(weighted.spread.compression)
    assert scores[scores["precision"] == "int8"].iloc[0]["different scores"] <= 2  # the scores round onto a step or two
    assert any("Thresholds judged against fp32's own boxes at 0.25" in c.value for c in at.caption)  # uploads: no labels
    sentence = verdict_insight(mixed, "int8 with 23 in float")
    assert any(escape_markdown(sentence) in m.value for m in at.markdown)
    assert trade.loc[2, "boxes kept"] == f"{mixed.kept}/{mixed.reference}"
