"""Bootstrap over val images: re-weighted COCO AP equals COCOeval's, deterministic for a seed."""

from __future__ import annotations

import numpy as np
import pytest
from detection_sets import random_set

from ca_yolo.evaluation.bootstrap import image_matches, paired_bootstrap, weighted_ap
from ca_yolo.evaluation.cocoeval import coco_summary, run_cocoeval


def test_unit_weights_give_cocoevals_ap_and_ap50():
    gt, dets = random_set(0)
    ev = run_cocoeval(gt, dets)
    m = image_matches(ev)
    assert weighted_ap(m) == pytest.approx(coco_summary(ev)["AP"], abs=1e-12)
    assert weighted_ap(m, iou_index=0) == pytest.approx(coco_summary(ev)["AP50"], abs=1e-12)


def test_integer_weights_equal_cocoeval_on_the_images_repeated():
    gt, dets = random_set(1, n_images=4)
    w = np.array([2, 0, 1, 3])
    # the same set with each image copied w times under new ids
    images, anns, rep = [], [], []
    for i, k in enumerate(w, 1):
        for c in range(k):
            new = i * 10 + c
            images.append({"id": new, "width": 100, "height": 100})
            anns += [{**a, "id": len(anns) + j + 1, "image_id": new}
                     for j, a in enumerate(x for x in gt["annotations"] if x["image_id"] == i)]  # fmt: skip
            rep += [{**d, "image_id": new} for d in dets if d["image_id"] == i]
    repeated = run_cocoeval({**gt, "images": images, "annotations": anns}, rep)
    ours = weighted_ap(image_matches(run_cocoeval(gt, dets)), w)
    assert ours == pytest.approx(coco_summary(repeated)["AP"], abs=0.01)  # ties of copies aside, equal


def test_paired_bootstrap_is_deterministic_for_a_seed():
    gt, dets_a = random_set(2, noise=1.0)
    _, dets_b = random_set(2, noise=4.0)  # same GT, worse boxes
    a = [image_matches(run_cocoeval(gt, dets_a))]
    b = [image_matches(run_cocoeval(gt, dets_b))]
    first = paired_bootstrap(a, b, n_boot=200, seed=7)
    assert paired_bootstrap(a, b, n_boot=200, seed=7) == first
    assert paired_bootstrap(a, b, n_boot=200, seed=8) != first
    assert first["mean"] == pytest.approx(weighted_ap(a[0]) - weighted_ap(b[0]), abs=1e-12)
    assert first["ci_low"] <= first["mean"] <= first["ci_high"] and first["se"] > 0
    assert (first["n_boot"], first["seed"]) == (200, 7)
    same = paired_bootstrap(a, a, n_boot=50, seed=0)  # a model against itself: no difference at all
    assert (same["mean"], same["se"], same["ci_low"], same["ci_high"], same["exceeds"]) == (0.0, 0.0, 0.0, 0.0, False)
