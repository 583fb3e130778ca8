"""The gates an attention layer applies to an input, for any layer ca-yolo registers.

Each layer multiplies its input by one or more sigmoid gates, and its class says how to read them
(``gates(x)`` named by ``gate_names``; see :mod:`ca_yolo.nn.registry`): ``g_h`` / ``g_w``
(CoordAtt), ``g_h`` or ``g_w`` (CoordAttH / CoordAttW), ``g_c`` (SE, ECA), ``g_c`` and ``g_s`` (CBAM,
whose spatial gate is computed on the channel-refined map, as in its forward pass). Call
:func:`layer_gates` with the model in eval mode (or on a copy): in training mode BatchNorm would
count the extra pass.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ca_yolo.nn.registry import gate_names, is_registered_layer


def is_attention(module: nn.Module) -> bool:
    """Whether ``module`` is one of ca-yolo's attention layers (a registered layer class)."""
    return is_registered_layer(module)


def layer_gates(module: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gates ``module`` applies to x (B, C, H, W) by name, each broadcastable to x, values in (0, 1).

    Any module with a ``gates(x)`` method works: ca-yolo's layers name their gates with
    ``gate_names``, and a third-party layer without that attribute is read as Coordinate Attention
    (``g_h``, ``g_w``; either may be None for a single-direction layer).

    Raises:
        TypeError: ``module`` has no ``gates`` method.
    """
    if not callable(getattr(module, "gates", None)):
        raise TypeError(f"{type(module).__name__} is not an attention layer (it has no gates(x) method)")
    return dict(zip(gate_names(module), module.gates(x)))


def gate_parameters(module: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters that produce the gates' logits (the ones identity initialisation sets), by the
    class's ``gate_convs``."""
    if not is_attention(module):
        raise TypeError(f"{type(module).__name__} is not an attention layer of ca-yolo")
    layers = {k: getattr(module, k) for k in module.gate_convs}
    return {f"{k}.{n}": p for k, layer in layers.items() for n, p in layer.named_parameters()}
