"""Reading images with OpenCV: decode checks and sizes, with errors that name the file."""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from .problems import DataError


def decode_image(path: str | Path) -> np.ndarray:
    """Decode an image file (BGR, HxWx3 uint8) or raise DataError naming the file.

    Reads the bytes with numpy so that non-ASCII paths work on every platform.
    """
    path = Path(path)
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise DataError(f"{path}: cannot read image ({e.strerror or e})") from None
    if buf.size == 0:
        raise DataError(f"{path}: image file is empty")
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"{path}: not a decodable image (corrupt or unsupported format)")
    return img


MIN_SIDE = 10  # Ultralytics' loader drops images with a side under 10 pixels as corrupt


def verify_image(path: str | Path) -> tuple[int, int]:
    """Prove an image is usable for training and return its ``(width, height)``; else raise DataError.

    Two checks, matching what Ultralytics does with the file later: a full OpenCV decode (how its
    loader reads pixels) and PIL's ``verify`` (how its dataset scan accepts a file). OpenCV goes
    first because a file PIL cannot identify sends Ultralytics' patched ``Image.open`` off to
    install a HEIF plugin, which fails offline with a message about a missing module instead of
    the file. Cost: about 1 ms per VOC-sized JPEG (docs/reliability.md).
    """
    path = Path(path)
    img = decode_image(path)
    h, w = img.shape[:2]
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
    except Exception as e:  # noqa: BLE001  (any PIL failure means Ultralytics' scan rejects the file)
        raise DataError(f"{path}: image fails PIL's check ({type(e).__name__}: {e})") from None
    if min(w, h) < MIN_SIDE:
        raise DataError(f"{path}: image is {w}x{h} pixels; Ultralytics rejects images under {MIN_SIDE} pixels a side")
    return w, h


def verify_images(paths: Iterable[Path], workers: int | None = None) -> dict[Path, tuple[int, int] | DataError]:
    """:func:`verify_image` for many files on a thread pool (decoding releases the GIL).

    Returns:
        path -> ``(width, height)``, or the DataError saying why that file is unusable.
    """

    def one(p: Path) -> tuple[int, int] | DataError:
        try:
            return verify_image(p)
        except DataError as e:
            return e

    paths = list(paths)
    with ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1)) as pool:
        return dict(zip(paths, pool.map(one, paths)))


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image as OpenCV loads it (EXIF orientation applied), from its header.

    Ultralytics' own rule (``exif_size``) is called; nothing is decoded, so this is cheap.
    """
    from PIL import Image
    from ultralytics.data.utils import exif_size

    try:
        with Image.open(path) as im:
            w, h = exif_size(im)
    except Exception as e:  # noqa: BLE001  (any failure to read the header means an unusable image)
        raise DataError(f"{path}: cannot read the image size ({type(e).__name__}: {e})") from None
    return int(w), int(h)


def exif_swaps_sides(path: str | Path) -> bool:
    """True when the image's EXIF orientation turns it by 90 degrees (tags 5-8), so that it is
    loaded (by OpenCV and Ultralytics) with width and height swapped from the stored pixels."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # 0x0112: the EXIF Orientation tag
    except Exception:  # noqa: BLE001  (an unreadable header is reported by the decode checks, not here)
        return False


def size_mismatch(path: str | Path, got: tuple[int, int], said: tuple[float, float], source: str) -> str:
    """Why an image of size ``got`` (as loaded) does not fit the ``said`` size of its annotation ``source``.

    A phone photo whose EXIF orientation turns it is loaded turned while annotation tools often
    record the stored size; that case is named, since the fix (rotate the pixels, or the boxes) differs.
    """
    text = f"image is {got[0]}x{got[1]} but {source} says {said[0]:g}x{said[1]:g}"
    if (got[1], got[0]) == (int(said[0]), int(said[1])) and exif_swaps_sides(path):
        text += (
            f" (its EXIF rotation turns the stored {got[1]}x{got[0]} pixels by 90 degrees when loaded; "
            "write the rotation into the pixels, or annotate the rotated image)"
        )
    return text


def read_image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image, decoding it (which also proves it is readable)."""
    h, w = decode_image(path).shape[:2]
    return w, h


def jpeg_is_truncated(path: str | Path) -> bool:
    """True when a JPEG file does not end with the end-of-image marker (FF D9).

    Decoders often still show such files, but Ultralytics rewrites them *in place* when it
    meets them, so the checker reports them.
    """
    with open(path, "rb") as f:
        f.seek(0, 2)
        if f.tell() < 4:
            return True
        f.seek(-2, 2)
        return f.read(2) != b"\xff\xd9"


def write_jpeg(path: str | Path, img: np.ndarray, quality: int = 92) -> None:
    """Encode ``img`` (HxWx3 uint8 BGR) as a JPEG at ``path``; raise DataError if encoding fails."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise DataError(f"{path}: JPEG encoding failed")
    Path(path).write_bytes(buf.tobytes())
