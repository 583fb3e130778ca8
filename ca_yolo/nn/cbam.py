"""CBAM, Convolutional Block Attention Module (Woo, Park, Lee, Kweon, ECCV 2018), the paper's form.

Channel attention, then spatial attention on the channel-refined map (paper, Eq. 1-3)::

    M_c = sigmoid(MLP(avgpool_hw(x)) + MLP(maxpool_hw(x)))      (B, C, 1, 1), MLP shared: C -> C/r -> C
    x'  = x * M_c
    M_s = sigmoid(conv7x7([mean_c(x'); max_c(x')]))             (B, 1, H, W)
    out = x' * M_s                                               (B, C, H, W)

r = 16 and a 7x7 kernel as in the paper. The MLP layers have biases (as in the authors' code); the
spatial conv has none, and no BatchNorm (the equation has only the convolution).

Naming: Ultralytics ships a class called ``CBAM`` too (``ultralytics.nn.modules.CBAM``), RTMDet's
simplified form (a 1x1 conv on the average pool only, no max-pool branch, no reduction MLP). It is
*not* in ``ultralytics.nn.tasks``' namespace (8.4.x) and no stock model YAML names it, so
registering ours under ``CBAM`` shadows nothing: a YAML row ``[-1, 1, CBAM, []]`` builds this
paper-faithful block. ``tests/test_siblings.py`` checks both facts, so a future Ultralytics release
that starts using its own ``CBAM`` in a YAML is noticed.

Only ``torch.nn`` submodules are used, so checkpoints load under Ultralytics' restricted loading
once the registered class itself is allowed.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ca_yolo.nn.gate_init import check_mode, current_mode, init_gate_, isolated_rng
from ca_yolo.nn.registry import register_layer
from ca_yolo.nn.se import channel_mlp


@register_layer()
class CBAM(nn.Module):
    """Channel then spatial attention; output has the input's shape (B, C, H, W).

    Args:
        c1: Input channels C (output channels are the same).
        reduction: MLP bottleneck ratio r; hidden width is max(1, C // r). 16 as in the paper.
        kernel_size: Spatial attention kernel (odd); 7 as in the paper.
        init: "identity", "paper" or None for the current mode (:mod:`ca_yolo.nn.gate_init`). In
            identity mode fc2 is zero with bias ``GATE_LOGIT / 2`` (the MLP runs on both pooled
            descriptors and their outputs are summed), so M_c starts at 0.982; the spatial conv has
            no bias (paper), so it can only start at zero: M_s = 0.5, and the block at 0.49 x.

    Attributes:
        fc1 / fc2: the shared MLP C -> C/r -> C (``nn.Linear`` with bias).
        spatial: ``nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)``.
    """

    row_settings = ("reduction", "kernel_size")
    gate_names = ("g_c", "g_s")
    gate_convs = ("fc2", "spatial")

    def __init__(self, c1: int, reduction: int = 16, kernel_size: int = 7, init: str | None = None):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"CBAM kernel_size must be odd to keep H and W, got {kernel_size}")
        hidden = max(1, c1 // reduction)
        self.c1, self.reduction, self.hidden, self.kernel_size = c1, reduction, hidden, kernel_size
        self.init = check_mode(current_mode() if init is None else init, "CBAM init")
        with isolated_rng():
            self.fc1, self.act, self.fc2 = channel_mlp(c1, hidden)
            self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        init_gate_(self.fc2, self.init, scale=0.5)
        init_gate_(self.spatial, self.init)

    def channel_gate(self, x: torch.Tensor) -> torch.Tensor:
        """M_c of x (B, C, H, W); returns (B, C, 1, 1), values in (0, 1)."""
        # Both descriptors go through the shared MLP in one batch: (2B, C).
        z = torch.cat((x.mean(dim=(2, 3)), x.amax(dim=(2, 3))), dim=0)
        avg, mx = self.fc2(self.act(self.fc1(z))).chunk(2, dim=0)
        return (avg + mx).sigmoid()[:, :, None, None]

    def spatial_gate(self, x: torch.Tensor) -> torch.Tensor:
        """M_s of x (B, C, H, W); returns (B, 1, H, W), values in (0, 1)."""
        pooled = torch.cat((x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)), dim=1)  # (B, 2, H, W)
        return self.spatial(pooled).sigmoid()

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(g_c, g_s)``: M_c (B, C, 1, 1) and M_s (B, 1, H, W), M_s of the channel-refined map (as forward)."""
        g_c = self.channel_gate(x)
        return g_c, self.spatial_gate(x * g_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Channel-refine then spatially refine x (B, C, H, W); returns (B, C, H, W)."""
        x = x * self.channel_gate(x)
        return x * self.spatial_gate(x)

    def extra_repr(self) -> str:
        return f"c1={self.c1}, reduction={self.reduction}, hidden={self.hidden}, kernel_size={self.kernel_size}"
