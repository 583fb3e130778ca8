"""What each Coordinate Attention layer attends to: raw gate maps (numpy) and figures.

- :func:`capture_attention` — context manager recording every attention layer's gates during
  forward passes (hooks removed afterwards; outputs unchanged).
- :func:`attention_for_images` — detections and maps of the same predictor pass, per image.
- :func:`save_attention_figures` — one PNG per image (used by ``ca-yolo attn``).
- :func:`report_attention_figures` / :func:`attention_markdown` — figures for each CA model of a
  comparison and the report section linking them.
"""

from ca_yolo.viz.capture import (
    AttentionCapture,
    AttentionLayer,
    AttentionMap,
    NoAttentionLayersError,
    capture_attention,
    find_attention_layers,
    is_attention_layer,
    select_layers,
)
from ca_yolo.viz.predict import ImageAttention, attention_for_images, list_images
from ca_yolo.viz.report import attention_markdown, report_attention_figures
from ca_yolo.viz.save import save_attention_figures

__all__ = [
    "AttentionCapture",
    "AttentionLayer",
    "AttentionMap",
    "ImageAttention",
    "NoAttentionLayersError",
    "attention_for_images",
    "attention_markdown",
    "capture_attention",
    "find_attention_layers",
    "is_attention_layer",
    "list_images",
    "report_attention_figures",
    "save_attention_figures",
    "select_layers",
]
