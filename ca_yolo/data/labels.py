"""YOLO label lines from pixel boxes, with the checks every converter applies to a box."""

from __future__ import annotations

from pathlib import Path

# A box may overshoot the image by this many pixels before it is an error; it is then clipped.
# Annotation tools round edges, so boxes touching the border are often off by one.
EDGE_TOLERANCE_PX = 1.0


def clip_box(
    x0: float, y0: float, x1: float, y1: float, width: float, height: float, tol: float = EDGE_TOLERANCE_PX
) -> tuple[float, float, float, float]:
    """Return the box clipped to the image, or raise ValueError saying what is wrong with it.

    Coordinates are 0-based pixel edges (``x0 < x1``, ``y0 < y1``). A box reaching more than
    ``tol`` pixels outside ``[0, width] x [0, height]`` is an error, as is one with no area.
    """
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"box ({x0:g},{y0:g},{x1:g},{y1:g}) has zero or negative size")
    if x0 < -tol or y0 < -tol or x1 > width + tol or y1 > height + tol:
        raise ValueError(f"box ({x0:g},{y0:g},{x1:g},{y1:g}) lies outside the {width:g}x{height:g} image")
    x0, y0 = max(x0, 0.0), max(y0, 0.0)
    x1, y1 = min(x1, float(width)), min(y1, float(height))
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"box ({x0:g},{y0:g},{x1:g},{y1:g}) has no area inside the image")
    return x0, y0, x1, y1


def yolo_line(cls: int, x0: float, y0: float, x1: float, y1: float, width: float, height: float) -> str:
    """One YOLO label line ``"cls cx cy w h"`` (normalised to 0..1, 6 decimals) for a pixel box."""
    cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
    w, h = (x1 - x0) / width, (y1 - y0) / height
    return f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def write_label_file(path: Path, lines: list[str]) -> None:
    """Write label lines (an empty file means an image without objects)."""
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
