"""Writes what Ultralytics' assigner does for YOLO26's one-to-one branch, and ProgLoss's weights: the reference the
one-to-one assignment tests compare against. Not part of the project and not run by the tests (Ultralytics is AGPL).
Run in the scratch environment of make_assignment_reference.py, after it:

    /tmp/ultra/bin/python tests/data/make_assignment_e2e_reference.py tests/data

Ultralytics 8.4.190's `E2ELoss` trains YOLO26's one-to-many branch with `v8DetectionLoss(tal_topk=10)` and its
one-to-one branch with `v8DetectionLoss(tal_topk=7, tal_topk2=1)`: the same assigner (alpha 0.5, beta 6.0) with a
second top-k that keeps one cell per box. Writes ultralytics_assignment_e2e.pt:
- "assigner": that assigner's parameters, as `E2ELoss` builds it for a YOLO26n (its `one2one.assigner`);
- "random", "trained": the inputs of ultralytics_assignment.pt's cases (the random batch; each trained photo), assigned
  by it (the same fields);
- "progloss": {epochs: [the one-to-many weight in each epoch]} for 1, 2, 30 and 100 epochs: `E2ELoss.o2m` as training
  runs it (`update()` once after each epoch, as the trainer calls it), and `o2o` beside it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_assignment_reference import assigner_parameters, run  # noqa: E402


def main(out: Path) -> None:
    from types import SimpleNamespace

    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils.loss import E2ELoss

    model = DetectionModel("yolo26n.yaml", nc=10, verbose=False)
    model.args = SimpleNamespace(box=7.5, cls=0.5, dfl=1.5, epochs=30)
    criterion = E2ELoss(model)
    assigner = criterion.one2one.assigner
    many = criterion.one2many.assigner
    assert (assigner.topk, assigner.topk2) == (7, 1) and (many.topk, many.topk2) == (10, 10)
    base = torch.load(out / "ultralytics_assignment.pt", weights_only=False)
    reference = {"assigner": assigner_parameters(assigner)}
    names = ("pd_scores", "pd_bboxes", "anc_points", "gt_labels", "gt_bboxes", "mask_gt")

    def again(case: dict) -> dict:
        assigner.num_classes = case["inputs"]["pd_scores"].shape[-1]
        out = run(assigner, *(case["inputs"][k] for k in names))
        del out["inputs"]  # ultralytics_assignment.pt has them
        return out

    reference["random"] = again(base["random"])
    reference["trained"] = [{"photo": case["photo"]} | again(case) for case in base["trained"]]
    progloss = {}
    for epochs in (1, 2, 30, 100):
        criterion = E2ELoss(model)
        criterion.one2one.hyp = SimpleNamespace(epochs=epochs)
        weights = []
        for _ in range(epochs):
            weights.append((criterion.o2m, criterion.o2o))
            criterion.update()
        progloss[epochs] = weights
    reference["progloss"] = progloss
    torch.save(reference, out / "ultralytics_assignment_e2e.pt")
    print({k: v for k, v in reference["assigner"].items()}, progloss[30][:3], progloss[30][-1])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
