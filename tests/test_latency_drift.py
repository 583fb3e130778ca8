"""scripts/latency_drift.py's summary: what it reports from a list of measured sets (no timing here)."""

from __future__ import annotations

import pytest
from conftest import script_module


@pytest.fixture(scope="module")
def drift():
    return script_module("latency_drift")


def _set(k160: float, k640: float, ort: float, base640: float) -> dict:
    def ratio(median: float) -> dict:
        return {"median": median, "p25": median, "p75": median}

    return {
        "time": "2026-12-01T00:00:00+00:00",
        "torch160": {"base_ms": 7.0, "kernel": ratio(k160), "pytorch": ratio(k160 + 0.03)},
        "torch640": {"base_ms": base640, "kernel": ratio(k640), "pytorch": ratio(k640 + 0.02)},
        "ort640": {"base_ms": base640 - 10, "yolov8n-ca.yaml": ratio(ort)},
    }


def test_summary_counts_targets_and_reads_ratio_against_host_state(drift):
    # ORT's ratio rises by 0.002 per ms of baseline latency: the slope and the quiet third show it.
    sets = [_set(1.04, 1.015 + 0.01 * (i % 2), 1.021 + 0.002 * i, 40.0 + i) for i in range(9)]
    rows = drift.summarise(sets, {})["metrics"]
    assert rows["torch160_kernel"]["sets_met"] == 9 and rows["torch160_kernel"]["target"] == 1.06
    assert rows["torch640_kernel"]["sets_met"] == 5  # the five sets at 1.015; 1.025 misses <= 1.02
    assert rows["ort640"]["sets_met"] == 5  # 1.021 ... 1.029 meet <= 1.03, 1.031 ... 1.037 do not
    assert rows["ort640"]["median"] == pytest.approx(1.029)
    assert rows["ort640"]["median_quietest_third"] == pytest.approx(1.023)  # the three fastest baselines
    assert rows["ort640"]["slope_per_ms"] == pytest.approx(0.002)
    assert (rows["ort640"]["baseline_ms_min"], rows["ort640"]["baseline_ms_max"]) == (30.0, 38.0)
    assert "target" not in rows["torch640_pytorch"]  # the previous form is reported, not judged
    assert rows["torch640_pytorch"]["median"] == pytest.approx(1.035)  # 5 of 9 sets at 1.035


def test_markdown_row_per_ratio(drift):
    sets = [_set(1.04, 1.03, 1.05, 40.0), _set(1.05, 1.01, 1.02, 41.0)]
    meta = {
        "device": "cpu",
        "threads": 2,
        "torch": "t",
        "onnxruntime": "o",
        "rounds160": 200,
        "rounds640": 60,
        "rounds_ort": 100,
        "sets_asked": 2,
        "first": "a",
        "last": "b",
    }
    text = drift.markdown(drift.summarise(sets, meta))
    assert "| ONNX Runtime 640 px | ≤ 1.03 | 1.035 | 1.020 – 1.050 | 1 of 2 | 1.050 | 30.0 – 31.0 | – |" in text
    assert "| PyTorch 640 px, PyTorch form | – | 1.040 |" in text
    assert text.count("\n| PyTorch") == 4
