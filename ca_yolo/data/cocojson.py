"""COCO-format ground truth for pycocotools, written from any dataset ca-yolo converts or makes.

Conventions of the JSON files written here (the evaluation code relies on them):

* ``image_id`` comes from the image file stem by :func:`image_id_from_stem`, so a prediction for
  ``images/val/000005.jpg`` belongs to image id 5 without a look-up table. Matching predictions
  by ``file_name`` through the JSON's ``images`` list works as well.
* ``category_id`` is the YOLO class index + 1 (``categories`` lists them with their names). This
  is also what Ultralytics' own ``save_json`` writes for non-COCO datasets. A data YAML may name
  other ids in ``coco_gt_cat_ids`` (the COCO converter does: 1..90); see :func:`gt_category_ids`.
* ``bbox`` is ``[x, y, w, h]`` in pixels with 0-based edges, the same geometry as the YOLO labels.
* Objects to be ignored by evaluation (VOC ``difficult``) carry ``"iscrowd": 1`` and
  ``"ignore": 1``. pycocotools' COCOeval derives its ignore flag from ``iscrowd`` only (it
  overwrites ``ignore``), and treats a crowd box as a region where detections are neither
  true nor false positives -- as the VOC protocol does for difficult objects. (Its overlap with a
  crowd box is intersection over the detection's area, slightly more lenient than VOC's IoU.)
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ca_yolo.atomic_io import write_text_atomic

from .problems import DataError

_DIGITS = re.compile(r"[0-9]+")
_DIGIT_GROUPS = re.compile(r"[0-9]+(?:_[0-9]+)+")
_HASH_BASE = 10**15  # hashed ids start here, above any 15-digit numeric stem


def image_id_from_stem(stem: str) -> int:
    """COCO image id of an image file stem.

    Rule: an all-digit stem is its integer (``"000005"`` -> 5, ``"000000397133"`` -> 397133,
    COCO's own ids); digit groups joined by ``_`` are concatenated (VOC2012 ``"2008_000002"`` ->
    2008000002); any other stem maps to ``10**15 + int(sha1(stem)[:12], 16)`` (stable, below
    2**53 so it survives JSON readers that use doubles). Writers check the ids of one file for
    collisions and fail naming both files.
    """
    if _DIGITS.fullmatch(stem):
        return int(stem)
    if _DIGIT_GROUPS.fullmatch(stem):
        return int(stem.replace("_", ""))
    return _HASH_BASE + int(hashlib.sha1(stem.encode("utf-8")).hexdigest()[:12], 16)


@dataclass
class GtBox:
    """One ground-truth box: class index and 0-based pixel edges; ``ignore`` marks VOC difficult."""

    cls: int
    x0: float
    y0: float
    x1: float
    y1: float
    ignore: bool = False


@dataclass
class GtImage:
    """One image of the ground truth: its file name (with suffix), size and boxes."""

    file_name: str
    width: int
    height: int
    boxes: list[GtBox] = field(default_factory=list)


def build_coco_gt(
    images: list[GtImage], names: list[str], cat_ids: list[int] | None = None, description: str = ""
) -> dict:
    """Return the COCO ground-truth dictionary for ``images`` (see the module notes for the rules).

    ``cat_ids[i]`` is the category id of class ``i`` (default ``i + 1``).
    """
    cat_ids = list(cat_ids) if cat_ids is not None else list(range(1, len(names) + 1))
    if len(cat_ids) != len(names):
        raise ValueError(f"{len(cat_ids)} category ids for {len(names)} names")
    seen: dict[int, str] = {}
    out_images, annotations = [], []
    for im in images:
        iid = image_id_from_stem(Path(im.file_name).stem)
        if iid in seen:
            raise DataError(f"images {seen[iid]} and {im.file_name} map to the same COCO image id {iid}; rename one")
        seen[iid] = im.file_name
        out_images.append({"id": iid, "file_name": im.file_name, "width": int(im.width), "height": int(im.height)})
        for b in im.boxes:
            if not 0 <= b.cls < len(names):
                raise DataError(f"{im.file_name}: class index {b.cls} out of range 0..{len(names) - 1}")
            w, h = b.x1 - b.x0, b.y1 - b.y0
            annotations.append(
                {
                    "id": len(annotations) + 1,  # pycocotools treats annotation id 0 as "unmatched"
                    "image_id": iid,
                    "category_id": cat_ids[b.cls],
                    "bbox": [round(b.x0, 3), round(b.y0, 3), round(w, 3), round(h, 3)],
                    "area": round(w * h, 3),
                    "iscrowd": int(b.ignore),
                    "ignore": int(b.ignore),
                    "segmentation": [],
                }
            )
    return {
        "info": {
            "description": description or "ground truth written by ca-yolo",
            "image_id_rule": "image_id_from_stem",
        },
        "images": out_images,
        "annotations": annotations,
        "categories": [{"id": cid, "name": n, "supercategory": ""} for cid, n in zip(cat_ids, names)],
    }


def write_coco_gt(
    path: str | Path,
    images: list[GtImage],
    names: list[str],
    cat_ids: list[int] | None = None,
    description: str = "",
) -> Path:
    """Write COCO-format ground truth for ``images`` to ``path`` (atomically) and return the path."""
    data = build_coco_gt(images, names, cat_ids, description)
    return write_text_atomic(path, json.dumps(data, separators=(",", ":")))


def gt_category_ids(data: dict) -> list[int]:
    """Category id of each class index for a data YAML's ``coco_gt`` (``coco_gt_cat_ids`` or 1..nc)."""
    ids = data.get("coco_gt_cat_ids")
    names = data.get("names") or []
    return [int(i) for i in ids] if ids else list(range(1, len(names) + 1))


