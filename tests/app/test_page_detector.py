"""AppTest of the whole YOLO11 detector in the app: the sidebar's choice, Overview (the neck and head drawn,
subtotals, Ultralytics' published totals), Detections (trained weights: boxes equal to the engine's; random
weights: score maps), Feature maps, Compare, Model summary and Latency."""

from __future__ import annotations

import copy
import io
import json

import pytest
import torch
from helpers import TRAINED, detector_app, no_problems, photo_upload, run_latency, upload
from spec import YOLO11_DETECTOR

from yolo_explorer import build_backbone, build_detector, load_image
from yolo_explorer.deployment.accuracy import calibrated_copy
from yolo_explorer.detection.detections import Nms, detect
from yolo_explorer.forward.preprocess import letterbox
from yolo_explorer.model.blocks import fold_batchnorm
from yolo_explorer.present.formatting import escape_markdown
from yolo_explorer.samples import sample_bytes
from yolo_explorer.synthetic import CLASSES, scene

DETECTOR = {"arch": "yolo11n", "part": "Whole detector"}


def checkpoint(model) -> bytes:
    """A model's weights as Ultralytics names them, saved as a state_dict file."""
    buffer = io.BytesIO()
    torch.save({f"model.{k}": v for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def test_overview_draws_the_neck_and_head_with_subtotals_and_published_totals(app):
    at = detector_app(app)
    no_problems(at)
    assert at.title[0].value == "Inside the YOLO11n detector"
    assert {m.label: m.value for m in at.metric}["Parameters"] == "2.62 M"
    table = at.dataframe[-1].value
    layers = table["layer"].tolist()
    assert layers[:24] == [str(i) for i in range(24)]
    assert layers[24:] == ["backbone total", "neck total", "head total", "total"]
    subtotals = table.set_index("layer")["params"]
    assert subtotals["backbone total"] + subtotals["neck total"] + subtotals["head total"] == subtotals["total"]
    assert subtotals["total"] == YOLO11_DETECTOR["n"][0] and subtotals["23"] == 464_912
    assert table.set_index("layer").loc["12", "block"] == "Concat" and table.set_index("layer").loc["12", "params"] == 0
    published = at.dataframe[0].value
    n = YOLO11_DETECTOR["n"]  # YOLO11 has one head branch; its only attention's products are C2PSA's, at P5
    assert published["parameters"].tolist() == [f"{n[0]:,}", f"{n[0]:,}", "2.6 M"]
    assert published["GFLOPs at 640×640"].tolist() == [f"{n[1] / 1e9:.2f}", "6.48", "6.5"]
    flow = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(flow["layout"]["shapes"]) == 25  # the input and 24 layers
    lateral = [a for a in flow["layout"]["annotations"] if a.get("arrowcolor") == "#d62728"]
    assert len(lateral) == 4 + 2  # concatenations from 6, 4, 13, 10; Detect from 16 and 19 (22 is its previous layer)
    assert any("The neck then brings P5 back up" in c.value for c in at.caption)


def test_backbone_only_is_the_default_and_stays_the_backbone(app):
    at = app(arch="yolo11n")
    no_problems(at)
    assert at.title[0].value == "Inside the YOLO11n backbone"
    assert len(at.dataframe[0].value) == 12  # 11 layers and the total


def test_detections_with_random_weights_show_score_maps(app):
    at = detector_app(app, "detections.py")
    no_problems(at)
    assert "Detections need trained weights" in at.warning[0].value
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert [c["layout"]["title"]["text"] for c in charts] == ["P3: 80×80 cells", "P4: 40×40 cells", "P5: 20×20 cells"]


@pytest.mark.slow  # several detector pages in one test
def test_detections_with_a_three_class_checkpoint_are_the_engines(app):
    # a stand-in for trained weights: BatchNorm statistics set from the photo (activations at unit scale), class
    # biases at 0 instead of an untrained head's -8, so that scores spread around 0.5 and some boxes are kept
    photo = letterbox(load_image(sample_bytes("astronaut")), 320).tensor()
    trained = calibrated_copy(build_detector("yolo11n", 3, seed=11), photo)
    with torch.no_grad():
        for branch in trained.get_submodule("23").cv3:
            branch[-1].bias.zero_()
    at = upload(detector_app(app, "detections.py", side=320), "three.pt", checkpoint(trained))
    no_problems(at)
    assert any("a head of 3 classes" in c.value for c in at.sidebar.caption)
    at.get_by_key("det_conf").set_value(0.5).run()
    no_problems(at)
    deployed = copy.deepcopy(trained)
    fold_batchnorm(deployed)  # the page runs the detector as Ultralytics' predict does: BatchNorm folded
    expected = detect(deployed, load_image(sample_bytes("astronaut")), 320, Nms(conf=0.5))
    assert expected.detections, "the drawn weights should give some boxes above 0.5"
    table = at.dataframe[0].value
    assert table["class"].tolist() == [d.name for d in expected.detections]
    assert table["score"].tolist() == pytest.approx([d.score for d in expected.detections], abs=1e-6)
    assert table["x1"].tolist() == pytest.approx([d.box[0] for d in expected.detections], abs=1e-3)
    assert table["level"].tolist() == [d.cell.level for d in expected.detections]
    assert table["cell"].tolist() == [f"{d.cell.row}, {d.cell.col}" for d in expected.detections]
    assert any(c.value.startswith(("Boxes kept per level", "Every kept box comes from one level")) for c in at.caption)
    boxes = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(boxes["data"]) == 1 + len(expected.detections)  # the photo and one outline per box
    assert all(name.startswith("class ") for name in table["class"])
    assert any("by class-aware NMS" in c.value for c in at.caption)
    assert [d.proto.label for d in at.get("download_button")] == ["Photo with boxes (PNG)", "Boxes as CSV", "Boxes as JSON"]

    # keep two classes, suppress across classes: still the engine's boxes
    at.get_by_key("det_classes_3").set_value(["class 0", "class 2"])
    at.get_by_key("det_agnostic").set_value(True).run()
    no_problems(at)
    filtered = detect(deployed, load_image(sample_bytes("astronaut")), 320, Nms(0.5, 0.7, True, [0, 2]))
    assert filtered.detections and len(filtered.detections) < len(expected.detections)
    table = at.dataframe[0].value
    assert table["class"].tolist() == [d.name for d in filtered.detections]
    assert set(table["class"]) <= {"class 0", "class 2"}
    assert table["y2"].tolist() == pytest.approx([d.box[3] for d in filtered.detections], abs=1e-3)
    caption = f"of {filtered.candidates} cells above 0.50 (class 0, class 2), by class-agnostic NMS"
    assert any(caption in c.value for c in at.caption)

    at.get_by_key("det_classes_3").set_value([])
    at.get_by_key("det_conf").set_value(0.05).run()  # every cell a candidate: more boxes than NMS may keep
    no_problems(at)
    assert len(at.dataframe[0].value) == 300
    assert any("300 boxes kept of" in c.value and "(300 at most, as Ultralytics' `max_det`)." in c.value for c in at.caption)


def test_a_whole_pickled_checkpoint_loads_like_ultralytics_best_pt(app):
    """As training writes best.pt: the model pickled whole in fp16 under "model", numpy metrics beside it."""
    import copy

    import numpy as np

    trained = build_detector("yolo11n", 3, seed=4)
    buffer = io.BytesIO()
    metrics = {"metrics/mAP50(B)": np.float64(0.5)}
    torch.save({"model": copy.deepcopy(trained).half(), "ema": None, "train_metrics": metrics, "epoch": -1}, buffer)
    at = upload(detector_app(app, "detections.py", side=128), "best.pt", buffer.getvalue())
    no_problems(at)
    using = f"Using {escape_markdown('best.pt')} from your upload (499 tensors, a head of 3 classes)"  # a name from a file
    assert any(using in c.value for c in at.sidebar.caption)
    assert not at.warning  # trained weights: no "Detections need trained weights"


def test_a_segmentation_models_weights_give_the_detector_and_say_what_is_left_out(app):
    detector = build_detector("yolo11n", 2, seed=6)
    state = {f"model.{k}": v for k, v in detector.state_dict().items()}
    state |= {"model.23.proto.cv1.conv.weight": torch.zeros(8, 8, 3, 3), "model.23.cv4.0.2.weight": torch.zeros(32, 8, 1, 1)}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    at = upload(detector_app(app, "detections.py", side=128), "yolo11n-seg.pt", buffer.getvalue())
    no_problems(at)
    caption = next(c.value for c in at.sidebar.caption if f"Using {escape_markdown('yolo11n-seg.pt')}" in c.value)
    assert "a head of 2 classes; a segmentation model, whose mask branch is not used here" in caption


def test_backbone_weights_with_the_whole_detector_say_what_to_pick(app):
    at = upload(detector_app(app), "backbone.pt", checkpoint(build_backbone("yolo11n")))
    warning = at.sidebar.warning[0].value
    assert "Using random weights" in warning and 'pick "backbone only"' in warning and "13.cv1.conv.weight" in warning


def test_feature_maps_offer_the_neck_and_every_layer_but_the_predictions(app):
    at = detector_app(app, "feature_maps.py", side=256)
    no_problems(at)
    at.get_by_key("fm_layer").set_value("Any layer").run()
    options = at.get_by_key("fm_any").options
    assert {"12", "16", "23.cv3.0.2", "23.cv2.2.1"} <= set(options)
    assert not {"23", "23.dfl", "23.dfl.conv"} & set(options)
    at.get_by_key("fm_any").set_value("23.cv3.0.2").run()
    no_problems(at)


@pytest.mark.slow  # several detector pages in one test
def test_compare_model_summary_and_latency_work_for_the_detector(app):
    at = detector_app(app, "compare.py")
    no_problems(at)
    assert at.title[0].value == "Compare the YOLO11 detectors"
    table = at.dataframe[0].value
    assert len(table) == 5 * 3
    row = table[(table["model"] == "YOLO11n") & (table["input"] == "640")].iloc[0]
    assert row["params"] == YOLO11_DETECTOR["n"][0] and row["MACs"] * 2 == YOLO11_DETECTOR["n"][1]

    at.switch_page("model_summary.py").run()
    no_problems(at)
    assert "Detect" in at.code[0].value and f"Total params: {YOLO11_DETECTOR['n'][0]:,}" in at.code[0].value

    at.switch_page("latency.py").run()
    at.get_by_key("side").set_value(128).run()
    run_latency(at, lat_iters=2, lat_warmup=1)
    no_problems(at)
    assert at.dataframe[0].value["run"].tolist() == ["YOLO11n detector 128×128 b1 fp32 cpu"]


@pytest.mark.slow  # exports the detector to ONNX
def test_onnx_runtime_and_the_profile_of_the_detector(app):
    """The exported detector has all six outputs, each as accurate as the model; the profile times its 24 layers."""
    profile = run_latency  # the Profile form is submitted the same way

    at = detector_app(app, "latency.py", side=128)
    at.get_by_key("lat_runtime").set_value("ONNX Runtime").run()
    run_latency(at, lat_iters=2, lat_warmup=1)
    no_problems(at)
    errors = at.dataframe[0].value
    assert errors["output"].tolist() == ["P3", "P4", "P5", "boxes", "scores", "decoded"]
    assert (errors["relative error"] < 1e-4).all()

    at.switch_page("layer_profile.py").run()
    profile(at, prof_iters=2)
    no_problems(at)
    assert at.dataframe[0].value["layer"].tolist() == [str(i) for i in range(24)]


def test_a_trained_checkpoint_names_its_classes_and_runs_as_yolo_predict(app, trained_detector):
    """Ultralytics' best.pt of the shapes detector on a new 960x640 photo: the boxes are the engine's `detect`
    (BatchNorm folded, the photo padded only to 448x640 as predict does), named as the checkpoint names them."""
    image, shapes = scene(777, 960, 640)
    at = upload(detector_app(app, "detections.py"), "best.pt", TRAINED.read_bytes())
    photo_upload(at, image)
    no_problems(at)
    notes = " ".join(c.value for c in at.sidebar.caption)
    assert "The model gets 640×640: this 960×640 photo resized to 640×427" in notes
    assert "Detections runs 448×640, padded only to a multiple of 32, as `yolo predict` does" in notes
    assert at.get_by_key("det_input").value == "As `yolo predict`"
    caption = next(c.value for c in at.caption if "boxes kept of" in c.value)
    assert "letterboxed to 448×640" in caption and "BatchNorm folded" in caption

    deployed = trained_detector
    fold_batchnorm(deployed)
    decoded = load_image(at.session_state["settings"].photo.data)
    expected = detect(deployed, decoded, 640)
    table = at.dataframe[0].value
    assert table["class"].tolist() == [d.name for d in expected.detections]
    assert set(table["class"]) <= set(CLASSES) and len(table) >= len(shapes)  # a box on every shape (and one more here)
    assert table["score"].tolist() == pytest.approx([d.score for d in expected.detections], abs=1e-6)
    assert at.get_by_key(f"det_classes_{4}").options == list(CLASSES)

    at.get_by_key("det_input").set_value("The sidebar's whole size").run()  # padded to 640x640 as the other pages
    no_problems(at)
    assert "letterboxed to 640×640" in next(c.value for c in at.caption if "boxes kept of" in c.value)
    full = detect(deployed, decoded, 640, rect=False)
    assert at.dataframe[0].value["score"].tolist() == pytest.approx([d.score for d in full.detections], abs=1e-6)


@pytest.mark.slow  # a trained detector on the page and in the engine, with backward passes
def test_why_this_box_explains_the_kept_boxes_as_the_engine_does(app, trained_detector):
    """Why this box?: the two first boxes by default, each from its own level and cell, with the share of its map the
    engine's `explain` finds on the page's forward (the folded detector, the photo as predict pads it)."""
    from yolo_explorer.detection.explain import explain

    image, _ = scene(778, 800, 600)
    at = upload(detector_app(app, "detections.py"), "best.pt", TRAINED.read_bytes())
    photo_upload(at, image)
    no_problems(at)
    deployed = trained_detector
    fold_batchnorm(deployed)
    result = detect(deployed, load_image(at.session_state["settings"].photo.data), 640)
    lines = [m.value for m in at.markdown if "of its map lies within one cell" in m.value]
    assert len(lines) == 2
    for i, (line, d) in enumerate(zip(lines, result.detections, strict=False), start=1):
        why = explain(deployed, result.box, d.anchor, d.class_id)
        assert why.level == d.cell.level and why.cell == (d.cell.row, d.cell.col)
        label = escape_markdown(f"{i}. {d.name} {d.score:.2f}")
        assert line == f"**{label}**, from {why.level} cell ({d.cell.row}, {d.cell.col}): {why.share:.0%} of its map " + (
            "lies within one cell of that cell."
        )
    chosen = at.multiselect[-1]
    chosen.set_value(chosen.options[:1]).run()
    no_problems(at)
    assert len([m for m in at.markdown if "of its map lies within one cell" in m.value]) == 1


def test_class_names_from_a_file_are_text_wherever_they_are_drawn(app, trained_checkpoint):
    """Names are text from a file: no Markdown, HTML, Plotly template or terminal escape comes of them."""
    hostile = ("<b>bold</b>", "**red** :red[x] [a](javascript:alert(1))", "\x1b[31mred\x1b[0m\u202e", "%{x} 100%")
    checkpoint = trained_checkpoint
    buffer = io.BytesIO()
    torch.save({"model": checkpoint.state, "names": dict(enumerate(hostile))}, buffer)
    at = upload(detector_app(app, "detections.py"), "hostile.pt", buffer.getvalue())
    photo_upload(at, scene(778, 800, 600)[0])
    no_problems(at)
    shown = set(at.dataframe[0].value["class"])
    assert shown and shown <= {"<b>bold</b>", "**red** :red[x] [a](javascript:alert(1))", "[31mred [0m", "%{x} 100%"}
    assert at.get_by_key("det_classes_4").options[2] == "[31mred [0m"  # the control characters are gone
    at.get_by_key("det_classes_4").set_value(list(at.get_by_key("det_classes_4").options)).run()
    caption = next(c.value for c in at.caption if "boxes kept of" in c.value)
    assert escape_markdown("<b>bold</b>") in caption and "<b>" not in caption and ":red[" not in caption
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    texts = [a["text"] for a in figure["layout"]["annotations"]] + [t.get("hovertemplate", "") for t in figure["data"]]
    assert not any("<b>bold" in t or "%{x} 100" in t for t in texts)
    assert any("&lt;b&gt;bold&lt;/b&gt;" in t for t in texts) or any("&#37;{x}" in t for t in texts)
