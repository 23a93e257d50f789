"""int8 a deployer can trust: the units cover the graph, a unit kept in float computes in float in the saved graph,
a unit's sensitivity is what a direct ONNX Runtime run of that graph gives, keeping every unit in float is fp32,
today's full int8 is unchanged, the calibrators and recipes are ONNX Runtime's, and the test detector's boxes tell
which part of int8 loses them."""

from __future__ import annotations

import copy
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from helpers import TRAINED, cli

from yolo_explorer import build_backbone, build_detector
from yolo_explorer.deployment.accuracy import calibrated_copy
from yolo_explorer.deployment.int8_sensitivity import Int8Lab, Recipe, layer_errors, onnx_detections, units_of
from yolo_explorer.deployment.int8_verdict import Int8Photos, box_changes, int8_photos
from yolo_explorer.deployment.onnx_models import calibration_images, export_onnx, quantize_int8
from yolo_explorer.deployment.onnx_runtime import output_errors, reference_outputs, run_onnx
from yolo_explorer.detection.detections import detect
from yolo_explorer.forward.preprocess import letterbox
from yolo_explorer.present.insights import calibration_insight, verdict_insight
from yolo_explorer.synthetic import scene

pytestmark = pytest.mark.slow  # ONNX exports and quantizations

SIZE = 128


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(3)
    photos = torch.from_numpy(np.concatenate(calibration_images(SIZE)))
    return calibrated_copy(build_backbone("yolo11n").eval(), photos)


@pytest.fixture(scope="module")
def lab(backbone):
    return Int8Lab.build(backbone, size=SIZE)


def _graph(model) -> onnx.GraphProto:
    return onnx.load_from_string(model.data).graph


def test_every_node_belongs_to_one_unit_named_after_the_models_layers(lab):
    graph = _graph(lab.fp32)
    owned = [node for unit in lab.units for node in unit.nodes]
    assert len(owned) == len(set(owned)) == len(graph.node)
    names = [u.name for u in lab.units]
    assert names[:11] == [str(i) for i in range(11)] and "10.m.0.attn" in names
    kinds = {u.name: u.kind for u in lab.units}
    assert kinds["2"] == "C3k2" and kinds["9"] == "SPPF" and kinds["10.m.0.attn"] == "C2PSA attention"
    attention = {n.op_type for n in graph.node if n.name in lab.unit("10.m.0.attn").nodes}
    assert {"MatMul", "Softmax", "Conv"} <= attention


def test_the_detectors_head_is_cut_where_deployments_look():
    export = export_onnx(build_detector("yolo11n", 3).eval(), size=SIZE)
    units = {u.name: u.kind for u in units_of(export)}
    assert units["23.cv2"] == "Detect box branch" and units["23.cv3"] == "Detect class branch"
    assert units["23.dfl"] == "Detect box decoding (DFL)" and units["23"].startswith("Detect outputs")
    assert [name for name in units if "." not in name] == [str(i) for i in range(24)]


def _dequantized(graph) -> set[str]:
    return {out for n in graph.node if n.op_type == "DequantizeLinear" for out in n.output}


def test_a_unit_kept_in_float_computes_in_float_in_the_saved_graph(lab):
    """Its weights stay float initializers and no tensor inside it is quantized (at its borders, a tensor an int8
    neighbour quantizes still arrives or leaves rounded); the units around it are int8."""
    mixed = _graph(lab.quantize(exclude=["10.m.0.attn", "4"]))
    dequantized = _dequantized(mixed)
    initializers = {t.name for t in mixed.initializer}
    for name in ("10.m.0.attn", "4"):
        kept = [n for n in mixed.node if n.name in lab.unit(name).nodes]
        produced = {out for n in kept for out in n.output}
        inside = produced & {i for n in kept for i in n.input}
        assert inside, name
        quantized = {n.input[0] for n in mixed.node if n.op_type == "QuantizeLinear"}
        assert not inside & quantized, f"{name}: a tensor inside it is quantized"
        for conv in (n for n in kept if n.op_type in ("Conv", "MatMul")):
            weights = [i for i in conv.input[1:] if i]
            assert not set(weights) & dequantized, f"{conv.name} takes int8 weights"
            assert conv.op_type == "MatMul" or weights[0] in initializers
    int8 = [n for n in mixed.node if n.name in lab.unit("6").nodes and n.op_type == "Conv"]
    assert int8 and all(set(n.input) & dequantized for n in int8)  # the rest is int8


