"""Layers ca-yolo adds to Ultralytics model YAMLs, and the registry that names them."""

from ca_yolo.nn.coord_att import CoordAtt
from ca_yolo.nn.registry import create_layer, get_layer, layer_names, register_layer, registered_classes

__all__ = ["CoordAtt", "create_layer", "get_layer", "layer_names", "register_layer", "registered_classes"]
