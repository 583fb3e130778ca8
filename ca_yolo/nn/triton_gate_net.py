"""CoordAtt's gate network in training as Triton kernels: two launches forward, three backward.

From the pooled descriptors z (B, C, L = H + W) the gate network computes, per image and position,
``u = W1 z + b1`` (conv1, mip rows), BatchNorm with the batch's statistics over (B, L) (and the running
statistics updated as ``nn.BatchNorm2d`` updates them), h-swish, and the gate convs with a sigmoid:
``g = sigmoid(W_h a + b_h)`` at the first H positions, ``sigmoid(W_w a + b_w)`` at the last W. Run as
modules that is some 15 small PyTorch kernels forward and 30 backward per layer and step (convs with
their bias and weight gradients, BatchNorm, activations, slices, AMP's weight casts); here:

- forward: ``_pre_kernel`` (u, and per program the mean and centred sum of squares of its positions),
  ``_post_kernel`` (the batch statistics combined from those partials - Chan's parallel formula, in a
  fixed order, so results do not depend on scheduling - then normalisation, h-swish, the gate convs and
  the sigmoid; one program also updates the running statistics);
- backward: ``_back_gates_kernel`` (through the sigmoids and gate convs to the BatchNorm output: dL/da,
  the gate convs' weight and bias gradients per program, dL/dn and its BatchNorm sums),
  ``_back_input_kernel`` (through BatchNorm and conv1: dL/dz, conv1's gradients per program, the BatchNorm
  affine gradients), ``_sum_rows_kernel`` (every parameter gradient from the per-program partials).

Everything is computed in fp32 whatever z's dtype (AMP gives fp16 z); the gates come out in fp32 and the
parameter gradients in the parameters' dtype. The modules are not called, so hooks registered on them
do not fire (as on the CPU path); :func:`applies` says when a layer's modules can take this path
(a plain ``nn.BatchNorm2d`` in training mode with affine parameters and running statistics, biases on
the three convs, ``nn.Hardswish``); otherwise the caller runs the modules.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import nn
from torch.autograd.function import once_differentiable

from ca_yolo.nn import triton_coord_att
from ca_yolo.nn.triton_coord_att import conv1_values, hswish
from ca_yolo.nn.triton_launch import KernelLauncher

#: Positions per program, and elements of the (channels, mip, positions) products per step.
BLOCK_L = 32
PRODUCT_TILE = 8192
#: Partials reduced per step when a program combines all programs' partials.
BLOCK_P = 64
#: (rows, columns) per step of the final reduction of the per-program parameter gradients.
SUM_BLOCK = (16, 256)


def applies(conv1: nn.Conv2d, bn: nn.Module, act: nn.Module, conv_h: nn.Conv2d, conv_w: nn.Conv2d) -> bool:
    """Whether a gate network of these modules can run as these kernels (see the module docstring)."""
    return (
        type(bn) is nn.BatchNorm2d
        and bn.training
        and bn.affine
        and bn.track_running_stats
        and bn.momentum is not None
        and type(act) is nn.Hardswish
        and all(conv.bias is not None for conv in (conv1, conv_h, conv_w))
    )


@triton.jit
def _positions(L, BLOCK: tl.constexpr):
    """This program's positions (block number: grid axis 0) and their mask."""
    pos = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    return pos, pos < L


@triton.jit
def _stat_partials(part_ptr, p0, P, NLB, L, MIP_P: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_P: tl.constexpr):
    """Partials p0 .. p0 + BLOCK_P - 1 of (P, 2, MIP_P): their mask, position counts, means, centred sums."""
    p = p0 + tl.arange(0, BLOCK_P)
    pm = p < P
    m = tl.arange(0, MIP_P)
    n_p = tl.minimum(L - (p % NLB) * BLOCK_L, BLOCK_L).to(tl.float32)  # partial p covers block p % NLB
    at = part_ptr + p[:, None] * 2 * MIP_P + m[None, :]
    return pm, n_p, tl.load(at, mask=pm[:, None], other=0.0), tl.load(at + MIP_P, mask=pm[:, None], other=0.0)


