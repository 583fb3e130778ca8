"""Per-class COCO AP and AP50, read from the precision array of a finished COCOeval."""

from __future__ import annotations

import numpy as np


def per_class_ap(ev, names: dict[int, str] | None = None) -> dict[str, dict[str, float | None]]:
    """COCO AP@[.5:.95] and AP50 of every category, from ``ev.eval["precision"]``.

    The precision array has shape (IoU thresholds, recall thresholds, categories, area ranges,
    max detections); a class's AP is the mean of its entries for area "all" and the largest
    max-detections setting, skipping -1 (pycocotools' mark for "no GT of this class"), exactly as
    ``COCOeval.summarize`` averages them over all classes.

    Args:
        ev: a COCOeval after ``accumulate()`` (e.g. from :func:`ca_yolo.evaluation.cocoeval.run_cocoeval`).
        names: category id -> name for the keys (default: the GT's category names).

    Returns:
        category name -> ``{"AP": ..., "AP50": ...}``, in category id order; None where the class
        has no GT object among the evaluated images.
    """
    prec = ev.eval["precision"]
    cat_ids = list(ev.params.catIds)
    names = names or {c["id"]: c["name"] for c in ev.cocoGt.dataset["categories"]}
    iou50 = int(np.argmin(np.abs(np.asarray(ev.params.iouThrs) - 0.5)))
    out = {}
    for k, cat in enumerate(cat_ids):
        p = prec[:, :, k, 0, -1]
        p50 = p[iou50]
        out[str(names[cat])] = {
            "AP": float(p[p > -1].mean()) if (p > -1).any() else None,
            "AP50": float(p50[p50 > -1].mean()) if (p50 > -1).any() else None,
        }
    return out
