"""ECA, Efficient Channel Attention (Wang, Wu, Zhu, Li, Zuo, Hu, CVPR 2020).

Channel gates from the global average through a 1-D convolution across channels, no reduction
(paper, Eq. 9 and 12)::

    z = mean_hw(x)                           (B, C)
    s = sigmoid(conv1d_k(z))                 (B, C),  k taps over neighbouring channels, no bias
    out = x * s[:, :, None, None]            (B, C, H, W)

The kernel size adapts to the channel count, k = psi(C) = |log2(C) / gamma + b / gamma|_odd with
gamma = 2, b = 1; |t|_odd is computed as the authors' code does: int(t), plus one if even.

After ``fuse()`` (Ultralytics' ``model.fuse()`` calls it) eval mode runs the k-tap conv across
channels as one 1x1 conv with a banded C x C weight on the kept-dims mean: 4 ops in eager mode and
4 ONNX nodes (ReduceMean, Conv, Sigmoid, Mul), no reshapes (:mod:`ca_yolo.nn.fuse`).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ca_yolo.nn.fuse import GateForm
from ca_yolo.nn.gate_init import check_mode, current_mode, init_gate_, isolated_rng
from ca_yolo.nn.registry import register_layer


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """Adaptive 1-D kernel size psi(C) of ECA (odd, >= 1)."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


@register_layer()
class ECA(GateForm, nn.Module):
    """Efficient Channel Attention; output has the input's shape (B, C, H, W).

    Args:
        c1: Input channels C (output channels are the same).
        k_size: Odd 1-D kernel size; None (default) picks psi(C) as in the paper. In a YAML row a
            single small number, ``[-1, 1, ECA, [5]]``, sets it.
        init: "identity", "paper" or None for the current mode (:mod:`ca_yolo.nn.gate_init`). ECA's
            conv has no bias (paper), so identity mode can only zero it: the gate starts at exactly
            0.5 for every input (no random modulation), not near 1.

    Attributes:
        conv: ``nn.Conv1d(1, 1, k, padding=k // 2, bias=False)`` across the channel axis.
    """

    row_settings = ("k_size",)
    gate_names = ("g_c",)
    gate_convs = ("conv",)

    def __init__(self, c1: int, k_size: int | None = None, init: str | None = None):
        super().__init__()
        k = eca_kernel_size(c1) if k_size is None else k_size
        if k < 1 or k % 2 != 1:
            raise ValueError(f"ECA k_size must be a positive odd number, got {k}")
        self.c1, self.k_size = c1, k
        self.init = check_mode(current_mode() if init is None else init, "ECA init")
        with isolated_rng():
            self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        init_gate_(self.conv, self.init)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """Per-channel gate of x (B, C, H, W); returns (B, C, 1, 1), values in (0, 1)."""
        z = x.mean(dim=(2, 3))[:, None, :]  # (B, 1, C): channels become the 1-D sequence
        return self.conv(z).sigmoid()[:, 0, :, None, None]

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        """``(g_c,)``: the one per-channel gate, (B, C, 1, 1)."""
        return (self.gate(x),)

    def inference_constants(self) -> dict[str, torch.Tensor]:
        """The channel conv as a banded (C, C, 1, 1) weight: out[c] = sum_j w[j] z[c + j - k // 2]."""
        c, k, taps = self.c1, self.k_size, self.conv.weight.detach()[0, 0]
        # Column c + j - k//2 of row c holds tap j; taps that fall off either end are the zero padding.
        band = torch.zeros(c, c + k - 1, dtype=taps.dtype, device=taps.device)
        for j in range(k):
            band.diagonal(j).fill_(taps[j])
        return {"_cw": band[:, k // 2 : k // 2 + c, None, None].contiguous()}

    def forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        """The banded channel conv as one 1x1 conv on the kept-dims mean: 4 ops, no reshapes."""
        return x * F.conv2d(x.mean(dim=(2, 3), keepdim=True), self._cw).sigmoid()

    def extra_repr(self) -> str:
        return f"c1={self.c1}, k_size={self.k_size}"
