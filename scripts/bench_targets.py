#!/usr/bin/env python
"""The speed targets the CA layer and models were built to: checked against a ``ca-yolo bench`` JSON.

``ca-yolo bench`` reports measurements only; this study script says whether they meet the targets::

    python scripts/bench_targets.py runs/bench/bench-cpu.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# name -> (what is compared, comparison, limit). Latency targets are batch 1, fused models, at the
# image size in their name.
TARGETS = {
    "layer_speedup_vs_reference": ("ours vs reference forward, eval, batch 8, P3", ">=", 3.0),
    "layer_x_floor": ("ours forward / elementwise floor, eval, batch 8, P3", "<=", 4.0),
    "torch_latency_ratio_160": ("yolov8n-ca / yolov8n latency, PyTorch, 160 px", "<=", 1.06),
    "torch_latency_ratio_640": ("yolov8n-ca / yolov8n latency, PyTorch, 640 px", "<=", 1.02),
    "onnxruntime_latency_ratio_640": ("yolov8n-ca / yolov8n latency, ONNX Runtime, 640 px", "<=", 1.03),
    "train_throughput_ratio": ("yolov8n-ca / yolov8n training images/s", ">=", 0.95),
}
HEADLINE_MODEL = "yolov8n-ca.yaml"


def p3_batch8_eval(layer_rows: list[dict]) -> dict | None:
    """The layer row the layer targets read: P3, batch 8, eval mode (None if not measured)."""
    rows = [r for r in layer_rows if r["level"] == "P3" and r["shape"][0] == 8 and r["mode"] == "eval"]
    return rows[0] if rows else None


def check_targets(result: dict) -> list[dict]:
    """Each target with its measured value: ``{"name", "what", "op", "limit", "value", "met"}``.

    A target whose figure was not measured (skipped part, other shapes) gets value None, met None.
    """
    values: dict[str, float | None] = dict.fromkeys(TARGETS)
    p3 = p3_batch8_eval(result.get("layer", []))
    if p3:
        values["layer_speedup_vs_reference"] = p3["speedup_vs_reference"]
        values["layer_x_floor"] = p3["x_floor"]
    for runtime in ("torch", "onnxruntime"):
        for row in result.get("models", {}).get(runtime, []):
            key = f"{runtime}_latency_ratio_{row.get('imgsz', 640)}"
            if row["model"] == HEADLINE_MODEL and key in values:
                values[key] = row["ratio"]
    for row in result.get("train", []):
        if row["model"] == HEADLINE_MODEL:
            values["train_throughput_ratio"] = row["ratio"]
    out = []
    for name, (what, op, limit) in TARGETS.items():
        v = values[name]
        met = None if v is None else (v >= limit if op == ">=" else v <= limit)
        out.append({"name": name, "what": what, "op": op, "limit": limit, "value": v, "met": met})
    return out


def target_cells(t: dict) -> list[str]:
    """One target: its limit, the measured value and whether it is met."""
    value = "–" if t["value"] is None else f"{t['value']:.3f}"
    met = "–" if t["met"] is None else ("yes" if t["met"] else "**no**")
    return [t["what"], f"{t['op']} {t['limit']}", value, met]


def markdown(targets: list[dict]) -> str:
    """The targets as one markdown table."""
    rows = ("| " + " | ".join(target_cells(t)) + " |" for t in targets)
    return "\n".join(["| target | limit | measured | met |", "|---|---|---:|---|", *rows])


def main(argv: list[str]) -> int:
    """Print the targets table of the bench JSON named by ``argv[0]``."""
    if len(argv) != 1:
        print("usage: python scripts/bench_targets.py BENCH_JSON", file=sys.stderr)
        return 2
    print(markdown(check_targets(json.loads(Path(argv[0]).read_text(encoding="utf-8")))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
