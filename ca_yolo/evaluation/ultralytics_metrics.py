"""Ultralytics' detection metrics (mAP50, mAP50-95, precision, recall) of detections already made.

Ultralytics' own code does the work: its ``DetectionValidator`` matches predictions to labels
(``_process_batch``: ``box_iou`` and ``match_predictions`` at IoU 0.5:0.95) and its ``DetMetrics``
integrates them (``ap_per_class``, 101-point interpolation). Only the prediction pass is ours, the
one the COCO and VOC metrics use too, so all three come from the same detections and each
checkpoint is run over the split once.

The ground truth is the split's non-crowd objects (what the YOLO labels hold: VOC's difficult
objects, kept as ``iscrowd: 1`` for pycocotools, are not in the labels Ultralytics validates on).
Boxes are compared in original-image pixels; Ultralytics compares them in the letterboxed input,
a uniform scale and shift of the same boxes, which leaves IoU unchanged.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

# Ultralytics' validation numbers we report, under short names.
ULTRALYTICS_KEYS = {
    "mAP50": "metrics/mAP50(B)",
    "mAP50-95": "metrics/mAP50-95(B)",
    "precision": "metrics/precision(B)",
    "recall": "metrics/recall(B)",
}


def gt_boxes_by_image(coco: dict, image_ids: dict[Path, int], category_ids: list[int]) -> dict[Path, np.ndarray]:
    """Non-crowd GT boxes of each image as ``(N, 5)``: class index, x1, y1, x2, y2 (pixels)."""
    index = {cid: i for i, cid in enumerate(category_ids)}
    by_id: dict[int, list] = {}
    for a in coco["annotations"]:
        if a.get("iscrowd", 0) or a["category_id"] not in index:
            continue
        x, y, w, h = a["bbox"]
        by_id.setdefault(a["image_id"], []).append([index[a["category_id"]], x, y, x + w, y + h])
    return {p: np.asarray(by_id.get(i, []), dtype=np.float64).reshape(-1, 5) for p, i in image_ids.items()}


def ultralytics_metrics(
    detections: dict[Path, np.ndarray], truth: dict[Path, np.ndarray], names: list[str]
) -> dict[str, float]:
    """Ultralytics' mAP50, mAP50-95, precision and recall of ``detections`` against ``truth``.

    Args:
        detections: image -> ``(N, 6)`` x1, y1, x2, y2, score, class (as from ``predict_boxes``).
        truth: image -> ``(M, 5)`` class, x1, y1, x2, y2 (:func:`gt_boxes_by_image`).
        names: class names, index = class id.
    """
    import torch
    from ultralytics.models.yolo.detect.val import DetectionValidator

    with tempfile.TemporaryDirectory(prefix="ca_yolo_umetrics_") as tmp:  # the validator makes its save_dir
        v = DetectionValidator(save_dir=Path(tmp), args={"plots": False, "save_json": False})
        v.metrics.names = dict(enumerate(names))
        for path, gt in truth.items():
            det = detections.get(path, np.zeros((0, 6)))
            order = np.argsort(-det[:, 4], kind="stable")  # match_predictions expects descending confidence
            det = det[order]
            preds = {"bboxes": torch.as_tensor(det[:, :4]), "cls": torch.as_tensor(det[:, 5]),
                     "conf": torch.as_tensor(det[:, 4])}  # fmt: skip
            labels = {"bboxes": torch.as_tensor(gt[:, 1:]), "cls": torch.as_tensor(gt[:, 0])}
            cls = gt[:, 0]
            v.metrics.update_stats(
                {
                    **v._process_batch(preds, labels),
                    "target_cls": cls,
                    "target_img": np.unique(cls),
                    "conf": det[:, 4],
                    "pred_cls": det[:, 5],
                    "im_name": path.name,
                }
            )
        v.metrics.process(save_dir=Path(tmp), plot=False)
        results = v.metrics.results_dict
    return {short: float(results[key]) for short, key in ULTRALYTICS_KEYS.items()}
