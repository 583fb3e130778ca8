"""Evaluate one checkpoint on one split: one prediction pass, from which pycocotools' COCO metrics and
the PASCAL VOC metric are computed, plus Ultralytics' own metrics.

Ultralytics' metrics come, by default, from its validator (``model.val``: a second pass over the
split, the numbers ``yolo val`` prints). ``ultralytics_val="shared"`` computes them instead with
the validator's own matching and AP code from the shared pass (:mod:`ca_yolo.evaluation.
ultralytics_metrics`): no second pass, but the numbers differ from ``yolo val`` by its different
letterboxing (rect batches) -- on the sample dataset mAP50 0.614 from the shared pass against 0.635
from ``model.val``, with pycocotools' AP50 0.613. The default stays the validator so that numbers
already recorded in comparison folders keep one definition."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ca_yolo.evaluation.cocoeval import coco_metrics
from ca_yolo.evaluation.cocogt import GroundTruth, ground_truth_for
from ca_yolo.evaluation.dataset import DatasetError, check_images, read_split
from ca_yolo.evaluation.predict import predict_boxes, to_coco_detections
from ca_yolo.evaluation.ultralytics_metrics import ULTRALYTICS_KEYS, gt_boxes_by_image, ultralytics_metrics
from ca_yolo.evaluation.vocmetric import voc_metric

__all__ = ["ULTRALYTICS_KEYS", "EvalResult", "checkpoint_imgsz", "evaluate_checkpoint"]


@dataclass
class EvalResult:
    """What :func:`evaluate_checkpoint` measured.

    Attributes:
        coco: pycocotools metrics keyed by ``COCO_METRICS`` (None = undefined for this GT).
        voc: PASCAL VOC AP@0.5 from the same detections (:func:`ca_yolo.evaluation.vocmetric.voc_metric`):
            ``mAP50_07`` (11-point), ``mAP50_all`` (all-point) and per class.
        ultralytics: Ultralytics' metrics (``mAP50``, ``mAP50-95``, ``precision``, ``recall``), from its
            validator or from the shared detections (see ``ultralytics_val``); empty when skipped.
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
    ultralytics_val: bool | str = True,
    gt: GroundTruth | None = None,
) -> EvalResult:
    """Evaluate a trained detector on a split of a YOLO-format dataset.

    Args:
        weights: a checkpoint path (``best.pt``) or a loaded ``ultralytics.YOLO``.
        data: the data YAML.
        imgsz: inference size; default = the size the checkpoint was trained at.
        coco_gt: COCO GT JSON; default = the YAML's ``coco_gt:`` entry, else built from the labels.
        ultralytics_val: Ultralytics' mAP50 / mAP50-95 / precision / recall: True or ``"validator"``
            from its validator (a second pass, as ``yolo val``), ``"shared"`` from the same detections
            with the validator's matching and AP code, False to skip.
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
    ultra = {}
    if ultralytics_val == "shared":
        truth = gt_boxes_by_image(gt.coco, {p: gt.image_ids[p] for p in split_data.images}, gt.category_ids)
        ultra = ultralytics_metrics(boxes, truth, split_data.names)
    elif ultralytics_val in (True, "validator"):
        ultra = _ultralytics_val(model, data, split, imgsz, batch, device, conf, iou, max_det)
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
    """Ultralytics' own validation numbers (a second pass, as ``yolo val``), its outputs kept in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="ca_yolo_val_") as tmp:
        metrics = model.val(
            data=str(data), split=split, imgsz=imgsz, batch=batch, device=device, conf=conf, iou=iou,
            max_det=max_det, plots=False, save_json=False, verbose=False, project=tmp, name="val", exist_ok=True,
        )  # fmt: skip
    results = metrics.results_dict
    return {short: float(results[key]) for short, key in ULTRALYTICS_KEYS.items()}
