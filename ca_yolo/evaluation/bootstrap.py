"""Val-set sampling noise of COCO AP: per-image matches of one COCOeval, re-weighted by resampled images.

A bootstrap resample draws the val images with replacement; an image drawn k times counts k
times. Re-running COCOeval per resample would redo the matching, which does not change (it is
per image), so :func:`image_matches` keeps COCOeval's per-image matches once and
:func:`weighted_ap` re-accumulates them with per-image weights: with all weights 1 it is
COCOeval's AP exactly. (An image drawn twice puts its detections at one rank with weight 2 where
two copies would sit at adjacent ranks; the precision at every recall both reach is the same.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ca_yolo.evaluation.apmath import interpolated_ap


@dataclass
class ImageMatches:
    """One run's matches per class, in pycocotools' order (area "all", the largest max-detections).

    Attributes:
        image_ids: the evaluated images; weights are given in this order.
        classes: per category with GT or detections: ``(image index per detection (D,),
            matched (T, D), ignored (T, D), GT objects per image (I,))``, detections by descending score.
    """

    image_ids: list[int]
    classes: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def image_matches(ev) -> ImageMatches:
    """The per-image matches of a finished COCOeval (after ``evaluate()``), ready for :func:`weighted_ap`."""
    p = ev.params
    n_img, n_area = len(p.imgIds), len(p.areaRng)
    max_det = p.maxDets[-1]
    T = len(p.iouThrs)
    classes = []
    for k in range(len(p.catIds)):
        per_img = [ev.evalImgs[k * n_area * n_img + i] for i in range(n_img)]  # area index 0 = "all"
        npos = np.zeros(n_img)
        img_idx, scores, dtm, dtig = [], [], [], []
        for i, e in enumerate(per_img):
            if e is None:
                continue
            npos[i] = int(np.count_nonzero(np.logical_not(e["gtIgnore"])))
            n = min(len(e["dtScores"]), max_det)
            img_idx.append(np.full(n, i))
            scores.append(np.asarray(e["dtScores"][:n], dtype=float))
            dtm.append(np.asarray(e["dtMatches"])[:, :n].reshape(T, n))
            dtig.append(np.asarray(e["dtIgnore"])[:, :n].reshape(T, n))
        if not img_idx:
            classes.append((np.zeros(0, int), np.zeros((T, 0), bool), np.zeros((T, 0), bool), npos))
            continue
        s = np.concatenate(scores)
        order = np.argsort(-s, kind="mergesort")  # pycocotools' order, ties kept in image order
        classes.append((np.concatenate(img_idx)[order], np.concatenate(dtm, axis=1)[:, order] > 0,
                        np.concatenate(dtig, axis=1)[:, order] > 0, npos))  # fmt: skip
    return ImageMatches(list(p.imgIds), classes)


def weighted_ap(m: ImageMatches, weights: np.ndarray | None = None, iou_index: int | None = None) -> float:
    """COCO AP (all IoU thresholds, or only ``iou_index``: 0 = IoU 0.5) with per-image weights.

    Returns:
        The mean over classes (and thresholds) with GT, as ``COCOeval.summarize``; 0 when none has GT.
    """
    w = np.ones(len(m.image_ids)) if weights is None else np.asarray(weights, dtype=float)
    aps = []
    for img, matched, ignored, npos_img in m.classes:
        npos = float(w @ npos_img)
        if npos <= 0:
            continue
        dw = w[img]
        rows = range(matched.shape[0]) if iou_index is None else [iou_index]
        for t in rows:
            keep = ~ignored[t]
            ap = interpolated_ap(dw * (matched[t] & keep), dw * (~matched[t] & keep), npos)
            aps.append(ap)
    return float(np.mean(aps)) if aps else 0.0


def paired_bootstrap(
    model: list[ImageMatches], baseline: list[ImageMatches], n_boot: int = 500, seed: int = 0,
    iou_index: int | None = None,
) -> dict:  # fmt: skip
    """Paired bootstrap over val images of the mean (over seeds) AP difference ``model - baseline``.

    Each resample draws the images once and weights every run with it, so both models are scored
    on the same images with their own fixed detections; only the val sample varies.

    Args:
        model, baseline: each seed's matches, paired by position, over the same images.
        n_boot: resamples; seed: the generator's seed (same seed, same result).

    Returns:
        ``{"mean", "se", "ci_low", "ci_high", "exceeds", "n_boot", "seed"}``: the difference on the
        val set as is, the bootstrap standard error, the 2.5/97.5 percentile interval, and whether
        that interval excludes 0.
    """
    if len(model) != len(baseline) or not model:
        raise ValueError("paired_bootstrap needs the same number (>= 1) of runs for both models")
    n = len(model[0].image_ids)
    if any(m.image_ids != model[0].image_ids for m in model + baseline):
        raise ValueError("paired_bootstrap needs every run evaluated on the same images")

    def diff(w):
        return float(np.mean([weighted_ap(a, w, iou_index) - weighted_ap(b, w, iou_index)
                              for a, b in zip(model, baseline)]))  # fmt: skip

    rng = np.random.default_rng(seed)
    boots = np.asarray([diff(np.bincount(rng.integers(0, n, n), minlength=n)) for _ in range(n_boot)])
    lo, hi = (float(x) for x in np.percentile(boots, [2.5, 97.5]))
    return {"mean": diff(None), "se": float(boots.std(ddof=1)) if n_boot > 1 else 0.0, "ci_low": lo, "ci_high": hi,
            "exceeds": bool(lo > 0 or hi < 0), "n_boot": n_boot, "seed": seed}  # fmt: skip
