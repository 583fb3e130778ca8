"""Per-class COCO AP and AP50: read from the same COCOeval as the summary, equal to pycocotools' array."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from ca_yolo.evaluation.cocoeval import coco_summary, run_cocoeval
from ca_yolo.evaluation.perclass import per_class_ap


def _gt() -> dict:
    """Two images, three classes: "cat" has 2 objects, "dog" 1, "bird" none."""
    return {
        "images": [{"id": 1, "width": 100, "height": 100}, {"id": 2, "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [50, 50, 30, 30], "area": 900, "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 2, "bbox": [5, 5, 40, 40], "area": 1600, "iscrowd": 0},
        ],
    }


def _dets() -> list[dict]:
    """cat: one exact hit and one at IoU 0.8; dog: a false positive scored above an exact hit."""
    return [
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [56, 50, 24, 30], "score": 0.8},  # IoU 720/900 = 0.8
        {"image_id": 1, "category_id": 2, "bbox": [60, 60, 20, 20], "score": 0.7},  # dog where there is none
        {"image_id": 2, "category_id": 2, "bbox": [5, 5, 40, 40], "score": 0.6},
    ]


def _reference_precision(gt: dict, dets: list[dict]) -> np.ndarray:
    """pycocotools' own precision array, computed the textbook way."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO()
        cg.dataset = gt
        cg.createIndex()
        ev = COCOeval(cg, cg.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
    return ev.eval["precision"]


def test_per_class_ap_equals_pycocotools_precision_array():
    ours = per_class_ap(run_cocoeval(_gt(), _dets()))
    prec = _reference_precision(_gt(), _dets())
    assert list(ours) == ["cat", "dog", "bird"]
    for k, name in enumerate(["cat", "dog"]):
        p = prec[:, :, k, 0, 2]  # area "all", maxDets 100
        assert ours[name]["AP"] == pytest.approx(float(p.mean()), abs=1e-12)
        assert ours[name]["AP50"] == pytest.approx(float(p[0].mean()), abs=1e-12)
    assert ours["bird"] == {"AP": None, "AP50": None}  # no GT bird: pycocotools marks it -1


def test_per_class_ap_hand_values_and_mean_is_coco_ap():
    ev = run_cocoeval(_gt(), _dets())
    ours = per_class_ap(ev)
    # cat: both objects found, the second at IoU 0.8 -> TP at thresholds 0.50..0.80 (7 of 10), then
    # recall 0.5 at precision 1 for the other 3: (7 * 1 + 3 * 51/101) / 10.
    assert ours["cat"]["AP"] == pytest.approx((7 + 3 * 51 / 101) / 10, abs=1e-12)
    assert ours["cat"]["AP50"] == pytest.approx(1.0)
    # dog: the false positive scores above the only hit: precision 1/2 at every recall level.
    assert ours["dog"]["AP"] == pytest.approx(0.5)
    assert ours["dog"]["AP50"] == pytest.approx(0.5)
    assert coco_summary(ev)["AP"] == pytest.approx((ours["cat"]["AP"] + ours["dog"]["AP"]) / 2, abs=1e-12)


def test_per_class_ap_with_no_detections_is_zero_per_class():
    ours = per_class_ap(run_cocoeval(_gt(), []))
    zero, undefined = {"AP": 0.0, "AP50": 0.0}, {"AP": None, "AP50": None}
    assert ours == {"cat": zero, "dog": zero, "bird": undefined}


def _record(model: str, seed: int, cat_ap: float, dog_ap: float | None):
    from ca_yolo.compare.record import RunRecord

    return RunRecord(model=model, cfg=f"{model}.yaml", seed=seed, settings={}, weights="weights/best.pt",
                     epochs_trained=1, seconds=1.0, resumed=False, finished_at="t", coco={"AP": 0.1},
                     per_class={"cat": {"AP": cat_ap, "AP50": cat_ap + 0.1},
                                "dog": {"AP": dog_ap, "AP50": None if dog_ap is None else dog_ap + 0.1}})  # fmt: skip


def test_per_class_results_paired_differences_and_most_moved():
    from ca_yolo.compare.classes import most_moved, per_class_results

    by_model = {"base": {0: _record("base", 0, 0.5, 0.2), 1: _record("base", 1, 0.6, 0.3)},
                "ca": {0: _record("ca", 0, 0.4, 0.4), 1: _record("ca", 1, 0.4, 0.5)}}  # fmt: skip
    pc = per_class_results(by_model, "base", ["cat", "dog", "bird"])
    assert sorted(pc["models"]["ca"]) == ["cat", "dog"]  # bird: no value anywhere
    assert pc["models"]["base"]["cat"]["AP"]["mean"] == pytest.approx(0.55)
    assert pc["models"]["base"]["cat"]["AP"]["values"] == {"0": 0.5, "1": 0.6}
    diffs = {(d["class"], d["metric"]): d for d in pc["differences"]}
    assert sorted(diffs) == [("cat", "AP"), ("cat", "AP50"), ("dog", "AP"), ("dog", "AP50")]
    assert diffs["cat", "AP"]["mean"] == pytest.approx(-0.15) and diffs["cat", "AP"]["n"] == 2
    assert diffs["dog", "AP"]["mean"] == pytest.approx(0.2) and diffs["dog", "AP"]["std"] == pytest.approx(0.0)
    gains, losses = most_moved(pc, "ca", "AP")
    assert [d["class"] for d in gains] == ["dog"] and [d["class"] for d in losses] == ["cat"]


def test_results_csv_has_per_class_columns():
    from ca_yolo.compare.report import results_csv

    results = {"models": [{"name": "base"}], "data": {"classes": ["cat", "dog"], "voc_metric": False},
               "runs": [_record("base", 0, 0.5, None)]}  # fmt: skip
    header, row = results_csv(results).splitlines()
    assert header.endswith(",latency_ms,AP:cat,AP50:cat,AP:dog,AP50:dog")
    assert row.endswith(",0.50000,0.60000,,")
