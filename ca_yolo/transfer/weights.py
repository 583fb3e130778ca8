"""Start an attention variant from its baseline's weights (``pretrained=yolov8n.pt`` for ``yolov8n-ca.yaml``).

Ultralytics transfers pretrained tensors by state-dict key, ``model.<layer index>.…``, and shape;
inserting attention rows shifts every later index, so almost nothing would match. Here the base's
layers are lined up with the variant's (:func:`ca_yolo.transfer.align.align`) and Ultralytics' own
``BaseModel.load`` is run on a *re-indexed view* of the checkpoint model: the same layer objects
in a sequence with an empty ``nn.Identity`` at each inserted row. Every base tensor then carries
its variant key, and Ultralytics' usual rules (new class count, first-conv channels, ...) still
apply. The inserted attention layers keep their fresh initialisation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ca_yolo.transfer.align import Alignment, TransferError, align


@dataclass
class TransferResult:
    """Outcome of :func:`transfer_weights`.

    Attributes:
        n_transferred: Baseline tensors that arrived unchanged at their new index.
        n_baseline: All tensors (parameters and buffers) of the baseline checkpoint model.
        n_fresh: Tensors of the inserted layers, which keep their initialisation.
        inserted: ``(variant row, module name)`` of each inserted layer.
        index_map: ``index_map[b]`` is the variant row of base row ``b``.
        skipped: Baseline keys that did not fit (e.g. the class-score convs when ``nc`` differs).
    """

    n_transferred: int
    n_baseline: int
    n_fresh: int
    inserted: list[tuple[int, str]] = field(default_factory=list)
    index_map: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every baseline tensor was transferred."""
        return self.n_transferred == self.n_baseline

    def summary(self) -> str:
        """The log line, e.g. ``Transferred 355/355 baseline tensors``."""
        return f"Transferred {self.n_transferred}/{self.n_baseline} baseline tensors"


def _target_model(model: Any) -> nn.Module:
    """The Ultralytics ``BaseModel`` inside ``model`` (a ``YOLO`` object or the model itself)."""
    from ultralytics.engine.model import Model

    inner = model.model if isinstance(model, Model) else model
    if not isinstance(inner, nn.Module) or not isinstance(getattr(inner, "yaml", None), dict):
        raise TypeError(f"expected a YOLO object or an Ultralytics model built from a YAML, got {type(model).__name__}")
    return inner


def source_model(checkpoint: Any) -> tuple[nn.Module, str]:
    """The model inside ``checkpoint`` (a .pt path, a loaded checkpoint dict, a model) and a name for messages."""
    from ultralytics.engine.model import Model

    if isinstance(checkpoint, (str, Path)):
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint '{checkpoint}' not found")
        from ca_yolo.plugin.checkpoint import checkpoint_model, read_checkpoint

        return checkpoint_model(read_checkpoint(path), path).float(), f"checkpoint '{checkpoint}'"
    if isinstance(checkpoint, dict):
        model = checkpoint.get("ema") or checkpoint.get("model")
        if not isinstance(model, nn.Module):
            raise TypeError("checkpoint dict has no model under 'ema' or 'model'")
        return model, "checkpoint"
    if isinstance(checkpoint, Model):
        return checkpoint.model, "checkpoint model"
    if isinstance(checkpoint, nn.Module):
        return checkpoint, "checkpoint model"
    raise TypeError(f"checkpoint must be a path, a checkpoint dict or a model, got {type(checkpoint).__name__}")


def align_models(source: nn.Module, target: nn.Module, what: str = "checkpoint") -> Alignment:
    """Align the layers of ``source`` (baseline) with those of ``target`` (variant) by their YAML dicts."""
    if not isinstance(getattr(source, "yaml", None), dict):
        raise TransferError(f"{what} has no model YAML (model.yaml), so its layers cannot be mapped")
    return align(source.yaml, target.yaml, what)


def _reindexed_view(source: nn.Module, alignment: Alignment, n_rows: int) -> nn.Module:
    """A shallow copy of ``source`` whose ``model`` holds its layers at their variant indices.

    The layer objects are shared, not copied; inserted rows are parameter-free identities, so they
    contribute no keys and the variant's attention layers are left alone.
    """
    layers: list[nn.Module] = [nn.Identity() for _ in range(n_rows)]
    for b, v in enumerate(alignment.index_map):
        layers[v] = source.model[b]
    view = copy.copy(source)
    view._modules = dict(source._modules)  # copy.copy shares this dict; the view must not touch the source's
    view._modules["model"] = nn.Sequential(*layers)
    return view


