"""Coordinate Attention (Hou, Zhou, Feng, CVPR 2021).

Channel attention that keeps position: the feature map is average-pooled along W and along H,
the two 1-D descriptors share one 1x1 reduction conv (+ BatchNorm + h-swish), and two 1x1 convs
turn them back into per-channel gates along H and along W::

    z_h = mean_w(x)            (B, C, H, 1)
    z_w = mean_h(x)            (B, C, 1, W)
    f   = h_swish(BN(conv1([z_h ; z_w^T])))      (B, mip, H + W, 1),  mip = max(8, C // reduction)
    g_h = sigmoid(conv_h(f_h))                     (B, C, H, 1)
    g_w = sigmoid(conv_w(f_w^T))                   (B, C, 1, W)
    out = x * g_h * g_w        (B, C, H, W)
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ca_yolo.nn.registry import register_layer


@register_layer()
class CoordAtt(nn.Module):
    """Coordinate Attention block; output has the input's shape (B, C, H, W), any H, W >= 1.

    Args:
        c1: Input channels C (output channels are the same).
        reduction: Channel reduction of the shared conv, mip = max(min_mip, C // reduction).
            32 as in the authors' reference code.
        min_mip: Floor on the reduced width (8 in the reference code).

    Attributes:
        conv1 / bn1 / act: shared reduction C -> mip, BatchNorm, h-swish.
        conv_h / conv_w: mip -> C, one per direction (with bias, as in the reference code).
    """

    def __init__(self, c1: int, reduction: int = 32, min_mip: int = 8):
        super().__init__()
        mip = max(min_mip, c1 // reduction)
        self.c1, self.reduction, self.mip = c1, reduction, mip
        self.conv1 = nn.Conv2d(c1, mip, 1)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = nn.Hardswish()
        self.conv_h = nn.Conv2d(mip, c1, 1)
        self.conv_w = nn.Conv2d(mip, c1, 1)

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the gates g_h (B, C, H, 1) and g_w (B, C, 1, W), values in (0, 1)."""
        h, w = x.shape[-2:]
        # mean() over a dim is several times faster on CPU than AdaptiveAvgPool2d((None, 1)), and
        # exports to ONNX as ReduceMean, which every runtime supports with dynamic shapes.
        z_h = x.mean(dim=3, keepdim=True)  # (B, C, H, 1)
        z_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # (B, C, W, 1)
        f = self.act(self.bn1(self.conv1(torch.cat((z_h, z_w), dim=2))))  # (B, mip, H + W, 1)
        f_h, f_w = torch.split(f, (h, w), dim=2)
        g_h = self.conv_h(f_h).sigmoid()  # (B, C, H, 1)
        g_w = self.conv_w(f_w.transpose(2, 3)).sigmoid()  # (B, C, 1, W)
        return g_h, g_w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale x (B, C, H, W) by g_h * g_w; returns (B, C, H, W)."""
        g_h, g_w = self.gates(x)
        out = x * g_h
        if torch.is_grad_enabled() and (out.requires_grad or g_w.requires_grad):
            return out * g_w  # autograd needs `out` intact for g_w's gradient
        # Without autograd, scale the one full-size temporary in place instead of making a second.
        return out.mul_(g_w)

    def extra_repr(self) -> str:
        return f"c1={self.c1}, reduction={self.reduction}, mip={self.mip}"
