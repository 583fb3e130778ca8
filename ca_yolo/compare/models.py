"""Trained checkpoints of a comparison, each loaded once and shared by its users.

A first-seed ``best.pt`` is evaluated, measured (params, GFLOPs, latency), drawn in the prediction
grid and, for attention models, in the attention figures: one load serves all four (and a run
trained in this process is not loaded at all, see :class:`ModelCache`). Sharing is safe because no
user changes the loaded network: Ultralytics' ``val`` and ``predict`` fuse a copy of it (its
validator's ``get_model`` and predictor's ``setup_model`` copy), and the latency measurement fuses a
copy too (:func:`ca_yolo.compare.measure.prepare_for_inference`). The trained (unfused) parameter
count is still taken at load, so it cannot depend on the order. Checkpoints of other seeds are only
evaluated and not kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class LoadedModel:
    """A checkpoint loaded as an ``ultralytics.YOLO``, with its parameter count as trained (unfused)."""

    weights: Path
    yolo: Any
    params: int

    @classmethod
    def of(cls, weights: Path, yolo: Any) -> LoadedModel:
        """``yolo`` holding ``weights``, its parameters counted now (before anything fuses it)."""
        return cls(Path(weights), yolo, sum(p.numel() for p in yolo.model.parameters()))


def load_checkpoint_model(weights: Path) -> LoadedModel:
    """Load ``weights`` and count its parameters before anything fuses it.

    The file is first opened under ca-yolo's one loading rule, so a hostile ``best.pt`` in a
    comparison folder is refused in one line before Ultralytics reads it.
    """
    from ultralytics import YOLO

    from ca_yolo.plugin.checkpoint import read_checkpoint

    read_checkpoint(weights)
    return LoadedModel.of(weights, YOLO(str(weights)))


class ModelCache:
    """Loads each checkpoint once; keeps the ones named in ``keep`` (the first seed's) for later users.

    A run trained in this process needs no load at all: Ultralytics' ``train()`` loads the run's
    ``best.pt`` back into its ``YOLO`` when it ends (so ``model.train(); model.val()`` evaluates the
    best checkpoint), and :meth:`add` takes that object.
    """

    def __init__(self, keep: Iterable[Path] = ()) -> None:
        self.keep = {Path(p).resolve() for p in keep}
        self.loaded: dict[Path, LoadedModel] = {}

    def add(self, weights: Path, yolo: Any) -> bool:
        """Take ``yolo`` as the loaded ``weights`` when it holds that file (as after its ``train()``); say if it did.

        The trainer ``train()`` leaves on it (training network, EMA, optimizer, data) is dropped.
        """
        key = Path(weights).resolve()
        holds = str(getattr(yolo, "overrides", {}).get("model", ""))
        if not holds.endswith(".pt") or Path(holds).resolve() != key or not key.is_file():
            return False
        yolo.trainer = None
        self.loaded[key] = LoadedModel.of(key, yolo)
        return True

    def get(self, weights: Path) -> LoadedModel:
        """The loaded checkpoint: taken or loaded before, else loaded now; kept afterwards only if in ``keep``."""
        key = Path(weights).resolve()
        model = self.loaded.get(key) or load_checkpoint_model(key)
        if key in self.keep:
            self.loaded[key] = model
        else:
            self.loaded.pop(key, None)
        return model
