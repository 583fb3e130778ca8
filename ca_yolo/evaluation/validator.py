"""One pass of Ultralytics' own validator, with its detections kept for pycocotools and the VOC metric.

``model.val`` is the pass: Ultralytics' dataloader (rect batches, its letterboxing), NMS and
metrics, so its numbers are exactly ``yolo val``'s. A subclass of its ``DetectionValidator`` also
keeps each image's detections, mapped back to original-image pixels by the validator's own
``scale_preds`` (what its ``save_json`` writes), so pycocotools and the VOC metric are computed from
the very detections Ultralytics scored.

The validator's JSON evaluation is switched off: it would write ``predictions.json`` and, for a
COCO- or LVIS-like path (``.../coco/val2017.txt``) or ``save_json``, try to install and run
faster-coco-eval against ground truth of its own. pycocotools runs here, on our COCO ground truth.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ca_yolo.evaluation.dataset import DatasetError

# Ultralytics' validation numbers we report, under short names.
ULTRALYTICS_KEYS = {
    "mAP50": "metrics/mAP50(B)",
    "mAP50-95": "metrics/mAP50-95(B)",
    "precision": "metrics/precision(B)",
    "recall": "metrics/recall(B)",
}


@dataclass
class ValidatorPass:
    """What one ``model.val`` pass gave.

    Attributes:
        boxes: image path (absolute, as Ultralytics listed it) -> float array ``(N, 6)``: x1, y1, x2, y2
            in original-image pixels, score, class index; every image the validator saw, empty arrays
            for images without detections.
        metrics: Ultralytics' numbers under :data:`ULTRALYTICS_KEYS`' short names.
    """

    boxes: dict[Path, np.ndarray]
    metrics: dict[str, float]


def _capturing_validator(sink: dict[Path, np.ndarray]):
    """Ultralytics' ``DetectionValidator``, also writing each image's scaled detections into ``sink``."""
    import torch
    from ultralytics.models.yolo.detect.val import DetectionValidator

    class CapturingValidator(DetectionValidator):
        def init_metrics(self, model):
            super().init_metrics(model)
            self.args.save_json = False  # it turns this on for COCO/LVIS-like paths; see the module docstring

        def update_metrics(self, preds, batch):
            super().update_metrics(preds, batch)  # Ultralytics' matching and statistics, unchanged
            for si, pred in enumerate(preds):
                pbatch = self._prepare_batch(si, batch)
                scaled = self.scale_preds(pred, pbatch)  # letterboxed input -> original image, its own rule
                rows = torch.cat([scaled["bboxes"], pred["conf"][:, None], pred["cls"][:, None]], dim=1)
                sink[Path(os.path.abspath(pbatch["im_file"]))] = rows.cpu().double().numpy().reshape(-1, 6)

        def eval_json(self, stats):
            return stats  # never: pycocotools runs on our own ground truth

    return CapturingValidator


def validator_pass(
    model, data: str | Path, split: str = "val", imgsz: int = 640, batch: int = 16, device: str | None = None,
    conf: float = 0.001, iou: float = 0.7, max_det: int = 300,
) -> ValidatorPass:  # fmt: skip
    """Run Ultralytics' validator once over a split (``model.val``) and keep its detections.

    Its outputs (plots are off, no JSON) go to a temporary folder that is removed afterwards.

    Args:
        model: an ``ultralytics.YOLO`` (the validator fuses a copy of its network; it stays as it was).
        data: the data YAML.
    """
    boxes: dict[Path, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="ca_yolo_val_") as tmp:
        metrics = model.val(
            validator=_capturing_validator(boxes), data=str(data), split=split, imgsz=imgsz, batch=batch,
            device=device, conf=conf, iou=iou, max_det=max_det, plots=False, save_json=False, save_txt=False,
            verbose=False, project=tmp, name="val", exist_ok=True,
        )  # fmt: skip
    results = metrics.results_dict
    return ValidatorPass(boxes, {short: float(results[key]) for short, key in ULTRALYTICS_KEYS.items()})


def match_images(boxes: dict[Path, np.ndarray], images: list[Path], data: str | Path) -> dict[Path, np.ndarray]:
    """The validator's detections keyed by our split's image paths, in their order.

    Raises:
        DatasetError: the validator did not see exactly the split's images (it drops images it
            cannot read, and lists them the way Ultralytics does; a difference would leave images
            out of one metric and not the other).
    """
    ours = {Path(os.path.abspath(p)): p for p in images}
    if set(boxes) == set(ours):
        return {p: boxes[k] for k, p in ours.items()}
    missing = sorted(str(p) for p in set(ours) - set(boxes))
    extra = sorted(str(p) for p in set(boxes) - set(ours))
    parts = [f"{len(missing)} split image(s) it did not validate ({', '.join(missing[:3])}"
             f"{', ...' if len(missing) > 3 else ''})" if missing else "",
             f"{len(extra)} image(s) not in the split ({', '.join(extra[:3])}{', ...' if len(extra) > 3 else ''})"
             if extra else ""]  # fmt: skip
    raise DatasetError(
        f"Ultralytics' validator on '{data}' saw other images than the split: " + "; ".join(p for p in parts if p)
    )
