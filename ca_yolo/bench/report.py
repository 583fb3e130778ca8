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


def _layer_cells(r: dict) -> list[str]:
    """One shape and mode of the CoordAtt layer alone: ours vs the paper-style reference and the floor."""
    ms = r["ms"]
    return [
        r["level"],
        "×".join(map(str, r["shape"])),
        r["mode"],
        *(f"{ms[k]['median']:.3f}" for k in ("ours", "reference", "floor")),
        f"{r['speedup_vs_reference']:.2f}×",
        f"{r['x_floor']:.2f}×",
    ]


def _ops_cells(r: dict) -> list[str]:
    """One attention layer's eager ops and ONNX nodes before and after ``fuse()``."""
    e, o, k = r["eager"], r["onnx"], r["onnx_constants"]
    return [
        r["layer"],
        f"{e['before']} → {e['after']}" + (f" (compiled: 1 + {e['after_kernel']})" if "after_kernel" in e else ""),
        f"{o['before']} → {o['after']} (+{k['before']} → +{k['after']})",
        ", ".join(f"{op} ×{n}" if n > 1 else op for op, n in r["onnx_ops_after"].items()),
    ]


def _paired_models(models: dict) -> list[tuple[str, int, dict | None, dict | None]]:
    """(model, px, PyTorch row, ONNX Runtime row) per model and image size, a missing runtime's row None."""
    torch_rows = {(r["model"], r.get("imgsz", 640)): r for r in models.get("torch", [])}
    ort_rows = {(r["model"], r.get("imgsz", 640)): r for r in models.get("onnxruntime", [])}
    return [(*key, torch_rows.get(key), ort_rows.get(key)) for key in dict.fromkeys([*torch_rows, *ort_rows])]


def _model_cells(pair: tuple[str, int, dict | None, dict | None]) -> list[str]:
    """One model vs its baseline at one image size, PyTorch and ONNX Runtime side by side."""
    model, px, t, o = pair
    torch_cells = [f"{t['ms']:.1f} ({t['baseline_ms']:.1f})", _ratio(t), _share(t)] if t else ["–"] * 3
    ort_cells = [f"{o['ms']:.1f} ({o['baseline_ms']:.1f})", _ratio(o)] if o else ["–"] * 2
    return [model, str(px), (t or o)["baseline"], *torch_cells, *ort_cells]


def _train_cells(r: dict) -> list[str]:
    """Training throughput of one model vs its baseline."""
    images_per_s = (f"{r[k]:.2f}" for k in ("images_per_s", "baseline_images_per_s"))
    return [r["model"], r["baseline"], f"{r['batch']}×{r['imgsz']}", *images_per_s, _ratio(r)]


def _target_cells(t: dict) -> list[str]:
    """One target of the issue: its limit, the measured value and whether it is met."""
    value = "–" if t["value"] is None else f"{t['value']:.3f}"
    met = "–" if t["met"] is None else ("yes" if t["met"] else "**no**")
    return [t["what"], f"{t['op']} {t['limit']}", value, met]


# The tables of :func:`markdown`, in order: (part of the result, header, alignment row, cells of one
# item of that part). A part the result lacks, or has empty, gets no table.
_TABLES = (
    (
        "layer",
        "| CA layer | shape (B×C×H×W) | mode | ours ms | reference ms | floor `x*s` ms | ours vs reference "
        "| ours / floor |",
        "|---|---|---|---:|---:|---:|---:|---:|",
        _layer_cells,
    ),
    (
        "ops",
        "| layer (input 1×64×20×20) | eager ops before → after `fuse()` | ONNX nodes before → after (+ Constant) "
        "| ONNX ops after |",
        "|---|---:|---:|---|",
        _ops_cells,
    ),
    (
        "models",
        "| model (n, batch 1, fused) | px | baseline | PyTorch ms (base) | PyTorch ratio [IQR] | CA layers' share "
        "of PyTorch forward | ORT ms (base) | ORT ratio [IQR] |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
        _model_cells,
    ),
    (
        "train",
        "| training | baseline | batch × imgsz | img/s | baseline img/s | ratio |",
        "|---|---|---|---:|---:|---:|",
        _train_cells,
    ),
    ("targets", "| target | limit | measured | met |", "|---|---|---:|---|", _target_cells),
)


def markdown(result: dict) -> str:
    """The result as markdown tables (layer, ops, whole model, training, targets)."""
    meta = result.get("meta", {})
    lines = [
        f"Device: {meta.get('device_name', '?')}, {meta.get('threads', '?')} threads, torch {meta.get('torch', '?')}, "
        f"onnxruntime {meta.get('onnxruntime', '?')}; load average before/after: "
        f"{meta.get('loadavg_before', '?')} / {meta.get('loadavg_after', '?')}."
    ]
    if "coordatt_kernel" in meta:
        lines[0] += f" Fused CoordAtt layers on the CPU: {meta['coordatt_kernel']}."
    parts = {**result, "models": _paired_models(result.get("models", {}))}
    for part, header, align, cells in _TABLES:
        if parts.get(part):
            lines += ["", header, align, *("| " + " | ".join(cells(item)) + " |" for item in parts[part])]
    return "\n".join(lines)
