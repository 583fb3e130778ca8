"""Checks on a checkpoint before evaluating it: whole (:mod:`ca_yolo.plugin.checkpoint_file`) and
trained for the dataset's classes."""

from __future__ import annotations

from pathlib import Path

from ca_yolo.errors import CheckpointError
from ca_yolo.plugin.checkpoint_file import checkpoint_problem, require_checkpoint

__all__ = ["CheckpointError", "check_class_count", "checkpoint_problem", "require_checkpoint"]


def check_class_count(weights: str | Path, data: str | Path, ckpt: dict | None = None) -> None:
    """Refuse evaluating ``weights`` on ``data`` when their class counts differ (metrics would be mislabelled).

    ``ckpt`` is the checkpoint already loaded from ``weights`` (else it is loaded here, by the one rule).

    Raises:
        CheckpointError: the counts differ, or the checkpoint is refused (unsafe, wrong kind). Problems
            reading the data YAML are left to the caller's own loading, which reports them.
    """
    from ca_yolo.data.yamlio import load_checked
    from ca_yolo.plugin.checkpoint import checkpoint_model, read_checkpoint

    model = checkpoint_model(ckpt if ckpt is not None else read_checkpoint(weights), weights)
    try:
        n_model = len(model.names)
        n_data = int(load_checked(data)["nc"])
    except Exception:  # noqa: BLE001  (reported by the real load, with its own message)
        return
    if n_model != n_data:
        raise CheckpointError(
            f"checkpoint '{weights}' has {n_model} classes but dataset '{data}' has {n_data}: "
            "evaluate on the dataset it was trained for"
        )
