"""Read one split of a YOLO-format dataset: its image files, their sizes and their boxes.

Paths are resolved exactly as Ultralytics resolves them for training and validation (its own
``check_det_dataset``), so the images we evaluate are the images Ultralytics validates on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ca_yolo.errors import CaYoloError


class DatasetError(CaYoloError, ValueError):
    """A data YAML, split or label file that cannot be used; the message names the file."""


@dataclass
class SplitData:
    """One split of a YOLO dataset.

    Attributes:
        yaml_path: the data YAML it was read from.
        root: the dataset root (``path:`` in the YAML, resolved).
        names: class names, index = class id.
        images: absolute image paths, sorted (Ultralytics' order).
        info: the whole data dict as Ultralytics resolved it (``coco_gt`` etc. kept).
    """

    yaml_path: Path
    root: Path
    names: list[str]
    images: list[Path]
    info: dict = field(default_factory=dict)


def read_split(data: str | Path, split: str = "val") -> SplitData:
    """Read a split's images and class names from a data YAML.

    Raises:
        DatasetError: missing YAML, missing split key, or no images.
    """
    from ca_yolo.data.problems import DataError
    from ca_yolo.data.yamlio import list_split_images, load_checked

    try:
        info = load_checked(data, split)
        if not info.get(split):
            raise DatasetError(f"dataset '{data}' has no '{split}:' split")
        images = list_split_images(info, split)
    except DataError as e:
        raise DatasetError(str(e)) from None
    if not images:
        raise DatasetError(f"no images found in {info[split]}")
    names_raw = info["names"]
    names = [str(names_raw[i]) for i in range(len(names_raw))]
    return SplitData(Path(data).resolve(), Path(info["path"]).resolve(), names, images, info)


def check_images(split: SplitData, split_name: str = "val", listed: int = 3) -> None:
    """Decode every image of a split (see :func:`ca_yolo.data.imageio.verify_image`).

    Evaluation reads every image; an unreadable one would otherwise fail deep inside Ultralytics
    (for a non-image file, with a message about a missing HEIF module).

    Raises:
        DatasetError: naming the first ``listed`` unreadable images and how many there are.
    """
    from ca_yolo.data.imageio import verify_images

    bad = [(p, r) for p, r in verify_images(split.images).items() if isinstance(r, Exception)]
    if bad:
        names = "; ".join(str(r) for _, r in bad[:listed]) + ("; ..." if len(bad) > listed else "")
        raise DatasetError(
            f"{len(bad)} of {len(split.images)} images of the '{split_name}' split of '{split.yaml_path}' "
            f"cannot be read ({names}); fix or remove them ('ca-yolo data check' lists them all)"
        )


def read_labels(path: Path, nc: int) -> np.ndarray:
    """Parse one YOLO label file into boxes (:func:`ca_yolo.data.labelline.read_label_file`).

    Returns:
        float array (N, 5): class, cx, cy, w, h, all normalized to [0, 1] except class; a
        polygon row gives its bounding box; a missing file means an image without objects.

    Raises:
        DatasetError: a row that is not numbers, has a bad length, or a class id outside [0, nc).
    """
    from ca_yolo.data.labelline import read_label_file
    from ca_yolo.data.problems import DataError

    try:
        rows = [[p.cls, p.cx, p.cy, p.w, p.h] for p in read_label_file(path, nc)]
    except DataError as e:
        raise DatasetError(str(e)) from None
    return np.asarray(rows, dtype=np.float64).reshape(-1, 5)


def image_size(path: Path) -> tuple[int, int]:
    """Width and height of an image as OpenCV loads it (EXIF orientation applied), read from its header."""
    from ca_yolo.data.imageio import image_size as _image_size
    from ca_yolo.data.problems import DataError

    try:
        return _image_size(path)
    except DataError as e:
        raise DatasetError(str(e)) from None
