"""Writes ultralytics_tiny_yolo26.pt: a YOLO26 checkpoint as Ultralytics 8.4 saves trained weights (the pickled
DetectionModel in fp16 under "model", its table under `model.yaml`), at width 1/16 with one class (every layer at its
channel floor: a few hundred kB): the tests build the model from the table it carries and load both branches of its
head. Not part of the project; run once in the scratch venv (make_ultralytics_reference.py says
how):

    /tmp/ultra/bin/python tests/data/make_yolo26_checkpoint.py tests/data
"""

import sys
from pathlib import Path

import ultralytics
import yaml
from ultralytics import YOLO


def main(out: Path) -> None:
    recipe = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/models/26/yolo26.yaml").read_text())
    recipe["scales"], recipe["nc"] = {"n": [0.50, 0.0625, 1024]}, 1
    path = out / "yolo26n.yaml"  # the name Ultralytics keeps as `yaml_file`, as for the shipped yolo26n.pt
    path.write_text(yaml.safe_dump(recipe))
    model = YOLO(str(path))
    model.save(out / "ultralytics_tiny_yolo26.pt")
    path.unlink()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
