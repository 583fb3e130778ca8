"""Put source images and their labels into the output dataset; images copied (default), hard- or symlinked."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from .labels import write_label_file
from .problems import DataError

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


def name_clashes(sources: Iterable[Path]) -> dict[Path, Path]:
    """Sources that would land on an earlier source's output files: ``{later source: earlier source}``.

    Converters write every image of a split into one folder under its file name, with its labels in
    ``<stem>.txt``; two sources with one stem (``camA/frame1.jpg`` and ``camB/frame1.jpg``, or
    ``a.jpg`` and ``a.png``, which Ultralytics would give one label file) would overwrite each
    other, so the later one is reported instead of silently losing the first.
    """
    first: dict[str, Path] = {}
    clashes: dict[Path, Path] = {}
    for src in sources:
        src = Path(src)
        if src.stem in first:
            clashes[src] = first[src.stem]
        else:
            first[src.stem] = src
    return clashes


def write_split(root: Path, split: str, items: Iterable[tuple[Path, list[str]]], mode: str = "copy") -> dict[str, int]:
    """Fill ``root/images/<split>/`` and ``root/labels/<split>/`` (both created, must not exist).

    Args:
        items: ``(source image, YOLO label lines)`` pairs; an image keeps its file name and its
            label file is ``<image stem>.txt``.
        mode: how images are placed, see :func:`place_image`.

    Returns:
        ``{"images": n, "boxes": m}``: what was written, so the converters' logs report what is on
        disk rather than what they meant to write.

    Raises:
        DataError: two items with one output name (callers check :func:`name_clashes` first; this
            is the last guard against one file overwriting another).
    """
    images, labels = root / "images" / split, root / "labels" / split
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    written: dict[str, Path] = {}
    boxes = 0
    for src, lines in items:
        if src.stem in written:
            raise DataError(f"{src}: would overwrite the output of {written[src.stem]} (same name {src.stem})")
        written[src.stem] = src
        place_image(src, images / src.name, mode)
        write_label_file(labels / f"{src.stem}.txt", lines)
        boxes += len(lines)
    return {"images": len(written), "boxes": boxes}