def _split() -> tuple[list[np.ndarray], np.ndarray]:
    """The four samples as the lab splits them by default: the 1st and 3rd calibrate, the 2nd and 4th are judged."""
    photos = calibration_images(SIZE)
    return [photos[0], photos[2]], np.concatenate([photos[1], photos[3]])


def test_a_units_sensitivity_is_a_direct_onnx_runtime_run_of_that_graph(lab, backbone):
    rows = lab.sensitivity()
    assert [r.unit for r in rows] == lab.units
    row = next(r for r in rows if r.unit.name == "8")
    calibration, batch = _split()
    alone = quantize_int8(lab.fp32, calibration, only=list(row.unit.nodes))  # no cache, its own calibration
    session = ort.InferenceSession(alone.data, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"images": batch})
    reference = reference_outputs(backbone, batch)
    for error, out, ref in zip(row.alone, outputs, reference, strict=True):
        cosine = torch.nn.functional.cosine_similarity(torch.from_numpy(out).double().flatten(), ref.flatten(), dim=0)
        assert error.cosine == pytest.approx(float(cosine), abs=1e-9)
    assert row.worst("alone") > min(e.cosine for e in lab.errors(lab.quantize()))  # one unit costs less than all
    errors = layer_errors(rows)  # what the Model graph paints: a layer's worst unit alone, as 1 - cosine
    assert errors["8"] == pytest.approx(1 - row.worst("alone"))
    assert errors["10"] == pytest.approx(max(1 - r.worst("alone") for r in rows if r.unit.name.split(".")[0] == "10"))
    assert set(errors) == {r.unit.name.split(".")[0] for r in rows}
    top = lab.most_sensitive(3, rows)
    assert len(top) == 3 and rows[[r.unit.name for r in rows].index(top[0])].worst("alone") == min(r.worst("alone") for r in rows)


def test_layer_drift_is_where_int8_s_error_builds_up_layer_by_layer(lab):
    """Each layer's output in a variant against the float export's (the Model graph's fp32 beside int8): nothing in
    int8, no drift; one unit in int8, none before it; the layer that makes P4 drifts as the P4 output does, computed
    here with numpy from two plain ONNX Runtime runs."""
    assert max(lab.layer_drift(lab.quantize(exclude=[u.name for u in lab.units])).values()) < 1e-9
    one = lab.layer_drift(lab.quantize(only=["6"]))
    assert list(one) == [str(i) for i in range(11)]  # every layer of the backbone, in order
    assert all(one[str(i)] < 1e-9 for i in range(6)) and one["6"] > 1e-4
    full = lab.quantize()
    drift = lab.layer_drift(full)
    _, batch = _split()
    at = lab.fp32.outputs.index("P4")
    ours, ref = run_onnx(full, batch)[at].ravel().astype(np.float64), run_onnx(lab.fp32, batch)[at].ravel().astype(np.float64)
    assert drift["6"] == pytest.approx(1 - ours @ ref / np.linalg.norm(ours) / np.linalg.norm(ref), abs=1e-9)
    assert drift["10"] > drift["0"] > 0  # it builds up


def test_every_unit_in_float_is_fp32_and_full_int8_is_todays(lab, backbone):
    everything = lab.quantize(exclude=[u.name for u in lab.units])
    assert not any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in _graph(everything).node)
    calibration, batch = _split()
    for ours, fp32 in zip(run_onnx(everything, batch), run_onnx(lab.fp32, batch), strict=True):
        np.testing.assert_allclose(ours, fp32, rtol=0, atol=1e-5 * float(np.abs(fp32).max()))
    today = quantize_int8(lab.fp32, calibration)
    ours, theirs = lab.errors(lab.quantize()), output_errors(backbone, today, batch)
    assert [(e.name, e.cosine, e.relative_error) for e in ours] == [
        (e.name, pytest.approx(e.cosine, rel=1e-12), pytest.approx(e.relative_error, rel=1e-12)) for e in theirs
    ]
    assert lab.verdict(today) is None and lab.check() is None  # a backbone has no boxes


