"""COCO's 101-point interpolated average precision of one class, from scored hits and misses."""

from __future__ import annotations

import numpy as np

RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)


def interpolated_ap(tp: np.ndarray, fp: np.ndarray, npos: float) -> float | None:
    """COCO AP of one class: precision made non-increasing in recall, read at 101 recall levels, averaged.

    Args:
        tp, fp: per detection, already in descending score order, its weight as a true / false
            positive (1/0 for one evaluation; counts > 1 when a resampled image appears more than once).
        npos: number (or weighted number) of ground-truth objects of the class.

    Returns:
        The AP in [0, 1], or None when ``npos`` is 0 (the class is left out of the mean, as in COCOeval).
    """
    if npos <= 0:
        return None
    tp_sum, fp_sum = np.cumsum(tp, dtype=float), np.cumsum(fp, dtype=float)
    if tp_sum.size == 0:
        return 0.0
    recall = tp_sum / npos
    precision = tp_sum / np.maximum(tp_sum + fp_sum, np.spacing(1))
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_THRESHOLDS, side="left")
    q = np.where(idx < envelope.size, envelope[np.minimum(idx, envelope.size - 1)], 0.0)
    return float(q.mean())
