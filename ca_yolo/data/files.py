"""Put source images into the output dataset: copy (default), hard link or symbolic link."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

IMAGE_MODES = ("copy", "hardlink", "symlink")

# Suffixes Ultralytics reads as images (lower case, without the dot).
IMAGE_SUFFIXES = frozenset({"bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm", "heic", "avif"})


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
