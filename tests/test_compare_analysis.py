"""A finished comparison re-run gains the analysis outputs (TIDE, per-class, bootstrap, figures) untrained."""

from __future__ import annotations

import json

import pytest

from ca_yolo.compare.cli import main as compare_main


def test_rerun_of_a_finished_comparison_adds_the_analysis_with_zero_trainings(tiny_data, tmp_path, monkeypatch):
    args = [f"{k}={v}" for k, v in {"data": tiny_data, "models": "yolov8n.yaml,yolov8n-ca.yaml", "seeds": "0",
            "epochs": 1, "imgsz": 64, "batch": 4, "device": "cpu", "workers": 0, "project": tmp_path, "name": "cmp",
            "latency_runs": 2, "grid_images": 0, "plots": False}.items()]  # fmt: skip
    assert compare_main(args) == 0
    out = tmp_path / "cmp"
    runs = sorted(out.glob("*-seed0"))
    assert [r.name for r in runs] == ["yolov8n-ca-seed0", "yolov8n-seed0"]
    assert all((r / "detections.json").is_file() for r in runs)  # kept by the evaluation pass
    # make it a folder from before the analysis: no detections kept, no per-class AP, no new outputs
    for r in runs:
        (r / "detections.json").unlink()
        rec = json.loads((r / "run.json").read_text())
        rec.pop("per_class")
        (r / "run.json").write_text(json.dumps(rec))
    for f in ("results.json", "report.md", "per_class_ap.png", "speed_accuracy.png"):
        (out / f).unlink()

    import ca_yolo.compare.runner as runner

    trainings = []
    monkeypatch.setattr(runner, "_train", lambda *a, **k: trainings.append(a) or pytest.fail("trained"))
    assert compare_main(args) == 0
    assert trainings == []
    assert all((r / "detections.json").is_file() for r in runs)
    results = json.loads((out / "results.json").read_text())
    assert sorted(results["tide"]["models"]) == ["yolov8n", "yolov8n-ca"]
    assert [b["metric"] for b in results["bootstrap"]] == ["AP", "AP50"]
    assert all(set(r["per_class"]) == {"red", "blue"} for r in results["runs"])
    report = (out / "report.md").read_text()
    for heading in ("## Where the errors are (TIDE)", "## Seed noise and val-set noise", "## Per-class AP",
                    "## Speed and accuracy"):  # fmt: skip
        assert heading in report
    assert (out / "per_class_ap.png").stat().st_size > 5000 and (out / "speed_accuracy.png").stat().st_size > 5000
