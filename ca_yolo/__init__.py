"""ca-yolo: Coordinate Attention for Ultralytics YOLO detectors (a plugin, not a fork).

``import ca_yolo`` registers the plugin: ``CoordAtt`` can then be named in any Ultralytics model
YAML, and the YAMLs shipped in ``ca_yolo/cfg/models`` load by name (``YOLO("yolov8s-ca.yaml")``).
"""

from ca_yolo._help_only import help_only as _help_only

__version__ = "0.1.0"

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
