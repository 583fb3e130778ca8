"""Where a YOLO dataset's files are: its images and their label files, by Ultralytics' own rules.

The one place ca-yolo lists a split's images and finds an image's label file; ``data check``,
``data gt``, evaluation and ``compare`` all go through it, so they see the very files Ultralytics
trains and validates on. Ultralytics' rules are called, not copied: its ``IMG_FORMATS`` and
``img2label_paths`` (imported when first needed, so the help texts stay fast).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from .problems import DataError


def image_formats() -> frozenset[str]:
    """File suffixes (lower case, no dot) Ultralytics reads as images."""
    from ultralytics.data.utils import IMG_FORMATS

    return frozenset(IMG_FORMATS)


def find_images(sources: Iterable[str | Path]) -> list[Path]:
    """The images of a split given as folders (searched recursively) and/or ``.txt`` lists of files.

    As Ultralytics' dataset does: ``./x`` entries of a list are relative to the list's folder; files
    are kept by suffix; the result is sorted as strings (Ultralytics' order) and absolute but not
    resolved, so a symlinked image keeps its path (and its label file) inside the dataset.

    Raises:
        DataError: a source that does not exist.
    """
    found: list[str] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            found += glob.glob(os.path.join(glob.escape(str(p)), "**", "*.*"), recursive=True)
        elif p.is_file():
            for line in p.read_text(encoding="utf-8-sig").splitlines():
                line = line.strip()
                if line:
                    found.append(str(p.parent / line[2:]) if line.startswith("./") else line)
        else:
            raise DataError(f"path {p} does not exist")
    formats = image_formats()
    return [Path(f) for f in sorted({os.path.abspath(f) for f in found if f.rpartition(".")[-1].lower() in formats})]


def label_path(image: str | Path) -> Path:
    """The label file Ultralytics reads for ``image`` (its ``img2label_paths``: last ``/images/`` -> ``/labels/``)."""
    from ultralytics.data.utils import img2label_paths

    return Path(img2label_paths([str(image)])[0])


def relative_name(image: Path, root: Path) -> str:
    """``image`` relative to the dataset root with '/' separators, or its absolute path if outside the root."""
    try:
        return Path(image).relative_to(root).as_posix()
    except ValueError:
        return Path(image).as_posix()
