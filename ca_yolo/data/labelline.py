"""One YOLO label line, parsed by the rules of Ultralytics' loader (``verify_image_label``).

Every reader of label files in ca-yolo (``data check``, ``data gt``, evaluation's ground truth)
parses lines here, so they accept and reject the same lines:

* ``cls cx cy w h``: a box, 5 numbers;
* ``cls x1 y1 x2 y2 x3 y3 ...``: a polygon (segment), whose bounding box is used; Ultralytics
  treats a row of more than 6 values as a segment, so a polygon has at least 3 points;
* the class id is a number with an integer value: ``1`` and ``1.0`` are both class 1, as for
  Ultralytics (which reads labels as floats and checks ``cls % 1 == 0``).

Range checks (class id below ``nc``, coordinates in [0, 1]) are the callers' business: ``data
check`` reports them as findings, evaluation refuses them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ca_yolo.errors import CaYoloError

from .problems import DataError


class LabelLineError(CaYoloError, ValueError):
    """A label line that is not a box or polygon; the message says why (without file and line).

    ``kind`` is ``"class"`` for a class id that is not an integer, else ``"malformed"``.
    """

    def __init__(self, message: str, kind: str = "malformed"):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class LabelLine:
    """A parsed label line: class id, its box (normalised ``cx, cy, w, h``) and the raw coordinates."""

    cls: int
    cx: float
    cy: float
    w: float
    h: float
    values: tuple[float, ...]  # the numbers after the class id, as written

    @property
    def is_polygon(self) -> bool:
        return len(self.values) != 4


def parse_label_line(line: str) -> LabelLine | None:
    """Parse one line of a YOLO label file; None for a blank line.

    Raises:
        LabelLineError: not numbers, a non-integer class id, or a count that is neither 5 values
            nor a polygon.
    """
    parts = line.split()
    if not parts:
        return None
    try:
        cls_f, *vals = (float(p) for p in parts)
    except ValueError:
        raise LabelLineError(f"not numbers: {line.strip()[:60]!r}") from None
    if not math.isfinite(cls_f) or cls_f != int(cls_f):  # int() of nan/inf would raise, not name the line
        raise LabelLineError(f"class id {parts[0]} is not an integer", kind="class")
    if len(vals) == 4:
        cx, cy, w, h = vals
    elif len(vals) >= 6 and len(vals) % 2 == 0:
        xs, ys = vals[0::2], vals[1::2]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    else:
        raise LabelLineError(f"{len(parts)} values, expected 5 (cls cx cy w h) or a polygon")
    return LabelLine(int(cls_f), cx, cy, w, h, tuple(vals))


def read_label_file(path: str | Path, nc: int) -> list[LabelLine]:
    """Every box of one label file (a missing file: an image without objects).

    Raises:
        DataError: ``<file>:<line>: <why>`` for a line that does not parse or a class id outside 0..nc-1.
    """
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        try:
            p = parse_label_line(line)
        except LabelLineError as e:
            what = f"class id {line.split()[0]} is not in 0..{nc - 1}" if e.kind == "class" else str(e)
            raise DataError(f"{path}:{n}: {what}") from None
        if p is None:
            continue
        if not 0 <= p.cls < nc:
            raise DataError(f"{path}:{n}: class id {line.split()[0]} is not in 0..{nc - 1}")
        out.append(p)
    return out