def test_calibrators_and_per_tensor_weights_are_onnx_runtimes(backbone, lab):
    cosines = {}
    for recipe in (Recipe("minmax"), Recipe("percentile"), Recipe("minmax", per_channel=False), Recipe("minmax", photos=1)):
        other = Int8Lab.build(backbone, recipe=recipe, fp32=lab.fp32)
        cosines[recipe] = [e.cosine for e in other.errors(other.quantize())]
        assert json.loads(other.cache.read_text())["CLS"] == "TensorsData"  # ONNX Runtime's calibration cache
    assert len({tuple(c) for c in cosines.values()}) == 4  # each recipe gives its own ranges or scales
    entropy = Int8Lab.build(backbone, recipe=Recipe("entropy"), fp32=lab.fp32)
    # as quantize_static runs it (128 bins for 128 levels), Entropy can only choose the whole range: MinMax's
    assert [e.cosine for e in entropy.errors(entropy.quantize())] == cosines[Recipe("minmax")]


def test_bad_requests_say_what_is_wrong(lab, backbone):
    with pytest.raises(ValueError, match="no unit '99' in YOLO11n: the units are 0, 1"):
        lab.quantize(exclude=["99"])
    with pytest.raises(ValueError, match="keep 1 to 12 units in float, not 13"):
        lab.most_sensitive(13, [])
    with pytest.raises(ValueError, match="at least one unit"):
        lab.quantize(only=[])
    with pytest.raises(ValueError, match="calibrator must be one of minmax, entropy, percentile"):
        Recipe("kl")
    with pytest.raises(ValueError, match="calibrates on 9 photos, and there are 2"):
        Int8Lab.build(backbone, recipe=Recipe(photos=9), fp32=lab.fp32)


@pytest.fixture(scope="module")
def shapes_detector(trained_once):
    model, checkpoint = copy.deepcopy(trained_once[0]), trained_once[1]
    return model.eval(), checkpoint.names


def _shapes(seeds, size: int = 320) -> list[tuple[str, np.ndarray]]:
    """Photos of the detector's own world (coloured shapes), letterboxed."""
    return [(f"shapes {s}", letterbox(scene(s, 800, 600)[0], size).tensor().numpy()) for s in seeds]


def test_the_test_detector_calibrated_on_its_own_photos_keeps_every_box_with_its_score_once_its_outputs_are_float(
    shapes_detector,
):
    """Full int8 puts the decoded boxes (pixels) and scores (0 to 1) under one scale, and the scores round to nothing;
    keeping unit 23 (Detect's outputs) in float gives every box back, as a deployer counts: IoU 0.9, same class, score
    within 0.05 of fp32's, on photos the calibration did not see."""
    model, names = shapes_detector
    lab = Int8Lab.build(model, size=320, photos=int8_photos(_shapes(range(100, 108)), size=(320, 320), samples=False))
    assert lab.photos.judged_labels == ("shapes 101", "shapes 103", "shapes 105", "shapes 107")
    check = lab.check()
    assert check.sound and check.boxes >= 8 and calibration_insight(check, "") is None
    image, _ = scene(41, 800, 600)  # a new photo: fp32's export gives torch's boxes
    reference = onnx_detections(lab.fp32, image, names)
    torch_boxes = detect(model, image, 320, rect=False).detections
    assert [d.name for d in reference] == [d.name for d in torch_boxes] and len(reference) >= 2
    for ours, theirs in zip(reference, torch_boxes, strict=True):
        assert ours.box == pytest.approx(theirs.box, abs=0.05) and ours.score == pytest.approx(theirs.score, abs=1e-4)

    errors, int8 = lab.assess(lab.quantize())
    scores = {e.name: e.cosine for e in errors}
    assert scores["decoded scores"] < 0.5 < 0.999 < scores["decoded boxes"]  # one cosine over "decoded" would hide it
    assert int8.status == "fails" and int8.kept == 0 and len(int8.lost) == int8.reference >= 8
    assert lab.judged == ("decoded boxes", "decoded scores")

    mixed_model = lab.quantize(exclude=["23"])
    mixed = lab.verdict(mixed_model)
    assert mixed.status == "passes" and mixed.kept == mixed.reference == int8.reference
    assert mixed.min_iou >= 0.9 and mixed.worst_change <= 0.05 and not mixed.new and mixed.collapse is None
    for seed in range(42, 47):  # five more photos neither calibrated nor judged on, matched at IoU 0.9
        photo = scene(seed, 800, 600)[0]
        fp32 = onnx_detections(lab.fp32, photo, names)
        on_photo = box_changes(fp32, onnx_detections(mixed_model, photo, names))
        assert len(on_photo.kept) == len(fp32) >= 2 and not on_photo.new, seed
        assert max(abs(a.score - b.score) for a, b, _ in on_photo.kept) <= 0.05


