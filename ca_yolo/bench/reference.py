"""A straightforward Coordinate Attention, written from the paper, as the benchmark's yardstick.

This is how the block is usually transcribed from Hou et al. (CVPR 2021), Fig. 3 / Eqs. 1-9:
adaptive pooling layers for the two 1-D poolings, a permute to stack them, ``expand`` of both
gates to the full map, and two full-size multiplications. It computes the same function as
:class:`ca_yolo.nn.CoordAtt` (it has the same submodules, so weights can be copied across) and is
used only to measure how much the optimised layer saves. Not for use in models.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class ReferenceCoordAtt(nn.Module):
    """Paper-style Coordinate Attention; input and output (B, C, H, W).

    Args:
        c1: Channels C.
        reduction: mip = max(min_mip, C // reduction).
        min_mip: Floor on mip.
    """

    def __init__(self, c1: int, reduction: int = 32, min_mip: int = 8):
        super().__init__()
        mip = max(min_mip, c1 // reduction)
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))  # Eq. 2: average over W, keep H
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))  # Eq. 3: average over H, keep W
        self.conv1 = nn.Conv2d(c1, mip, 1)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = nn.Hardswish()
        self.conv_h = nn.Conv2d(mip, c1, 1)
        self.conv_w = nn.Conv2d(mip, c1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Eqs. 2-9: y = x * g_h (expanded) * g_w (expanded); x (B, C, H, W) -> (B, C, H, W)."""
        b, c, h, w = x.shape
        z_h = self.pool_h(x)  # (B, C, H, 1)
        z_w = self.pool_w(x).permute(0, 1, 3, 2)  # (B, C, W, 1)
        f = self.act(self.bn1(self.conv1(torch.cat([z_h, z_w], dim=2))))  # Eq. 4
        f_h, f_w = torch.split(f, [h, w], dim=2)
        f_w = f_w.permute(0, 1, 3, 2)  # (B, mip, 1, W)
        g_h = torch.sigmoid(self.conv_h(f_h)).expand(b, c, h, w)  # Eq. 7
        g_w = torch.sigmoid(self.conv_w(f_w)).expand(b, c, h, w)  # Eq. 8
        return x * g_h * g_w  # Eq. 9
