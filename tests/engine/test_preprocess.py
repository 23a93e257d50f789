"""Image loading (every mode, EXIF, hostile files) and letterboxing (geometry, inverse mapping)."""

from __future__ import annotations

import io
import random
import struct
import zlib

import cv2
import numpy as np
import pytest
import torch
from helpers import zip_bytes
from PIL import Image

from yolo_explorer.forward.preprocess import (
    CorruptImageError,
    EmptyImageError,
    FileTooLargeError,
    ImageLoadError,
    NotAnImageError,
    TooManyPixelsError,
    TruncatedImageError,
    UnsupportedImageError,
    letterbox,
    load_image,
    to_rgb,
)


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def pixel(image: Image.Image, xy=(0, 0)) -> tuple[int, int, int]:
    assert image.mode == "RGB"
    return image.getpixel(xy)


# ---- every mode, through a real file format where one stores it ----


def test_rgb_jpeg_png_webp_bmp_gif_tiff():
    source = Image.new("RGB", (8, 6), (200, 30, 40))
    for fmt in ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF"):
        image = load_image(encode(source, fmt))
        assert image.size == (8, 6) and image.mode == "RGB"
        assert np.abs(np.subtract(pixel(image, (4, 3)), (200, 30, 40))).max() <= 12, fmt


def test_gray_L_and_bilevel():
    assert pixel(load_image(encode(Image.new("L", (4, 4), 100), "PNG"))) == (100, 100, 100)
    assert pixel(load_image(encode(Image.new("1", (4, 4), 1), "BMP"))) == (255, 255, 255)


def opencv_rgb(data: bytes) -> np.ndarray:
    """What Ultralytics reads from a file (`ultralytics.utils.patches.imread`): OpenCV's decode in colour, 16-bit
    data by its high byte, as RGB."""
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if decoded.dtype == np.uint16:
        decoded = (decoded >> 8).astype(np.uint8)
    return decoded[..., ::-1]


def test_alpha_is_dropped_as_opencv_does():
    la = Image.new("LA", (2, 1))
    la.putpixel((0, 0), (100, 255))
    la.putpixel((1, 0), (100, 0))
    image = load_image(encode(la, "PNG"))
    assert pixel(image, (0, 0)) == (100, 100, 100) and pixel(image, (1, 0)) == (100, 100, 100)  # the colour under it
    rgba = load_image(encode(Image.new("RGBA", (2, 2), (255, 0, 0, 128)), "PNG"))
    assert pixel(rgba) == (255, 0, 0)


def test_palette_with_and_without_transparency():
    p = Image.new("RGB", (4, 4), (0, 0, 255)).quantize(4)
    assert pixel(load_image(encode(p, "PNG"))) == (0, 0, 255)
    p.info["transparency"] = 0  # the only colour is transparent: its colour is still what a model sees
    assert pixel(load_image(encode(p, "PNG", transparency=0))) == (0, 0, 255)
    pa = Image.new("PA", (2, 2))
    assert to_rgb(pa).mode == "RGB"


