"""Detections as arrays per image, and as COCO detections with the ground truth's ids.

Evaluation takes its detections from Ultralytics' validator (:mod:`ca_yolo.evaluation.validator`);
:func:`predict_boxes` (the predictor, on a few images) draws the prediction grid of compare's report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ca_yolo.evaluation.cocogt import GroundTruth


def predict_boxes(
    model, images: list[Path], imgsz: int = 640, batch: int = 16, device: str | None = None,
    conf: float = 0.001, iou: float = 0.7, max_det: int = 300,
) -> dict[Path, np.ndarray]:  # fmt: skip
    """Predict boxes on each image with Ultralytics' predictor (letterboxed, NMS).

    The low default ``conf`` keeps the low-score tail that AP integrates over, as in validation.

    Args:
        model: an ``ultralytics.YOLO`` (or anything with its ``predict``).
        images: image paths.

    Returns:
        image path -> float array (N, 6): x1, y1, x2, y2 (pixels of the original image), score, class.
    """
    out: dict[Path, np.ndarray] = {}
    for start in range(0, len(images), batch):
        chunk = [str(p) for p in images[start : start + batch]]
        results = model.predict(
            chunk, imgsz=imgsz, batch=batch, device=device, conf=conf, iou=iou, max_det=max_det, verbose=False
        )
        for path, r in zip(chunk, results):
            b = r.boxes
            out[Path(path)] = np.concatenate(
                [b.xyxy.cpu().numpy(), b.conf.cpu().numpy()[:, None], b.cls.cpu().numpy()[:, None]], axis=1
            ).astype(np.float64)
    return out


def to_coco_detections(boxes: dict[Path, np.ndarray], gt: GroundTruth) -> list[dict]:
    """Convert predicted boxes to COCO detection dicts with the GT's image and category ids.

    Args:
        boxes: image path -> (N, 6) x1, y1, x2, y2, score, class (as from :func:`predict_boxes`).

    Returns:
        ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`` dicts.
    """
    dets = []
    for path, arr in boxes.items():
        img_id = gt.image_ids[path]
        for x1, y1, x2, y2, score, cls in arr.tolist():
            dets.append(
                {
                    "image_id": img_id,
                    "category_id": gt.category_ids[int(cls)],
                    "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                    "score": round(score, 5),
                }
            )
    return dets
