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

Why the forward looks the way it does (CPU measurements: ``ca-yolo bench``, README "Speed"):

- The layer is memory-bound: its arithmetic is tiny, its cost is passes over the full-size map
  and, at batch 1, per-op overhead. So the pooled descriptors are kept as (B, C, H + W) and the
  three 1x1 convs run as batched matrix products (``baddbmm``) - the same sums as a 1x1 conv,
  without the 2-D conv machinery's set-up cost on a (B, C, L, 1) sliver.
- Fresh full-size tensors are expensive on CPU (no caching allocator: page faults), so the eval
  path makes exactly one: ``x * g_h`` is written once and scaled by ``g_w`` in place.
- In training, a plain autograd graph would keep ``x * g_h`` alive for the backward pass and make
  five more full-size temporaries there. Two small autograd functions (:class:`_Pool`,
  :class:`_Scale`) save only ``x`` and the gates and compute the gate gradients as batched
  matrix-vector products. Their forward is the very same ops as the eval path, so both paths give
  bit-identical outputs.
- Under ``torch.compile``, tracing, scripting or ONNX export, plain ops and the conv modules are
  used instead (:meth:`CoordAtt._gates_conv`): the compiler can fuse them, and exported graphs
  hold only standard Conv/BatchNormalization/ReduceMean/Mul nodes that runtimes fuse and that
  accept any input size. Same math; results agree with the eager path to float rounding.
