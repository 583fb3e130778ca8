"""Per-class AP across a comparison: mean ± std per model and paired differences to the baseline."""

from __future__ import annotations

from ca_yolo.compare.record import RunRecord
from ca_yolo.compare.stats import paired_difference, summarize

PER_CLASS_METRICS = ("AP", "AP50")


def _values(runs: dict[int, RunRecord], cls: str, metric: str) -> dict[int, float]:
    """seed -> the class's metric, for runs that have it defined."""
    out = {}
    for seed, rec in runs.items():
        v = (rec.per_class.get(cls) or {}).get(metric)
        if v is not None:
            out[seed] = v
    return out


def per_class_results(by_model: dict[str, dict[int, RunRecord]], baseline: str, classes: list[str]) -> dict:
    """Per-class AP and AP50 of every model over its seeds, and each model's paired difference to the baseline.

    Args:
        by_model: model name -> seed -> run record (with ``per_class`` filled).
        classes: class names in dataset order.

    Returns:
        ``{"models": {model: {class: {metric: {"values", "mean", "std"}}}}, "differences": [...]}``,
        a difference being ``{"model", "class", "metric", "n", "mean", "std", "ci_low", "ci_high"}``
        (Student-t 95% interval over seeds; None bounds with one seed). Classes without GT are left out.
    """
    models: dict[str, dict] = {}
    for name, runs in by_model.items():
        models[name] = {}
        for cls in classes:
            entry = {}
            for metric in PER_CLASS_METRICS:
                vals = _values(runs, cls, metric)
                s = summarize(list(vals.values())) if vals else None
                entry[metric] = {"values": {str(k): v for k, v in sorted(vals.items())},
                                 "mean": s.mean if s else None, "std": s.std if s else None}  # fmt: skip
            if any(entry[m]["mean"] is not None for m in PER_CLASS_METRICS):
                models[name][cls] = entry
    differences = []
    base = by_model.get(baseline, {})
    for name, runs in by_model.items():
        if name == baseline:
            continue
        for cls in classes:
            for metric in PER_CLASS_METRICS:
                a, b = _values(runs, cls, metric), _values(base, cls, metric)
                if not set(a) & set(b):
                    continue
                d = paired_difference(a, b, label=name, metric=f"{metric} {cls}")
                differences.append({"model": name, "class": cls, "metric": metric, "n": d.n, "mean": d.mean,
                                    "std": d.std, "ci_low": d.ci_low, "ci_high": d.ci_high})  # fmt: skip
    return {"models": models, "differences": differences}


def most_moved(per_class: dict, model: str, metric: str = "AP", k: int = 3) -> tuple[list[dict], list[dict]]:
    """The ``k`` classes with the largest gains and the ``k`` with the largest losses of ``model`` on ``metric``.

    Returns:
        (gains, losses): difference entries, gains largest first, losses most negative first; a class
        appears in gains only with a positive mean difference and in losses only with a negative one.
    """
    diffs = [d for d in per_class["differences"] if d["model"] == model and d["metric"] == metric]
    gains = sorted((d for d in diffs if d["mean"] > 0), key=lambda d: -d["mean"])[:k]
    losses = sorted((d for d in diffs if d["mean"] < 0), key=lambda d: d["mean"])[:k]
    return gains, losses
