"""Writes the Ultralytics reference data the YOLO11 tests compare against. Not part of the project, and
not run by the tests: Ultralytics (AGPL) is not a dependency. Run once in a separate environment:

    python -m venv /tmp/ultra && /tmp/ultra/bin/pip install ultralytics
    /tmp/ultra/bin/python tests/data/make_ultralytics_reference.py tests/data

Writes
- ultralytics_yolo11_keys.json: every state_dict key and shape of the five YOLO11 detection models,
  as Ultralytics builds them from its own model definitions (no download);
- ultralytics_yolo11n_out.pt: for YOLO11n, an input and the P3/P4/P5 (outputs of layers 4, 6, 10) that
  Ultralytics' own layers compute with weights drawn from a seeded generator, in key order, by the
  recipe that tests/test_yolo11.py repeats.
"""

import json
import math
import sys
from pathlib import Path

import torch


def draw(key: str, shape: list[int], generator: torch.Generator) -> torch.Tensor:
    """The weight for one key, drawn from `generator`; tests/test_yolo11.py draws the same ones."""
    if key.endswith("running_var") or key.endswith("bn.weight"):
        return torch.rand(shape, generator=generator) * 0.5 + 0.75
    if key.endswith("running_mean") or key.endswith("bn.bias"):
        return torch.randn(shape, generator=generator) * 0.1
    fan = math.prod(shape[1:]) if len(shape) > 1 else 1
    return torch.randn(shape, generator=generator) * (2.0 / max(1, fan)) ** 0.5


def main(out: Path) -> None:
    import ultralytics  # only here: the tests import `draw` from this file without Ultralytics
    from ultralytics import YOLO

    keys = {"ultralytics": ultralytics.__version__, "scales": {}}
    for scale in "nsmlx":
        model = YOLO(f"yolo11{scale}.yaml").model.eval()
        state = model.state_dict()
        keys["scales"][scale] = {"keys": {k: list(v.shape) for k, v in state.items()}}
        if scale != "n":
            continue
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for key, value in state.items():
                if value.is_floating_point():
                    value.copy_(draw(key, list(value.shape), generator))
            x = torch.rand(1, 3, 96, 128, generator=generator)
            result, y = {"x": x}, x
            for index, layer in enumerate(model.model[:11]):
                y = layer(y)
                if index in (4, 6, 10):
                    result[{4: "P3", 6: "P4", 10: "P5"}[index]] = y
        torch.save(result, out / "ultralytics_yolo11n_out.pt")
    (out / "ultralytics_yolo11_keys.json").write_text(json.dumps(keys))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
