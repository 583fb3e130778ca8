"""Picture of ``attention_stats.csv``: how each attention layer's gates move during training."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from ca_yolo.figures import pyplot, save_and_close


def read_stats(path: str | Path) -> list[dict]:
    """Rows of an ``attention_stats.csv`` with numbers as floats (epoch and layer as ints)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            if k in ("epoch", "layer"):
                r[k] = int(v)
            elif k not in ("type", "gate"):
                r[k] = float(v)
    return rows


def plot_attention_stats(csv_path: str | Path, png_path: str | Path) -> Path:
    """Gate mean, gate spread (std) and gradient ratio per layer and gate against epoch."""
    plt = pyplot()
    series: dict[tuple[int, str, str], list[dict]] = defaultdict(list)
    for r in read_stats(csv_path):
        series[(r["layer"], r["type"], r["gate"])].append(r)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    panels = (("mean", "gate mean"), ("std", "gate std (spread)"), ("grad_ratio", "grad RMS / neighbours'"))
    for (layer, kind, gate), rows in sorted(series.items()):
        epochs = [r["epoch"] for r in rows]
        for ax, (key, _) in zip(axes, panels):
            ys = [r[key] for r in rows]
            xs = epochs if key != "grad_ratio" else epochs[1:]
            ax.plot(xs, ys if key != "grad_ratio" else ys[1:], color=f"C{layer % 10}",
                    linestyle="-" if gate in ("g_h", "g_c") else "--", label=f"{layer} {kind} {gate}")  # fmt: skip
    for ax, (_, title) in zip(axes, panels):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[2].set_yscale("log")
    axes[0].legend(fontsize=7, ncol=2)
    return save_and_close(fig, png_path)
