"""A benchmark result as markdown tables."""

from __future__ import annotations


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
)


def markdown(result: dict) -> str:
    """The result as markdown tables (layer, ops, whole model, training)."""
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
