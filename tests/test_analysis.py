"""compare's analysis from kept detections: TIDE per model, bootstrap, per-class, report sections, figures."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from detection_sets import random_set

from ca_yolo.compare.analysis import DETECTIONS_FILE, analyze_runs
from ca_yolo.compare.analysis_plots import plot_per_class, plot_speed_accuracy
from ca_yolo.compare.classes import per_class_results
from ca_yolo.compare.record import RunRecord
from ca_yolo.compare.report_analysis import analysis_markdown
from ca_yolo.evaluation.cocogt import GroundTruth


def _comparison(tmp_path, with_files: bool = True):
    """Two models x 2 seeds on one random GT; the "ca" model's boxes are less noisy."""
    gt, _ = random_set(5)
    runs, records = [], []
    for seed in (0, 1):
        for model, noise in (("base", 4.0), ("ca", 2.0)):
            _, dets = random_set(5, noise=noise + seed * 0.5)
            d = tmp_path / f"{model}-seed{seed}"
            (d / "weights").mkdir(parents=True)
            if with_files:
                (d / DETECTIONS_FILE).write_text(json.dumps(dets))
            runs.append(SimpleNamespace(dir=d, model=model, seed=seed, dets=dets))
            records.append(RunRecord(model=model, cfg=f"{model}.yaml", seed=seed, settings={},
                                     weights="weights/best.pt", epochs_trained=1, seconds=1.0, resumed=False,
                                     finished_at="t", coco={}))  # fmt: skip
    plan = SimpleNamespace(
        runs=runs, names=["base", "ca"], baseline="base", challengers=["ca"], config=SimpleNamespace(seeds=[0, 1])
    )
    return plan, records, GroundTruth(gt, {}, [1, 2])


def test_analysis_from_kept_detections(tmp_path):
    plan, records, gt = _comparison(tmp_path)
    called = []
    out = analyze_runs(plan, records, gt, [im["id"] for im in gt.coco["images"]], called.append, n_boot=50)
    assert called == []  # every run had its detections: no evaluation pass
    assert all(set(r.per_class) == {"a", "b"} for r in records)
    tide = out["tide"]
    assert sorted(tide["runs"]["ca"]) == ["0", "1"] and len(tide["differences"]) == 8
    loc = [d for d in tide["differences"] if d["error"] == "Loc"][0]
    per_seed = [tide["runs"]["ca"][s]["dAP"]["Loc"] - tide["runs"]["base"][s]["dAP"]["Loc"] for s in ("0", "1")]
    assert loc["mean"] == pytest.approx(sum(per_seed) / 2)
    assert [(b["model"], b["metric"], b["n_boot"]) for b in out["bootstrap"]] == [("ca", "AP", 50), ("ca", "AP50", 50)]
    ap = out["bootstrap"][0]
    diffs = [records[1].per_class, records[0].per_class]
    assert ap["mean"] > 0 and diffs  # less noisy boxes: higher AP
    assert ap["dominant"] in ("seed", "val set") and ap["seed_se"] is not None


def test_missing_detections_are_made_by_one_evaluation_pass(tmp_path):
    plan, records, gt = _comparison(tmp_path, with_files=False)
    by_dir = {r.dir / "weights" / "best.pt": r.dets for r in plan.runs}
    called = []

    def evaluate(weights):
        called.append(weights)
        return by_dir[weights]

    analyze_runs(plan, records, gt, [im["id"] for im in gt.coco["images"]], evaluate, n_boot=10)
    assert called == [r.dir / "weights" / "best.pt" for r in plan.runs]
    assert all(json.loads((r.dir / DETECTIONS_FILE).read_text()) == r.dets for r in plan.runs)


def test_report_sections_and_figures(tmp_path):
    plan, records, gt = _comparison(tmp_path)
    out = analyze_runs(plan, records, gt, [im["id"] for im in gt.coco["images"]], lambda w: [], n_boot=50)
    models = [{"name": n, "latency_ms": lat, "device": "cpu",
               "metrics": {"AP": {"values": {str(r.seed): sum(v["AP"] for v in r.per_class.values()) / 2
                                             for r in records if r.model == n}}}}
              for n, lat in (("base", 10.0), ("ca", 11.5))]  # fmt: skip
    by_model = {n: {r.seed: r for r in records if r.model == n} for n in ("base", "ca")}
    results = {"models": models, "baseline": "base", "seeds": [0, 1], "settings": {"imgsz": 160},
               "per_class": per_class_results(by_model, "base", ["a", "b"]), **out}  # fmt: skip
    md = "\n".join(analysis_markdown(results))
    assert "## Where the errors are (TIDE)" in md and "| ca − base (paired) |" in md
    assert "## Seed noise and val-set noise" in md and "(50 resamples, seed 0)" in md
    assert "## Per-class AP" in md and "- ca: largest gains " in md
    assert "![speed against accuracy](speed_accuracy.png)" in md
    for f in (plot_per_class(results, tmp_path / "per_class_ap.png"), plot_speed_accuracy(results, tmp_path / "s.png")):
        assert f.stat().st_size > 5000
