"""COCO-standard evaluation (pycocotools) of YOLO detectors on YOLO-format datasets.

``ca-yolo eval model=best.pt data=data.yaml`` runs :func:`evaluate_checkpoint` and prints
:func:`format_coco_table`.
"""

from ca_yolo.evaluation.cocoeval import COCO_METRICS, coco_metrics, format_coco_table
from ca_yolo.evaluation.cocogt import GroundTruth, build_coco_gt, ground_truth_for, load_coco_gt
from ca_yolo.evaluation.dataset import DatasetError, SplitData, read_split
from ca_yolo.evaluation.evaluate import EvalResult, evaluate_checkpoint

__all__ = [
    "COCO_METRICS",
    "DatasetError",
    "EvalResult",
    "GroundTruth",
    "SplitData",
    "build_coco_gt",
    "coco_metrics",
    "evaluate_checkpoint",
    "format_coco_table",
    "ground_truth_for",
    "load_coco_gt",
    "read_split",
]
