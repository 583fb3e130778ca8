"""PASCAL VOC AP@0.5 (VOC07 11-point and all-point): hand-made cases with known answers, random cases
against an independent brute-force implementation, and ``ca-yolo eval`` printing and saving it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ca_yolo.evaluation.vocmetric import ap_11_point, ap_all_point, voc_metric


def _gt(boxes: list[tuple], names=("a", "b")) -> dict:
    """boxes: (image_id, category_id, [x, y, w, h], difficult)."""
    return {
        "images": [{"id": i} for i in range(1, 6)],  # every image detections are made on
        "annotations": [
            {"id": k, "image_id": i, "category_id": c, "bbox": b, "iscrowd": int(d)}
            for k, (i, c, b, d) in enumerate(boxes, 1)
        ],  # fmt: skip
        "categories": [{"id": k, "name": n} for k, n in enumerate(names, 1)],
    }


def _dets(items: list[tuple]) -> list[dict]:
    """items: (image_id, category_id, [x, y, w, h], score)."""
    return [{"image_id": i, "category_id": c, "bbox": b, "score": s} for i, c, b, s in items]


def _one_class_metric(boxes: list[tuple], items: list[tuple]) -> dict:
    """:func:`voc_metric` of one class "a": ground-truth ``boxes`` as in :func:`_gt`, detections as in :func:`_dets`."""
    return voc_metric(_gt(boxes, names=("a",)), _dets(items))


def test_known_answer_tp_fp_tp():
    # 2 objects; detections by score: TP, FP (no overlap), TP -> recall .5 .5 1, precision 1 .5 2/3
    objects = [(1, 1, [0, 0, 10, 10], 0), (1, 1, [20, 20, 10, 10], 0)]
    m = _one_class_metric(
        objects, [(1, 1, [0, 0, 10, 10], 0.9), (1, 1, [50, 50, 5, 5], 0.8), (1, 1, [20, 20, 10, 10], 0.7)]
    )
    assert m["mAP50_all"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert m["mAP50_07"] == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)
    assert m["classes"]["a"] == {
        "AP50_07": pytest.approx(0.848485, abs=1e-6),
        "AP50_all": pytest.approx(0.833333, abs=1e-6),
        "positives": 2,
    }


def test_difficult_objects_are_ignored_duplicates_are_false_positives():
    objects = [(1, 1, [0, 0, 10, 10], 0), (1, 1, [30, 30, 10, 10], 1)]
    # a detection of the difficult object counts for nothing; a second hit on the same object is a FP
    dets = [(1, 1, [30, 30, 10, 10], 0.95), (1, 1, [0, 0, 10, 10], 0.9), (1, 1, [0, 0, 10, 10], 0.8)]
    m = _one_class_metric(objects, dets)
    assert m["classes"]["a"]["positives"] == 1
    assert m["mAP50_all"] == pytest.approx(1.0) and m["mAP50_07"] == pytest.approx(1.0)
    # the difficult object found alone does not raise recall: AP stays 0
    assert _one_class_metric(objects, dets[:1])["mAP50_all"] == 0.0


def test_iou_must_exceed_one_half_and_classes_without_objects_are_left_out_of_the_mean():
    gt = _gt([(1, 1, [0, 0, 10, 10], 0)])  # class "b" has no object
    half = _dets([(1, 1, [0, 0, 10, 5], 0.9)])  # IoU exactly 0.5: not a match (VOC: "> 0.5")
    m = voc_metric(gt, half)
    assert m["classes"]["a"]["AP50_all"] == 0.0
    assert m["classes"]["b"] == {"AP50_07": None, "AP50_all": None, "positives": 0}
    assert m["mAP50_all"] == 0.0  # the mean is over class "a" only
    assert voc_metric(gt, _dets([(1, 1, [0, 0, 10, 5.1], 0.9)]))["mAP50_all"] == pytest.approx(1.0)
    assert voc_metric(gt, [])["mAP50_07"] == 0.0
    assert voc_metric(_gt([]), [])["mAP50_07"] is None


def test_ap_formulas_on_curves():
    r, p = np.array([0.2, 0.4, 0.4, 0.8]), np.array([1.0, 0.5, 0.4, 0.6])
    # envelope: 1.0 up to .2, 0.6 up to .8, then 0
    assert ap_all_point(r, p) == pytest.approx(0.2 * 1.0 + 0.6 * 0.6)
    # thresholds 0,.1,.2 -> 1.0; .3...8 -> 0.6 (6 points); .9, 1.0 -> 0
    assert ap_11_point(r, p) == pytest.approx((3 * 1.0 + 6 * 0.6) / 11)


# ------------------------------------------------------------------ independent implementation


def _iou(a, b) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _brute_force(gt: dict, dets: list[dict]) -> tuple[float, float]:
    """VOC mAP from its definition: for each k, match the top-k detections from scratch (plain loops),
    precision/recall at k; 11-point by its definition, all-point by integrating the interpolated
    precision over a fine recall grid."""
    aps07, aps_all = [], []
    for cat in gt["categories"]:
        anns = [a for a in gt["annotations"] if a["category_id"] == cat["id"]]
        n_pos = sum(1 for a in anns if not a["iscrowd"])
        if n_pos == 0:
            continue
        mine = sorted((d for d in dets if d["category_id"] == cat["id"]), key=lambda d: -d["score"])
        points = []  # (recall, precision) after each counted detection
        for k in range(1, len(mine) + 1):
            taken, tp, fp = set(), 0, 0
            for d in mine[:k]:
                cands = [(i, _iou(d["bbox"], a["bbox"])) for i, a in enumerate(anns) if a["image_id"] == d["image_id"]]
                best = max(cands, key=lambda c: c[1], default=(None, 0.0))
                if best[1] > 0.5 and anns[best[0]]["iscrowd"]:
                    continue
                if best[1] > 0.5 and best[0] not in taken:
                    taken.add(best[0])
                    tp += 1
                else:
                    fp += 1
            counted = tp + fp
            if counted and (not points or counted > points[-1][2]):
                points.append((tp / n_pos, tp / counted, counted))

        def interp(r: float, points=points) -> float:
            return max((p for rr, p, _ in points if rr >= r - 1e-12), default=0.0)

        aps07.append(sum(interp(t / 10) for t in range(11)) / 11)
        grid = (np.arange(200000) + 0.5) / 200000  # midpoint rule over recall in [0, 1]
        env = np.zeros_like(grid)
        for rr, p, _ in sorted(points):
            env[grid <= rr] = np.maximum(env[grid <= rr], p)
        aps_all.append(float(env.mean()))
    return float(np.mean(aps07)), float(np.mean(aps_all))


@pytest.mark.parametrize("seed", range(6))
def test_random_cases_match_the_brute_force_definition(seed):
    rng = np.random.default_rng(seed)
    boxes, dets = [], []
    for img in range(1, 6):
        for _ in range(rng.integers(0, 5)):
            cat = int(rng.integers(1, 4))
            b = [float(v) for v in (*rng.uniform(0, 80, 2), *rng.uniform(5, 30, 2))]
            boxes.append((img, cat, b, rng.random() < 0.2))
            for _ in range(rng.integers(0, 3)):  # near-duplicates, jittered: TPs, duplicates, misses
                j = [b[0] + rng.normal(0, 3), b[1] + rng.normal(0, 3),
                     b[2] * rng.uniform(0.7, 1.3), b[3] * rng.uniform(0.7, 1.3)]  # fmt: skip
                dets.append((img, cat, j, float(rng.random())))
        for _ in range(rng.integers(0, 4)):  # background false positives
            dets.append((img, int(rng.integers(1, 4)), [*rng.uniform(0, 80, 2), 10.0, 10.0], float(rng.random())))
    gt, dl = _gt(boxes, names=("a", "b", "c")), _dets(dets)
    m = voc_metric(gt, dl)
    ref07, ref_all = _brute_force(gt, dl)
    assert m["mAP50_07"] == pytest.approx(ref07, abs=1e-9)
    assert m["mAP50_all"] == pytest.approx(ref_all, abs=1e-4)


# ---------------------------------------------------------------------------------- ca-yolo eval


def test_eval_prints_and_saves_the_voc_metric(ca_run, tiny_data, tmp_path, capsys):
    from ca_yolo.evaluation import build_coco_gt, read_split
    from ca_yolo.evaluation.cli import main as eval_main

    assert eval_main([f"model={ca_run / 'weights' / 'best.pt'}", f"data={tiny_data}", f"save_dir={tmp_path}"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    voc = metrics["voc"]
    line = f"PASCAL VOC mAP@0.5: {voc['mAP50_07']:.3f} (VOC07 11-point)  {voc['mAP50_all']:.3f} (all-point, VOC2010+)"
    assert line in capsys.readouterr().out
    dets = json.loads((tmp_path / "detections.json").read_text())
    ref07, ref_all = _brute_force(build_coco_gt(read_split(tiny_data, "val")).coco, dets)
    assert voc["mAP50_07"] == pytest.approx(ref07, abs=1e-9) and voc["mAP50_all"] == pytest.approx(ref_all, abs=1e-4)
    assert set(voc["classes"]) == {"red", "blue"}


def test_compare_reports_the_voc_metric_for_voc_data_only():
    from ca_yolo.compare.record import RunRecord
    from ca_yolo.compare.report import results_csv
    from ca_yolo.compare.results import is_voc, metrics_for
    from ca_yolo.data.classes import VOC_NAMES

    assert is_voc(list(VOC_NAMES)) and not is_voc(["red", "blue"])
    run = RunRecord(model="m", cfg="m.yaml", seed=0, settings={}, weights="weights/best.pt", epochs_trained=1,
                    seconds=1.0, resumed=False, finished_at="", coco={"AP": 0.5},
                    voc={"mAP50_07": 0.7, "mAP50_all": 0.72})  # fmt: skip
    results = {"models": [{"name": "m"}], "runs": [run], "data": {"voc_metric": True}}
    header, row = results_csv(results).splitlines()
    assert header.endswith("voc07_mAP50,voc_mAP50,epochs_trained,seconds,params,gflops,latency_ms")
    assert ",0.70000,0.72000,1,1.0," in row
    results["data"]["voc_metric"] = False
    assert "voc" not in results_csv(results).splitlines()[0]
    assert [k for k, *_ in metrics_for(True)][-2:] == ["voc07_mAP50", "voc_mAP50"]


# ------------------------------------------------------------------ ultralytics= of ca-yolo eval


def test_eval_ultralytics_key(ca_run, tiny_data, tmp_path, capsys):
    """Ultralytics' numbers come from the one pass: none leaves them out, 'shared' is another name for validator."""
    from ca_yolo.evaluation.cli import main as eval_main

    best = ca_run / "weights" / "best.pt"
    assert eval_main([f"model={best}", f"data={tiny_data}", "ultralytics=shared", f"save_dir={tmp_path}"]) == 0
    out = capsys.readouterr().out
    u = json.loads((tmp_path / "metrics.json").read_text())["ultralytics"]
    assert set(u) == {"mAP50", "mAP50-95", "precision", "recall"}
    assert f"Ultralytics' validator: mAP50 {u['mAP50']:.3f}  mAP50-95 {u['mAP50-95']:.3f}  (same pass)" in out
    assert eval_main([f"model={best}", f"data={tiny_data}", "ultralytics=none", f"save_dir={tmp_path / 'n'}"]) == 0
    assert "Ultralytics' validator" not in capsys.readouterr().out
    assert json.loads((tmp_path / "n" / "metrics.json").read_text())["ultralytics"] == {}
    assert eval_main([f"model={best}", f"data={tiny_data}", "ultralytics=twice"]) == 2
    assert capsys.readouterr().err.strip() == "ca-yolo eval: error: ultralytics=twice must be validator or none"
