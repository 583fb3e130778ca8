"""Run Ultralytics' predictor on images and capture the attention maps of that same forward pass.

The predictor letterboxes each image, so the maps are taken from the very pass that produced the
detections and mapped back onto the original image with :class:`~ca_yolo.viz.geometry.Letterbox`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch.nn as nn

from ca_yolo.viz.capture import AttentionMap, capture_attention, find_attention_layers, select_layers
from ca_yolo.viz.geometry import Letterbox


@dataclass
class ImageAttention:
    """One image, its detections and the attention maps of every captured layer."""

    path: Path
    image: np.ndarray  # original image, BGR (h0, w0, 3) uint8
    result: Any  # ultralytics.engine.results.Results of the same forward pass
    maps: list[AttentionMap]
    letterbox: Letterbox

    def on_image(self, grid: np.ndarray) -> np.ndarray:
        """A (H, W) feature-grid array resampled onto the original image: (h0, w0)."""
        return self.letterbox.to_image(grid)


def load_model(weights: Any):
    """An ``ultralytics.YOLO`` from a checkpoint / YAML path, or ``weights`` itself if it is one.

    Raises:
        FileNotFoundError: a ``.pt`` path that does not exist.
    """
    from ultralytics import YOLO

    import ca_yolo  # noqa: F401  (CoordAtt must be importable to unpickle a CA checkpoint)

    if isinstance(weights, YOLO):
        return weights
    path = Path(str(weights))
    if path.suffix == ".pt" and not path.is_file():
        raise FileNotFoundError(f"checkpoint '{weights}' not found")
    return YOLO(str(weights))


def list_images(source: str | Path | Sequence[str | Path]) -> list[Path]:
    """Image files of ``source``: one image, a folder (its images, sorted, not recursive), or a list.

    Raises:
        FileNotFoundError: a path that does not exist, or a folder without images.
        ValueError: a file that is not an image type Ultralytics reads.
    """
    from ultralytics.data.utils import IMG_FORMATS

    if isinstance(source, (list, tuple)):
        return [p for s in source for p in list_images(s)]
    path = Path(source)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix[1:].lower() in IMG_FORMATS)
        if not found:
            raise FileNotFoundError(f"no images ({', '.join(sorted(IMG_FORMATS))}) in folder '{path}'")
        return found
    if not path.is_file():
        raise FileNotFoundError(f"source '{path}' not found")
    if path.suffix[1:].lower() not in IMG_FORMATS:
        raise ValueError(f"source '{path}' is not an image (expected one of: {', '.join(sorted(IMG_FORMATS))})")
    return [path]


def _network(yolo) -> nn.Module:
    """The PyTorch network the predictor runs (a copy of ``yolo.model`` made at predictor setup)."""
    backend = yolo.predictor.model
    inner = getattr(backend, "model", None)  # AutoBackend hands attribute lookups to its backend
    if isinstance(inner, nn.Module):
        return inner
    if isinstance(backend, nn.Module):
        return backend
    raise TypeError(f"the predictor runs a '{getattr(backend, 'format', '?')}' model; attention maps need a .pt model")


def attention_for_images(
    weights: Any,
    images: Sequence[str | Path],
    layers: str | Sequence[int] | None = None,
    imgsz: int = 640,
    conf: float = 0.25,
    device: str | None = None,
) -> list[ImageAttention]:
    """Detect on each image and capture every selected attention layer's gates in that same pass.

    Args:
        weights: checkpoint path (``best.pt``), model YAML, or an ``ultralytics.YOLO``.
        images: image paths (see :func:`list_images` to expand a folder).
        layers: ``None``/``"all"`` or layer indices, e.g. ``[5, 8]`` or ``"5,8"``.
        imgsz, conf, device: passed to ``YOLO.predict``.

    Returns:
        One :class:`ImageAttention` per image, in order; its maps' ``g_h`` (C, H) and ``g_w`` (C, W)
        are numpy arrays in (0, 1).

    Raises:
        NoAttentionLayersError: the model has no attention layer. ValueError: bad ``layers``.
    """
    yolo = load_model(weights)
    select_layers(find_attention_layers(yolo.model), layers)  # fail before any prediction
    paths = [Path(p) for p in images]
    out: list[ImageAttention] = []
    for path in paths:
        image = cv2.imread(str(path))
        if image is None:
            raise ValueError(f"cannot read image '{path}'")
        kw = dict(imgsz=imgsz, conf=conf, device=device, verbose=False)
        if yolo.predictor is None:  # set the predictor up (it runs a copy of the model) before hooking it
            yolo.predict(np.zeros((32, 32, 3), np.uint8), **kw)
        with capture_attention(_network(yolo), layers) as cap:
            (result,) = yolo.predict(image, **kw)
        box = Letterbox.from_shapes(image.shape[:2], cap.input_shapes[-1][-2:])
        out.append(ImageAttention(path, image, result, cap.maps(item=0, call=-1), box))
    return out