def _layer_index(key: str) -> int | None:
    """Layer index of a state-dict key ``model.<i>.…``, else None."""
    parts = key.split(".", 2)
    return int(parts[1]) if len(parts) == 3 and parts[0] == "model" and parts[1].isdigit() else None


def _rename(key: str, index_map: tuple[int, ...]) -> str:
    i = _layer_index(key)
    return key if i is None else f"model.{index_map[i]}.{key.split('.', 2)[2]}"


def transfer(target: nn.Module, source: nn.Module, alignment: Alignment, load=None) -> TransferResult:
    """Load ``source``'s tensors into ``target`` at their aligned indices; count what arrived.

    Args:
        target: Variant model (an Ultralytics ``BaseModel``).
        source: Baseline model.
        alignment: From :func:`align_models`.
        load: Ultralytics' original ``BaseModel.load`` (default: the unwrapped one).
    """
    from ultralytics.nn.tasks import BaseModel

    load = load or getattr(BaseModel.load, "__wrapped__", BaseModel.load)
    load(target, _reindexed_view(source, alignment, len(target.model)), verbose=False)

    src = source.state_dict()
    dst = target.state_dict()
    skipped = []
    for key, value in src.items():
        new = dst.get(_rename(key, alignment.index_map))
        if new is None or new.shape != value.shape or not torch.equal(new, value.to(new.dtype)):
            skipped.append(key)
    inserted = {i: type(target.model[i]).__name__ for i in alignment.inserted}
    n_fresh = sum(1 for k in dst if _layer_index(k) in inserted)
    result = TransferResult(
        n_transferred=len(src) - len(skipped),
        n_baseline=len(src),
        n_fresh=n_fresh,
        inserted=sorted(inserted.items()),
        index_map=list(alignment.index_map),
        skipped=skipped,
    )
    names = getattr(source, "names", None)
    if result.complete and names and getattr(target, "names", None) == {i: str(i) for i in range(len(names))}:
        target.names = dict(names)  # a YAML model's placeholder names give way, as in Ultralytics' load
    return result


def log_result(result: TransferResult, what: str) -> None:
    """Log ``Transferred N/M baseline tensors`` and what started fresh, with Ultralytics' logger."""
    from ultralytics.utils import LOGGER

    LOGGER.info(result.summary())
    kinds = sorted({name for _, name in result.inserted})
    rows = ", ".join(str(i) for i, _ in result.inserted)
    LOGGER.info(
        f"ca-yolo: {what} mapped onto this model; {len(result.inserted)} inserted layers "
        f"({', '.join(kinds)} at rows {rows}; {result.n_fresh} tensors) start fresh"
    )
    if result.skipped:
        shown = ", ".join(result.skipped[:4]) + (", ..." if len(result.skipped) > 4 else "")
        LOGGER.info(f"ca-yolo: {len(result.skipped)} baseline tensors do not fit this model (shape): {shown}")


def transfer_weights(model: Any, checkpoint: Any, verbose: bool = True) -> TransferResult:
    """Initialise an attention variant from its baseline's checkpoint; attention layers start fresh.

    Args:
        model: A ``YOLO`` object or Ultralytics model built from a variant YAML (e.g. ``yolov8n-ca.yaml``).
        checkpoint: The baseline: a ``.pt`` path, a loaded checkpoint dict (``ema``/``model``), or a model.
        verbose: Log ``Transferred N/M baseline tensors`` and what starts fresh.

    Returns:
        Counts and the row mapping (see :class:`TransferResult`).

    Raises:
        TransferError: The checkpoint is not the base of ``model`` (other scale, other layers); the
            message names the first row that differs.
        FileNotFoundError: ``checkpoint`` is a path that does not exist.
    """
    target = _target_model(model)
    source, what = source_model(checkpoint)
    alignment = align_models(source, target, what)
    result = transfer(target, source, alignment)
    if verbose:
        log_result(result, what)
    return result