def _varied_photo() -> Image.Image:
    rng = np.random.default_rng(0)
    smooth = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((96, 72), Image.Resampling.BICUBIC)
    noisy = np.asarray(smooth, dtype=np.int16) + rng.integers(-20, 21, (72, 96, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def _alpha(image: Image.Image) -> Image.Image:
    rgba = np.asarray(image.convert("RGBA")).copy()
    rgba[..., 3] = np.linspace(0, 255, rgba.shape[1]).astype(np.uint8)[None]
    rgba[:10, :, 3] = 0  # fully transparent rows keep their colour
    return Image.fromarray(rgba, "RGBA")


def _sixteen_bit(image: Image.Image) -> Image.Image:
    return Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257 + 100)


def _transparent_palette(image: Image.Image) -> Image.Image:
    palette = image.convert("P", palette=Image.Palette.ADAPTIVE)
    palette.info["transparency"] = 0
    return palette


@pytest.mark.parametrize(
    ("what", "make", "fmt", "options"),
    [
        ("JPEG 4:4:4", lambda im: im, "JPEG", {"quality": 90, "subsampling": 0}),
        ("JPEG 4:2:0", lambda im: im, "JPEG", {"quality": 75, "subsampling": 2}),
        ("progressive JPEG", lambda im: im, "JPEG", {"quality": 90, "progressive": True}),
        ("PNG", lambda im: im, "PNG", {}),
        ("PNG with alpha", _alpha, "PNG", {}),
        ("gray PNG with alpha", lambda im: _alpha(im).convert("LA"), "PNG", {}),
        ("gray PNG", lambda im: im.convert("L"), "PNG", {}),
        ("palette PNG with a transparent colour", _transparent_palette, "PNG", {"transparency": 0}),
        ("16-bit PNG", _sixteen_bit, "PNG", {}),
        ("WebP", lambda im: im, "WEBP", {}),
        ("lossless WebP", lambda im: im, "WEBP", {"lossless": True}),
        ("BMP", lambda im: im, "BMP", {}),
        ("TIFF", lambda im: im, "TIFF", {}),
    ],
)
def test_decoded_pixels_equal_opencv(what, make, fmt, options):
    """Every format and mode decodes to exactly what Ultralytics' OpenCV reader gives for the same bytes."""
    data = encode(make(_varied_photo()), fmt, **options)
    assert np.array_equal(np.asarray(load_image(data)), opencv_rgb(data)), what


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_equals_opencv(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(_varied_photo(), "JPEG", quality=90, exif=exif.tobytes())
    assert np.array_equal(np.asarray(load_image(data)), opencv_rgb(data))


def test_cmyk():
    image = load_image(encode(Image.new("CMYK", (4, 4), (0, 255, 255, 0)), "JPEG", quality=100))
    assert np.abs(np.subtract(pixel(image), (255, 0, 0))).max() <= 3
    assert pixel(load_image(encode(Image.new("CMYK", (4, 4), (0, 255, 255, 0)), "TIFF"))) == (255, 0, 0)


def test_16_bit_is_scaled_not_clipped():
    array = np.array([[0, 257 * 128, 65535, 1000]], dtype=np.uint16)
    for fmt in ("PNG", "TIFF"):
        image = load_image(encode(Image.fromarray(array), fmt))
        assert [pixel(image, (x, 0))[0] for x in range(4)] == [0, 128, 255, 3], fmt  # the high byte


def test_32_bit_integer_and_float():
    i16 = Image.fromarray(np.array([[0, 65535]], dtype=np.int32), "I")
    assert [pixel(load_image(encode(i16, "TIFF")), (x, 0))[0] for x in range(2)] == [0, 255]
    wide = Image.fromarray(np.array([[-100, 0, 155]], dtype=np.int32), "I")
    assert [pixel(to_rgb(wide), (x, 0))[0] for x in range(3)] == [0, 100, 255]  # stretched
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), "F")
    assert [pixel(load_image(encode(unit, "TIFF")), (x, 0))[0] for x in range(3)] == [0, 128, 255]
    other = Image.fromarray(np.array([[-2.0, 0.0, 2.0, np.nan]], dtype=np.float32), "F")
    assert [pixel(to_rgb(other), (x, 0))[0] for x in range(4)] == [0, 128, 255, 128]


def test_other_modes_convert():
    for mode in ("YCbCr", "HSV", "RGBX", "I;16B", "RGBa"):
        assert to_rgb(Image.new(mode, (2, 2))).mode == "RGB", mode
    with pytest.raises(UnsupportedImageError, match="colour mode La"):
        to_rgb(Image.new("La", (2, 2)))  # Pillow's premultiplied gray has no conversion


def test_animated_gif_and_webp_give_the_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    for fmt in ("GIF", "WEBP", "PNG"):
        data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
        assert Image.open(io.BytesIO(data)).n_frames == 3
        r, g, b = pixel(load_image(data), (4, 4))
        assert r > 200 and g < 40 and b < 40, fmt


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (20, 0, 40, 20))  # left red, right blue, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    shown = load_image(encode(image, "JPEG", exif=exif, quality=95))
    assert shown.size == (20, 40)
    top, bottom = pixel(shown, (10, 5)), pixel(shown, (10, 35))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60


def test_path_and_file_object(tmp_path):
    path = tmp_path / "x.png"
    Image.new("RGB", (3, 3), (1, 2, 3)).save(path)
    assert pixel(load_image(path)) == (1, 2, 3)
    assert pixel(load_image(str(path))) == (1, 2, 3)
    with open(path, "rb") as f:
        assert pixel(load_image(f)) == (1, 2, 3)


