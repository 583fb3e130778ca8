"""Collect run records and measurements into the comparison's results (what results.json holds).

The results keep the typed :class:`~ca_yolo.compare.record.RunRecord` of every run under ``runs``;
:func:`results_json` is their JSON form (each run as its ``run.json``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from ca_yolo.compare.classes import per_class_results
from ca_yolo.compare.plan import Plan
from ca_yolo.compare.record import RunRecord
from ca_yolo.compare.stats import paired_difference, summarize

# The COCO metrics of the report, (pycocotools' name, label); they keep that name as their key.
_COCO_LABELS = (
    ("AP", "AP@[.5:.95]"),
    ("AP50", "AP50"),
    ("AP75", "AP75"),
    ("AP_small", "AP_S"),
    ("AP_medium", "AP_M"),
    ("AP_large", "AP_L"),
)
# Report metrics: (key in results, where it comes from in a run record, field there, label).
METRICS: list[tuple[str, str, str, str]] = [
    *((name, "coco", name, label) for name, label in _COCO_LABELS),
    ("ultralytics_mAP50", "ultralytics", "mAP50", "mAP50 (Ultralytics)"),
    ("ultralytics_mAP50-95", "ultralytics", "mAP50-95", "mAP50-95 (Ultralytics)"),
]
# PASCAL VOC AP@0.5 (same detections as the COCO metrics), reported for datasets with VOC's classes.
VOC_METRICS: list[tuple[str, str, str, str]] = [
    ("voc07_mAP50", "voc", "mAP50_07", "VOC07 mAP50 (11-pt)"),
    ("voc_mAP50", "voc", "mAP50_all", "VOC mAP50 (all-pt)"),
]
# The metrics whose differences the report spells out in words.
HEADLINE = ("AP", "AP50")


def is_voc(class_names: list[str]) -> bool:
    """True for a dataset with PASCAL VOC's 20 classes, whose results the literature gives as VOC mAP@0.5."""
    from ca_yolo.data.classes import VOC_NAMES

    return list(class_names) == list(VOC_NAMES)


def metrics_for(voc: bool) -> list[tuple[str, str, str, str]]:
    """The report's metrics: COCO and Ultralytics, plus the VOC metric for VOC data."""
    return METRICS + (VOC_METRICS if voc else [])


def metric_value(record: RunRecord, key: str) -> float | None:
    """One report metric of a run record (None if undefined, e.g. AP_L without large objects)."""
    for k, src, field, _ in METRICS + VOC_METRICS:
        if k == key:
            return record.metric(src, field)
    raise KeyError(key)


def results_json(results: dict) -> dict:
    """``results`` as results.json holds it: every run record in its ``run.json`` form."""
    return {**results, "runs": [r.to_json() for r in results["runs"]]}


def build_results(plan: Plan, records: list[RunRecord], measures: dict[str, dict], env: dict) -> dict:
    """Everything the report shows, as one dict (JSON-ready through :func:`results_json`).

    Args:
        records: run records in plan order.
        measures: model name -> params / GFLOPs / latency (from ``measure_models``).
        env: versions and hardware.
    """
    cfg = plan.config
    voc = is_voc(plan.class_names)
    by_model: dict[str, dict[int, RunRecord]] = {n: {} for n in plan.names}
    for rec in records:
        by_model[rec.model][rec.seed] = rec
    models = []
    for name, cfg_path in zip(plan.names, cfg.models):
        metrics = {}
        for key, *_ in metrics_for(voc):
            values = {s: metric_value(r, key) for s, r in sorted(by_model[name].items())}
            values = {s: v for s, v in values.items() if v is not None}
            summary = summarize(list(values.values())) if values else None
            metrics[key] = {
                "values": {str(s): v for s, v in values.items()},
                "n": summary.n if summary else 0,
                "mean": summary.mean if summary else None,
                "std": summary.std if summary else None,
            }
        models.append({"name": name, "cfg": cfg_path, **measures.get(name, {}), "metrics": metrics})
    differences = []
    base = by_model[plan.baseline]
    for name in plan.challengers:
        for key, _, _, label in metrics_for(voc):
            a = {s: metric_value(r, key) for s, r in by_model[name].items()}
            b = {s: metric_value(r, key) for s, r in base.items()}
            a = {s: v for s, v in a.items() if v is not None and b.get(s) is not None}
            if not a:
                continue
            d = paired_difference(a, b, label=name, metric=label)
            differences.append({"model": name, "baseline": plan.baseline, "metric": key, **d.as_dict()})
    return {
        "name": cfg.name,
        "command": cfg.command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "folder": str(cfg.out_dir),
        "data": {
            "yaml": str(plan.data),
            "train_images": plan.train_images,
            "val_images": plan.val_images,
            "classes": plan.class_names,
            "gt_source": records[0].gt_source if records else None,
            "voc_metric": voc,
        },  # fmt: skip
        "settings": {
            "epochs": cfg.epochs,
            "imgsz": cfg.imgsz,
            "batch": cfg.batch,
            "device": cfg.device,
            "workers": cfg.workers,
            "deterministic": True,
            "train_args": cfg.train_args,
        },  # fmt: skip
        "seeds": cfg.seeds,
        "baseline": plan.baseline,
        "models": models,
        "differences": differences,
        "per_class": per_class_results(by_model, plan.baseline, plan.class_names),
        "runs": records,
        "environment": env,
    }