@triton.jit
def _batch_stats(part_ptr, L, NLB, P, N, MIP_P: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_P: tl.constexpr):
    """Mean and biased variance (MIP_P,) over all B * L positions from the programs' (mean, centred sum of
    squares) partials (P, 2, MIP_P): ``M2 = sum M2_p + sum n_p (mean_p - mean)^2``, in a fixed order."""
    mean = tl.zeros([MIP_P], dtype=tl.float32)
    for p0 in range(0, P, BLOCK_P):
        _, n_p, mp, _ = _stat_partials(part_ptr, p0, P, NLB, L, MIP_P, BLOCK_L, BLOCK_P)
        mean += tl.sum(mp * n_p[:, None], 0)
    mean = mean / N
    m2 = tl.zeros([MIP_P], dtype=tl.float32)
    for p0 in range(0, P, BLOCK_P):
        pm, n_p, mp, m2p = _stat_partials(part_ptr, p0, P, NLB, L, MIP_P, BLOCK_L, BLOCK_P)
        d = mp - mean[None, :]
        m2 += tl.sum(tl.where(pm[:, None], m2p + n_p[:, None] * d * d, 0.0), 0)
    return mean, m2 / N


@triton.jit
def _pre_kernel(
    z_ptr, w1_ptr, b1_ptr, u_ptr, part_ptr, C, L, MIP, NLB,
    MIP_P: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_L: tl.constexpr,
):  # fmt: skip
    # u (B, MIP, L) = W1 z + b1 for this program's positions; partials (mean, centred sum of squares).
    b = tl.program_id(1)
    pos, pm = _positions(L, BLOCK_L)
    m = tl.arange(0, MIP_P)
    mm = m < MIP
    u = conv1_values(z_ptr + b.to(tl.int64) * C * L, w1_ptr, b1_ptr, C, L, MIP, pos, pm, MIP_P, BLOCK_K, BLOCK_L)
    um = mm[:, None] & pm[None, :]
    tl.store(u_ptr + b.to(tl.int64) * MIP * L + m[:, None] * L + pos[None, :], u, mask=um)
    n_i = tl.minimum(L - tl.program_id(0) * BLOCK_L, BLOCK_L).to(tl.float32)
    mean_i = tl.sum(tl.where(um, u, 0.0), 1) / n_i
    d = tl.where(um, u - mean_i[:, None], 0.0)
    part = part_ptr + (b * NLB + tl.program_id(0)).to(tl.int64) * 2 * MIP_P
    tl.store(part + m, mean_i)
    tl.store(part + MIP_P + m, tl.sum(d * d, 1))


@triton.jit
def _saved_stats(stats_ptr, MIP, MIP_P: tl.constexpr):
    """The rows m (MIP_P,), their mask, and the batch mean and 1 / std the forward saved (stats (2, MIP_P))."""
    m = tl.arange(0, MIP_P)
    mm = m < MIP
    return m, mm, tl.load(stats_ptr + m, mask=mm, other=0.0), tl.load(stats_ptr + MIP_P + m, mask=mm, other=0.0)


@triton.jit
def _normalised(u_ptr, b, pos, pm, m, mm, L, MIP, mean, invstd, gamma_ptr, beta_ptr):
    """(nhat, n, a) at (m, pos): BatchNorm's normalised u, its affine output, h-swish of that; 0 where masked."""
    um = mm[:, None] & pm[None, :]
    u = tl.load(u_ptr + b.to(tl.int64) * MIP * L + m[:, None] * L + pos[None, :], mask=um, other=0.0)
    nhat = tl.where(um, (u - mean[:, None]) * invstd[:, None], 0.0)
    gamma = tl.load(gamma_ptr + m, mask=mm, other=0.0).to(tl.float32)
    beta = tl.load(beta_ptr + m, mask=mm, other=0.0).to(tl.float32)
    n = tl.where(um, nhat * gamma[:, None] + beta[:, None], 0.0)
    return nhat, n, hswish(n)


@triton.jit
def _gate_weights(wh_ptr, ww_ptr, k, km, m, mm, MIP):
    """conv_h's and conv_w's weights for channels k, (len(k), MIP_P) each, fp32."""
    wm = km[:, None] & mm[None, :]
    wh = tl.load(wh_ptr + k[:, None] * MIP + m[None, :], mask=wm, other=0.0).to(tl.float32)
    ww = tl.load(ww_ptr + k[:, None] * MIP + m[None, :], mask=wm, other=0.0).to(tl.float32)
    return wh, ww