def test_wrong_extension_is_fine(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(encode(Image.new("RGB", (3, 3), (9, 9, 9)), "PNG"))
    assert pixel(load_image(path)) == (9, 9, 9)


# ---- files that must be refused, each with its type and a message for a person ----


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header claims width x height RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data, error, words",
    [
        (b"", EmptyImageError, "empty"),
        (b"hello, this is not a picture\n" * 10, NotAnImageError, "text"),
        (zip_bytes(), NotAnImageError, "ZIP"),
        (b"%PDF-1.7 ...", NotAnImageError, "PDF"),
        (bytes(range(256)) * 4, NotAnImageError, "not an image"),
        (png_claiming(100_000, 100_000), TooManyPixelsError, "downscale"),
        (png_claiming(9_000, 9_000), TooManyPixelsError, "81.0 megapixels"),
        (png_claiming(0, 10), CorruptImageError, "starts like a PNG"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 30, CorruptImageError, "damaged"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, CorruptImageError, "damaged"),
    ],
)
def test_bad_files_are_refused_with_a_clear_typed_error(data, error, words):
    with pytest.raises(error) as info:
        load_image(data)
    assert isinstance(info.value, ImageLoadError) and isinstance(info.value, ValueError)
    assert words in str(info.value)
    assert "Traceback" not in str(info.value)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP"])
def test_truncated_files(fmt):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = encode(noise, fmt)
    with pytest.raises((TruncatedImageError, CorruptImageError)) as info:
        load_image(data[: len(data) // 2])
    assert "truncated" in str(info.value) or "damaged" in str(info.value)


def test_byte_and_pixel_limits(tmp_path):
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(FileTooLargeError, match="limit"):
        load_image(data, max_bytes=len(data) - 1)
    path = tmp_path / "big.png"
    path.write_bytes(data)
    with pytest.raises(FileTooLargeError):
        load_image(path, max_bytes=10)
    with pytest.raises(TooManyPixelsError, match="megapixels"):
        load_image(data, max_pixels=9_999)
    assert load_image(data, max_pixels=10_000).size == (100, 100)


def test_missing_path(tmp_path):
    with pytest.raises(ImageLoadError, match="not a file"):
        load_image(tmp_path / "nope.png")


# ---- letterbox ----


def ultralytics_pads(w0: int, h0: int, out_h: int, out_w: int) -> tuple[int, int, int, int]:
    """YOLO's LetterBox arithmetic, written out independently: new size, left, top."""
    r = min(out_h / h0, out_w / w0)
    new_w, new_h = int(round(w0 * r)), int(round(h0 * r))
    dw, dh = (out_w - new_w) / 2, (out_h - new_h) / 2
    return new_w, new_h, int(round(dw - 0.1)), int(round(dh - 0.1))


def test_letterbox_geometry_matches_yolo():
    rng = random.Random(0)
    for _ in range(300):
        w0, h0 = rng.randint(1, 3000), rng.randint(1, 3000)
        out_h, out_w = rng.choice([(640, 640), (320, 320), (480, 640), (1280, 736)])
        box = letterbox(Image.new("RGB", (w0, h0)), (out_h, out_w))
        assert (*box.resized, box.left, box.top) == ultralytics_pads(w0, h0, out_h, out_w), (w0, h0, out_h, out_w)


def test_letterbox_pads_with_114_centred_and_keeps_aspect():
    box = letterbox(Image.new("RGB", (640, 427), (255, 0, 0)), 640)
    assert box.size == (640, 640) and box.resized == (640, 427) and box.scale == 1.0
    assert (box.left, box.top) == (0, 106)
    canvas = np.asarray(box.image)
    assert (canvas[:106] == 114).all() and (canvas[106 + 427 :] == 114).all()
    assert (canvas[106:533] == (255, 0, 0)).all()
    x = box.tensor()
    assert x.shape == (1, 3, 640, 640) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    assert torch.allclose(x[0, :, 0, 0], torch.full((3,), 114 / 255))


def test_letterbox_scales_small_images_up():
    box = letterbox(Image.new("RGB", (100, 50)), (480, 640))
    assert box.resized == (640, 320) and box.scale == 6.4 and (box.left, box.top) == (0, 80)


def test_inverse_mapping_round_trips():
    box = letterbox(Image.new("RGB", (451, 300)), 640)
    for x, y in ((0, 0), (451, 300), (12.5, 280.25)):
        bx, by = box.to_letterbox(x, y)
        assert box.to_original(bx, by) == pytest.approx((x, y))
    assert box.to_letterbox(0, 0) == (box.left, box.top)
    assert box.to_letterbox(451, 300) == pytest.approx((box.left + box.resized[0], box.top + box.resized[1]))
