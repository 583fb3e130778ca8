"""Single-direction halves of Coordinate Attention, the CA paper's own ablation (Hou et al. 2021).

The paper compares CA with variants that keep only one of its two 1-D encodings. Here:

- ``CoordAttH`` keeps the gate indexed by height: z_h(c, h) = mean over w of x(c, h, w), the
  paper's z^h, so it pools along the horizontal (width) axis;
- ``CoordAttW`` keeps the gate indexed by width: z_w(c, w) = mean over h of x(c, h, w), z^w.

Each is CA's pipeline on its one descriptor, with the same widths as :class:`CoordAtt`::

    z  = mean_w(x)                            (B, C, H, 1)     [CoordAttW: mean_h(x) -> (B, C, 1, W)]
    f  = h_swish(BN(conv1(z)))                (B, mip, H, 1),  mip = max(min_mip, C // reduction)
    g  = sigmoid(conv_gate(f))                (B, C, H, 1)
    out = x * g                               (B, C, H, W)

After ``fuse()`` (Ultralytics' ``model.fuse()`` calls it) eval mode runs the inference form: the
mean, conv1 with BatchNorm folded in, h-swish, the gate conv, sigmoid and one multiplication -
6 ops, the same in eager mode and in an exported graph (:mod:`ca_yolo.nn.fuse`).
"""

from __future__ import annotations

import torch

from ca_yolo.nn.coord_att import CoordAttBase, folded_gate
from ca_yolo.nn.fuse import GateForm, conv_weight_bias, fold_conv_bn
from ca_yolo.nn.registry import register_layer


class _CoordAttHalf(GateForm, CoordAttBase):
    """Shared body of the two halves; each names the axis it averages away: ``class CoordAttH(_CoordAttHalf, dim=3)``.

    Args:
        c1: Input channels C. reduction / min_mip / init: as in :class:`CoordAtt` (32, 8, None).
    """

    dim: int = 3  # the axis averaged away: 3 = W (CoordAttH), 2 = H (CoordAttW)
    gate_convs = ("conv_gate",)

    def __init_subclass__(cls, dim: int | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if dim is not None:
            cls.dim = dim

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """Gate of x (B, C, H, W): (B, C, H, 1) for CoordAttH, (B, C, 1, W) for CoordAttW; in (0, 1)."""
        # A 1x1 conv and BatchNorm act per position, so (B, C, 1, W) needs no transpose.
        z = x.mean(dim=self.dim, keepdim=True)
        return self.conv_gate(self.act(self.bn1(self.conv1(z)))).sigmoid()

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        """``(g_h,)`` for CoordAttH, ``(g_w,)`` for CoordAttW (see :meth:`gate`)."""
        return (self.gate(x),)

    def inference_constants(self) -> dict[str, torch.Tensor]:
        """4-D 1x1 conv weights and biases: conv1 with bn1 folded in, and the gate conv."""
        w1, b1 = fold_conv_bn(self.conv1, self.bn1)
        wg, bg = conv_weight_bias(self.conv_gate)
        return {"_cw1": w1[:, :, None, None], "_cb1": b1, "_cwg": wg[:, :, None, None], "_cbg": bg.clone()}

    def forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        """Plain out-of-place ops: the same form serves eager, autograd, tracing and export."""
        return x * folded_gate(x.mean(dim=self.dim, keepdim=True), self._cw1, self._cb1, self._cwg, self._cbg)


@register_layer()
class CoordAttH(_CoordAttHalf, dim=3):
    """Coordinate Attention along height only (pools over W); output (B, C, H, W) like the input."""

    gate_names = ("g_h",)


@register_layer()
class CoordAttW(_CoordAttHalf, dim=2):
    """Coordinate Attention along width only (pools over H); output (B, C, H, W) like the input."""

    gate_names = ("g_w",)
