"""The comparison's figures: mAP curves, final metrics with error bars, a prediction grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ca_yolo.compare.results import METRICS
from ca_yolo.figures import pyplot, save_and_close

# Metrics in the bar chart (size-split APs are left to the table: often undefined on small sets).
BAR_METRICS = ("AP", "AP50", "AP75", "ultralytics_mAP50", "ultralytics_mAP50-95")
_LINESTYLES = ("-", "--", ":", "-.")


def plot_curves(results: dict, path: Path) -> Path:
    """Validation mAP50-95 (Ultralytics, per epoch) of every run, overlaid: colour = model, line = seed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = {m["name"]: f"C{i}" for i, m in enumerate(results["models"])}
    seeds = {s: i for i, s in enumerate(results["seeds"])}
    for rec in results["runs"]:
        c = rec.curve
        ax.plot(c["epoch"], c["mAP50-95"], color=colors[rec.model],
                linestyle=_LINESTYLES[seeds.get(rec.seed, 0) % len(_LINESTYLES)],
                label=f"{rec.model} seed {rec.seed}")  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel("val mAP50-95 (Ultralytics)")
    ax.set_title("Validation mAP50-95 per epoch, every run")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_and_close(fig, path)


def plot_final(results: dict, path: Path) -> Path:
    """Final metrics per model: bar = mean over seeds, error bar = std, dots = single seeds."""
    plt = pyplot()
    labels = {k: label for k, _, _, label in METRICS}
    models = results["models"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / len(models)
    x = np.arange(len(BAR_METRICS))
    for i, m in enumerate(models):
        means = [m["metrics"][k]["mean"] or 0.0 for k in BAR_METRICS]
        stds = [m["metrics"][k]["std"] or 0.0 for k in BAR_METRICS]
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, means, width, yerr=stds, capsize=3, color=f"C{i}", alpha=0.8, label=m["name"])
        for j, k in enumerate(BAR_METRICS):
            vals = list(m["metrics"][k]["values"].values())
            ax.scatter([pos[j]] * len(vals), vals, color="k", s=8, zorder=3)
    ax.set_xticks(x, [labels[k].replace(" (", "\n(") for k in BAR_METRICS], fontsize=8)
    ax.set_ylabel("score")
    n = len(results["seeds"])
    ax.set_title(f"Final metrics on val: mean ± std over {n} seed{'s' if n > 1 else ''} (dots: single runs)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return save_and_close(fig, path)


def plot_prediction_grid(
    images: list[Path],
    gt: dict[Path, np.ndarray],
    preds: dict[str, dict[Path, np.ndarray]],
    names: list[str],
    path: Path,
) -> Path:  # fmt: skip
    """Rows = images; first column the ground truth, then each model's predictions.

    Args:
        gt: image -> (N, 5) class, x1, y1, x2, y2 in pixels.
        preds: model -> image -> (N, 6) x1, y1, x2, y2, score, class.
    """
    import cv2

    plt = pyplot()
    cols = 1 + len(preds)
    fig, axes = plt.subplots(len(images), cols, figsize=(3 * cols, 3 * len(images)), squeeze=False)
    for r, img in enumerate(images):
        rgb = cv2.cvtColor(cv2.imread(str(img)), cv2.COLOR_BGR2RGB)
        panels = [("ground truth", [(b[1:5], int(b[0]), None) for b in gt[img]])]
        for model, p in preds.items():
            panels.append((model, [(b[:4], int(b[5]), b[4]) for b in p[img]]))
        for c, (title, boxes) in enumerate(panels):
            ax = axes[r][c]
            ax.imshow(rgb)
            for (x1, y1, x2, y2), cls, score in boxes:
                color = f"C{cls % 10}"
                ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=1.5))
                text = names[cls] if score is None else f"{names[cls]} {score:.2f}"
                ax.text(x1, y1, text, fontsize=6, color="white", va="bottom",
                        bbox={"facecolor": color, "alpha": 0.7, "pad": 1, "linewidth": 0})  # fmt: skip
            ax.set_axis_off()
            if r == 0:
                ax.set_title(title, fontsize=9)
        axes[r][0].text(0, -0.02, img.name, transform=axes[r][0].transAxes, fontsize=6, va="top")
    fig.suptitle("Same val images: ground truth and each model's predictions (conf >= 0.25, first seed)", fontsize=10)
    fig.tight_layout()
    return save_and_close(fig, path, dpi=80)
