"""matplotlib for the package's figures: pyplot on the file-only backend, and saving that closes."""

from __future__ import annotations

from pathlib import Path

from ca_yolo.atomic_io import save_figure_atomic


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_and_close(fig, path: str | Path, dpi: int = 110) -> Path:
    """Save a pyplot figure as PNG atomically (tight bounding box) and close it: pyplot keeps every
    open figure alive until closed."""
    try:
        return save_figure_atomic(fig, path, dpi=dpi, bbox_inches="tight")
    finally:
        pyplot().close(fig)
