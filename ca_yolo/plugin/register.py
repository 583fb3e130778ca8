"""Register ca-yolo with Ultralytics: the one place where the plugin touches Ultralytics.

What :func:`register` does (each step idempotent, nothing in Ultralytics' files is edited):

1. Puts every registered layer class into ``ultralytics.nn.tasks``' namespace, where the YAML parser
   resolves module names.
2. Wraps ``parse_model`` so registered layers get their input channels (:mod:`.parser`).
3. Wraps ``yaml_model_load`` so our shipped YAMLs resolve by bare name (:mod:`.cfg_models`).
4. Allows our classes in restricted checkpoint loading (:mod:`.checkpoint`).
5. Adds a default trainer callback that re-registers in DDP workers (:func:`ensure_registered`).
6. Wraps ``BaseModel.load`` so ``pretrained=`` for attention variants maps baseline layers to their
   new indices, and adds a default ``on_pretrain_routine_start`` callback that refuses a checkpoint
   that is not the variant's base before any weights load (:mod:`.load_hook`).
7. Adds a default ``on_train_start`` callback that collects attention statistics when
   ``attn_stats=True`` asked for them (:mod:`ca_yolo.diagnose`); otherwise it does nothing.
8. Wraps ``BaseModel.fuse`` so fused models run the attention layers' inference form (:mod:`.fuse_hook`).
9. Wraps ``Exporter.export_onnx`` so a fixed-size ONNX export may use fixed-size layer graphs (:mod:`.export_hook`).

Not done by :func:`register`, and undone when its command ends:

10. ``ca-yolo`` commands run through Ultralytics add, for that command only, a first
    ``on_pretrain_routine_start`` callback that records the run folders it makes, so a command that
    fails before any weights removes them (:class:`.run_folders.RunFolders`).

Tested with Ultralytics 8.4.x; the wrapped functions are looked up by name at call time there.
"""

from __future__ import annotations

from ca_yolo.diagnose.stats import attach_if_requested
from ca_yolo.nn.registry import get_layer, layer_names
from ca_yolo.plugin import cfg_models, checkpoint, export_hook, fuse_hook, parser
from ca_yolo.plugin.load_hook import add_load_hook, check_pretrained_early
from ca_yolo.plugin.wrapping import is_wrapped

DDP_EVENT = "on_pretrain_routine_start"  # the event ensure_registered is added to


def _wrap(module, attr: str, wrapper) -> None:
    current = getattr(module, attr)
    if not is_wrapped(current):
        setattr(module, attr, wrapper(current))


def register() -> None:
    """Make ca-yolo's layers and model YAMLs available to Ultralytics in this process."""
    import ultralytics.engine.exporter as exporter
    import ultralytics.engine.model as engine_model
    import ultralytics.nn as ul_nn
    import ultralytics.nn.tasks as tasks

    for name in layer_names():
        setattr(tasks, name, get_layer(name).cls)
    _wrap(tasks, "parse_model", parser.wrap_parse_model)
    ul_nn.parse_model = tasks.parse_model  # the package re-export, for callers that use it directly
    _wrap(tasks, "yaml_model_load", cfg_models.wrap_yaml_model_load)
    ul_nn.yaml_model_load = tasks.yaml_model_load
    engine_model.yaml_model_load = tasks.yaml_model_load  # imported by name into YOLO's Model class
    checkpoint.allow_in_safe_load()
    _add_default_callback(DDP_EVENT, ensure_registered)
    add_load_hook()
    _add_default_callback("on_train_start", attach_if_requested)
    _add_default_callback("on_pretrain_routine_start", check_pretrained_early)  # before any weights load
    _wrap(tasks.BaseModel, "fuse", fuse_hook.wrap_base_model_fuse)
    _wrap(exporter.Exporter, "export_onnx", export_hook.wrap_export_onnx)


def ensure_registered(trainer=None) -> None:
    """Trainer callback: register the plugin in this process (a no-op when already registered).

    Ultralytics trains on several GPUs by cloudpickling the trainer's class, args, model and callbacks
    into a file that each torch.distributed worker loads before it builds the model - possibly from a
    YAML path. cloudpickle stores an importable module-level function by reference, so this callback
    in every trainer's default callbacks makes each worker import ``ca_yolo`` (which registers the
    plugin) while it loads that file, before any model is built.
    """
    register()


def _add_default_callback(event: str, fn) -> None:
    from ultralytics.utils.callbacks.base import default_callbacks

    if fn not in default_callbacks[event]:
        default_callbacks[event].append(fn)


def is_registered() -> bool:
    """Whether :func:`register` has run in this process."""
    import ultralytics.nn.tasks as tasks

    return is_wrapped(tasks.parse_model)
