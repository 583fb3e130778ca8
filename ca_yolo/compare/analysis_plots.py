"""The comparison's analysis figures: per-class paired differences and speed against accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ca_yolo.figures import pyplot, save_and_close


def _figure(size: tuple[float, float]):
    """A new figure and axes on matplotlib's file-only Agg backend."""
    return pyplot().subplots(figsize=size)


def plot_per_class(results: dict, path: Path, metric: str = "AP") -> Path:
    """Per-class paired difference to the baseline, sorted, with its 95% interval over seeds; one panel row
    per compared model (markers only where an interval exists: 2+ seeds)."""
    diffs = [d for d in results["per_class"]["differences"] if d["metric"] == metric]
    models = [m["name"] for m in results["models"] if m["name"] != results["baseline"]]
    n_cls = max((sum(1 for d in diffs if d["model"] == m) for m in models), default=1)
    fig, ax = _figure((7, 1.2 + 0.3 * max(n_cls, 5) * max(len(models), 1)))
    labels, y = [], 0
    for i, m in enumerate(models):
        rows = sorted((d for d in diffs if d["model"] == m), key=lambda d: d["mean"])
        for d in rows:
            lo = d["mean"] - d["ci_low"] if d["ci_low"] is not None else 0.0
            hi = d["ci_high"] - d["mean"] if d["ci_high"] is not None else 0.0
            ax.errorbar(d["mean"], y, xerr=[[lo], [hi]], fmt="o", color=f"C{i + 1}", capsize=3,
                        label=m if d is rows[0] else None)  # fmt: skip
            labels.append(d["class"] if len(models) == 1 else f"{m}: {d['class']}")
            y += 1
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel(f"{metric} difference to {results['baseline']} (mean over seeds, 95% t-interval)")
    ax.set_ylabel("class (sorted by difference)")
    ax.set_title(f"Per-class {metric}: paired difference to the baseline", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    if labels:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: never over a bar
    return save_and_close(fig, path)


def plot_speed_accuracy(results: dict, path: Path, metric: str = "AP") -> Path:
    """Latency (batch 1) against AP: a dot per run, each model's mean as a large marker joined to its seeds."""
    fig, ax = _figure((6.5, 4.5))
    for i, m in enumerate(results["models"]):
        lat = m.get("latency_ms")
        vals = [v for v in m["metrics"][metric]["values"].values() if v is not None]
        if lat is None or not vals:
            continue
        mean = float(np.mean(vals))
        for v in vals:
            ax.plot([lat, lat], [mean, v], color=f"C{i}", lw=1, alpha=0.6)
        ax.scatter([lat] * len(vals), vals, color=f"C{i}", s=18, alpha=0.8, label=f"{m['name']}: single runs")
        ax.scatter([lat], [mean], color=f"C{i}", s=110, marker="D", edgecolor="k",
                   label=f"{m['name']}: mean of {len(vals)} seeds")  # fmt: skip
    dev = results["models"][0].get("device", "?") if results["models"] else "?"
    ax.set_xlabel(f"latency, batch 1, {results['settings']['imgsz']} px, on {dev} (ms, median)")
    ax.set_ylabel(f"val {metric} (COCO)")
    ax.set_title("Speed against accuracy (one latency per model: seeds share the architecture)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.margins(x=0.3, y=0.15)
    return save_and_close(fig, path)
