"""COCO-format ground truth for a YOLO split: built from its labels, or aligned to a given JSON.

Our own GT (built by :mod:`ca_yolo.data.cocojson`, as ``ca-yolo data gt`` builds it) takes image
ids from the file stems and classes as ``id = class index + 1``.
A GT JSON made elsewhere (e.g. by ``ca-yolo data voc``) keeps its own ids; :class:`GroundTruth`
records how our images and class indices map onto them so predictions can be written with the
right ids.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ca_yolo.data.layout import relative_name as _relative_name
from ca_yolo.evaluation.dataset import DatasetError, SplitData


@dataclass
class GroundTruth:
    """COCO GT plus the map from our split to its ids.

    Attributes:
        coco: the COCO dict (``images``, ``annotations``, ``categories``).
        image_ids: image path (absolute, as in :attr:`SplitData.images`) -> COCO image id.
        category_ids: class index -> COCO category id.
        source: the JSON file it came from, or None when built from the YOLO labels.
    """

    coco: dict
    image_ids: dict[Path, int]
    category_ids: list[int]
    source: Path | None = None


def build_coco_gt(split: SplitData) -> GroundTruth:
    """Build COCO GT from the split's YOLO label files: the same builder as ``ca-yolo data gt``.

    Image ids follow :func:`ca_yolo.data.cocojson.image_id_from_stem` (as Ultralytics' own
    ``save_json`` does for numeric stems); category ids are ``class index + 1`` (or the YAML's
    ``coco_gt_cat_ids``); boxes in pixels, ``area = w * h``.

    Raises:
        DatasetError: a bad label row or image (the message names file and row), or two images
            whose stems give one id.
    """
    from ca_yolo.data.cocojson import build_coco_gt as build_dict
    from ca_yolo.data.cocojson import gt_category_ids, gt_images_from_labels
    from ca_yolo.data.problems import DataError

    cat_ids = gt_category_ids({**split.info, "names": split.names})
    try:
        images = gt_images_from_labels(split.images, len(split.names))
        coco = build_dict(images, split.names, cat_ids, description=f"built from the YOLO labels of {split.yaml_path}")
    except DataError as e:
        raise DatasetError(str(e)) from None
    image_ids = {img: im["id"] for img, im in zip(split.images, coco["images"])}
    return GroundTruth(coco, image_ids, cat_ids)


def load_coco_gt(path: str | Path, split: SplitData) -> GroundTruth:
    """Load a COCO GT JSON and match it to the split: images by file name, classes by name.

    An image matches when the JSON's ``file_name`` equals its path relative to the dataset root,
    or else its bare file name (which must then be unique in the JSON).

    Raises:
        DatasetError: unreadable JSON, a split image or class name the JSON does not have.
    """
    path = Path(path)
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
        gt_images, gt_cats = coco["images"], coco["categories"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DatasetError(f"COCO GT '{path}' is not readable COCO JSON: {e}") from e
    by_name = {str(im["file_name"]).replace("\\", "/"): im["id"] for im in gt_images}
    by_base: dict[str, list[int]] = {}
    for im in gt_images:
        by_base.setdefault(os.path.basename(str(im["file_name"])), []).append(im["id"])
    image_ids = {}
    for img in split.images:
        rel = _relative_name(img, split.root)
        if rel in by_name:
            image_ids[img] = by_name[rel]
        elif len(by_base.get(img.name, [])) == 1:
            image_ids[img] = by_base[img.name][0]
        else:
            why = "appears more than once" if by_base.get(img.name) else "is missing"
            raise DatasetError(f"COCO GT '{path}': image '{rel}' {why} in its 'images' list")
    cat_by_name = {str(c["name"]): c["id"] for c in gt_cats}
    missing = [n for n in split.names if n not in cat_by_name]
    if missing:
        raise DatasetError(f"COCO GT '{path}': class names {missing} from the data YAML are not among its categories")
    return GroundTruth(coco, image_ids, [cat_by_name[n] for n in split.names], path)


def ground_truth_for(split: SplitData, coco_gt: str | Path | None = None, split_name: str = "val") -> GroundTruth:
    """The split's GT: ``coco_gt`` if given, else the data YAML's ``coco_gt:`` entry, else built from labels.

    The YAML's ``coco_gt:`` (as written by ``ca-yolo data voc|coco``) describes the ``val`` split
    and is relative to the dataset root; it is used for ``split_name == "val"`` only.
    """
    given = coco_gt or (split.info.get("coco_gt") if split_name == "val" else None)
    if not given:
        return build_coco_gt(split)
    from ca_yolo.data.yamlio import resolve_coco_gt

    p = resolve_coco_gt(given, split.root, split.yaml_path.parent)
    if not p.is_file():
        raise DatasetError(f"COCO GT file '{given}' not found (looked for {p})")
    return load_coco_gt(p, split)
