"""COCO-standard box metrics with pycocotools, and their printed table."""

from __future__ import annotations

import contextlib
import copy
import io

# The 12 numbers of COCOeval.summarize(), in its order.
COCO_METRICS: tuple[str, ...] = (
    "AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
    "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large",
)  # fmt: skip

# What each number means, in the words of pycocotools' printout.
_LABELS = {
    "AP": ("AP", "0.50:0.95", "all", 100),
    "AP50": ("AP", "0.50", "all", 100),
    "AP75": ("AP", "0.75", "all", 100),
    "AP_small": ("AP", "0.50:0.95", "small", 100),
    "AP_medium": ("AP", "0.50:0.95", "medium", 100),
    "AP_large": ("AP", "0.50:0.95", "large", 100),
    "AR1": ("AR", "0.50:0.95", "all", 1),
    "AR10": ("AR", "0.50:0.95", "all", 10),
    "AR100": ("AR", "0.50:0.95", "all", 100),
    "AR_small": ("AR", "0.50:0.95", "small", 100),
    "AR_medium": ("AR", "0.50:0.95", "medium", 100),
    "AR_large": ("AR", "0.50:0.95", "large", 100),
}


def run_cocoeval(gt: dict, detections: list[dict], image_ids: list[int] | None = None):
    """Run pycocotools' COCOeval (evaluate, accumulate, summarize) on box detections; return it.

    One run serves every number taken from it: the summary (:func:`coco_summary`), the per-class
    precision array (:func:`ca_yolo.evaluation.perclass.per_class_ap`) and the per-image matches
    the bootstrap resamples.

    Args:
        gt: COCO GT dict with ``images``, ``annotations``, ``categories``.
        detections: ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`` dicts (not modified).
        image_ids: evaluate only these images (default: every GT image).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress chatter
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.dataset.setdefault("annotations", [])
        coco_gt.createIndex()
        if detections:
            coco_dt = coco_gt.loadRes(copy.deepcopy(detections))  # loadRes adds keys to what it is given
        else:  # loadRes cannot take an empty list; no detections is a valid (all-zero) result
            coco_dt = COCO()
            coco_dt.dataset = {"images": list(gt["images"]), "categories": list(gt["categories"]), "annotations": []}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        if image_ids is not None:
            ev.params.imgIds = sorted(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def coco_summary(ev) -> dict[str, float | None]:
    """The 12 summary numbers of a finished COCOeval keyed by :data:`COCO_METRICS` (None where it reports -1)."""
    return {k: (None if v < 0 else float(v)) for k, v in zip(COCO_METRICS, ev.stats)}


def coco_metrics(gt: dict, detections: list[dict], image_ids: list[int] | None = None) -> dict[str, float | None]:
    """Evaluate box detections against COCO ground truth with pycocotools' COCOeval.

    Args: as :func:`run_cocoeval`, which runs it.

    Returns:
        The 12 COCOeval summary numbers keyed by :data:`COCO_METRICS`; ``None`` where pycocotools
        reports -1 (no GT objects in that area range).
    """
    return coco_summary(run_cocoeval(gt, detections, image_ids))


def format_coco_table(metrics: dict[str, float | None]) -> str:
    """The COCO summary as a fixed-width table, one metric a line (``n/a`` where undefined)."""
    lines = [f"{'metric':<10} {'value':>6}   {'kind':<4} {'IoU':<9} {'area':<6} maxDets"]
    for k in COCO_METRICS:
        v = metrics.get(k)
        kind, iou, area, dets = _LABELS[k]
        lines.append(f"{k:<10} {'n/a' if v is None else f'{v:.3f}':>6}   {kind:<4} {iou:<9} {area:<6} {dets}")
    return "\n".join(lines)
