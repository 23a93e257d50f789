"""Every page with every family the explorer builds (YOLOv8, YOLO12, YOLO26 beside YOLO11), backbone and whole
detector; and YOLO26's two head branches on the Detections page, with a checkpoint Ultralytics saved."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import no_problems

PAGES = [
    "overview.py",
    "model_summary.py",
    "feature_maps.py",
    "detections.py",
    "object_size.py",
    "label_assignment.py",
    "latency.py",
    "layer_profile.py",
    "compare.py",
    "versus.py",
    "changes.py",
]
YOLO26 = (Path(__file__).parents[1] / "data" / "ultralytics_tiny_yolo26.pt").read_bytes()


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("arch", ["yolov8n", "yolo12n", "yolo26n"])
def test_every_page_shows_every_family(app, arch, page):
    at = app(page, arch=arch, side=128)
    no_problems(at)
    at.get_by_key("part").set_value("Whole detector").run()
    no_problems(at)


def test_yolo26s_two_branches_on_the_detections_page(app):
    at = app("detections.py", side=128)
    at.file_uploader(key="weights_upload").set_value(("yolo26n.pt", YOLO26, "application/octet-stream")).run()
    at.get_by_key("det_conf").set_value(0.05).run()
    no_problems(at)
    branch = at.get_by_key("det_branch")
    assert branch.value == "One-to-many + NMS (predict's default)" and not at.get_by_key("det_iou").disabled
    branch.set_value("One-to-one, no NMS (nms=False)").run()
    no_problems(at)
    assert at.get_by_key("det_iou").disabled
    assert any("No NMS to walk through" in c.value for c in at.caption)


def test_a_family_without_a_second_branch_offers_none(app):
    at = app("detections.py", arch="yolo12n", side=128)
    at.get_by_key("part").set_value("Whole detector").run()
    no_problems(at)
    with pytest.raises(KeyError):
        at.get_by_key("det_branch")


def test_every_page_shows_a_yolo26_checkpoint_built_from_its_table(app):
    at = app("overview.py", side=128)
    at.file_uploader(key="weights_upload").set_value(("yolo26n.pt", YOLO26, "application/octet-stream")).run()
    for page in PAGES:
        at.switch_page(page).run()
        no_problems(at)


def test_the_overview_of_yolo26_says_what_both_branches_and_one_cost(app):
    """Its totals count both branches of the head; the caption gives the one-to-one copy's share and what a deployed
    model with one branch costs (Ultralytics' fuse()), the engine's numbers; Ultralytics' published figures beside the
    count made the way Ultralytics counts (deployed, attention products left out)."""
    from yolo_explorer.model.config import make_config
    from yolo_explorer.model.stats import model_stats
    from yolo_explorer.present.formatting import human_count

    at = app("overview.py", arch="yolo26n", side=128)
    at.get_by_key("part").set_value("Whole detector").run()
    no_problems(at)
    stats = model_stats(make_config("yolo26n", detector=True), 128)
    said = next(c.value for c in at.caption if "both of the head's branches" in c.value)
    assert f"{human_count(stats.second_branch[0])} parameters and {human_count(stats.second_branch[1])} MACs" in said
    assert f"{human_count(stats.deployed_params)} parameters, {human_count(stats.deployed_flops)} FLOPs" in said
    published = next(d.value for d in at.dataframe if "Ultralytics' table" in str(d.value))
    assert list(published["parameters"]) == ["2,572,280", "2,417,452", "2.4 M"]  # both branches, one, the table's
    assert list(published["GFLOPs at 640×640"])[1:] == ["5.36", "5.4"]
    assert "40.1 without NMS" in published["COCO"].iloc[2]


def test_compare_follows_the_sidebars_family_and_sets_families_side_by_side(app):
    """YOLO26's five scales by default, with what each costs deployed with one branch (Ultralytics' info() after fuse(),
    from the reference Ultralytics wrote); YOLO11n added beside them."""
    import json

    reference = json.loads((Path(__file__).parents[1] / "data" / "ultralytics_families.json").read_text())["models"]
    at = app("compare.py", arch="yolo26n", side=128)
    at.get_by_key("part").set_value("Whole detector").run()
    no_problems(at)
    assert at.title[0].value == "Compare the YOLO26 detectors"
    table = at.dataframe[0].value
    assert len(table) == 5 * 3
    row = table[(table["model"] == "YOLO26n") & (table["input"] == "640")].iloc[0]
    assert row["params"] == reference["yolo26n"]["params"]
    assert row["deployed GFLOPs"] == pytest.approx(reference["yolo26n"]["fused_flops"], abs=1e-9)
    assert row["Ultralytics: params, GFLOPs at 640"] == "2.4 M, 5.4"
    models = at.multiselect(key="cmp_models_yolo26")
    models.set_value([*models.value, "yolo11n"]).run()
    no_problems(at)
    table = at.dataframe[0].value
    eleven = table[(table["model"] == "YOLO11n") & (table["input"] == "640")].iloc[0]
    assert eleven["params"] == reference["yolo11n"]["params"] and eleven["Ultralytics: params, GFLOPs at 640"] == "2.6 M, 6.5"


def test_both_heads_of_a_trained_yolo26_on_a_photo_of_shapes(app):
    """The trained YOLO26n on one of its test photos: the two branches side by side are the engine's (`compare_heads` of
    the same forward), the one-to-one duplicates named in the table, the predict modes said."""
    from yolo_explorer import build_model, load_image, load_weights
    from yolo_explorer.detection.detections import PREDICT
    from yolo_explorer.detection.labels import read_labels
    from yolo_explorer.detection.two_heads import compare_heads
    from yolo_explorer.forward.features import extract_features
    from yolo_explorer.model.blocks import fold_batchnorm
    from yolo_explorer.model.checkpoints import read_checkpoint
    from yolo_explorer.model.weights import table_config
    from yolo_explorer.present.formatting import escape_markdown

    data = Path(__file__).parents[1] / "data"
    photo = next(p for p in sorted((data / "photos").glob("*.png")) if not p.name.startswith("tiny"))
    at = app("detections.py", side=320)
    weights = (data / "synthetic_yolo26n.pt").read_bytes()
    at.file_uploader(key="weights_upload").set_value(("synthetic_yolo26n.pt", weights, "application/octet-stream")).run()
    at.get_by_key("source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value((photo.name, photo.read_bytes(), "image/png")).run()
    no_problems(at)
    checkpoint = read_checkpoint(data / "synthetic_yolo26n.pt")
    model = build_model(table_config(checkpoint))
    load_weights(model, checkpoint)
    fold_batchnorm(model)
    forward = extract_features(model, load_image(photo), 320, (), batch_norm="running", rect=True)
    heads = compare_heads(forward.predictions, forward.box, model.class_names, PREDICT)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["One-to-many + NMS"] == str(len(heads.one2many.detections))
    assert metrics["One-to-one, no NMS"] == str(len(heads.one2one.detections))
    assert metrics["Found by both"] == str(len(heads.pairs)) and metrics["One-to-one duplicates"] == str(len(heads.duplicates))
    table = at.dataframe[1].value
    assert len(table) == len(heads.only_one2many) + len(heads.only_one2one)
    assert sum(note.startswith("duplicate of") for note in table["note"]) == len(heads.duplicates) > 0
    assert any("`nms=False` reads the one-to-one branch" in c.value for c in at.caption)
    assert any(c.value.startswith("To see whether a score means what it says") for c in at.caption)

    # the photo's objects from its YOLO label file: each branch's boxes matched to them (part 1's reliability view)
    labels = photo.with_suffix(".txt")
    digest = hashlib.sha256(photo.read_bytes()).hexdigest()[:16]
    at.file_uploader(key=f"det_truth_{digest}").set_value((labels.name, labels.read_bytes(), "text/plain")).run()
    no_problems(at)
    image = load_image(photo)
    truths = read_labels(labels, image.size, (image.height, image.width), len(model.class_names))
    reliable = heads.reliability(truths, PREDICT.conf)
    many, one = reliable["one2many"], reliable["one2one"]
    caption = next(c.value for c in at.caption if c.value.startswith("Against"))
    assert f"Against {len(truths)} objects from the uploaded label file" in caption
    assert (
        f"keep {len(many.hits)} boxes, {many.found} of which find one; the one-to-one branch {len(one.hits)}, {one.found}"
        in caption
    )
    assert many.found == len(truths)  # the trained model finds every drawn shape through NMS
    at.file_uploader(key=f"det_truth_{digest}").set_value(("bad.txt", b"0 0.5 0.5 2 0.1\n", "text/plain")).run()
    no_problems(at)
    said = escape_markdown("bad.txt line 1: the box is not in fractions of the photo")
    assert any(said in w.value for w in at.warning)


def test_label_assignment_shows_either_branchs_assigner_and_progloss(app):
    from yolo_explorer.detection.assignment import progloss_weights

    at = app("label_assignment.py", side=128)
    at.file_uploader(key="weights_upload").set_value(("yolo26n.pt", YOLO26, "application/octet-stream")).run()
    no_problems(at)
    many = at.subheader[0].value
    at.get_by_key("as_branch").set_value("one2one").run()
    no_problems(at)
    assert any("keeps only each box's 1 best cell" in c.value for c in at.caption)
    assert int(at.subheader[0].value.split()[0]) <= len(at.data_editor[0].value) < int(many.split()[0])  # one cell per box
    at.get_by_key("as_epochs").set_value(30).run()
    at.get_by_key("as_epoch_30").set_value(30).run()
    no_problems(at)
    many_weight, one_weight = progloss_weights(29, 30)
    assert any(f"loss = {many_weight:.2f} × one-to-many + {one_weight:.2f} × one-to-one" in c.value for c in at.caption)