@triton.jit
def _post_kernel(
    u_ptr, part_ptr, gamma_ptr, beta_ptr, wh_ptr, bh_ptr, ww_ptr, bw_ptr, g_ptr, stats_ptr, rm_ptr, rv_ptr,
    nbt_ptr, C, H, L, MIP, NLB, P, N, eps, momentum,
    MIP_P: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_P: tl.constexpr,
):  # fmt: skip
    # g (B, C, L): conv_h's gates at positions < H, conv_w's after, for this program's channels and positions.
    b = tl.program_id(2)
    pos, pm = _positions(L, BLOCK_L)
    m = tl.arange(0, MIP_P)
    mm = m < MIP
    mean, var = _batch_stats(part_ptr, L, NLB, P, N, MIP_P, BLOCK_L, BLOCK_P)
    invstd = 1.0 / tl.sqrt(var + eps)
    _, _, a = _normalised(u_ptr, b, pos, pm, m, mm, L, MIP, mean, invstd, gamma_ptr, beta_ptr)
    rows_h = pos < H
    a_h = tl.where(rows_h[None, :], a, 0.0)
    a_w = tl.where(rows_h[None, :], 0.0, a)
    k = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    km = k < C
    wh, ww = _gate_weights(wh_ptr, ww_ptr, k, km, m, mm, MIP)
    logits = tl.sum(wh[:, :, None] * a_h[None, :, :], 1) + tl.sum(ww[:, :, None] * a_w[None, :, :], 1)
    bh = tl.load(bh_ptr + k, mask=km, other=0.0).to(tl.float32)
    bw = tl.load(bw_ptr + k, mask=km, other=0.0).to(tl.float32)
    logits += tl.where(rows_h[None, :], bh[:, None], bw[:, None])
    g_at = g_ptr + b.to(tl.int64) * C * L + k[:, None] * L + pos[None, :]
    tl.store(g_at, tl.sigmoid(logits), mask=km[:, None] & pm[None, :])
    if (tl.program_id(0) == 0) & (tl.program_id(1) == 0) & (b == 0):
        tl.store(stats_ptr + m, mean, mask=mm)
        tl.store(stats_ptr + MIP_P + m, invstd, mask=mm)
        # as nn.BatchNorm2d in training: the running variance takes the unbiased estimate
        rm = tl.load(rm_ptr + m, mask=mm, other=0.0).to(tl.float32)
        rv = tl.load(rv_ptr + m, mask=mm, other=0.0).to(tl.float32)
        tl.store(rm_ptr + m, (1.0 - momentum) * rm + momentum * mean, mask=mm)
        tl.store(rv_ptr + m, (1.0 - momentum) * rv + momentum * var * (N / (N - 1.0)), mask=mm)
        tl.store(nbt_ptr, tl.load(nbt_ptr) + 1)


