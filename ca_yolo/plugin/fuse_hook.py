"""Hook the attention layers' inference form into Ultralytics' ``BaseModel.fuse``.

Ultralytics folds its own Conv + BatchNorm pairs in ``BaseModel.fuse``, which ``predict``, ``val``
and ``export`` call (through ``AutoBackend`` / the exporter) but which only knows its own layer
classes. The wrapper runs the original and then :func:`ca_yolo.nn.fuse.fuse_attention`, so every
attention layer of a fused model runs its short inference form. Nothing in Ultralytics is edited.
"""

from __future__ import annotations

import functools

from ca_yolo.nn.fuse import fuse_attention
from ca_yolo.plugin.wrapping import mark_wrapper


def wrap_base_model_fuse(fuse):
    """Return ``fuse`` (``BaseModel.fuse``) followed by :func:`fuse_attention` on the same model."""

    @functools.wraps(fuse)
    def fuse_with_attention(self, *args, **kwargs):
        out = fuse(self, *args, **kwargs)
        fuse_attention(self)  # even when Ultralytics found nothing left to fuse: constants are remade
        return out

    return mark_wrapper(fuse_with_attention, fuse)
