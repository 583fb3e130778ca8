"""Evaluate one checkpoint on one split: pycocotools COCO metrics and the PASCAL VOC metric from one
prediction pass, plus Ultralytics' own mAP from its validator."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ca_yolo.evaluation.cocoeval import coco_metrics
from ca_yolo.evaluation.cocogt import GroundTruth, ground_truth_for
from ca_yolo.evaluation.dataset import DatasetError, check_images, read_split
from ca_yolo.evaluation.predict import predict_boxes, to_coco_detections
from ca_yolo.evaluation.vocmetric import voc_metric

# Ultralytics' validation numbers we report, under short names.
ULTRALYTICS_KEYS = {
    "mAP50": "metrics/mAP50(B)",
    "mAP50-95": "metrics/mAP50-95(B)",
    "precision": "metrics/precision(B)",
    "recall": "metrics/recall(B)",
}


@dataclass
class EvalResult:
    """What :func:`evaluate_checkpoint` measured.

    Attributes:
        coco: pycocotools metrics keyed by ``COCO_METRICS`` (None = undefined for this GT).
        voc: PASCAL VOC AP@0.5 from the same detections (:func:`ca_yolo.evaluation.vocmetric.voc_metric`):
            ``mAP50_07`` (11-point), ``mAP50_all`` (all-point) and per class.
        ultralytics: Ultralytics' validator numbers (``mAP50``, ``mAP50-95``, ``precision``, ``recall``),
            empty when skipped.
        images, detections, gt_objects: counts.
        gt_source: the GT JSON used, or "built from YOLO labels".
        detections_list: the COCO detections themselves (not in :meth:`summary`).
    """

    coco: dict[str, float | None]
    ultralytics: dict[str, float]
    images: int
    detections: int
    gt_objects: int
    gt_source: str
    voc: dict = field(default_factory=dict)
    detections_list: list[dict] = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        """Every number, JSON-ready, without the detections list."""
        d = asdict(self)
        d.pop("detections_list")
        return d


def checkpoint_imgsz(model, default: int = 640) -> int:
    """The image size a checkpoint was trained at (its saved train args), else ``default``."""
    args = getattr(model, "ckpt", None) or {}
    size = (args.get("train_args") or {}).get("imgsz") if isinstance(args, dict) else None
    return int(size) if isinstance(size, (int, float)) else default


def evaluate_checkpoint(
    weights: str | Path | object,
    data: str | Path,
    split: str = "val",
    imgsz: int | None = None,
    batch: int = 16,
    device: str | None = None,
    coco_gt: str | Path | None = None,
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    ultralytics_val: bool = True,
    gt: GroundTruth | None = None,
) -> EvalResult:
    """Evaluate a trained detector on a split of a YOLO-format dataset.

    Args:
        weights: a checkpoint path (``best.pt``) or a loaded ``ultralytics.YOLO``.
        data: the data YAML.
        imgsz: inference size; default = the size the checkpoint was trained at.
        coco_gt: COCO GT JSON; default = the YAML's ``coco_gt:`` entry, else built from the labels.
        ultralytics_val: also run Ultralytics' validator for its mAP50 / mAP50-95.
        gt: a ready :class:`GroundTruth` for this split (skips reading labels again).

    Raises:
        DatasetError: unusable dataset or GT; the model's classes do not match the dataset's.
    """
    from ultralytics import YOLO

    model = weights if hasattr(weights, "predict") else YOLO(str(weights))
    split_data = read_split(data, split)
    if len(model.names) != len(split_data.names):
        raise DatasetError(
            f"model has {len(model.names)} classes but dataset '{data}' has {len(split_data.names)}: "
            "evaluate on the dataset it was trained for"
        )
    if gt is None:  # a ready GT comes from a caller (compare) that has checked the images already
        check_images(split_data, split)
    gt = gt or ground_truth_for(split_data, coco_gt, split)
    imgsz = imgsz or checkpoint_imgsz(model)
    boxes = predict_boxes(model, split_data.images, imgsz, batch, device, conf, iou, max_det)
    dets = to_coco_detections(boxes, gt)
    image_ids = [gt.image_ids[p] for p in split_data.images]
    ids = set(image_ids)
    coco = coco_metrics(gt.coco, dets, image_ids)
    voc = voc_metric(gt.coco, dets, image_ids)
    ultra = _ultralytics_val(model, data, split, imgsz, batch, device, conf, iou, max_det) if ultralytics_val else {}
    return EvalResult(
        coco=coco,
        ultralytics=ultra,
        images=len(split_data.images),
        detections=len(dets),
        gt_objects=sum(1 for a in gt.coco["annotations"] if a["image_id"] in ids),
        gt_source=str(gt.source) if gt.source else "built from YOLO labels",
        voc=voc,
        detections_list=dets,
    )


def _ultralytics_val(model, data, split, imgsz, batch, device, conf, iou, max_det) -> dict[str, float]:
    """Ultralytics' own validation numbers, its outputs kept in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="ca_yolo_val_") as tmp:
        metrics = model.val(
            data=str(data), split=split, imgsz=imgsz, batch=batch, device=device, conf=conf, iou=iou,
            max_det=max_det, plots=False, save_json=False, verbose=False, project=tmp, name="val", exist_ok=True,
        )  # fmt: skip
    results = metrics.results_dict
    return {short: float(results[key]) for short, key in ULTRALYTICS_KEYS.items()}
