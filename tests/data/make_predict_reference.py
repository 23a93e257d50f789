"""Writes what Ultralytics' own `predict()` does with photos: the reference the preprocessing and detection tests
compare against. Not part of the project and not run by the tests (Ultralytics is AGPL and never a dependency).
Run once in the scratch environment of make_ultralytics_reference.py (torchvision there: ../shared/TESTING.md):

    /tmp/ultra/bin/python tests/data/make_predict_reference.py tests/data

Writes
- photos/: test photos drawn by `synthetic_shapes.scene` (new seeds, never trained on) in the shapes a user
  brings: a 16:9 JPEG shrunk 3x (6x at 320), an EXIF-rotated portrait JPEG (stored landscape, orientation 6),
  a 4:1 panorama, a small PNG that is enlarged, a tiny PNG, and a PNG with an alpha channel; with
  photos/truth.json, the shapes drawn on each (boxes in the upright photo's pixels).
- ultralytics_predict.pt: for each of those photos and the four built-in samples, at imgsz 320 and 640, with
  the checkpoint `synthetic_yolo11n.pt`: the input `predict()` feeds the network (captured by a forward pre-hook;
  predict divides uint8 pixels by 255, so it is kept as those pixels: their SHA-256 and shape, and the pixels
  themselves, PNG-compressed, for the drawn photos at 320 and the two photos shrunk most at 640), the decoded
  predictions the network returns (at 320) and the boxes predict keeps at its defaults (conf 0.25, IoU 0.7;
  `boxes.data`: x1, y1, x2, y2 in the photo's pixels, score, class).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# the scenes' module by path: this runs in Ultralytics' scratch environment, without yolo-explorer's dependencies
_spec = importlib.util.spec_from_file_location("synthetic", Path(__file__).parents[2] / "yolo_explorer" / "synthetic.py")
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)

scene, yolo_labels = synthetic.scene, synthetic.yolo_labels

SAMPLES = Path(__file__).resolve().parents[2] / "yolo_explorer" / "samples"
SIZES = (320, 640)
FULL_AT_640 = ("wide_1920x1080.jpg", "portrait_exif.jpg")  # shrunk 3x and 2x at 640


def write_photos(folder: Path) -> dict[str, list]:
    """The test photos, and the shapes on each (class id and box, in the upright photo's pixels)."""
    folder.mkdir(exist_ok=True)
    truth = {}

    def save(name: str, seed: int, width: int, height: int) -> Image.Image:
        image, shapes = scene(seed, width, height)
        truth[name] = [[s.class_id, *s.box] for s in shapes]
        (folder / name).with_suffix(".txt").write_text(yolo_labels(shapes, width, height))  # YOLO's labels, upright
        return image

    save("wide_1920x1080.jpg", 1, 1920, 1080).save(folder / "wide_1920x1080.jpg", quality=85)
    upright = save("portrait_exif.jpg", 2, 960, 1280)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: "rotate 90 degrees clockwise to display"
    upright.rotate(90, expand=True).save(folder / "portrait_exif.jpg", quality=85, exif=exif.tobytes())
    save("panorama_1600x400.jpg", 3, 1600, 400).save(folder / "panorama_1600x400.jpg", quality=85)
    save("enlarged_240x180.png", 4, 240, 180).save(folder / "enlarged_240x180.png")
    save("tiny_40x24.png", 5, 40, 24).save(folder / "tiny_40x24.png")
    rgba = np.asarray(save("alpha_400x300.png", 6, 400, 300).convert("RGBA")).copy()
    rgba[..., 3] = np.linspace(40, 255, 400).astype(np.uint8)[None]  # a gradient of transparency
    Image.fromarray(rgba, "RGBA").save(folder / "alpha_400x300.png")
    (folder / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def predict_once(model, path: Path, imgsz: int) -> dict:
    """One `predict()`: the network's input (as the uint8 pixels it came from), its decoded output and the kept boxes."""
    seen = {}
    network = model.predictor.model.model if model.predictor else None

    def hooks(net):
        return (
            net.register_forward_pre_hook(lambda m, args: seen.__setitem__("x", args[0].detach().clone())),
            net.register_forward_hook(lambda m, args, out: seen.__setitem__("decoded", out[0].detach().clone())),
        )

    if network is None:  # the predictor is built on the first call: run once to build it
        model.predict(str(path), imgsz=imgsz, verbose=False)
        network = model.predictor.model.model
    handles = hooks(network)
    try:
        result = model.predict(str(path), imgsz=imgsz, verbose=False)[0]
    finally:
        for handle in handles:
            handle.remove()
    x = seen["x"][0]  # (3, H, W), RGB, uint8 / 255
    pixels = (x * 255).round().to(torch.uint8)
    assert torch.equal(pixels.float() / 255, x), "predict's input is not uint8 / 255"
    return {"input": pixels.permute(1, 2, 0).contiguous().numpy(), "decoded": seen["decoded"], "boxes": result.boxes.data.clone()}


def stored(run: dict, path: Path, imgsz: int) -> dict:
    """What the reference keeps of one run (the pixels in full only where the tests need them, PNG-compressed)."""
    pixels = run["input"]
    kept = {
        "input_shape": list(pixels.shape),
        "input_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
        "boxes": run["boxes"],
    }
    if imgsz == 320:
        kept["decoded"] = run["decoded"]
    if (imgsz == 320 and path.parent.name == "photos") or (imgsz == 640 and path.name in FULL_AT_640):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG", optimize=True)
        kept["input_png"] = buffer.getvalue()
    return kept


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
    from ultralytics import YOLO

    sys.modules.pop("torchvision", None)  # Ultralytics' own NMS (TorchNMS), as make_ultralytics_reference.py
    photos = out / "photos"
    write_photos(photos)
    paths = sorted(p for p in photos.glob("*.*") if p.suffix not in (".json", ".txt")) + sorted(SAMPLES.glob("*.jpg"))
    paths = [p for p in paths if p.suffix != ".json"]
    checkpoint = out / "synthetic_yolo11n.pt"
    model = YOLO(str(checkpoint))
    reference = {"ultralytics": __import__("ultralytics").__version__, "opencv": __import__("cv2").__version__, "runs": {}}
    for path in paths:
        for imgsz in SIZES:
            run = predict_once(model, path, imgsz)
            key = f"{path.name}@{imgsz}"
            reference["runs"][key] = stored(run, path, imgsz)
            print(key, tuple(run["input"].shape), len(run["boxes"]), "boxes")
    torch.save(reference, out / "ultralytics_predict.pt")


if __name__ == "__main__":
    main()
