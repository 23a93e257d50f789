"""AppTest of the Model summary page."""

from __future__ import annotations

from helpers import no_problems

PAGE = "model_summary.py"


def test_summary_shows_torchinfo_for_the_current_config(app):
    at = app(PAGE)
    no_problems(at)
    text = at.code[0].value
    assert "Total params: 25,624,128" in text and "Total mult-adds (Units.GIGABYTES): 28.91" in text
    assert [d.proto.label for d in at.get("download_button")] == ["Download as text"]


def test_depth_and_columns_and_width_change_the_text(app):
    at = app(PAGE)
    deep = at.code[0].value
    at.get_by_key("summary_depth").set_value(1).run()
    shallow = at.code[0].value
    assert len(shallow.splitlines()) < len(deep.splitlines())
    assert "Bottleneck" in deep and "Bottleneck" not in shallow
    at.get_by_key("summary_columns").set_value(["kernel_size", "num_params"]).run()
    assert "Kernel Shape" in at.code[0].value and "Input Shape" not in at.code[0].value
    at.get_by_key("width").set_value(16).run()
    assert "Total params: 1,606,032" in at.code[0].value


def test_no_columns_asks_for_one(app):
    at = app(PAGE, summary_columns=[])
    no_problems(at)
    assert "Pick at least one column" in at.info[0].value and not at.main.code  # (the sidebar's link is code)
