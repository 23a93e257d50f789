"""A photo's objects from YOLO label files (Ultralytics' format: one "class cx cy w h" line per object, as fractions
of the upright photo), in the pixels of the photo letterboxed to a model's input; found beside the photo (`photo.txt`)
or in Ultralytics' `labels/` folder beside `images/`.

    truths = read_labels("photo.txt", photo_size=(1920, 1080), input_size=(640, 640), classes=80)
    found, problems = labels_for("data/images", ["a.jpg", "b.jpg"], (320, 320), classes=4)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..forward.preprocess import ImageLoadError, letterbox_offset, letterbox_size, load_image
from .assignment import Truth

__all__ = ["labels_for", "parse_labels", "read_labels"]


def read_labels(path: Path | str, photo_size: tuple[int, int], input_size: tuple[int, int], classes: int) -> tuple[Truth, ...]:
    """A YOLO label file (one object a line: class, then centre x, centre y, width, height as fractions of the photo),
    as truths in the pixels of the photo letterboxed to `input_size` ((H, W)); `photo_size` is (width, height).

    Raises:
        ValueError: a line that is not five numbers, a fraction outside 0-1, or a class the model does not have.
    """
    return parse_labels(
        Path(path).read_text(encoding="utf-8", errors="replace"), Path(path).name, photo_size, input_size, classes
    )


def parse_labels(
    text: str, name: str, photo_size: tuple[int, int], input_size: tuple[int, int], classes: int
) -> tuple[Truth, ...]:
    """`read_labels` of a label file's text (`name`: the file's, for the messages)."""
    (canvas, resized, _) = letterbox_size(photo_size, input_size)
    left, top = letterbox_offset(canvas, resized)
    truths = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            if len(fields) != 5:
                raise ValueError
            class_id, (cx, cy, w, h) = int(fields[0]), (float(f) for f in fields[1:])
        except ValueError:
            raise ValueError(f"{name} line {n}: expected 'class cx cy w h', got {line.strip()[:60]!r}") from None
        if not 0 <= class_id < classes:
            raise ValueError(f"{name} line {n}: class {class_id}, and the model has {classes}")
        if not all(0 <= v <= 1 for v in (cx, cy, w, h)):
            raise ValueError(f"{name} line {n}: the box is not in fractions of the photo (0 to 1)")
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        box = (left + x1 * resized[0], top + y1 * resized[1], left + x2 * resized[0], top + y2 * resized[1])
        truths.append(Truth(box, class_id))
    return tuple(truths)


def labels_for(
    folder: Path | str, names: Sequence[str], input_size: tuple[int, int], classes: int
) -> tuple[dict[str, tuple[Truth, ...]], list[str]]:
    """The truths of the photos `names` in `folder`, from YOLO label files: `photo.txt` beside `photo.jpg`, or in the
    `labels` folder beside an `images` folder (Ultralytics' layout). Returns (truths by photo name, what went wrong);
    a photo without a label file is left out of the first and said in the second."""
    folder = Path(folder)
    found, problems = {}, []
    for name in names:
        photo = folder / name
        candidates = [photo.with_suffix(".txt")]
        if folder.name == "images":
            candidates.append(folder.parent / "labels" / f"{photo.stem}.txt")
        label = next((c for c in candidates if c.is_file()), None)
        if label is None:
            problems.append(f"{name}: no label file ({candidates[0].name})")
            continue
        try:
            size = load_image(photo).size
            found[name] = read_labels(label, size, input_size, classes)
        except (ValueError, ImageLoadError, OSError) as err:
            problems.append(f"{name}: {err}")
    return found, problems
