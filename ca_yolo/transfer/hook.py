"""Make ``pretrained=base.pt`` work for attention variants in training (CLI and Python alike).

Every Ultralytics trainer (detect, segment, pose, obb, ...) and ``YOLO(...).load()`` put
pretrained weights into a freshly built model through one method, ``BaseModel.load(weights)``,
before EMA, layer freezing and DDP wrap the model. Wrapping that method is therefore the one place
that covers them all: ``ca-yolo train model=yolov8n-ca.yaml pretrained=yolov8n.pt`` and
``YOLO("yolov8n-ca.yaml").train(pretrained="yolov8n.pt")`` both arrive here.

The wrapper changes nothing unless the receiving model contains registered (ca-yolo) layers. Then:

- same layers as the checkpoint (e.g. fine-tuning a CA checkpoint): Ultralytics' load, unchanged;
- the checkpoint is the variant's base: index-aware transfer (:mod:`.weights`), logging
  ``Transferred N/N baseline tensors``;
- anything else: :class:`~ca_yolo.transfer.align.TransferError`, naming the first differing row,
  instead of Ultralytics silently loading whatever keys happen to match.
"""

from __future__ import annotations

from collections.abc import Callable

from ca_yolo.nn.registry import registered_classes
from ca_yolo.transfer.weights import align_models, log_result, transfer


def has_registered_layers(model) -> bool:
    """Whether ``model.model`` (the layer sequence) contains a ca-yolo layer."""
    classes = tuple(registered_classes())
    return any(isinstance(m, classes) for m in getattr(model, "model", []))


def wrap_load(original: Callable) -> Callable:
    """Return a ``BaseModel.load`` that maps a baseline's layers onto an attention variant."""

    def load(self, weights, verbose=True):
        source = (weights.get("ema") or weights["model"]) if isinstance(weights, dict) else weights
        if not has_registered_layers(self):
            return original(self, weights, verbose)
        what = f"checkpoint '{getattr(source, 'pt_path', None)}'" if getattr(source, "pt_path", None) else "checkpoint"
        alignment = align_models(source, self, what)
        if alignment.identity:
            return original(self, weights, verbose)
        result = transfer(self, source, alignment, load=original)
        if verbose:
            log_result(result, what)
        return None

    load.__doc__ = original.__doc__
    load.__wrapped__ = original
    load._ca_yolo_wrapper = True
    return load


def add_load_hook() -> None:
    """Wrap ``ultralytics.nn.tasks.BaseModel.load`` (idempotent)."""
    from ultralytics.nn.tasks import BaseModel

    if not getattr(BaseModel.load, "_ca_yolo_wrapper", False):
        BaseModel.load = wrap_load(BaseModel.load)
