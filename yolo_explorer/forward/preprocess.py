"""Safe image loading (any Pillow format and mode -> RGB) and YOLO letterboxing with its inverse.

Both give the model exactly what Ultralytics' `predict` gives it for the same file: the decoded pixels equal
OpenCV's `imdecode(IMREAD_COLOR)`, which Ultralytics reads photos with (EXIF orientation applied, an alpha
channel dropped, 16-bit data by its high byte), and the letterbox resizes with OpenCV's `INTER_LINEAR`, as
Ultralytics' `LetterBox` does in training and inference (Pillow's bilinear filter blurs when it shrinks and
would feed the model another image), with the same arithmetic for the size, the padding and the offsets.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "CorruptImageError",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "EmptyImageError",
    "FileTooLargeError",
    "ImageLoadError",
    "Letterbox",
    "NotAnImageError",
    "PAD_VALUE",
    "TooManyPixelsError",
    "TruncatedImageError",
    "UnsupportedImageError",
    "letterbox",
    "letterbox_offset",
    "letterbox_size",
    "load_image",
    "to_rgb",
]

DEFAULT_MAX_BYTES = 50 * 1024 * 1024  # 50 MiB of file
DEFAULT_MAX_PIXELS = 50_000_000  # 50 megapixels: a 50 MP phone photo; decoding it takes ~150 MB
PAD_VALUE = 114  # YOLO's letterbox gray


class ImageLoadError(ValueError):
    """An image that cannot be used. `str(error)` says what is wrong and what to do."""


class EmptyImageError(ImageLoadError):
    """The file has no bytes."""


class FileTooLargeError(ImageLoadError):
    """The file is larger than the byte limit."""


class NotAnImageError(ImageLoadError):
    """No image format recognises the file."""


class TooManyPixelsError(ImageLoadError):
    """The image's dimensions exceed the pixel limit (huge or decompression-bomb files)."""


class TruncatedImageError(ImageLoadError):
    """The file ends before the image data does."""


class CorruptImageError(ImageLoadError):
    """The file claims to be an image but its data cannot be decoded."""


class UnsupportedImageError(ImageLoadError):
    """A valid image in a colour mode that has no RGB conversion."""


