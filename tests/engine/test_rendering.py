"""The photo with its boxes as a picture (the CLI's `detect --out`, the Detections page's download): boxes in
their class's colour, labels where they fit, the best box on top, the photo itself untouched."""

from __future__ import annotations

from PIL import Image

from yolo_explorer.detection.detections import Detection, class_color
from yolo_explorer.present.rendering import boxes_image


def rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))


GREY = (200, 200, 200)


def test_boxes_are_outlined_in_their_class_colour_on_a_copy():
    photo = Image.new("RGB", (640, 480), GREY)
    person = Detection((100.0, 200.0, 300.0, 400.0), 0.9, 0, "person")
    car = Detection((350.0, 150.0, 600.0, 450.0), 0.6, 2, "car")
    drawn = boxes_image(photo, [person, car])
    assert photo.getpixel((100, 300)) == GREY and drawn.size == photo.size
    assert drawn.getpixel((100, 300)) == rgb(class_color(0)) and drawn.getpixel((600, 300)) == rgb(class_color(2))
    assert drawn.getpixel((200, 300)) == GREY  # inside a box: the photo
    assert drawn.getpixel((99, 195)) == rgb(class_color(0))  # the label band (its padding), above the box
    assert class_color(0) != class_color(2) and class_color(10) == class_color(0)  # ten colours, cycling


def test_a_label_at_the_top_edge_goes_inside_and_the_best_box_is_on_top():
    photo = Image.new("RGB", (400, 300), GREY)
    low = Detection((50.0, 0.0, 250.0, 200.0), 0.3, 1, "bicycle")
    high = Detection((150.0, 100.0, 350.0, 290.0), 0.95, 3, "motorcycle")
    drawn = boxes_image(photo, [high, low])  # best first, as NMS returns them
    assert drawn.getpixel((53, 5)) == rgb(class_color(1))  # no room above: the band is inside the box
    assert drawn.getpixel((150, 150)) == rgb(class_color(3))  # where the edges cross, the best box's colour
    assert boxes_image(photo, []).tobytes() == photo.tobytes()