@triton.jit
def _back_gates_kernel(
    u_ptr, stats_ptr, gamma_ptr, beta_ptr, g_ptr, dgh_ptr, dgw_ptr, wh_ptr, ww_ptr, dn_ptr, part_ptr,
    C, H, L, MIP, NLB, KP, OFF_BN, dhb, dhc, dwb, dwc,
    MIP_P: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_L: tl.constexpr,
):  # fmt: skip
    # Through the sigmoids and gate convs: dL/da, then dL/dn (B, MIP, L) through h-swish; this program's
    # partial gate-conv gradients and BatchNorm sums go to its row of part (P, KP).
    b = tl.program_id(1)
    b64 = b.to(tl.int64)
    pos, pm = _positions(L, BLOCK_L)
    m, mm, mean, invstd = _saved_stats(stats_ptr, MIP, MIP_P)
    nhat, n, a = _normalised(u_ptr, b, pos, pm, m, mm, L, MIP, mean, invstd, gamma_ptr, beta_ptr)
    rows_h = pos < H
    part = part_ptr + (b * NLB + tl.program_id(0)).to(tl.int64) * KP
    da = tl.zeros([MIP_P, BLOCK_L], dtype=tl.float32)
    for k0 in range(0, C, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        km = k < C
        hm = km[:, None] & (pm & rows_h)[None, :]
        wm_ = km[:, None] & (pm & ~rows_h)[None, :]
        dg = tl.load(dgh_ptr + b64 * dhb + k[:, None] * dhc + pos[None, :], mask=hm, other=0.0).to(tl.float32)
        dg += tl.load(dgw_ptr + b64 * dwb + k[:, None] * dwc + (pos - H)[None, :], mask=wm_, other=0.0).to(tl.float32)
        g = tl.load(g_ptr + b64 * C * L + k[:, None] * L + pos[None, :], mask=km[:, None] & pm[None, :], other=0.0)
        dpre = dg * g * (1.0 - g)
        dpre_h = tl.where(rows_h[None, :], dpre, 0.0)
        dpre_w = tl.where(rows_h[None, :], 0.0, dpre)
        wh, ww = _gate_weights(wh_ptr, ww_ptr, k, km, m, mm, MIP)
        da += tl.sum(wh[:, :, None] * dpre_h[:, None, :], 0) + tl.sum(ww[:, :, None] * dpre_w[:, None, :], 0)
        wmask = km[:, None] & mm[None, :]
        at = k[:, None] * MIP + m[None, :]
        tl.store(part + at, tl.sum(dpre_h[:, None, :] * a[None, :, :], 2), mask=wmask)
        tl.store(part + C * MIP + at, tl.sum(dpre_w[:, None, :] * a[None, :, :], 2), mask=wmask)
        tl.store(part + 2 * C * MIP + k, tl.sum(dpre_h, 1), mask=km)
        tl.store(part + 2 * C * MIP + C + k, tl.sum(dpre_w, 1), mask=km)
    # h-swish'(n) as PyTorch has it: 0 below -3, n / 3 + 1/2 up to 3, 1 above
    dn = da * tl.where(n < -3.0, 0.0, tl.where(n <= 3.0, n / 3.0 + 0.5, 1.0))
    dn = tl.where(mm[:, None] & pm[None, :], dn, 0.0)
    tl.store(dn_ptr + b64 * MIP * L + m[:, None] * L + pos[None, :], dn, mask=mm[:, None] & pm[None, :])
    tl.store(part + OFF_BN + m, tl.sum(dn, 1))
    tl.store(part + OFF_BN + MIP_P + m, tl.sum(dn * nhat, 1))


@triton.jit
def _back_input_kernel(
    z_ptr, u_ptr, stats_ptr, gamma_ptr, dn_ptr, w1_ptr, dz_ptr, part_ptr, grads_ptr,
    C, L, MIP, NLB, P, N, KP, OFF_W1, OFF_BN, K_RED,
    MIP_P: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_P: tl.constexpr,
):  # fmt: skip
    # Through BatchNorm (batch statistics) and conv1: dL/dz for this program's channels and positions,
    # conv1's partial gradients; one program writes the BatchNorm affine gradients (complete sums).
    b = tl.program_id(2)
    b64 = b.to(tl.int64)
    pos, pm = _positions(L, BLOCK_L)
    m, mm, mean, invstd = _saved_stats(stats_ptr, MIP, MIP_P)
    s_dn = tl.zeros([MIP_P], dtype=tl.float32)
    s_dn_nhat = tl.zeros([MIP_P], dtype=tl.float32)
    for p0 in range(0, P, BLOCK_P):
        p = p0 + tl.arange(0, BLOCK_P)
        rows = part_ptr + p.to(tl.int64)[:, None] * KP + OFF_BN + m[None, :]
        s_dn += tl.sum(tl.load(rows, mask=(p < P)[:, None], other=0.0), 0)
        s_dn_nhat += tl.sum(tl.load(rows + MIP_P, mask=(p < P)[:, None], other=0.0), 0)
    gamma = tl.load(gamma_ptr + m, mask=mm, other=0.0).to(tl.float32)
    um = mm[:, None] & pm[None, :]
    u = tl.load(u_ptr + b64 * MIP * L + m[:, None] * L + pos[None, :], mask=um, other=0.0)
    nhat = (u - mean[:, None]) * invstd[:, None]
    dn = tl.load(dn_ptr + b64 * MIP * L + m[:, None] * L + pos[None, :], mask=um, other=0.0)
    du = (gamma * invstd)[:, None] * (dn - s_dn[:, None] / N - nhat * (s_dn_nhat / N)[:, None])
    du = tl.where(um, du, 0.0)
    k = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    km = k < C
    zm = km[:, None] & pm[None, :]
    w1 = tl.load(w1_ptr + m[:, None] * C + k[None, :], mask=mm[:, None] & km[None, :], other=0.0).to(tl.float32)
    dz = tl.sum(w1[:, :, None] * du[:, None, :], 0)  # (BLOCK_C, BLOCK_L)
    tl.store(dz_ptr + b64 * C * L + k[:, None] * L + pos[None, :], dz, mask=zm)
    z = tl.load(z_ptr + b64 * C * L + k[:, None] * L + pos[None, :], mask=zm, other=0.0).to(tl.float32)
    part = part_ptr + (b * NLB + tl.program_id(0)).to(tl.int64) * KP + OFF_W1
    dw1 = tl.sum(du[:, None, :] * z[None, :, :], 2)  # (MIP_P, BLOCK_C)
    tl.store(part + m[:, None] * C + k[None, :], dw1, mask=mm[:, None] & km[None, :])
    if tl.program_id(1) == 0:
        tl.store(part + MIP * C + m, tl.sum(du, 1), mask=mm)
    if (tl.program_id(0) == 0) & (tl.program_id(1) == 0) & (b == 0):
        tl.store(grads_ptr + K_RED + m, s_dn_nhat, mask=mm)  # dL/dgamma
        tl.store(grads_ptr + K_RED + MIP + m, s_dn, mask=mm)  # dL/dbeta


@triton.jit
def _sum_rows_kernel(part_ptr, out_ptr, P, K, KP, BLOCK_P: tl.constexpr, BLOCK_K: tl.constexpr):
    # out[k] = sum_p part[p, k] for k < K, rows in a fixed order
    k = tl.program_id(0) * BLOCK_K + tl.arange(0, BLOCK_K)
    km = k < K
    acc = tl.zeros([BLOCK_K], dtype=tl.float32)
    for p0 in range(0, P, BLOCK_P):
        p = p0 + tl.arange(0, BLOCK_P)
        rows = part_ptr + p.to(tl.int64)[:, None] * KP + k[None, :]
        acc += tl.sum(tl.load(rows, mask=(p < P)[:, None] & km[None, :], other=0.0), 0)
    tl.store(out_ptr + k, acc, mask=km)


_launch_pre = KernelLauncher(_pre_kernel)
_launch_post = KernelLauncher(_post_kernel)
_launch_back_gates = KernelLauncher(_back_gates_kernel, warps=lambda: triton_coord_att.CONFIG.grad_warps)
_launch_back_input = KernelLauncher(_back_input_kernel)
_launch_sum_rows = KernelLauncher(_sum_rows_kernel)


def _blocks(c: int, mip: int) -> tuple[int, int]:
    """(MIP_P, channels per step) so a step's (channels, MIP_P, BLOCK_L) product stays within PRODUCT_TILE."""
    mip_p = max(2, triton.next_power_of_2(mip))
    return mip_p, max(1, min(triton.next_power_of_2(c), PRODUCT_TILE // (mip_p * BLOCK_L)))


def _unit_last(t: torch.Tensor) -> torch.Tensor:
    return t if t.stride(-1) == 1 or t.shape[-1] == 1 else t.contiguous()


class _GateNet(torch.autograd.Function):
    """(z, conv1, bn1, conv_h, conv_w parameters) -> gates g_h (B, C, H), g_w (B, C, W), fp32."""

    @staticmethod
    def forward(ctx, z, w1, b1, gamma, beta, wh, bh, ww, bw, bn: nn.BatchNorm2d, h: int):  # noqa: D102
        z = z.contiguous()
        b, c, length = z.shape
        mip = w1.shape[0]
        mip_p, block_k = _blocks(c, mip)
        nlb = triton.cdiv(length, BLOCK_L)
        parts, n = b * nlb, b * length
        f32 = {"dtype": torch.float32, "device": z.device}
        u = torch.empty((b, mip, length), **f32)
        stat_parts = torch.empty((parts, 2, mip_p), **f32)
        g = torch.empty((b, c, length), **f32)
        stats = torch.empty((2, mip_p), **f32)
        _launch_pre((nlb, b, 1), z, w1, b1, u, stat_parts, c, length, mip, nlb, mip_p, block_k, BLOCK_L)
        grid = (nlb, triton.cdiv(c, block_k), b)
        _launch_post(
            grid, u, stat_parts, gamma, beta, wh, bh, ww, bw, g, stats, bn.running_mean, bn.running_var,
            bn.num_batches_tracked, c, h, length, mip, nlb, parts, n, bn.eps, bn.momentum,
            mip_p, block_k, BLOCK_L, BLOCK_P,
        )  # fmt: skip
        ctx.save_for_backward(z, u, g, stats, w1, gamma, beta, wh, ww)
        ctx.h, ctx.blocks = h, (mip_p, block_k, nlb)
        ctx.param_dtypes = [t.dtype for t in (w1, b1, gamma, beta, wh, bh, ww, bw)]
        return g[:, :, :h], g[:, :, h:]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h, grad_w):  # noqa: D102
        z, u, g, stats, w1, gamma, beta, wh, ww = ctx.saved_tensors
        b, c, length = z.shape
        h, mip = ctx.h, w1.shape[0]
        mip_p, block_k, nlb = ctx.blocks
        parts, n = b * nlb, b * length
        # the kernel reads the gate gradients with unit stride along positions
        grad_h = torch.zeros_like(g[:, :, :h]) if grad_h is None else _unit_last(grad_h)
        grad_w = torch.zeros_like(g[:, :, h:]) if grad_w is None else _unit_last(grad_w)
        # per program: conv_h and conv_w weights (2 C mip), their biases (2 C), conv1's weight and bias
        # (mip C + mip) - summed by _sum_rows_kernel - then the BatchNorm sums, which _back_input_kernel reads
        off_w1 = 2 * c * mip + 2 * c
        k_red = off_w1 + mip * c + mip
        kp = k_red + 2 * mip_p
        part = torch.empty((parts, kp), dtype=torch.float32, device=z.device)
        dn = torch.empty_like(u)
        # this kernel keeps five products of a step live: half the forward's channels a step and 8 warps
        # (compiled for sm_90 by scripts/triton_compile_check.py: 200 registers a thread with the forward's
        # step and 4 warps; with these at most 128 and no spills, in Triton 3.6 and 3.8)
        _launch_back_gates(
            (nlb, b, 1), u, stats, gamma, beta, g, grad_h, grad_w, wh, ww, dn, part, c, h, length, mip, nlb, kp,
            k_red, grad_h.stride(0), grad_h.stride(1), grad_w.stride(0), grad_w.stride(1), mip_p,
            max(1, block_k // 2), BLOCK_L,
        )  # fmt: skip
        dz = torch.empty_like(z)
        grads = torch.empty(k_red + 2 * mip, dtype=torch.float32, device=z.device)
        _launch_back_input(
            (nlb, triton.cdiv(c, block_k), b), z, u, stats, gamma, dn, w1, dz, part, grads, c, length, mip, nlb,
            parts, n, kp, off_w1, k_red, k_red, mip_p, block_k, BLOCK_L, BLOCK_P,
        )  # fmt: skip
        rows, cols = SUM_BLOCK
        _launch_sum_rows((triton.cdiv(k_red, cols), 1, 1), part, grads, parts, k_red, kp, rows, cols)
        sizes = [c * mip, c * mip, c, c, mip * c, mip, mip, mip]
        d_wh, d_ww, d_bh, d_bw, d_w1, d_b1, d_gamma, d_beta = torch.split(grads, sizes)
        out = [d_w1.view(mip, c), d_b1, d_gamma, d_beta, d_wh.view(c, mip), d_bh, d_ww.view(c, mip), d_bw]
        out = [t.to(dtype) for t, dtype in zip(out, ctx.param_dtypes)]
        return (dz, *out, None, None)


def gates_with_grad(
    z: torch.Tensor, h: int, conv1: nn.Conv2d, bn: nn.BatchNorm2d, conv_h: nn.Conv2d, conv_w: nn.Conv2d
) -> tuple[torch.Tensor, torch.Tensor]:
    """The gate network on z (B, C, H + W) in training (where :func:`applies`): g_h (B, C, H), g_w (B, C, W) in fp32.

    BatchNorm normalises with the batch's statistics over all B * (H + W) positions and updates ``bn``'s
    running statistics and batch count as ``nn.BatchNorm2d`` does; gradients reach z and every parameter.
    """
    c, mip = conv1.in_channels, conv1.out_channels
    return _GateNet.apply(
        z, conv1.weight.view(mip, c), conv1.bias, bn.weight, bn.bias, conv_h.weight.view(c, mip), conv_h.bias,
        conv_w.weight.view(c, mip), conv_w.bias, bn, h,
    )  # fmt: skip