- After ``fuse()`` (Ultralytics' ``model.fuse()`` calls it: predict, val, export) eval mode runs
  the inference form (:mod:`ca_yolo.nn.fuse`), the fewest calls the maths allows at batch 1:
  BatchNorm folded into conv1, both gate convs one product (weights stacked), the biases inside
  ``addmm``, and the two gates multiplied together before the one full-size product with x. At
  batch 1 on small maps (dispatch-bound) conv1 and both poolings are two matrix products with a
  constant pooling matrix: 10 calls (view, mm, addmm, h-swish, addmm, sigmoid, 2 views, 2 muls;
  28 unfused). Larger maps and batches (memory-bound) sum along W and H instead (13 calls).
- On the CPU, in float32, a fused layer is one call of a compiled kernel instead
  (:mod:`ca_yolo.nn.native`, built on first use with the system C compiler): one pass over the map
  to pool it, one to scale it. Inside a model the ten calls above cost two to three times what they
  cost alone (each runs after a large convolution left the caches and the dispatcher cold); one
  call does not. Where the kernel can't be built the PyTorch form above runs; both agree to float
  rounding.
- On a GPU the CPU-tuned forms above are neither launch- nor bandwidth-minded; tensors on CUDA take
  the GPU forms of :mod:`ca_yolo.nn.gpu_forms` instead: two or three Triton kernels for the fused layer
  (:mod:`ca_yolo.nn.triton_coord_att`), or plain PyTorch ops where Triton is missing; in training
  the gate network runs as conv modules (docs/gpu.md has the H200 measurements).
- Exported: the two directions as two short chains of 4-D 1x1 Convs, 12 ONNX nodes and no shape
  arithmetic (:meth:`CoordAtt._forward_export`). An Ultralytics ``format=onnx`` export with
  ``dynamic=False`` (one input size) gets 14 nodes that ONNX Runtime's CPU provider keeps in its
  blocked NCHWc layout (:meth:`CoordAtt._forward_export_static`).
"""

from __future__ import annotations

import functools
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ca_yolo.nn.fuse import InferenceForm, conv_weight_bias, exporting_static_shapes, fold_conv_bn
from ca_yolo.nn.gate_init import check_mode, current_mode, init_gate_, isolated_rng
from ca_yolo.nn.gpu_forms import PlainFusedForm, active_form
from ca_yolo.nn.native import coord_att_kernel
from ca_yolo.nn.registry import register_layer


def _pool(x: torch.Tensor) -> torch.Tensor:
    """[mean_w(x) ; mean_h(x)] of x (B, C, H, W) -> (B, C, H + W)."""
    # mean() over a dim is several times faster on CPU than AdaptiveAvgPool2d((None, 1)), and
    # exports to ONNX as ReduceMean, which every runtime supports with dynamic shapes.
    return torch.cat((x.mean(dim=3), x.mean(dim=2)), dim=2)


# Batch-1 maps up to this many multiply-adds (mip * H * W * (C + H + W)) are pooled by matrix products
# (:func:`pooling_matrix`) instead of two sums and a concatenation: fewer, cheaper calls where the
# layer is dispatch-bound. Above it the products' arithmetic outgrows the calls they save (2-core AMD
# EPYC, 2 threads, both paths timed alone: products ahead up to C=256 at 20x20 (22 vs 29 us), behind from
# C=64 at 40x40 (42 vs 18 us)).
POOL_BY_PRODUCT_MACS = 1_000_000


@functools.lru_cache(maxsize=32)
def pooling_matrix(h: int, w: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The (H*W, H + W) matrix P with ``x.view(C, H*W) @ P == [mean_w(x) ; mean_h(x)]`` for x (C, H, W).

    Column i < H averages row i of the map (1/W at its W positions), column H + j averages column j
    (1/H at its H positions). Made once per size, dtype and device (a few kB at the sizes it is used for).
    """
    p = torch.zeros(h, w, h + w, dtype=torch.float64)
    rows, cols = torch.arange(h), torch.arange(w)
    p[rows, :, rows] = 1.0 / w
    p[:, cols, h + cols] = 1.0 / h
    return p.view(h * w, h + w).to(dtype=dtype, device=device)


def folded_gate(
    z: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, wg: torch.Tensor, bg: torch.Tensor
) -> torch.Tensor:
    """A gate from pooled descriptors z (B, C, L, 1) or (B, C, 1, L) with the inference form's 4-D 1x1 weights:
    Conv (conv1, BatchNorm folded in) -> HardSwish -> Conv (gate conv) -> Sigmoid; same shape, values in (0, 1).

    Plain 4-D ops, so the same call serves eager mode, tracing and ONNX export (4 nodes).
    """
    return F.conv2d(F.hardswish(F.conv2d(z, w1, b1)), wg, bg).sigmoid()


def _scale(x: torch.Tensor, g_h: torch.Tensor, g_w: torch.Tensor) -> torch.Tensor:
    """x (B, C, H, W) * g_h (B, C, H, 1) * g_w (B, C, 1, W), with one full-size allocation."""
    return torch.mul(x, g_h).mul_(g_w)


class _Pool(torch.autograd.Function):
    """:func:`_pool` whose backward writes dL/dx in one full-size pass (autograd makes two)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ctx.hw = x.shape[-2:]
        return _pool(x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        h, w = ctx.hw
        # d mean_w / dx = 1/W along each row, d mean_h / dx = 1/H along each column.
        return (grad_z[:, :, :h] / w).unsqueeze(3) + (grad_z[:, :, h:] / h).unsqueeze(2)


class _Scale(torch.autograd.Function):
    """:func:`_scale` that saves only its inputs; gate gradients as batched matrix-vector products."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, g_h: torch.Tensor, g_w: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(x, g_h, g_w)
        return _scale(x, g_h, g_w)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        x, g_h, g_w = ctx.saved_tensors
        b, c, h, w = x.shape
        need_x, need_h, need_w = ctx.needs_input_grad
        grad_x = grad_h = grad_w = None
        buf = None
        if need_h or need_w:
            # dL/dg_h[h] = sum_w grad * x * g_w[w], dL/dg_w[w] = sum_h grad * x * g_h[h]: one
            # temporary t = grad * x, then a matrix-vector product per (b, c) - no second temporary.
            t = grad * x
            if t.is_contiguous():
                t3 = t.view(b * c, h, w)
                if need_h:
                    grad_h = torch.bmm(t3, g_w.to(t.dtype).reshape(b * c, w, 1)).view(b, c, h, 1)
                if need_w:
                    grad_w = torch.bmm(g_h.to(t.dtype).reshape(b * c, 1, h), t3).view(b, c, 1, w)
                buf = t  # no longer needed: its memory takes dL/dx below
            else:  # e.g. channels_last: reduce directly
                grad_h = (t * g_w).sum(dim=3, keepdim=True) if need_h else None
                grad_w = (t * g_h).sum(dim=2, keepdim=True) if need_w else None
            grad_h = grad_h.to(g_h.dtype) if grad_h is not None else None
            grad_w = grad_w.to(g_w.dtype) if grad_w is not None else None
        if need_x:
            if buf is not None and buf.dtype == torch.result_type(grad, g_h):
                grad_x = torch.mul(grad, g_h, out=buf).mul_(g_w)
            else:
                grad_x = _scale(grad, g_h, g_w)
            grad_x = grad_x.to(x.dtype)
        return grad_x, grad_h, grad_w


def scale_with_grad(x: torch.Tensor, g_h: torch.Tensor, g_w: torch.Tensor) -> torch.Tensor:
    """x (B, C, H, W) * g_h (B, C, H, 1) * g_w (B, C, 1, W) for training: saves only its inputs, and its
    backward gives the gate gradients in the gates' dtypes and dL/dx in x's (AMP's mixed dtypes)."""
    return _Scale.apply(x, g_h, g_w)


@functools.cache
def _triton():
    """:mod:`ca_yolo.nn.triton_coord_att`, imported on first use (it imports Triton, which a CPU install may lack)."""
    from ca_yolo.nn import triton_coord_att

    return triton_coord_att


@functools.cache
def _triton_gate_net():
    """:mod:`ca_yolo.nn.triton_gate_net`, imported on first use, as :func:`_triton`."""
    from ca_yolo.nn import triton_gate_net

    return triton_gate_net


def _plain_ops_only() -> bool:
    """Whether to avoid the custom autograd functions: compiling, tracing or exporting.

    Both ONNX exporters are covered: the TorchScript-based one traces (``is_tracing``), the dynamo-based
    one runs ``torch.export`` (``is_compiling``). ``torch.onnx.is_in_onnx_export()`` is not asked: it
    imports two modules per call (~0.9 us, a tenth of a fused layer's own cost at batch 1).
    """
    return torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling()


class CoordAttBase(InferenceForm, nn.Module):
    """What CoordAtt and its one-direction halves share: widths, init mode, the shared reduction.

    Builds ``conv1`` / ``bn1`` / ``act`` (C -> mip, BatchNorm, h-swish), then one mip -> C gate conv
    per name in :attr:`gate_convs`, initialised by the init mode. All are made in one private RNG
    stream, in this order, so a layer's starting weights depend only on the seed.
    """

    gate_convs: tuple[str, ...] = ()

    def __init__(self, c1: int, reduction: int = 32, min_mip: int = 8, init: str | None = None):
        super().__init__()
        mip = max(min_mip, c1 // reduction)
        self.c1, self.reduction, self.mip = c1, reduction, mip
        self.init = check_mode(current_mode() if init is None else init, f"{type(self).__name__} init")
        with isolated_rng():
            self.conv1 = nn.Conv2d(c1, mip, 1)
            self.bn1 = nn.BatchNorm2d(mip)
            self.act = nn.Hardswish()
            for name in self.gate_convs:
                setattr(self, name, nn.Conv2d(mip, c1, 1))
        for name in self.gate_convs:
            init_gate_(getattr(self, name), self.init)

    def can_fuse(self) -> bool:
        """BatchNorm folds only with running statistics (the default)."""
        return self.bn1.running_var is not None

    def extra_repr(self) -> str:
        return f"c1={self.c1}, reduction={self.reduction}, mip={self.mip}"


@register_layer()
class CoordAtt(CoordAttBase):
    """Coordinate Attention block; output has the input's shape (B, C, H, W), any H, W >= 1.

    Args:
        c1: Input channels C (output channels are the same).
        reduction: Channel reduction of the shared conv, mip = max(min_mip, C // reduction).
            32 as in the authors' reference code.
        min_mip: Floor on the reduced width (8 in the reference code).
        init: "identity" (gate convs zero, bias ``GATE_LOGIT``: starts as 0.964 x), "paper"
            (PyTorch's default initialisation, as the reference code), or None for the current
            mode (:mod:`ca_yolo.nn.gate_init`; a model YAML sets it with ``attention_init:``).

    Attributes:
        conv1 / bn1 / act: shared reduction C -> mip, BatchNorm, h-swish.
        conv_h / conv_w: mip -> C, one per direction (with bias, as in the reference code).
        The three convs are applied through their weights (as batched matrix products), so
        forward hooks registered on them do not fire; ``bn1`` and ``act`` are called as modules
        (SyncBatchNorm conversion and running statistics work as usual).
        After :meth:`fuse` (called by Ultralytics' ``model.fuse()``), eval mode runs the inference
        form from precomputed constants (:mod:`ca_yolo.nn.fuse`); training mode is unaffected.
    """

    gate_convs = ("conv_h", "conv_w")
    # The GPU inference forms by name: Triton's with its launch plans, the plain one; both with their
    # kept workspaces (each made on first use). They hold the constants, so they are dropped whenever
    # those are remade, and they are never pickled or deep-copied.
    _gpu_runners = None

    @staticmethod
    def _conv1x1(conv: nn.Conv2d, z: torch.Tensor) -> torch.Tensor:
        """A 1x1 ``conv`` on z (B, C_in, L) as one batched matrix product -> (B, C_out, L)."""
        weight = conv.weight.view(1, conv.out_channels, conv.in_channels).expand(z.shape[0], -1, -1)
        return torch.baddbmm(conv.bias.view(1, -1, 1), weight, z)

    def _gates(self, z: torch.Tensor, h: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Gates (B, C, H) and (B, C, W) from the pooled descriptors z (B, C, H + W)."""
        if _plain_ops_only():
            return self._gates_conv(z, h)
        f = self._conv1x1(self.conv1, z)  # (B, mip, H + W)
        # BatchNorm normalises over the batch and all H + W positions jointly, as in the paper.
        f = self.act(self.bn1(f.unsqueeze(3))).squeeze(3)
        g_h = self._conv1x1(self.conv_h, f[:, :, :h]).sigmoid()
        g_w = self._conv1x1(self.conv_w, f[:, :, h:]).sigmoid()
        return g_h, g_w

    def _gates_conv(self, z: torch.Tensor, h: int) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_gates` with the convs called as modules, for exporters and compilers.

        Exported graphs then hold plain Conv/BatchNormalization nodes, which ONNX Runtime,
        TensorRT and OpenVINO fuse, instead of the Expand/MatMul pattern of ``baddbmm``.
        """
        f = self.act(self.bn1(self.conv1(z.unsqueeze(3))))  # (B, mip, H + W, 1)
        g_h = self.conv_h(f[:, :, :h]).sigmoid().squeeze(3)
        g_w = self.conv_w(f[:, :, h:]).sigmoid().squeeze(3)
        return g_h, g_w

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the gates g_h (B, C, H, 1) and g_w (B, C, 1, W), values in (0, 1)."""
        g_h, g_w = self._gates(_pool(x), x.shape[2])
        return g_h.unsqueeze(3), g_w.unsqueeze(2)

    def inference_constants(self) -> dict[str, torch.Tensor]:
        """Constants of the inference form: ``_w1``/``_b1`` conv1 with bn1 folded in, ``_wg``/``_bg``
        conv_h and conv_w stacked (2C, mip) for the eager form; ``_c*`` 4-D conv weights for export."""
        w1, b1 = fold_conv_bn(self.conv1, self.bn1)  # (mip, C), (mip,)
        wh, bh = conv_weight_bias(self.conv_h)  # (C, mip), (C,)
        ww, bw = conv_weight_bias(self.conv_w)
        return {
            "_w1": w1,
            "_b1": b1[:, None],  # (mip, C), (mip, 1)
            "_wg": torch.cat((wh, ww)),
            "_bg": torch.cat((bh, bw))[:, None],  # (2C, mip), (2C, 1)
            "_wgt": torch.cat((wh, ww)).t(),  # (mip, 2C): the compiled kernel's layout (ca_yolo.nn.native)
            "_cw1": w1[:, :, None, None],
            "_cb1": b1.clone(),
            "_cwh": wh[:, :, None, None],
            "_cbh": bh.clone(),
            "_cww": ww[:, :, None, None],
            "_cbw": bw.clone(),
            # the plain GPU form's conv1d weights (ca_yolo.nn.gpu_forms)
            "_w1c": w1[:, :, None],
            "_wgc": torch.cat((wh, ww))[:, :, None],
            "_bgf": torch.cat((bh, bw)),
        }

    def _read_constants(self) -> None:
        super()._read_constants()
        self._gpu_runners = None

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_gpu_runners", None)
        return state

    def fuse(self) -> CoordAtt:
        """:meth:`InferenceForm.fuse`; also builds or loads the compiled kernel now, not on the first inference."""
        super().fuse()
        if self.fused:
            coord_att_kernel()
        return self

    def forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        """Inference form, eager, no autograd: x (B, C, H, W) -> (B, C, H, W).

        float32 on the CPU: one call of the compiled kernel (:mod:`ca_yolo.nn.native`) where it could be
        built. Otherwise, or with :func:`ca_yolo.nn.native.disabled`, PyTorch ops, 10 calls at batch 1:
        small maps at batch 1 (the latency case, dispatch-bound) run on 2-D matrices: conv1 and both
        poolings are two products with a constant pooling matrix (:func:`pooling_matrix`), ``addmm``
        takes the biases in the same call, nothing is expanded over a batch. Larger maps and batches
        (memory-bound) sum along W and H and run the three convs as batched products.
        """
        # in inference_constants' order; the export-only 4-D weights are not needed here
        w1, b1, wg, bg, wgt, _, cb1, _, _, _, _, w1c, wgc, bgf = self._constants
        form = active_form(x)
        if form in ("triton", "torch"):
            if self._gpu_runners is None:
                self._gpu_runners = {}
            run = self._gpu_runners.get(form)
            if run is None:
                if form == "triton":
                    run = _triton().FusedCoordAtt(w1, b1, wg, bg)
                else:
                    run = PlainFusedForm(w1c, cb1, wgc, bgf)
                self._gpu_runners[form] = run
            return run(x)
        kernel = coord_att_kernel()
        if kernel and x.dtype == w1.dtype == torch.float32 and x.device.type == "cpu" and x.is_contiguous():
            if x.numel():
                return kernel(x, w1, b1, wgt, bg, self.mip)
        b, c, h, w = x.shape
        if b == 1 and self.mip * h * w * (c + h + w) <= POOL_BY_PRODUCT_MACS:
            # (mip, C) @ (C, HW) @ (HW, H + W): conv1 before the pooling, the cheaper order for mip < C.
            f = torch.addmm(b1, torch.mm(w1, x.view(c, h * w)), pooling_matrix(h, w, x.dtype, x.device))
            g = torch.addmm(bg, wg, F.hardswish(f, inplace=True)).sigmoid_()  # (2C, H + W)
            g_h, g_w = g[None, :c, :h, None], g[None, c:, None, h:]
        else:
            # Sums, not means (mean is a sum plus a division pass): the 1/W goes into the product's
            # scale, and the W/H that turns the column sums into means as well only for non-square maps.
            z = torch.cat((x.sum(3), x.sum(2)), 2)  # (B, C, H + W)
            if h != w:
                z[:, :, h:].mul_(w / h)
            f = torch.baddbmm(b1, w1.expand(b, -1, -1), z, alpha=1.0 / w)  # (B, mip, H + W)
            g = torch.baddbmm(bg, wg.expand(b, -1, -1), F.hardswish(f, inplace=True)).sigmoid_()
            g_h, g_w = g[:, :c, :h, None], g[:, c:, None, h:]
        # Both gate convs were one product: rows :C are conv_h, rows C: conv_w (the off-diagonal blocks
        # are wasted but tiny). The gates are multiplied first: g_h * g_w reads two small tensors, and
        # the full-size product with x is then a plain same-shape multiply, much faster on CPU than
        # scaling x by a gate broadcast along H (both timed alone at 1x64x20x20: 6.9 vs 9.6 us). A mixed
        # dtype (autocast) can't be multiplied into the gates' tensor in place: out-of-place fallback.
        gate = torch.mul(g_h, g_w)
        return gate.mul_(x) if gate.dtype == x.dtype else x * gate

    def _forward_export(self, x: torch.Tensor) -> torch.Tensor:
        """Inference form for tracing / export / compile: 12 standard ONNX nodes, any input size.

        The two directions run as separate 4-D chains (ReduceMean, Conv, HardSwish, Conv, Sigmoid)
        instead of one concatenated descriptor: splitting that again would need the input's H as a
        tensor (Shape, Gather, Slice, Unsqueeze nodes), which costs more nodes than the second chain.
        """
        if exporting_static_shapes():
            return self._forward_export_static(x)
        g_h, g_w = self._export_gates(x.mean(3, keepdim=True), x.mean(2, keepdim=True))
        return x * g_h * g_w

    def _export_gates(self, z_h: torch.Tensor, z_w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both export forms' gates from the pooled z_h (B, C, H, 1) and z_w (B, C, 1, W) (:func:`folded_gate`)."""
        g_h = folded_gate(z_h, self._cw1, self._cb1, self._cwh, self._cbh)
        g_w = folded_gate(z_w, self._cw1, self._cb1, self._cww, self._cbw)
        return g_h, g_w

    def _forward_export_static(self, x: torch.Tensor) -> torch.Tensor:
        """Export form for one fixed input size: 14 standard ONNX nodes that stay in ONNX Runtime's NCHWc layout.

        ONNX Runtime's CPU provider runs convolutions in a blocked channel layout (NCHWc) and converts
        a tensor back to NCHW for every op it has no blocked kernel for - ReduceMean and broadcasting
        Mul among them: around each CA layer that is a conversion of the full map out and one back in,
        plus four small ones around the gate convs. Here every op has a blocked kernel: the poolings
        are AveragePool with a (1, W) / (H, 1) kernel, each gate is brought to full size by nearest
        Resize, and the products are same-shape Muls. The kernel and Resize scales are the traced size,
        so the graph is only right for that size: used only inside :func:`static_shape_export`.
        Measured (yolov8n-ca / yolov8n latency, ONNX Runtime, 2 CPU threads, several runs): 1.03-1.07 ->
        1.01-1.03 at 640 px, 1.18-1.22 -> 1.05-1.08 at 160 px; on a busier host later, 1.03-1.07 at 640 px
        with this form (README "Speed").
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # baking the size in is the point here
            h, w = int(x.shape[2]), int(x.shape[3])
        g_h, g_w = self._export_gates(F.avg_pool2d(x, (1, w)), F.avg_pool2d(x, (h, 1)))
        g_h = F.interpolate(g_h, scale_factor=(1.0, float(w)), mode="nearest")
        g_w = F.interpolate(g_w, scale_factor=(float(h), 1.0), mode="nearest")
        return x * (g_h * g_w)

    def _forward_triton(self, x: torch.Tensor) -> torch.Tensor:
        """Training (and unfused eval) in the GPU form "triton": pooling and scaling as Triton kernels with
        one-pass backward kernels; between them the gate network, in training as Triton kernels too where
        its modules allow (:mod:`ca_yolo.nn.triton_gate_net`; ``KernelConfig.gate_net_kernels``), else
        as conv modules."""
        tk, gate_net, h = _triton(), _triton_gate_net(), x.shape[2]
        link = tk.GradLink() if x.requires_grad and torch.is_grad_enabled() else None
        z = tk.pool_with_grad(x, link) if link else tk.pool(x)
        if tk.CONFIG.gate_net_kernels and gate_net.applies(self.conv1, self.bn1, self.act, self.conv_h, self.conv_w):
            g_h, g_w = gate_net.gates_with_grad(z, h, self.conv1, self.bn1, self.conv_h, self.conv_w)
        else:
            g_h, g_w = self._gates_conv(z, h)
        return tk.scale_with_grad(x, g_h.unsqueeze(3), g_w.unsqueeze(2), link)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale x (B, C, H, W) by g_h * g_w; returns (B, C, H, W)."""
        if self._fused_names:
            if self.training:
                self.unfuse()  # fused while training: the weights move, the snapshot would go stale
            elif _plain_ops_only():
                return self._forward_export(x)
            elif not torch.is_grad_enabled():
                return self.forward_fused(x)
        form = None if _plain_ops_only() else active_form(x, self.training)
        if form == "triton":
            return self._forward_triton(x)
        # The GPU form "torch" runs the gate network as conv modules (no products over expanded weights).
        gates = self._gates_conv if form == "torch" else self._gates
        if not torch.is_grad_enabled() or _plain_ops_only():
            g_h, g_w = gates(_pool(x), x.shape[2])
            return _scale(x, g_h.unsqueeze(3), g_w.unsqueeze(2))
        g_h, g_w = gates(_Pool.apply(x) if x.requires_grad else _pool(x), x.shape[2])
        return _Scale.apply(x, g_h.unsqueeze(3), g_w.unsqueeze(2))
