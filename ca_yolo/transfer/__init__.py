"""Transfer a baseline checkpoint into an attention variant of its model (``pretrained=`` for CA YAMLs).

- :func:`transfer_weights`: the Python API; returns a :class:`TransferResult` with the counts.

Ultralytics' ``BaseModel.load`` (used by every trainer for ``pretrained=``) does the same through
the plugin's load hook (:mod:`ca_yolo.plugin.load_hook`).
"""

from ca_yolo.transfer.align import Alignment, TransferError, align
from ca_yolo.transfer.weights import TransferResult, transfer_weights

__all__ = ["Alignment", "TransferError", "TransferResult", "align", "transfer_weights"]
