"""The GPU part of a ``ca-yolo bench`` result as markdown: rows per form, fused parity, per-layer profile."""

from __future__ import annotations


def _us(v: float | None) -> str:
    return "–" if v is None else f"{v:.0f}"


def header(result: dict) -> str:
    """One line: the card, torch / CUDA / triton / ultralytics versions, the forms and the command."""
    meta, gpu = result.get("meta", {}), result["gpu"]["meta"]
    return (
        f"GPU table: {meta.get('device_name', '?')} ({gpu['device']}), torch {meta.get('torch', '?')}, "
        f"CUDA {gpu['cuda'] or '–'}, cuDNN {gpu['cudnn'] or '–'}, triton {gpu['triton'] or 'not installed'}, "
        f"ultralytics {meta.get('ultralytics', '?')}; CoordAtt forms timed: {', '.join(gpu['forms'])} "
        f"(default {gpu['default_form']}). Command: `{meta.get('command', '?')}`."
    )


def row_lines(rows: list[dict], forms: list[str]) -> list[str]:
    """The rows table: one line per model and row, CA ms and CA / baseline ratio [IQR] per form."""
    head = "| model / baseline | row | rounds × iters | base ms | " + " | ".join(
        f"{f} ms | {f} ratio [IQR]" for f in forms
    )
    lines = [head + " |", "|---|---|---:|---:|" + "---:|---:|" * len(forms)]
    for r in rows:
        cells = [f"{r['model']} / {r['baseline']}", r["row"], f"{r['rounds']} × {r['iters']}"]
        if "skipped" in r:
            cells += [f"skipped: {r['skipped']}"] + ["–"] * (2 * len(forms))
        else:
            cells.append(f"{r['base_ms']:.3f}")
            for f in forms:
                if f not in r["ca_ms"]:
                    cells += ["–", "–"]
                    continue
                ratio = f"{r['ratio'][f]:.3f} [{r['ratio_p25'][f]:.3f}–{r['ratio_p75'][f]:.3f}]"
                cells += [f"{r['ca_ms'][f]:.3f}", ratio]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def parity_lines(parity: list[dict]) -> list[str]:
    """The parity table: fused model per form against the unfused fp32 model."""
    lines = ["| model | form | input | max rel err fp32 | max rel err fp16 |", "|---|---|---|---:|---:|"]
    for p in parity:
        fp16 = "–" if p["fp16_rel"] is None else f"{p['fp16_rel']:.2e}"
        shape = "×".join(map(str, p["input"]))
        lines.append(f"| {p['model']} | {p['form']} | {shape} | {p['fp32_rel']:.2e} | {fp16} |")
    return lines


def profile_lines(profile: list[dict]) -> list[str]:
    """The per-layer table: each CoordAtt's CPU time, GPU kernel time and GPU span, then the layers' sum and
    the whole forward pass."""
    lines = [
        "| model | form | dtype, batch × px | layer | input | CPU µs | GPU kernels µs | GPU span µs |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    for p in profile:
        lead = f"| {p['model']} | {p['form']} | {p['dtype']}, {p['batch']} × {p['imgsz']} |"
        for layer in p["layers"]:
            shape = "×".join(map(str, layer["input"] or []))
            times = " | ".join(_us(layer[k]) for k in ("cpu_us", "kernel_us", "gpu_span_us"))
            lines.append(f"{lead} {layer['layer']} | {shape} | {times} |")
        for what, key in ((f"all {p['layers_count']} CA layers", "ca"), ("whole forward", "forward")):
            lines.append(f"{lead} {what} | | {_us(p[key + '_cpu_us'])} | {_us(p[key + '_kernel_us'])} | – |")
    return lines


def markdown(result: dict) -> str:
    """Header, rows, parity and profile tables of ``result["gpu"]``, with the skip reasons stated."""
    gpu = result["gpu"]
    lines = [header(result), "", *row_lines(gpu["rows"], gpu["meta"]["forms"])]
    if gpu["parity"]:
        lines += ["", *parity_lines(gpu["parity"])]
    if gpu["profile"]:
        skipped = {p["cuda_skipped"] for p in gpu["profile"] if "cuda_skipped" in p}
        note = (
            f"Per-layer time (torch.profiler, medians of {gpu['profile'][0]['passes']} passes; the profiler's "
            "overhead inflates CPU times)" + (f"; GPU times skipped: {', '.join(sorted(skipped))}" if skipped else "")
        )
        lines += ["", note + ".", "", *profile_lines(gpu["profile"])]
    if gpu.get("errors"):
        lines += ["", "Failed: " + "; ".join(gpu["errors"]) + "."]
    return "\n".join(lines)
