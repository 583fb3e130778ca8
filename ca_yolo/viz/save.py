"""Attention figures for a list of images, written to a folder: the entry point other tools call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ca_yolo.atomic_io import save_figure_atomic
from ca_yolo.viz.figure import draw_attention_figure
from ca_yolo.viz.predict import attention_for_images, load_model


def figure_names(images: Sequence[Path]) -> list[str]:
    """PNG file name for each image: ``<stem>_attn.png``, with the extension kept where stems repeat."""
    stems = [p.stem for p in images]
    return [
        f"{p.stem}_attn.png" if stems.count(p.stem) == 1 else f"{p.stem}_{p.suffix.lstrip('.')}_attn.png"
        for p in images
    ]


def save_attention_figures(
    weights: Any,
    images: Sequence[str | Path],
    out_dir: str | Path,
    layers: str | Sequence[int] | None = None,
    channels: str = "mean",
    k: int = 4,
    imgsz: int = 640,
    conf: float = 0.25,
    device: str | None = None,
) -> list[Path]:
    """Write one attention figure (PNG) per image into ``out_dir`` and return their paths, in order.

    Args:
        weights: checkpoint (``best.pt``), model YAML, or an ``ultralytics.YOLO``.
        images: image paths.
        out_dir: folder for the PNGs (created if needed).
        layers: ``None``/``"all"`` or layer indices to draw.
        channels: ``"mean"`` (channel mean) or ``"topk"`` (the ``k`` channels with the largest spread).
        imgsz, conf, device: prediction settings.

    Raises:
        NoAttentionLayersError: the model has no CoordAtt-like layer. ValueError: bad layers/channels.
    """
    from ca_yolo.viz.figure import CHANNEL_MODES

    if channels not in CHANNEL_MODES:
        raise ValueError(f"channels='{channels}' must be one of {', '.join(CHANNEL_MODES)}")
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    paths = [Path(p) for p in images]
    out = Path(out_dir)
    yolo = load_model(weights)
    written = []
    for path, name in zip(paths, figure_names(paths)):
        (att,) = attention_for_images(yolo, [path], layers=layers, imgsz=imgsz, conf=conf, device=device)
        written.append(save_figure_atomic(draw_attention_figure(att, channels=channels, k=int(k)), out / name))
    return written
