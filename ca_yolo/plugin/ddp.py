"""Keep the plugin registered in multi-GPU (DDP) worker processes.

Ultralytics trains on several GPUs by cloudpickling the trainer's class, args, model and callbacks
into a file that each torch.distributed worker loads before it builds the model - possibly from a
YAML path. cloudpickle stores an importable module-level function by reference, so a callback of
ours in every trainer's default callbacks makes each worker import ``ca_yolo`` (which registers
the plugin) while it loads that file, before any model is built.
"""

from __future__ import annotations

EVENT = "on_pretrain_routine_start"


def ensure_registered(trainer=None) -> None:
    """Trainer callback: register the plugin in this process (a no-op when already registered)."""
    from ca_yolo.plugin.register import register

    register()


def add_default_callback() -> None:
    """Add :func:`ensure_registered` to the callbacks every new Ultralytics trainer starts with."""
    from ultralytics.utils.callbacks.base import default_callbacks

    if ensure_registered not in default_callbacks[EVENT]:
        default_callbacks[EVENT].append(ensure_registered)
