"""Reading images with OpenCV: decode checks and sizes, with errors that name the file."""

from __future__ import annotations

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