def load_image(
    source: bytes | str | os.PathLike | BinaryIO,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Read an image from bytes, a path or a binary file and return it as 8-bit RGB.

    The first frame of an animation is used; EXIF orientation is applied; every mode is converted
    (see `to_rgb`). The pixel limit is checked from the header, before any pixel is decoded.

    Args:
        source: the file's bytes, its path, or an open binary file.
        max_bytes: refuse larger files.
        max_pixels: refuse images with more pixels (width x height).

    Returns:
        A loaded RGB image.

    Raises:
        ImageLoadError: one of its subclasses, with a message for a person.
    """
    data = _read(source, max_bytes)
    if not data:
        raise EmptyImageError("the file is empty (0 bytes); choose an image file such as a JPEG or PNG")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        kind = _image_signature(data)
        if kind:
            raise CorruptImageError(f"the file starts like a {kind} but its header is damaged; re-export the image") from None
        raise NotAnImageError(f"this file is not an image ({_describe(data)}); use a JPEG, PNG, WebP, BMP, GIF or TIFF") from None
    except Image.DecompressionBombError as err:
        raise TooManyPixelsError(f"the image has too many pixels to decode safely ({err}); downscale it first") from None
    except Exception as err:  # a hostile header can make a decoder raise anything
        raise CorruptImageError(f"the image header is damaged ({_reason(err)}); re-export the image and try again") from None

    width, height = image.size
    if width < 1 or height < 1:
        raise CorruptImageError(f"the image has no pixels ({width}x{height}); re-export the image and try again")
    if width * height > max_pixels:
        raise TooManyPixelsError(
            f"the image is {width}x{height} = {width * height / 1e6:.1f} megapixels; the limit is "
            f"{max_pixels / 1e6:.0f} megapixels: downscale it first"
        )
    try:
        image.seek(0)  # animations: the first frame
        image.load()
        image = ImageOps.exif_transpose(image)
        return to_rgb(image)
    except UnsupportedImageError:
        raise
    except OSError as err:
        if "truncated" in str(err) or "broken data stream" in str(err):
            raise TruncatedImageError(
                f"the {image.format or 'image'} file is truncated (it ends before the image does); upload the complete file"
            ) from None
        raise CorruptImageError(f"the {image.format or 'image'} data is damaged ({_reason(err)}); re-export the image") from None
    except Exception as err:  # decoders of damaged data raise ValueError, SyntaxError, struct.error, ...
        raise CorruptImageError(f"the {image.format or 'image'} data is damaged ({_reason(err)}); re-export the image") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, as OpenCV's `imdecode(IMREAD_COLOR)` reads the same file.

    - Transparency (LA, RGBA, PA, P or L/RGB with a transparent colour) is dropped: the colour under it is
      what Ultralytics' model sees, so it is what this one sees too.
    - 16-bit data (I;16*) keeps its high byte (0..65535 to 0..255, not clipped), as OpenCV does.
    - 32-bit integers (I) are scaled the same way when they lie in 0..65535, else stretched min..max.
    - Floats (F) in 0..1 are scaled by 255, else stretched min..max; NaN and infinities become 0.
    - Everything else (1, L, P, CMYK, YCbCr, HSV, ...) uses Pillow's own conversion.

    Raises:
        UnsupportedImageError: a mode with no RGB conversion.
    """
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16"):
        return _gray_to_rgb(np.asarray(image).astype(np.uint16) >> 8)
    if mode == "I":
        array = np.asarray(image).astype(np.float64)
        if array.size and (array.min() < 0 or array.max() > 65535):
            return _gray_to_rgb(_stretch(array))
        return _gray_to_rgb(array / 257.0)
    if mode == "F":
        array = np.nan_to_num(np.asarray(image).astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        if array.size and array.min() >= 0 and array.max() <= 1:
            return _gray_to_rgb(array * 255.0)
        return _gray_to_rgb(_stretch(array))
    try:
        return image.convert("RGB")  # an alpha channel or a transparent colour is dropped, as OpenCV does
    except (ValueError, OSError) as err:
        raise UnsupportedImageError(f"images in colour mode {mode} cannot be shown ({err}); save it as RGB") from None


def _stretch(array: np.ndarray) -> np.ndarray:
    lo, hi = float(array.min()), float(array.max())
    return (array - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(array)


def _gray_to_rgb(array: np.ndarray) -> Image.Image:
    gray = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([gray] * 3, axis=-1), "RGB")


def _read(source: bytes | str | os.PathLike | BinaryIO, max_bytes: int) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageLoadError(f"{path} is not a file")
        if path.stat().st_size > max_bytes:
            raise FileTooLargeError(_too_large(path.stat().st_size, max_bytes))
        data = path.read_bytes()
    else:
        data = source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileTooLargeError(_too_large(len(data), max_bytes))
    return data


def _too_large(size: int, limit: int) -> str:
    return f"the file is {size / 2**20:.1f} MiB; the limit is {limit / 2**20:.0f} MiB: downscale or recompress it"


def _reason(err: Exception) -> str:
    text = str(err).strip().splitlines()[0][:120] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def _image_signature(data: bytes) -> str | None:
    """The image format whose magic bytes the file starts with, if any."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in _SIGNATURES if data.startswith(magic)), None)


def _describe(data: bytes) -> str:
    """A guess at what a non-image file is, for the error message."""
    head = data[:512]
    if head.startswith(b"PK\x03\x04"):
        return "it looks like a ZIP archive or an Office document"
    if head.startswith(b"%PDF"):
        return "it looks like a PDF document"
    if head.startswith(b"\x1f\x8b"):
        return "it looks like a gzip archive"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "unrecognised binary data"
    return "it looks like text"


@dataclass(frozen=True, eq=False)  # equal when the same object: comparing its pixels would be ambiguous and slow
class Letterbox:
    """An image letterboxed to the model's input size, and the mapping between the two.

    A point (x, y) of the original image lands at (x * sx + left, y * sy + top) of the letterboxed one,
    where (sx, sy) are the exact factors of the resize (`resized / original` per axis, as Ultralytics'
    `scale_boxes` maps boxes back).

    Attributes:
        array: the letterboxed RGB pixels, (H, W, 3) uint8 (read-only: shared by every view).
        scale: resize factor from original to letterboxed pixels.
        left, top: padding, in letterboxed pixels, before the resized image.
        resized: (width, height) of the resized image inside the canvas.
        original: (width, height) of the original image.
    """

    array: np.ndarray = field(repr=False)
    scale: float
    left: int
    top: int
    resized: tuple[int, int]
    original: tuple[int, int]

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the letterboxed canvas."""
        return self.array.shape[0], self.array.shape[1]

    @cached_property
    def image(self) -> Image.Image:
        """The letterboxed input as an RGB image, made once (the pages hand it to their cached views every run)."""
        return Image.fromarray(self.array, "RGB")

    def tensor(self) -> torch.Tensor:
        """The model input: (1, 3, H, W), float32 in [0, 1], RGB."""
        return torch.from_numpy(self.array.copy()).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)

    def to_letterbox(self, x: float, y: float) -> tuple[float, float]:
        """Original-image coordinates -> letterboxed coordinates (continuous pixels)."""
        sx, sy = self._scales()
        return x * sx + self.left, y * sy + self.top

    def to_original(self, x: float, y: float) -> tuple[float, float]:
        """Letterboxed coordinates -> original-image coordinates (the inverse mapping)."""
        sx, sy = self._scales()
        return (x - self.left) / sx, (y - self.top) / sy

    def _scales(self) -> tuple[float, float]:
        # exact per-axis factors of the resize that was done (rounding makes them differ slightly)
        return self.resized[0] / self.original[0], self.resized[1] / self.original[1]


def letterbox_size(
    original: tuple[int, int], size: int | tuple[int, int], *, rect: bool = False, stride: int = 32
) -> tuple[tuple[int, int], tuple[int, int], float]:
    """The arithmetic of Ultralytics' `LetterBox` without touching a pixel.

    Args:
        original: (width, height) of the photo.
        size: S or (H, W) the photo must fit in.
        rect: pad only up to the next multiple of `stride` (Ultralytics' predict, `rect=True`: a 1920x1080
            photo at 640 gets a 384x640 input), instead of the whole (H, W).
        stride: the model's largest stride.

    Returns:
        ((H, W) of the canvas, (width, height) of the resized photo inside it, the scale).
    """
    out_h, out_w = (size, size) if isinstance(size, int) else size
    w0, h0 = original
    scale = min(out_w / w0, out_h / h0)
    new_w, new_h = max(1, round(w0 * scale)), max(1, round(h0 * scale))  # Python's round, as Ultralytics'
    if rect:
        out_w, out_h = new_w + (out_w - new_w) % stride, new_h + (out_h - new_h) % stride
    return (out_h, out_w), (new_w, new_h), scale


def letterbox_offset(canvas: tuple[int, int], resized: tuple[int, int]) -> tuple[int, int]:
    """(left, top) padding of a resized photo ((width, height)) centred in a canvas ((H, W)), floored as Ultralytics'
    `round(d / 2 - 0.1)`: the padding's one home, for the pixels (`letterbox`) and for arithmetic on boxes."""
    (out_h, out_w), (new_w, new_h) = canvas, resized
    return (out_w - new_w) // 2, (out_h - new_h) // 2


def letterbox(image: Image.Image | np.ndarray, size: int | tuple[int, int], *, rect: bool = False, stride: int = 32) -> Letterbox:
    """Resize keeping the aspect ratio to fit (H, W) and pad the rest with gray 114, centred: Ultralytics'
    `LetterBox`, pixel for pixel.

    The resize is OpenCV's `INTER_LINEAR`, the one Ultralytics' models are trained and run with. Small images
    are scaled up, as in YOLO inference. The offset is floored ((W - w) // 2, Ultralytics'
    `round(dw / 2 - 0.1)`); `PIL.ImageOps.pad` rounds it half-to-even and so can differ by a pixel, which
    would shift every heatmap overlay.

    Args:
        image: an RGB image, or its pixels as an (H, W, 3) uint8 array (a photo decoded once, letterboxed often).
        size: S or (H, W) of the model input, or with `rect` the largest it may be.
        rect: pad each side only up to a multiple of `stride`, as Ultralytics' predict does (see
            `letterbox_size`).
        stride: the model's largest stride.
    """
    pixels = np.asarray(image)  # (h0, w0, 3) RGB; the resize treats the channels alike, whatever their order
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"letterbox takes an RGB image or (H, W, 3) uint8 pixels, got {pixels.dtype} {pixels.shape}")
    original = (pixels.shape[1], pixels.shape[0])
    (out_h, out_w), (new_w, new_h), scale = letterbox_size(original, size, rect=rect, stride=stride)
    if (new_w, new_h) != original:
        pixels = cv2.resize(pixels, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    left, top = letterbox_offset((out_h, out_w), (new_w, new_h))
    canvas = np.full((out_h, out_w, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = pixels
    canvas.flags.writeable = False
    return Letterbox(canvas, scale, left, top, (new_w, new_h), original)
