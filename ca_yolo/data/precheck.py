"""What ``train`` and ``compare`` check of a dataset before any training: label class ids and the task.

Ultralytics drops a label file with a class id outside the data YAML's ``names`` (with a warning)
and trains on the rest, and a segmentation model given box-only labels fails only inside the first
training step. Both are cheap to find from the label files, so they are refused up front, in one
line naming the file and line (or the model and the dataset), before any run folder exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ca_yolo.data.labelline import read_label_file
from ca_yolo.data.layout import label_path
from ca_yolo.data.problems import DataError
from ca_yolo.data.yamlio import list_split_images

# How many label files are read to tell box labels from polygons: a converter writes one kind.
_TASK_SAMPLE = 20


def check_label_classes(data: dict, yaml_path: str | Path, splits: tuple[str, ...] = ("train", "val")) -> None:
    """Refuse the first label line of ``splits`` that does not parse or whose class id is outside ``names``.

    Args:
        data: the loaded data YAML (:func:`ca_yolo.data.yamlio.load_checked`: ``names``, the splits).
        yaml_path: the data YAML, for the message.

    Raises:
        DataError: ``<label file>:<line>: class id 3 is not in 0..1 ('<yaml>' names 2 classes)``.
    """
    nc = len(data["names"])
    for split in splits:
        if not data.get(split):
            continue
        try:
            check_labels(list_split_images(data, split), nc)
        except DataError as e:
            raise DataError(f"{e} ('{yaml_path}' names {nc} classes)") from None


def check_labels(images: Iterable[Path], nc: int) -> None:
    """Refuse the first line of the images' label files that does not parse or names a class outside 0..nc-1.

    Ultralytics' loader drops such a file with a warning; evaluation against a ``coco_gt`` JSON
    would then see fewer images than the split only after inference, without naming the line.

    Raises:
        DataError: ``<label file>:<line>: class id 7 is not in 0..3`` (:func:`read_label_file`'s message).
    """
    for image in images:
        read_label_file(label_path(image), nc)


def labels_kind(data: dict, split: str = "train") -> str | None:
    """``"boxes"`` or ``"polygons"``: what the first non-empty label files of ``split`` hold (None: no labels)."""
    if not data.get(split):
        return None
    seen = 0
    for image in list_split_images(data, split):
        try:
            text = label_path(image).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            continue
        line = next((s for s in text.splitlines() if s.strip()), None)
        if line is None:
            continue
        if len(line.split()) > 5:
            return "polygons"
        seen += 1
        if seen >= _TASK_SAMPLE:
            break
    return "boxes" if seen else None


def task_problem(task: str, data: dict, split: str = "train") -> str | None:
    """Why a ``task`` model cannot be trained or validated on ``data`` (in words), or None when it can.

    Detection trains on boxes and on polygons (their bounding boxes); segmentation needs polygons;
    pose needs ``kpt_shape`` in the YAML; classification takes an image folder, never a data YAML.
    OBB labels cannot be told from polygons by their length, so they are left to Ultralytics.
    """
    if task == "classify":
        return "a classify model trains on an image folder per class, not on a detection data YAML"
    if task == "pose" and "kpt_shape" not in data:
        return "a pose model needs keypoint labels, and the data YAML has no kpt_shape"
    if task == "segment" and labels_kind(data, split) == "boxes":
        return f"a segment model needs polygon labels, and the '{split}' labels are boxes (5 values a line)"
    return None
