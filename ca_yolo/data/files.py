"""Put source images and their labels into the output dataset; images copied (default), hard- or symlinked."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from .labels import write_label_file

IMAGE_MODES = ("copy", "hardlink", "symlink")


def place_image(src: Path, dst: Path, mode: str = "copy") -> None:
    """Make ``dst`` show the image ``src``.

    ``copy`` is the default because it is the only mode where nothing done to the output can
    reach the source: Ultralytics rewrites JPEGs it finds corrupt *in place*, which would go
    through a hard link or a symbolic link. ``hardlink`` falls back to a copy across filesystems.
    """
    if mode == "copy":
        shutil.copyfile(src, dst)
    elif mode == "hardlink":
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    elif mode == "symlink":
        os.symlink(Path(src).resolve(), dst)
    else:
        raise ValueError(f"image mode must be one of {IMAGE_MODES}, not {mode!r}")


def write_split(root: Path, split: str, items: Iterable[tuple[Path, list[str]]], mode: str = "copy") -> None:
    """Fill ``root/images/<split>/`` and ``root/labels/<split>/`` (both created, must not exist).

    Args:
        items: ``(source image, YOLO label lines)`` pairs; an image keeps its file name and its
            label file is ``<image stem>.txt``.
        mode: how images are placed, see :func:`place_image`.
    """
    images, labels = root / "images" / split, root / "labels" / split
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for src, lines in items:
        place_image(src, images / src.name, mode)
        write_label_file(labels / f"{src.stem}.txt", lines)
