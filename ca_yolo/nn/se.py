"""Squeeze-and-Excitation (Hu, Shen, Sun, CVPR 2018), for ablations against Coordinate Attention.

One gate per channel from the global average, through a bottleneck MLP (paper, Eq. 2-4)::

    z = mean_hw(x)                         (B, C)
    s = sigmoid(W2 · relu(W1 · z))         (B, C),  W1: C -> C/r,  W2: C/r -> C
    out = x * s[:, :, None, None]          (B, C, H, W)

The paper's fully connected layers carry biases (as in the authors' Caffe models); r = 16.

After ``fuse()`` (Ultralytics' ``model.fuse()`` calls it) eval mode runs the two layers as 1x1
convs on the kept-dims mean: 6 ops in eager mode and 6 ONNX nodes, no reshapes (:mod:`ca_yolo.nn.fuse`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ca_yolo.nn.fuse import GateForm
from ca_yolo.nn.gate_init import check_mode, current_mode, init_gate_, isolated_rng
from ca_yolo.nn.registry import register_layer


def channel_mlp(c1: int, hidden: int) -> tuple[nn.Linear, nn.ReLU, nn.Linear]:
    """SE's bottleneck MLP C -> hidden -> C with biases, as (fc1, act, fc2); CBAM's channel attention shares it."""
    return nn.Linear(c1, hidden), nn.ReLU(), nn.Linear(hidden, c1)


@register_layer()
class SE(GateForm, nn.Module):
    """Squeeze-and-Excitation block; output has the input's shape (B, C, H, W).

    Args:
        c1: Input channels C (output channels are the same).
        reduction: Bottleneck ratio r; hidden width is max(1, C // r). 16 as in the paper.
        init: "identity" (fc2 zero, bias ``GATE_LOGIT``: starts as 0.982 x), "paper" (PyTorch's
            default initialisation), or None for the current mode (:mod:`ca_yolo.nn.gate_init`).

    Attributes:
        fc1 / fc2: the two fully connected layers C -> C/r -> C (``nn.Linear`` with bias).
    """

    gate_names = ("g_c",)
    gate_convs = ("fc2",)

    def __init__(self, c1: int, reduction: int = 16, init: str | None = None):
        super().__init__()
        hidden = max(1, c1 // reduction)
        self.c1, self.reduction, self.hidden = c1, reduction, hidden
        self.init = check_mode(current_mode() if init is None else init, "SE init")
        with isolated_rng():
            self.fc1, self.act, self.fc2 = channel_mlp(c1, hidden)
        init_gate_(self.fc2, self.init)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """Per-channel gate s of x (B, C, H, W); returns (B, C, 1, 1), values in (0, 1)."""
        z = x.mean(dim=(2, 3))  # (B, C): the "squeeze"
        return self.fc2(self.act(self.fc1(z))).sigmoid()[:, :, None, None]

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        """``(g_c,)``: the one per-channel gate, (B, C, 1, 1)."""
        return (self.gate(x),)

    def inference_constants(self) -> dict[str, torch.Tensor]:
        """fc1 / fc2 as 1x1 conv weights (out, in, 1, 1) and biases."""
        return {
            "_cw1": self.fc1.weight.detach()[:, :, None, None],
            "_cb1": self.fc1.bias.detach().clone(),
            "_cw2": self.fc2.weight.detach()[:, :, None, None],
            "_cb2": self.fc2.bias.detach().clone(),
        }

    def forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        """The MLP as two 1x1 convs on the kept-dims mean: 6 ops, no reshapes."""
        z = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1): no flatten / unsqueeze around the MLP
        return x * F.conv2d(F.relu(F.conv2d(z, self._cw1, self._cb1)), self._cw2, self._cb2).sigmoid()

    def extra_repr(self) -> str:
        return f"c1={self.c1}, reduction={self.reduction}, hidden={self.hidden}"
