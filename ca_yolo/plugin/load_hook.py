"""Make ``pretrained=base.pt`` work for attention variants in training (CLI and Python alike).

Every Ultralytics trainer (detect, segment, pose, obb, ...) and ``YOLO(...).load()`` put
pretrained weights into a freshly built model through one method, ``BaseModel.load(weights)``,
before EMA, layer freezing and DDP wrap the model. Wrapping that method is therefore the one place
that covers them all: ``ca-yolo train model=yolov8n-ca.yaml pretrained=yolov8n.pt`` and
``YOLO("yolov8n-ca.yaml").train(pretrained="yolov8n.pt")`` both arrive here.

The wrapper changes nothing unless the receiving model contains registered (ca-yolo) layers. Then:

- same layers as the checkpoint (e.g. fine-tuning a CA checkpoint): Ultralytics' load, unchanged;
- the checkpoint is the variant's base: index-aware transfer (:mod:`ca_yolo.transfer.weights`), logging
  ``Transferred N/N baseline tensors``;
- anything else: :class:`~ca_yolo.transfer.align.TransferError`, naming the first differing row,
  instead of Ultralytics silently loading whatever keys happen to match.
"""

from __future__ import annotations

from collections.abc import Callable

from ca_yolo.nn.registry import registered_classes
from ca_yolo.plugin.run_folders import remove_fresh_run_folder
from ca_yolo.plugin.wrapping import is_wrapped, mark_wrapper
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

    return mark_wrapper(load, original)


def add_load_hook() -> None:
    """Wrap ``ultralytics.nn.tasks.BaseModel.load`` (idempotent)."""
    from ultralytics.nn.tasks import BaseModel

    if not is_wrapped(BaseModel.load):
        BaseModel.load = wrap_load(BaseModel.load)


def check_pretrained_early(trainer) -> None:
    """Trainer callback (``on_pretrain_routine_start``): refuse a non-base ``pretrained=`` checkpoint now.

    Ultralytics creates the run folder (``args.yaml``, ``weights/``) before it loads pretrained
    weights, so a checkpoint refused at load time would leave that folder behind. The same check as
    the load hook runs here, on the YAML dicts only, and a refused run removes the folder it just got
    (only when it holds nothing but ``args.yaml`` and an empty ``weights/``).
    """
    from pathlib import Path

    args = getattr(trainer, "args", None)
    pretrained, model = getattr(args, "pretrained", None), getattr(args, "model", None)
    if not (isinstance(pretrained, str) and Path(pretrained).is_file() and str(model).endswith((".yaml", ".yml"))):
        return
    from ultralytics.nn.tasks import yaml_model_load

    from ca_yolo.nn.registry import get_layer
    from ca_yolo.plugin.yaml_rows import model_rows
    from ca_yolo.transfer.align import TransferError, align

    target = yaml_model_load(model)
    if not any(isinstance(r[2], str) and get_layer(r[2]) for r in model_rows(target)):
        return
    from ca_yolo.plugin.checkpoint import checkpoint_model, read_checkpoint

    try:
        source = checkpoint_model(read_checkpoint(pretrained, "pretrained checkpoint"), pretrained)
    except Exception:
        remove_fresh_run_folder(Path(trainer.save_dir))  # refused before any weights: leave no run folder
        raise
    if not isinstance(getattr(source, "yaml", None), dict):
        return  # the load hook reports what is missing
    try:
        align(source.yaml, target, f"checkpoint '{pretrained}'")
    except TransferError:
        remove_fresh_run_folder(Path(trainer.save_dir))
        raise
