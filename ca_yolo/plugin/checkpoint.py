"""Let Ultralytics' restricted checkpoint loading accept ca-yolo's layers.

``best.pt`` pickles the whole model, so loading it imports our classes by module path (which in
turn runs ``import ca_yolo`` and registers the plugin). Restricted loading
(``ULTRALYTICS_SAFE_LOAD=1``, i.e. ``torch.load(weights_only=True)``) refuses every class that is not
on an allow-list; torch's public ``add_safe_globals`` puts ours on it.
"""

from __future__ import annotations

import torch

from ca_yolo.nn.registry import registered_classes


def allow_in_safe_load() -> None:
    """Add every registered layer class to torch's weights-only allow-list (idempotent)."""
    torch.serialization.add_safe_globals(registered_classes())
