"""How far an attention variant with transferred weights computes from its baseline, before training
(for ``insert_into_trained.py`` and the gate-init tests).

Compared in training mode: there BatchNorm normalises with batch statistics, so a gate that scales
every position alike in front of a conv + BatchNorm cancels, and what is left is what the inserted
layers really change.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn


def output_tensors(out: Any) -> list[torch.Tensor]:
    """Every tensor of a model's output (a tensor, or lists / tuples / dicts of them, nested), in order."""
    if isinstance(out, torch.Tensor):
        return [out]
    items = out.values() if isinstance(out, dict) else out
    return [t for o in items for t in output_tensors(o)]


def train_mode_change(base: nn.Module, variant: nn.Module, x: torch.Tensor) -> float:
    """Largest ``||variant(x) - base(x)|| / ||base(x)||`` over the output tensors, both in training mode.

    Both models are left in training mode, and their BatchNorm running statistics see ``x``: pass
    copies of models that are used afterwards.
    """
    with torch.no_grad():
        outs = [output_tensors(m.train()(x)) for m in (base, variant)]
    return max(float((v - b).norm() / b.norm()) for b, v in zip(*outs))
