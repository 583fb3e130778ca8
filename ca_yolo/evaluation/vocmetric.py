"""PASCAL VOC detection metric: AP@0.5 per class and its mean, VOC07 11-point and all-point.

VOC results in the literature (the Coordinate Attention paper's among them) are PASCAL VOC mAP@0.5:
a detection is a true positive when its IoU with a ground-truth box of its class exceeds 0.5 and
that box was not matched before (detections taken by descending score); AP is the area under the
precision/recall curve, sampled at recall 0, 0.1, ..., 1 (VOC2007's "11-point") or integrated over
every recall step of the precision envelope (VOC2010 and later, "all-point").

As in the VOC devkit, *difficult* objects are ignored: they do not count as positives, and a
detection whose best match is a difficult box is neither a true nor a false positive. Here a
ground-truth annotation with ``iscrowd: 1`` is such an ignored box (``ca-yolo data voc`` writes
VOC's difficult objects that way). Boxes are continuous coordinates (COCO ``[x, y, w, h]``), so the
devkit's ``+1`` of inclusive pixel indices is not applied; it changes IoU by under 1% for boxes of
100 px or more.

Inputs are the COCO ground truth and detections :func:`ca_yolo.evaluation.evaluate_checkpoint`
uses for pycocotools, so both metrics come from the same predictions.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

IOU_THRESHOLD = 0.5


def ap_11_point(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC2007 AP: the mean over recall thresholds 0, 0.1, ..., 1 of the best precision at recall >= threshold."""
    total = 0.0
    for k in range(11):
        # t = k/10 compared with a tolerance: the devkit's np.arange(0, 1.1, 0.1) makes 0.3 into
        # 0.30000000000000004, so a recall of exactly 3/10 would miss that threshold there.
        reached = precision[recall >= k / 10 - 1e-12]
        total += float(reached.max()) if reached.size else 0.0
    return total / 11.0


def ap_all_point(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC2010+ AP: area under the precision envelope (precision made non-increasing), summed at recall steps."""
    r = np.concatenate(([0.0], recall, [1.0]))
    p = np.concatenate(([0.0], precision, [0.0]))
    p = np.maximum.accumulate(p[::-1])[::-1]  # envelope: best precision at this recall or beyond
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``[x, y, w, h]`` box with each row of ``boxes`` (continuous coordinates)."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y2 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def class_pr(gt_boxes: dict[int, tuple[np.ndarray, np.ndarray]], dets: list[tuple[int, float, list[float]]],
             iou_threshold: float = IOU_THRESHOLD) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
    """Precision and recall after each detection of one class, by descending score.

    Args:
        gt_boxes: image id -> (boxes ``(N, 4)`` as ``[x, y, w, h]``, ignored flags ``(N,)``).
        dets: ``(image id, score, [x, y, w, h])`` of this class.

    Returns:
        ``(recall, precision, number of positives)``; empty arrays without counted detections.
    """
    n_pos = int(sum((~ignored).sum() for _, ignored in gt_boxes.values()))
    order = sorted(range(len(dets)), key=lambda i: -dets[i][1])  # stable: ties keep their input order
    used = {img: np.zeros(len(b), bool) for img, (b, _) in gt_boxes.items()}
    tp, fp = [], []
    for i in order:
        img, _, box = dets[i]
        boxes, ignored = gt_boxes.get(img, (np.zeros((0, 4)), np.zeros(0, bool)))
        if len(boxes):
            ious = _iou(np.asarray(box, float), boxes)
            best = int(np.argmax(ious))
            if ious[best] > iou_threshold:
                if ignored[best]:
                    continue  # matched a difficult object: neither TP nor FP
                if not used[img][best]:
                    used[img][best] = True
                    tp.append(1)
                    fp.append(0)
                    continue
        tp.append(0)
        fp.append(1)
    tp_c, fp_c = np.cumsum(tp, dtype=float), np.cumsum(fp, dtype=float)
    recall = tp_c / n_pos if n_pos else np.zeros_like(tp_c)
    precision = tp_c / np.maximum(tp_c + fp_c, np.finfo(float).eps)
    return recall, precision, n_pos


def voc_metric(gt: dict, detections: list[dict], image_ids: list[int] | None = None,
               iou_threshold: float = IOU_THRESHOLD) -> dict:  # fmt: skip
    """PASCAL VOC AP@0.5 per class and mean, 11-point (VOC07) and all-point (VOC2010+).

    Args:
        gt: COCO ground truth dict (``images``, ``annotations``, ``categories``); ``iscrowd: 1``
            annotations are ignored regions (VOC's difficult objects).
        detections: COCO detections (``image_id``, ``category_id``, ``bbox``, ``score``).
        image_ids: evaluate these images only (default: every GT image).
        iou_threshold: a match needs IoU above this.

    Returns:
        ``{"mAP50_07", "mAP50_all", "classes": {name: {"AP50_07", "AP50_all", "positives"}}}``;
        means over the classes with at least one positive, None when there is none. A class with
        positives but no detections has AP 0.
    """
    ids = set(image_ids) if image_ids is not None else {im["id"] for im in gt["images"]}
    per_class: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(lambda: ([], [])))
    for a in gt["annotations"]:
        if a["image_id"] in ids:
            boxes, ignored = per_class[a["category_id"]][a["image_id"]]
            boxes.append(a["bbox"])
            ignored.append(bool(a.get("iscrowd", 0)) or bool(a.get("ignore", 0)))
    dets_by_class: dict[int, list] = defaultdict(list)
    for d in detections:
        if d["image_id"] in ids:
            dets_by_class[d["category_id"]].append((d["image_id"], float(d["score"]), d["bbox"]))
    classes = {}
    for cat in gt["categories"]:
        cid = cat["id"]
        gt_boxes = {img: (np.asarray(b, float).reshape(-1, 4), np.asarray(f, bool))
                    for img, (b, f) in per_class.get(cid, {}).items()}  # fmt: skip
        recall, precision, n_pos = class_pr(gt_boxes, dets_by_class.get(cid, []), iou_threshold)
        if n_pos == 0:
            classes[str(cat["name"])] = {"AP50_07": None, "AP50_all": None, "positives": 0}
            continue
        classes[str(cat["name"])] = {
            "AP50_07": ap_11_point(recall, precision) if recall.size else 0.0,
            "AP50_all": ap_all_point(recall, precision) if recall.size else 0.0,
            "positives": n_pos,
        }
    counted = [c for c in classes.values() if c["positives"]]
    return {
        "mAP50_07": float(np.mean([c["AP50_07"] for c in counted])) if counted else None,
        "mAP50_all": float(np.mean([c["AP50_all"] for c in counted])) if counted else None,
        "classes": classes,
    }


def format_voc_line(voc: dict) -> str:
    """One line with both VOC means, e.g. for ``ca-yolo eval``."""

    def f(v):
        return "–" if v is None else f"{v:.3f}"

    return f"PASCAL VOC mAP@0.5: {f(voc['mAP50_07'])} (VOC07 11-point)  {f(voc['mAP50_all'])} (all-point, VOC2010+)"
