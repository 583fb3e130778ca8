"""Targets from the issue, checked against a benchmark result, and the result as markdown tables."""

from __future__ import annotations

# name -> (what is compared, comparison, limit); see README "Speed". Latency targets are batch 1,
# fused models, at the image size in their name (issue 14).
TARGETS = {
    "layer_speedup_vs_reference": ("ours vs reference forward, eval, batch 8, P3", ">=", 3.0),
    "layer_x_floor": ("ours forward / elementwise floor, eval, batch 8, P3", "<=", 4.0),
    "torch_latency_ratio_160": ("yolov8n-ca / yolov8n latency, PyTorch, 160 px", "<=", 1.06),
    "torch_latency_ratio_640": ("yolov8n-ca / yolov8n latency, PyTorch, 640 px", "<=", 1.02),
    "onnxruntime_latency_ratio_640": ("yolov8n-ca / yolov8n latency, ONNX Runtime, 640 px", "<=", 1.03),
    "train_throughput_ratio": ("yolov8n-ca / yolov8n training images/s", ">=", 0.95),
}
HEADLINE_MODEL = "yolov8n-ca.yaml"


def _p3_batch8_eval(layer_rows: list[dict]) -> dict | None:
    rows = [r for r in layer_rows if r["level"] == "P3" and r["shape"][0] == 8 and r["mode"] == "eval"]
    return rows[0] if rows else None


def check_targets(result: dict) -> list[dict]:
    """Each target with its measured value: ``{"name", "what", "op", "limit", "value", "met"}``.

    A target whose figure was not measured (skipped part, other shapes) gets value None, met None.
    """
    values: dict[str, float | None] = dict.fromkeys(TARGETS)
    p3 = _p3_batch8_eval(result.get("layer", []))
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


def _ratio(row: dict) -> str:
    """``1.012 [1.004–1.020]``: paired median ratio and its quartiles, when present."""
    if "ratio_p25" in row:
        return f"{row['ratio']:.3f} [{row['ratio_p25']:.3f}–{row['ratio_p75']:.3f}]"
    return f"{row['ratio']:.3f}"


def _share(row: dict) -> str:
    """``2.1% (1.9 ms, 6 layers)``: time inside the CoordAtt layers as a share of the forward pass."""
    share = row.get("ca_layers")
    if not share:
        return "–"
    return f"{100 * share['share']:.1f}% ({share['ca_ms']:.1f} ms, {share['layers']} layers)"


def _layer_rows(result: dict) -> list[str]:
    """The CoordAtt layer alone: ours vs the paper-style reference and the elementwise floor."""
    rows = []
    for r in result.get("layer") or []:
        ms = r["ms"]
        rows.append(
            f"| {r['level']} | {'×'.join(map(str, r['shape']))} | {r['mode']} | {ms['ours']['median']:.3f} | "
            f"{ms['reference']['median']:.3f} | {ms['floor']['median']:.3f} | {r['speedup_vs_reference']:.2f}× | "
            f"{r['x_floor']:.2f}× |"
        )
    return rows


def _ops_rows(result: dict) -> list[str]:
    """Each attention layer's eager ops and ONNX nodes before and after ``fuse()``."""
    rows = []
    for r in result.get("ops") or []:
        e, o, k = r["eager"], r["onnx"], r["onnx_constants"]
        after_ops = ", ".join(f"{op} ×{n}" if n > 1 else op for op, n in r["onnx_ops_after"].items())
        rows.append(
            f"| {r['layer']} | {e['before']} → {e['after']} | {o['before']} → {o['after']} "
            f"(+{k['before']} → +{k['after']}) | {after_ops} |"
        )
    return rows


def _model_rows(result: dict) -> list[str]:
    """Whole models vs their baselines, PyTorch and ONNX Runtime side by side per (model, image size)."""
    models = result.get("models", {})
    torch_rows = {(r["model"], r.get("imgsz", 640)): r for r in models.get("torch", [])}
    ort_rows = {(r["model"], r.get("imgsz", 640)): r for r in models.get("onnxruntime", [])}
    rows = []
    for key in dict.fromkeys([*torch_rows, *ort_rows]):
        t, o = torch_rows.get(key), ort_rows.get(key)
        base = (t or o)["baseline"]
        tcell = f"{t['ms']:.1f} ({t['baseline_ms']:.1f}) | {_ratio(t)} | {_share(t)}" if t else "– | – | –"
        ocell = f"{o['ms']:.1f} ({o['baseline_ms']:.1f}) | {_ratio(o)}" if o else "– | –"
        rows.append(f"| {key[0]} | {key[1]} | {base} | {tcell} | {ocell} |")
    return rows


def _train_rows(result: dict) -> list[str]:
    """Training throughput of each model vs its baseline."""
    return [
        f"| {r['model']} | {r['baseline']} | {r['batch']}×{r['imgsz']} | {r['images_per_s']:.2f} | "
        f"{r['baseline_images_per_s']:.2f} | {_ratio(r)} |"
        for r in result.get("train") or []
    ]


def _target_rows(result: dict) -> list[str]:
    """Each target of the issue: its limit, the measured value and whether it is met."""
    rows = []
    for t in result.get("targets") or []:
        value = "–" if t["value"] is None else f"{t['value']:.3f}"
        met = "–" if t["met"] is None else ("yes" if t["met"] else "**no**")
        rows.append(f"| {t['what']} | {t['op']} {t['limit']} | {value} | {met} |")
    return rows


# The tables of :func:`markdown`, in order: (header, alignment row, rows of a result); empty ones are left out.
_TABLES = (
    (
        "| CA layer | shape (B×C×H×W) | mode | ours ms | reference ms | floor `x*s` ms | ours vs reference "
        "| ours / floor |",
        "|---|---|---|---:|---:|---:|---:|---:|",
        _layer_rows,
    ),
    (
        "| layer (input 1×64×20×20) | eager ops before → after `fuse()` | ONNX nodes before → after (+ Constant) "
        "| ONNX ops after |",
        "|---|---:|---:|---|",
        _ops_rows,
    ),
    (
        "| model (n, batch 1, fused) | px | baseline | PyTorch ms (base) | PyTorch ratio [IQR] | CA layers' share "
        "of PyTorch forward | ORT ms (base) | ORT ratio [IQR] |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
        _model_rows,
    ),
    (
        "| training | baseline | batch × imgsz | img/s | baseline img/s | ratio |",
        "|---|---|---|---:|---:|---:|",
        _train_rows,
    ),
    ("| target | limit | measured | met |", "|---|---|---:|---|", _target_rows),
)


def markdown(result: dict) -> str:
    """The result as markdown tables (layer, ops, whole model, training, targets)."""
    meta = result.get("meta", {})
    lines = [
        f"Device: {meta.get('device_name', '?')}, {meta.get('threads', '?')} threads, torch {meta.get('torch', '?')}, "
        f"onnxruntime {meta.get('onnxruntime', '?')}; load average before/after: "
        f"{meta.get('loadavg_before', '?')} / {meta.get('loadavg_after', '?')}."
    ]
    for header, align, rows_of in _TABLES:
        rows = rows_of(result)
        if rows:
            lines += ["", header, align, *rows]
    return "\n".join(lines)
