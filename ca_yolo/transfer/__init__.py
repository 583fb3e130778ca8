"""Transfer a baseline checkpoint into an attention variant of its model (``pretrained=`` for CA YAMLs).

- :func:`transfer_weights`: the Python API; returns a :class:`TransferResult` with the counts.
- :func:`add_load_hook`: makes Ultralytics' ``BaseModel.load`` (used by every trainer for
  ``pretrained=``) do the same; installed by the plugin's ``register()``.
"""

from ca_yolo.transfer.align import Alignment, TransferError, align
from ca_yolo.transfer.hook import add_load_hook
from ca_yolo.transfer.weights import TransferResult, transfer_weights

__all__ = ["Alignment", "TransferError", "TransferResult", "add_load_hook", "align", "transfer_weights"]
