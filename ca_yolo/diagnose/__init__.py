"""Training diagnostics of attention layers: gate statistics, parameter drift, gradient ratios.

See :mod:`ca_yolo.diagnose.stats` (the trainer callback) and ``docs/attention-training.md``.
"""

from ca_yolo.diagnose.gates import gate_parameters, is_attention, layer_gates
from ca_yolo.diagnose.stats import CSV_NAME, ENV_FLAG, PNG_NAME, AttentionStats, attach, attach_if_requested

__all__ = [
    "CSV_NAME",
    "ENV_FLAG",
    "PNG_NAME",
    "AttentionStats",
    "attach",
    "attach_if_requested",
    "gate_parameters",
    "is_attention",
    "layer_gates",
]
