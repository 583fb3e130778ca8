"""Layers ca-yolo adds to Ultralytics model YAMLs, and the registry that names them.

Importing a layer module registers it (``@register_layer``); the plugin then makes every
registered layer available to YAML parsing and to restricted checkpoint loading.
"""

from ca_yolo.nn.registry import (
    create_layer,
    gate_names,
    get_layer,
    is_registered_layer,
    layer_names,
    register_layer,
    registered_classes,
)

# Importing a layer module registers it, and registration order is the listing order (``ca-yolo yaml
# --attn`` choices, error messages): CoordAtt, then the ablation siblings. Keep this order.
# isort: off
from ca_yolo.nn.coord_att import CoordAtt
from ca_yolo.nn.se import SE
from ca_yolo.nn.cbam import CBAM
from ca_yolo.nn.eca import ECA
from ca_yolo.nn.coord_att_hw import CoordAttH, CoordAttW
from ca_yolo.nn.aliases import register_aliases
# isort: on

register_aliases()  # other names published YAMLs use (CA, CoordAttention, SEAttention, ...)

ATTENTIONS = tuple(layer_names())  # the registry's canonical names, in the order above

__all__ = [
    "ATTENTIONS",
    "CBAM",
    "ECA",
    "SE",
    "CoordAtt",
    "CoordAttH",
    "CoordAttW",
    "create_layer",
    "gate_names",
    "get_layer",
    "is_registered_layer",
    "layer_names",
    "register_layer",
    "registered_classes",
]
