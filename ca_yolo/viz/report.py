"""Attention figures for a comparison report: a few val images for each model that has CA layers."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ca_yolo.viz.capture import find_attention_layers
from ca_yolo.viz.predict import load_model
from ca_yolo.viz.save import save_attention_figures


def report_attention_figures(
    models: Mapping[str, Any],
    images: Sequence[str | Path],
    out_dir: str | Path,
    imgsz: int = 640,
    conf: float = 0.25,
    device: str | None = None,
) -> dict[str, list[Path]]:
    """Write attention figures of ``images`` for every model with attention layers; skip the others.

    Args:
        models: model name -> checkpoint path (or ``ultralytics.YOLO``), e.g. ``{"yolov8n-ca": "…/best.pt"}``.
        images: the (few) val images to draw.
        out_dir: figures go to ``out_dir/<model name>/<image stem>_attn.png``.

    Returns:
        model name -> written PNG paths, only for models that have attention layers (in ``models`` order).
    """
    written: dict[str, list[Path]] = {}
    for name, weights in models.items():
        yolo = load_model(weights)
        if not find_attention_layers(yolo.model):
            continue  # a baseline or channel-only attention model: nothing coordinate-wise to draw
        written[name] = save_attention_figures(
            yolo, images, Path(out_dir) / name, imgsz=imgsz, conf=conf, device=device
        )
    return written


def attention_markdown(figures: Mapping[str, Sequence[Path]], report_dir: str | Path) -> str:
    """A markdown section linking the figures (paths relative to ``report_dir``); empty if none."""
    if not figures:
        return ""
    lines = [
        "## What the attention layers attend to",
        "",
        "Per image: the detections, then for each CoordAtt layer the attention map g_h ⊗ g_w averaged over "
        "channels, over the image (colour range per panel), with g_h along the left edge and g_w along the "
        "bottom. Titles give the layer index, stride and channel count.",
        "",
    ]
    for name, paths in figures.items():
        lines += [f"### {name}", ""]
        for p in paths:
            rel = Path(os.path.relpath(p, report_dir)).as_posix()
            lines += [f"![{name}: {Path(p).stem}]({rel})", ""]
    return "\n".join(lines)
