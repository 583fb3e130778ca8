"""The gates an attention layer applies to an input, for any layer ca-yolo registers.

Each layer multiplies its input by one or two sigmoid gates. :func:`layer_gates` recomputes them
from the layer's input with the layer's own weights, by name: ``g_h`` / ``g_w`` (CoordAtt),
``g_h`` or ``g_w`` (CoordAttH / CoordAttW), ``g_c`` (SE, ECA), ``g_c`` and ``g_s`` (CBAM, whose
spatial gate is computed on the channel-refined map, as in its forward pass). Call it with the
model in eval mode (or on a copy): in training mode BatchNorm would count the extra pass.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ca_yolo.nn import CBAM, ECA, SE, CoordAtt, CoordAttH, CoordAttW

ATTENTION_TYPES = (CoordAtt, CoordAttH, CoordAttW, SE, ECA, CBAM)


def is_attention(module: nn.Module) -> bool:
    """Whether ``module`` is one of ca-yolo's attention layers."""
    return isinstance(module, ATTENTION_TYPES)


def layer_gates(module: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gates ``module`` applies to x (B, C, H, W), each broadcastable to x, values in (0, 1)."""
    if isinstance(module, CoordAtt):
        g_h, g_w = module.gates(x)  # (B, C, H, 1), (B, C, 1, W)
        return {"g_h": g_h, "g_w": g_w}
    if isinstance(module, CoordAttH):
        return {"g_h": module.gate(x)}
    if isinstance(module, CoordAttW):
        return {"g_w": module.gate(x)}
    if isinstance(module, CBAM):
        g_c = module.channel_gate(x)
        return {"g_c": g_c, "g_s": module.spatial_gate(x * g_c)}
    if isinstance(module, (SE, ECA)):
        return {"g_c": module.gate(x)}
    raise TypeError(f"{type(module).__name__} is not an attention layer of ca-yolo")


def gate_parameters(module: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters that produce the gates' logits (the ones identity initialisation sets)."""
    if isinstance(module, CoordAtt):
        layers = {"conv_h": module.conv_h, "conv_w": module.conv_w}
    elif isinstance(module, (CoordAttH, CoordAttW)):
        layers = {"conv_gate": module.conv_gate}
    elif isinstance(module, CBAM):
        layers = {"fc2": module.fc2, "spatial": module.spatial}
    elif isinstance(module, SE):
        layers = {"fc2": module.fc2}
    elif isinstance(module, ECA):
        layers = {"conv": module.conv}
    else:
        raise TypeError(f"{type(module).__name__} is not an attention layer of ca-yolo")
    return {f"{k}.{n}": p for k, layer in layers.items() for n, p in layer.named_parameters()}
