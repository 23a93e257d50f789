"""Where attention looks: the rows `attention_row` reads are the block's own softmax (what its forward multiplies the
values by: torch's own scaled_dot_product_attention gives the same products), each row sums to 1 within the cell's
strip, and YOLO12's strips are whole rows of the map."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from yolo_explorer import build_model, make_config
from yolo_explorer.forward.attention import attention_blocks, attention_row
from yolo_explorer.forward.preprocess import load_image
from yolo_explorer.samples import sample_bytes


@pytest.fixture(scope="module")
def models():
    return {arch: build_model(make_config(arch, detector=True), seed=4).eval() for arch in ("yolo11n", "yolo12n", "yolo26n")}


def test_every_attention_block_is_listed(models):
    assert list(attention_blocks(models["yolo11n"])) == ["10.m.0.attn"]
    assert list(attention_blocks(models["yolo26n"])) == ["10.m.0.attn", "22.m.0.1.attn"]
    twelve = attention_blocks(models["yolo12n"])
    assert twelve["6.m.0.0.attn"] == "4 strips" and twelve["8.m.0.0.attn"] == "global" and len(twelve) == 8


@pytest.mark.parametrize(
    ("arch", "block"), [("yolo11n", "10.m.0.attn"), ("yolo12n", "6.m.0.0.attn"), ("yolo12n", "8.m.0.1.attn")]
)
def test_the_weights_are_the_softmax_the_forward_uses(models, arch, block):
    module = models[arch].get_submodule(block)
    seen = {}
    handle = module.register_forward_hook(lambda m, args, out: seen.update(x=args[0], out=out))
    with torch.inference_mode():
        models[arch](torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1)))
    handle.remove()
    with torch.inference_mode():
        qkv = module.qkv(seen["x"])
        weights = module.weights(qkv)
        q, k, v = module._split(qkv)
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
        ours = v @ weights.transpose(-2, -1)  # (strips, heads, head_dim, per)
        scale = getattr(module, "scale", module.head_dim**-0.5)
        theirs = F.scaled_dot_product_attention(q.transpose(-2, -1), k.transpose(-2, -1), v.transpose(-2, -1), scale=scale)
        torch.testing.assert_close(ours, theirs.transpose(-2, -1), rtol=1e-4, atol=1e-5)
        again = module(seen["x"])  # the forward, through `weights`, gives what the model's forward gave
    torch.testing.assert_close(again, seen["out"])


def test_a_cells_row_on_the_photo(models):
    image = load_image(sample_bytes("cat"))
    row = attention_row(models["yolo11n"], image, 320, "10.m.0.attn", (3, 5), rect=False)  # the whole 320x320 input
    assert row.grid == (10, 10) and row.strips == 1 and row.strip_rows == (0, 9)
    assert row.heads.shape[0] == 2 and float(row.mean.sum()) == pytest.approx(1.0, abs=1e-5)
    assert 0 < row.share_within(1) <= 1
    strip = attention_row(models["yolo12n"], image, 320, "6.m.0.0.attn", (7, 2), rect=False)
    h, w = strip.grid
    first, last = strip.strip_rows
    assert (h, w) == (20, 20) and strip.strips == 4 and (first, last) == (5, 9)  # 20 rows in 4 strips of 5
    assert float(strip.mean[first : last + 1].sum()) == pytest.approx(1.0, abs=1e-5) and float(strip.mean[:first].sum()) == 0
    with pytest.raises(KeyError, match="10.m.0.attn"):
        attention_row(models["yolo11n"], image, 320, "9", (0, 0))
    with pytest.raises(ValueError, match="outside the block's 8x8 map"):
        attention_row(models["yolo11n"], image, 256, "10.m.0.attn", (8, 0), rect=False)


@pytest.mark.slow  # the CLI in a subprocess
def test_the_features_command_lists_and_draws_attention(tmp_path, models):
    from helpers import cli

    image = tmp_path / "cat.jpg"
    image.write_bytes(sample_bytes("cat"))
    done = cli(
        "features", "--arch", "yolo26n", "--detector", "--image", str(image), "--out", str(tmp_path), "--attention", "list"
    )
    assert done.returncode == 0 and done.stdout.split() == ["10.m.0.attn", "global", "22.m.0.1.attn", "global"]
    args = ["features", "--arch", "yolo12n", "--detector", "--image", str(image), "--imgsz", "320", "--out", str(tmp_path)]
    done = cli(*args, "--attention", "6.m.0.0.attn", "--cell", "7,2", "--layers", "P4")
    assert done.returncode == 0, done.stderr
    found = attention_row(models["yolo12n"], load_image(sample_bytes("cat")), 320, "6.m.0.0.attn", (7, 2))
    first, last = found.strip_rows
    assert f"cell 7, 2 of its 20x20 map attends over rows {first} to {last} of its 4 strips" in done.stdout
    saved = np.load(tmp_path / "attention_6.m.0.0.attn_r7c2.npy")
    np.testing.assert_allclose(saved, found.heads.numpy(), atol=1e-6)
    assert (tmp_path / "attention_6.m.0.0.attn_r7c2.png").stat().st_size > 1000
    done = cli(*args, "--attention", "9")
    assert done.returncode == 2 and "is not an attention block" in done.stderr