def test_the_test_detector_calibrated_on_the_samples_is_flagged_though_its_cosines_look_safe(shapes_detector):
    """The issue's case: calibrated on the built-in samples (no shapes in them), judged on shapes. P3's class logits
    are calibrated up to a score of about 0.95, every higher score is clipped onto it, and the check says so before
    any variant; keeping unit 23 in float, the cosine of the scores stays near 1 and the verdict names the collapse."""
    model, names = shapes_detector
    samples = calibration_images(320)
    shapes = _shapes(range(100, 104))
    photos = Int8Photos(tuple(samples), tuple(p for _, p in shapes), tuple(f"s{i}" for i in range(4)), tuple("abcd"))
    lab = Int8Lab.build(model, size=320, photos=photos)
    check = lab.check()
    (p3,) = check.clipped
    assert p3.level == "P3" and p3.cap < 0.96 < p3.top and len(p3.over) >= len(p3.scores) / 4
    sentence = calibration_insight(check, "calibrate on photos of its own scenes")
    assert sentence.startswith(f"Calibrated on these 4 photos, int8's ranges cap the class scores of P3 at {p3.cap:.3f} (")
    assert sentence.endswith("so those boxes lose their scores: calibrate on photos of its own scenes.")

    mixed_model = lab.quantize(exclude=["23"])
    errors, mixed = lab.assess(mixed_model)
    assert {e.name: e.cosine for e in errors}["decoded scores"] > 0.98  # what a cosine says
    assert mixed.status == "fails" and mixed.collapse is not None and mixed.collapse.boxes >= 4
    assert mixed.collapse.score == pytest.approx(p3.cap, abs=0.005) and mixed.collapse.high == pytest.approx(p3.top)
    assert "its scores collapse" in verdict_insight(mixed)
    # the cap is what int8 computes: a direct ONNX Runtime run scores nothing on P3 above it
    decoded = ort.InferenceSession(mixed_model.data, providers=["CPUExecutionProvider"]).run(
        ["decoded"], {"images": lab.error_batch}
    )[0]
    assert float(decoded[:, 4:, : 40 * 40].max()) <= p3.cap + 0.005 < p3.top


