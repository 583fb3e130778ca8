"""Evaluate one checkpoint on one split in one inference pass: Ultralytics' own validator.

The pass is ``model.val`` (:mod:`ca_yolo.evaluation.validator`), so Ultralytics' mAP50, mAP50-95,
precision and recall are exactly the numbers ``yolo val`` prints. Its detections, kept in
original-image pixels, are written as COCO detections with our ground truth's image and category
ids, and pycocotools' COCO metrics and the PASCAL VOC metric are computed from them: all three
metric families come from the same detections.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ca_yolo.data.precheck import check_labels
from ca_yolo.evaluation.cocoeval import coco_summary, run_cocoeval
from ca_yolo.evaluation.cocogt import GroundTruth, ground_truth_for
from ca_yolo.evaluation.dataset import DatasetError, check_images, read_split
from ca_yolo.evaluation.perclass import per_class_ap
from ca_yolo.evaluation.predict import to_coco_detections
from ca_yolo.evaluation.tide import tide_errors
from ca_yolo.evaluation.validator import ULTRALYTICS_KEYS, match_images, validator_pass
from ca_yolo.evaluation.vocmetric import voc_metric

__all__ = ["ULTRALYTICS_KEYS", "EvalResult", "checkpoint_imgsz", "evaluate_checkpoint"]


@dataclass
class EvalResult:
    """What :func:`evaluate_checkpoint` measured, all from one pass of Ultralytics' validator.

    Attributes:
        coco: pycocotools metrics keyed by ``COCO_METRICS`` (None = undefined for this GT).
        voc: PASCAL VOC AP@0.5 from the same detections (:func:`ca_yolo.evaluation.vocmetric.voc_metric`):
            ``mAP50_07`` (11-point), ``mAP50_all`` (all-point) and per class.
        ultralytics: Ultralytics' metrics (``mAP50``, ``mAP50-95``, ``precision``, ``recall``) of the
            same pass, as ``yolo val`` prints them; empty when not asked for.
        images, detections, gt_objects: counts.
        gt_source: the GT JSON used, or "built from YOLO labels".
        per_class: class name -> COCO ``AP`` and ``AP50`` from the same COCOeval as ``coco``.
        tide: TIDE's error contributions of the same detections (:func:`ca_yolo.evaluation.tide.tide_errors`),
            when asked for; empty otherwise.
        detections_list: the COCO detections themselves (not in :meth:`summary`).
    """

    coco: dict[str, float | None]
    ultralytics: dict[str, float]
    images: int
    detections: int
    gt_objects: int
    gt_source: str
    voc: dict = field(default_factory=dict)
    per_class: dict[str, dict[str, float | None]] = field(default_factory=dict)
    tide: dict = field(default_factory=dict)
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
    tide: bool = False,
) -> EvalResult:
    """Evaluate a trained detector on a split of a YOLO-format dataset, in one validator pass.

    Args:
        weights: a checkpoint path (``best.pt``) or a loaded ``ultralytics.YOLO`` (left as it was:
            the validator works on a copy of its network).
        data: the data YAML.
        imgsz: inference size; default = the size the checkpoint was trained at.
        coco_gt: COCO GT JSON; default = the YAML's ``coco_gt:`` entry, else built from the labels.
        conf, iou, max_det: the validator's settings (Ultralytics raises ``max_det`` when left at its
            default and an image has more objects).
        ultralytics_val: report Ultralytics' metrics of the pass (False leaves them out; the pass is
            the same).
        gt: a ready :class:`GroundTruth` for this split (skips reading labels again).
        tide: also compute TIDE's error contributions from the same detections (``compare`` computes
            them from the kept detections of every run instead).

    Raises:
        DatasetError: unusable dataset or GT; the model's classes do not match the dataset's; the
            validator saw other images than the split.
    """
    from ultralytics import YOLO

    model = weights if hasattr(weights, "val") else YOLO(str(weights))
    split_data = read_split(data, split)
    if len(model.names) != len(split_data.names):
        raise DatasetError(
            f"model has {len(model.names)} classes but dataset '{data}' has {len(split_data.names)}: "
            "evaluate on the dataset it was trained for"
        )
    if gt is None:  # a ready GT comes from a caller (compare) that has checked the images already
        check_images(split_data, split)
        # The validator drops a label file it rejects; against a coco_gt JSON that would surface only
        # after inference, as a mismatch of images, so each label line is checked here first.
        check_labels(split_data.images, len(split_data.names))
    gt = gt or ground_truth_for(split_data, coco_gt, split)
    imgsz = imgsz or checkpoint_imgsz(model)
    done = validator_pass(model, data, split, imgsz, batch, device, conf, iou, max_det)
    dets = to_coco_detections(match_images(done.boxes, split_data.images, data), gt)
    image_ids = [gt.image_ids[p] for p in split_data.images]
    ids = set(image_ids)
    ev = run_cocoeval(gt.coco, dets, image_ids)
    return EvalResult(
        coco=coco_summary(ev),
        ultralytics=done.metrics if ultralytics_val else {},
        images=len(split_data.images),
        detections=len(dets),
        gt_objects=sum(1 for a in gt.coco["annotations"] if a["image_id"] in ids),
        gt_source=str(gt.source) if gt.source else "built from YOLO labels",
        voc=voc_metric(gt.coco, dets, image_ids),
        per_class=per_class_ap(ev),
        tide=tide_errors(gt.coco, dets, image_ids) if tide else {},
        detections_list=dets,
    )
