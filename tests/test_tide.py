"""TIDE error decomposition: each error kind on a hand-made set moves exactly its own dAP row."""

from __future__ import annotations

import pytest
from detection_sets import add_random_object, coco_gt

from ca_yolo.evaluation.cocoeval import coco_metrics
from ca_yolo.evaluation.tide import MAIN_ERRORS, tide_errors

A, B = 1, 2  # category ids
GT1 = [0, 0, 10, 10]  # image 1: one "a" object, always found exactly (score 0.9)
GT2 = [100, 100, 10, 10]  # image 2: the object the error case is about
SHIFTED = [105, 100, 10, 10]  # IoU 50 / 150 = 1/3 with GT2: between t_b = 0.1 and t_f = 0.5


def _set(gt2: list[tuple[int, list[float]]], dets: list[tuple[int, int, list[float], float]]):
    """GT (image 1 has GT1 of class a; image 2 the given objects) and detections (image, class, box, score)."""
    anns = [{"id": 1, "image_id": 1, "category_id": A, "bbox": GT1, "area": 100, "iscrowd": 0}]
    for k, (cat, box) in enumerate(gt2, 2):
        anns.append({"id": k, "image_id": 2, "category_id": cat, "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
    gt = {"images": [{"id": 1, "width": 200, "height": 200}, {"id": 2, "width": 200, "height": 200}],
          "categories": [{"id": A, "name": "a"}, {"id": B, "name": "b"}], "annotations": anns}  # fmt: skip
    found = [(1, A, GT1, 0.9)]
    return gt, [{"image_id": i, "category_id": c, "bbox": b, "score": s} for i, c, b, s in found + dets]


# Expected rows, worked out by hand with COCO's 101-point AP at IoU 0.5 (r = 1/101):
CASES = {
    # FP (0.95) above the hit; npos 2: precision 1/2 up to recall 1/2 -> AP 25.5r; the box moved onto
    # GT2 makes both hits -> 1; without the FP: 51r; without GT2 (unmatched): npos 1 -> 0.5.
    "Loc": ([(A, GT2)], [(2, A, SHIFTED, 0.95)], {"Loc": 1 - 25.5 / 101}, 25.5 / 101, 0.5 - 25.5 / 101),
    # class a: FP above the hit -> 0.5; class b: its object unfound -> 0; mean 0.25. Relabelled to b both
    # classes are perfect -> 1. Without the FP: (1 + 0) / 2. Without the unfound b: class a alone, 0.5.
    "Cls": ([(B, GT2)], [(2, A, GT2, 0.95)], {"Cls": 0.75}, 0.25, 0.25),
    # wrong class and IoU 1/3: suppressed -> class a perfect; class b found by its own hit (score 0.5).
    "Both": ([(B, GT2)], [(2, A, SHIFTED, 0.95), (2, B, GT2, 0.5)], {"Both": 0.25}, 0.25, 0.0),
    # hits 0.9 and 0.7 with a second box on GT1 at 0.8 between them: (51 + 50 * 2/3) r -> 1 when removed.
    "Dupe": ([(A, GT2)], [(1, A, [0, 1, 10, 10], 0.8), (2, A, GT2, 0.7)], {"Dupe": (50 / 3) / 101}, (50 / 3) / 101, 0),
    # the same ranks with a box far from every object in place of the duplicate
    "Bkg": ([(A, GT2)], [(1, A, [50, 50, 10, 10], 0.8), (2, A, GT2, 0.7)], {"Bkg": (50 / 3) / 101}, (50 / 3) / 101, 0),
    # GT2 unfound and not pointed at by any error: npos 2 -> 51r; without it npos 1 -> 1.
    "Missed": ([(A, GT2)], [], {"Missed": 50 / 101}, 0.0, 50 / 101),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_each_error_kind_gives_exactly_its_own_dap_row(kind):
    gt2, dets, main, false_pos, false_neg = CASES[kind]
    gt, detections = _set(gt2, dets)
    out = tide_errors(gt, detections)
    expected = {k: main.get(k, 0.0) for k in MAIN_ERRORS} | {"FalsePos": false_pos, "FalseNeg": false_neg}
    assert list(out["dAP"]) == [*MAIN_ERRORS, "FalsePos", "FalseNeg"]
    assert out["dAP"] == pytest.approx(expected, abs=1e-12)
    assert out["counts"][kind] == 1
    assert sum(out["counts"][k] for k in MAIN_ERRORS) == 1
    # the unfixed AP50 is pycocotools' own
    assert out["AP50"] == pytest.approx(coco_metrics(gt, detections)["AP50"], abs=1e-12)


def test_perfect_detections_have_no_errors():
    gt, detections = _set([(A, GT2)], [(2, A, GT2, 0.8)])
    out = tide_errors(gt, detections)
    assert out["AP50"] == 1.0
    assert set(out["dAP"].values()) == {0.0} and set(out["counts"].values()) == {0}


def test_a_fix_whose_gt_is_taken_removes_the_detection():
    # Two Loc errors on GT2 (0.95, 0.85): the first takes GT2, the second is removed -> both hits, AP 1.
    gt, detections = _set([(A, GT2)], [(2, A, SHIFTED, 0.95), (2, A, [100, 105, 10, 10], 0.85)])
    out = tide_errors(gt, detections)
    assert out["counts"]["Loc"] == 2
    # as is: FP 0.95, hit 0.9, FP 0.85 -> precision 1/2 up to recall 1/2: 25.5/101
    assert out["AP50"] == pytest.approx(25.5 / 101)
    assert out["dAP"]["Loc"] == pytest.approx(1 - 25.5 / 101)


def test_unfixed_ap50_equals_pycocotools_on_a_random_set():
    import numpy as np

    rng = np.random.default_rng(3)
    anns, dets = [], []
    for i in range(1, 7):
        for _ in range(3):
            cat, box = add_random_object(rng, i, anns)
            for _ in range(2):
                noisy = [float(v) for v in np.maximum(np.asarray(box) + rng.normal(0, 4, 4), 1)]
                dets.append({"image_id": i, "category_id": cat if rng.random() > 0.2 else 3 - cat,
                             "bbox": noisy, "score": float(rng.random())})  # fmt: skip
    gt = coco_gt(6, anns)
    out = tide_errors(gt, dets)
    assert out["AP50"] == pytest.approx(coco_metrics(gt, dets)["AP50"], abs=1e-12)
    # every false positive has exactly one type; Missed GT are a subset of the false negatives
    assert sum(out["counts"][k] for k in ("Cls", "Loc", "Both", "Dupe", "Bkg")) == out["counts"]["FalsePos"]
    assert out["counts"]["Missed"] <= out["counts"]["FalseNeg"]
