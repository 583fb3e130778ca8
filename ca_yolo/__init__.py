"""ca-yolo: Coordinate Attention for Ultralytics YOLO detectors (a plugin, not a fork).

``import ca_yolo`` registers the plugin: ``CoordAtt`` can then be named in any Ultralytics model
YAML, and the YAMLs shipped in ``ca_yolo/cfg/models`` load by name (``YOLO("yolov8s-ca.yaml")``).

Import layers, lowest first. A module imports only from its own layer or lower ones, and no module
imports itself back through others (``tests/test_layering.py`` checks both on the source). A bare
``import ca_yolo``, made for its registration, counts as no arrow: importing any module runs it first.

0. base, no torch or Ultralytics at import: ``errors`` (the one error base and exit codes),
   ``atomic_io``, ``cli_args`` (key=value command lines), ``figures``, ``cfg`` (shipped YAMLs).
1. ``nn``: the attention layers and their registry, plain torch.
2. Ultralytics glue without hooks into the training flow: ``plugin`` (YAML rows, parser, checkpoints,
   shipped-YAML lookup, fuse/export wraps) and ``data`` (datasets, labels, data YAMLs).
3. Model tools: ``transfer`` (baseline weights into attention variants) and ``diagnose`` (gate statistics).
4. Registration: ``plugin.register`` and ``plugin.load_hook``, the hooks that use layer 3.
5. Commands' work: ``evaluation``, ``yamlgen``, ``viz``, ``bench``, ``compare``.
6. Entry points: ``cli`` and this package.
"""

from ca_yolo._help_only import help_only as _help_only

__version__ = "0.2.0"

# The layers above as module prefixes, for the layering test; a module belongs to its longest prefix.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("ca_yolo._help_only", "ca_yolo.errors", "ca_yolo.atomic_io", "ca_yolo.cli_args", "ca_yolo.figures",
     "ca_yolo.cfg"),
    ("ca_yolo.nn",),
    ("ca_yolo.plugin", "ca_yolo.data"),
    ("ca_yolo.transfer", "ca_yolo.diagnose"),
    ("ca_yolo.plugin.register", "ca_yolo.plugin.load_hook"),
    ("ca_yolo.evaluation", "ca_yolo.yamlgen", "ca_yolo.viz", "ca_yolo.bench", "ca_yolo.compare"),
    ("ca_yolo.cli", "ca_yolo"),
)  # fmt: skip

# 'ca-yolo --help' (the console script asked only for help) needs none of the plugin: skip the
# imports of torch and Ultralytics there; every other import registers as documented above.
if not _help_only():
    try:
        from ca_yolo.nn import CBAM, ECA, SE, CoordAtt, CoordAttH, CoordAttW, create_layer, register_layer
        from ca_yolo.nn.gate_init import attention_init
        from ca_yolo.plugin.cfg_models import shipped_models
        from ca_yolo.plugin.register import is_registered, register
        from ca_yolo.plugin.yaml_rows import ModelYamlError
        from ca_yolo.transfer import TransferError, TransferResult, transfer_weights

        __all__ = [
            "CBAM",
            "CoordAtt",
            "CoordAttH",
            "CoordAttW",
            "ECA",
            "ModelYamlError",
            "SE",
            "TransferError",
            "TransferResult",
            "__version__",
            "attention_init",
            "create_layer",
            "is_registered",
            "register",
            "register_layer",
            "shipped_models",
            "transfer_weights",
        ]

        register()
    except KeyboardInterrupt:  # Ctrl-C while torch and Ultralytics import (seconds): one line, not a traceback
        from ca_yolo.cli import interrupted_while_starting

        interrupted_while_starting()  # exits for the console script; re-raises anywhere else
        raise
