"""What a comparison derives from each run's kept detections: per-class AP, TIDE errors, val-set bootstrap.

Every run's evaluation pass writes its detections to ``<run>/detections.json``; everything here is
computed from those files and the val GT, so no second inference pass is needed. A run finished
before detections were kept gets one evaluation pass of its ``best.pt`` (no training) and its file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ca_yolo.atomic_io import write_json_atomic
from ca_yolo.compare.plan import Plan
from ca_yolo.compare.record import RunRecord
from ca_yolo.compare.significance import dominant_noise
from ca_yolo.compare.stats import paired_difference, summarize
from ca_yolo.evaluation.bootstrap import image_matches, paired_bootstrap, weighted_ap
from ca_yolo.evaluation.cocoeval import run_cocoeval
from ca_yolo.evaluation.cocogt import GroundTruth
from ca_yolo.evaluation.perclass import per_class_ap
from ca_yolo.evaluation.tide import MAIN_ERRORS, SPECIAL_ERRORS, tide_errors

DETECTIONS_FILE = "detections.json"
TIDE_ERRORS = MAIN_ERRORS + SPECIAL_ERRORS
BOOTSTRAP_METRICS = (("AP", None), ("AP50", 0))  # (metric, IoU index in COCOeval's thresholds)


def read_detections(run_dir: Path) -> list[dict] | None:
    """A run's kept detections, or None when the file is missing or unreadable."""
    try:
        value = json.loads((run_dir / DETECTIONS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, list) else None


def analyze_runs(
    plan: Plan, records: list[RunRecord], gt: GroundTruth, image_ids: list[int],
    evaluate: Callable[[Path], list[dict]], n_boot: int = 500, boot_seed: int = 0,
) -> dict:  # fmt: skip
    """Per-class AP (filled into records lacking it), TIDE and the paired bootstrap of every run.

    Args:
        records: run records in plan order (``per_class`` filled in place where empty).
        image_ids: the val images, as evaluation used them.
        evaluate: best.pt path -> its detections, for a run without ``detections.json``.

    Returns:
        ``{"tide": {...}, "bootstrap": [...]}`` for results.json.
    """
    matches, tide = {}, {}
    for run, rec in zip(plan.runs, records):
        dets = read_detections(run.dir)
        if dets is None:
            dets = evaluate(run.dir / rec.weights)
            write_json_atomic(run.dir / DETECTIONS_FILE, dets)
        ev = run_cocoeval(gt.coco, dets, image_ids)
        if not rec.per_class:
            rec.per_class = per_class_ap(ev)
        matches[rec.model, rec.seed] = image_matches(ev)
        tide[rec.model, rec.seed] = tide_errors(gt.coco, dets, image_ids)
    return {"tide": tide_results(plan, tide), "bootstrap": bootstrap_results(plan, records, matches, n_boot, boot_seed)}


def tide_results(plan: Plan, tide: dict[tuple[str, int], dict]) -> dict:
    """TIDE per run, per model mean ± std over seeds, and paired differences to the baseline."""
    seeds = plan.config.seeds
    runs = {m: {str(s): tide[m, s] for s in seeds if (m, s) in tide} for m in plan.names}
    models = {}
    for m in plan.names:
        models[m] = {}
        for e in TIDE_ERRORS:
            vals = [tide[m, s]["dAP"][e] for s in seeds if (m, s) in tide]
            sm = summarize(vals) if vals else None
            models[m][e] = {"mean": sm.mean if sm else None, "std": sm.std if sm else None}
    differences = []
    for m in plan.challengers:
        for e in TIDE_ERRORS:
            a = {s: tide[m, s]["dAP"][e] for s in seeds if (m, s) in tide}
            b = {s: tide[plan.baseline, s]["dAP"][e] for s in seeds if (plan.baseline, s) in tide}
            if set(a) & set(b):
                d = paired_difference(a, b, label=m, metric=f"dAP {e}")
                differences.append({"model": m, "error": e, "n": d.n, "mean": d.mean, "std": d.std,
                                    "ci_low": d.ci_low, "ci_high": d.ci_high})  # fmt: skip
    return {"runs": runs, "models": models, "differences": differences}


def bootstrap_results(plan: Plan, records: list[RunRecord], matches: dict, n_boot: int, boot_seed: int) -> list[dict]:
    """Paired val-image bootstrap of each model's mean difference to the baseline, with the dominant noise."""
    out = []
    for m in plan.challengers:
        seeds = [s for s in plan.config.seeds if (m, s) in matches and (plan.baseline, s) in matches]
        if not seeds:
            continue
        for metric, iou_index in BOOTSTRAP_METRICS:
            boot = paired_bootstrap([matches[m, s] for s in seeds], [matches[plan.baseline, s] for s in seeds],
                                    n_boot=n_boot, seed=boot_seed, iou_index=iou_index)  # fmt: skip
            per_seed = {s: boot_value(matches[m, s], iou_index) - boot_value(matches[plan.baseline, s], iou_index)
                        for s in seeds}  # fmt: skip
            std = summarize(list(per_seed.values())).std
            out.append({"model": m, "metric": metric, **boot, **dominant_noise(std, len(seeds), boot["se"])})
    return out


def boot_value(matches, iou_index: int | None) -> float:
    """A run's AP (``iou_index`` None) or AP50 (0) on the val set as is, from its matches."""
    return weighted_ap(matches, None, iou_index)


def analyze_comparison(plan: Plan, records: list[RunRecord], gt: GroundTruth, split, models) -> dict:
    """:func:`analyze_runs` for a comparison: its val images, and an evaluation pass with the comparison's
    settings for any run that has no ``detections.json`` (a folder from before they were kept).

    Args:
        split: the val :class:`~ca_yolo.evaluation.dataset.SplitData`; models: the comparison's ModelCache.
    """
    from ca_yolo.evaluation.evaluate import evaluate_checkpoint

    cfg = plan.config

    def evaluate(weights: Path) -> list[dict]:
        print(f"ca-yolo compare: {weights.parent.parent.name}: keeping its detections (one evaluation pass)")
        return evaluate_checkpoint(models.get(weights).yolo, plan.data, imgsz=cfg.imgsz, device=cfg.device, gt=gt,
                                   batch=cfg.batch if cfg.batch >= 1 else 16).detections_list  # fmt: skip

    image_ids = [gt.image_ids[p] for p in split.images]
    return analyze_runs(plan, records, gt, image_ids, evaluate)