def gt_images_from_labels(images: list[Path], nc: int) -> list[GtImage]:
    """Ground-truth images of a YOLO split from its label files (polygons become their bounding boxes).

    The one builder of ground truth from YOLO labels: ``ca-yolo data gt`` and evaluation both use it.
    ``file_name`` is the bare file name, as in COCO's own files and the converters' JSONs (unique
    within a split: equal names would have equal stems, which :func:`build_coco_gt` refuses as one
    image id); sizes come from the image headers.

    Raises:
        DataError: an unreadable image header or a bad label line, naming the file (and line).
    """
    from .imageio import image_size
    from .labelline import read_label_file
    from .layout import label_path

    out = []
    for img in images:
        w, h = image_size(img)
        boxes = []
        for p in read_label_file(label_path(img), nc):
            x0, y0 = (p.cx - p.w / 2) * w, (p.cy - p.h / 2) * h
            boxes.append(GtBox(p.cls, x0, y0, x0 + p.w * w, y0 + p.h * h))
        out.append(GtImage(Path(img).name, w, h, boxes))
    return out


def coco_gt_from_yolo(data_yaml: str | Path, split: str = "val", out: str | Path | None = None) -> Path:
    """Write COCO ground truth for one split of any YOLO dataset and return the JSON path.

    The same ground truth evaluation builds (:func:`gt_images_from_labels`, :func:`build_coco_gt`);
    category ids follow ``coco_gt_cat_ids`` when the YAML has it. The default output is
    ``<dataset path>/annotations/<split>.json``. Raises DataError naming the file for unreadable
    images or bad label lines.
    """
    from .layout import find_images
    from .yamlio import load_checked

    data = load_checked(data_yaml, split)  # the dataset as Ultralytics (and evaluation) reads it
    if not data.get(split):
        raise DataError(f"dataset '{data_yaml}' has no '{split}:' split")
    names = [str(data["names"][i]) for i in range(len(data["names"]))]
    spec = data[split]
    images = gt_images_from_labels(find_images(spec if isinstance(spec, list) else [spec]), len(names))
    dest = Path(out) if out else Path(data["path"]) / "annotations" / f"{split}.json"
    description = f"{split} split of {data_yaml}"
    return write_coco_gt(dest, images, names, gt_category_ids({**data, "names": names}), description=description)