def test_the_latency_command_prints_sensitivity_and_the_trade_off(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo")
    args = ["latency", "--runtime", "onnxruntime", "--dtype", "int8", "--imgsz", str(SIZE), "--arch", "yolo11n"]
    run = cli(*args, "--sensitivity", "--keep-float-top", "2", "--iters", "3", "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert [v["name"] for v in out["variants"]] == ["fp32", "int8", "weighted", "mixed"]
    assert len(out["sensitivity"]) == len(out["units"]) == 12
    worst = sorted(out["sensitivity"], key=lambda r: min(e["cosine"] for e in r["alone"]))[:2]
    assert out["variants"][3]["kept_float"] == [r["unit"] for r in worst]
    text = cli(*args, "--keep-float", "10.m.0.attn", "--calibrator", "percentile", "--iters", "3")
    assert text.returncode == 0, text.stderr
    assert (
        "(percentile calibration, per-channel weights) on 2 photos (sample: astronaut, sample: coffee); judged on 2 "
        "photos (sample: cat, sample: rocket)" in text.stdout
    )
    assert "keeping 10.m.0.attn in float" in text.stdout
    for bad, says in (
        (["--keep-float", "99"], "no unit '99'"),
        (["--keep-float-top", "40"], "has 12 units, not 40"),
        (["--calibration", str(broken)], f"--calibration {broken}"),
        (["--image", str(broken)], "--image: boxes need the whole detector"),
    ):
        refused = cli(*args, *bad)
        assert refused.returncode == 2 and says in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    wrong = cli("latency", "--sensitivity", "--imgsz", str(SIZE))
    assert wrong.returncode == 2 and "go with --runtime onnxruntime --dtype int8" in wrong.stderr


def test_the_latency_command_asks_a_custom_detector_for_its_own_photos_and_says_what_the_samples_do(tmp_path):
    """The trained shapes detector: no calibration photos of its own is refused with what to pass; calibrated on the
    samples and judged on shapes, the calibration warning comes first and the verdict names the collapse; calibrated
    on shapes, unit 23 in float passes."""
    from yolo_explorer.samples import SAMPLES, sample_bytes

    samples, judged, own = tmp_path / "samples", tmp_path / "judged", tmp_path / "own"
    for folder in (samples, judged, own):
        folder.mkdir()
    for name in SAMPLES:
        (samples / f"{name}.jpg").write_bytes(sample_bytes(name))
    for seed in range(100, 104):
        scene(seed, 800, 600)[0].save(judged / f"{seed}.png")
    for seed in range(110, 116):
        scene(seed, 800, 600)[0].save(own / f"{seed}.png")
    args = [
        "latency",
        "--arch",
        "yolo11n",
        "--detector",
        "--weights",
        str(TRAINED),
        "--runtime",
        "onnxruntime",
        "--dtype",
        "int8",
    ]
    args += ["--imgsz", "320"]
    for refused in (cli(*args), cli(*args, "--keep-float", "23")):
        assert refused.returncode == 2, refused.stderr
        assert "detect red disc, blue disc, yellow square, green triangle, not COCO's classes" in refused.stderr
        assert "--calibration FOLDER" in refused.stderr and "Traceback" not in refused.stderr

    flagged = cli(*args, "--calibration", str(samples), "--judge", str(judged), "--keep-float", "23", "--iters", "3")
    assert flagged.returncode == 0, flagged.stderr
    first, second = flagged.stdout.splitlines()[:2]
    assert first.startswith("warning: Calibrated on these 4 photos, int8's ranges cap the class scores of P3")
    assert first.endswith("calibrate on photos of the model's own scenes: --calibration FOLDER.")
    assert "on 4 photos (astronaut.jpg, cat.jpg, coffee.jpg, rocket.jpg); judged on 4 photos (100.png" in second
    assert "int8 with 23 in float fails on 4 photos it was not calibrated on: its scores collapse" in flagged.stdout

    trusted = cli(*args, "--calibration", str(own), "--keep-float", "23", "--iters", "3", "--json")
    assert trusted.returncode == 0, trusted.stderr
    out = json.loads(trusted.stdout)
    assert out["photos"]["calibrated"] == ["110.png", "112.png", "114.png"]
    assert out["photos"]["judged"] == ["111.png", "113.png", "115.png"]
    assert out["warning"] is None and out["calibration"]["sound"]
    verdicts = {v["name"]: v["verdict"] for v in out["variants"]}
    assert verdicts["int8"]["status"] == "fails" and verdicts["int8"]["kept"] == 0
    mixed = verdicts["mixed"]
    assert mixed["status"] == "passes" and mixed["kept"] == mixed["reference"] > 0 and mixed["min_iou"] >= 0.9
    assert mixed["worst_score_change"] <= 0.05 and mixed["collapse"] is None


def test_a_calibration_folder_gives_its_photos_and_says_what_it_left_out(tmp_path):
    from PIL import Image

    from yolo_explorer.deployment.onnx_models import calibration_folder
    from yolo_explorer.environment import Environment

    assert calibration_folder(Environment.read({}).calibration_dir, size=SIZE) == ([], [])  # no folder set: none
    for i in range(3):
        scene(60 + i, 200, 120)[0].save(tmp_path / f"photo{i}.jpg")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")
    served = Environment.read({"YOLO_EXPLORER_CALIBRATION_DIR": str(tmp_path)}).calibration_dir
    photos, skipped = calibration_folder(served, size=SIZE)
    assert [name for name, _ in photos] == ["photo0.jpg", "photo1.jpg", "photo2.jpg"]
    assert photos[0][1].shape == (1, 3, SIZE, SIZE) and photos[0][1].dtype == np.float32
    assert len(skipped) == 1 and skipped[0].startswith("broken.png: ")
    limited, skipped = calibration_folder(tmp_path, SIZE, limit=2)
    assert len(limited) == 2 and "2 photos at most" in skipped[-1]
    assert calibration_folder(tmp_path / "nowhere", SIZE) == ([], [f"{tmp_path / 'nowhere'} is not a folder"])
    np.testing.assert_array_equal(photos[0][1], calibration_folder(tmp_path, SIZE)[0][0][1])
    assert Image.open(tmp_path / "photo0.jpg").size == (200, 120)


def test_quantizing_a_detector_leaves_nothing_in_the_working_directory(tmp_path, monkeypatch):
    """ONNX Runtime's symbolic shape inference, failing on the detector's anchor grid, would write
    sym_shape_infer_temp.onnx and a weights file the size of the model into the working directory at every call."""
    export = export_onnx(build_detector("yolo11n", 3).eval(), size=SIZE)
    monkeypatch.chdir(tmp_path)
    quantize_int8(export, calibration_images(SIZE)[:1])
    assert list(tmp_path.iterdir()) == []
