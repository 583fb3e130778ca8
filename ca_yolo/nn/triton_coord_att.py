"""Triton kernels for CoordAtt on a GPU: each full-size map is read or written the fewest times the maths allows.

The layer is memory-bound (its arithmetic is a few multiply-adds per element) and, at batch 1, launch-bound.
Four kernels serve both uses:

- :func:`pool`: one pass over x (B, C, H, W) -> z (B, C, H + W), the means along W then along H. Each
  program owns a block of channels of one image and walks down the rows: row means are stored as it
  goes, column sums stay in registers.
- gates (inference only): the tiny gate network on z (conv1 with BatchNorm folded, h-swish, the
  stacked gate convs, sigmoid), one program per block of H + W positions and of channels, fp32 throughout.
- :func:`scale`: one pass, out = x * g_h * g_w (+ an optional broadcast term, which is how the
  pooling's backward joins the scaling's backward in one pass).
- :func:`scale_grads`: one pass over (grad, x) -> dL/dg_h = sum_w grad * x * g_w and dL/dg_w =
  sum_h grad * x * g_h, with the same walk as :func:`pool` (both kernels are ``_walk_rows``).

Tile and block sizes come from :data:`CONFIG` (a :class:`KernelConfig`); after the first call for an
argument key each kernel is launched without Triton's per-call argument handling
(:class:`~ca_yolo.nn.triton_launch.KernelLauncher`).

Inference (:class:`FusedCoordAtt`, one per layer) is pool -> gates -> scale, or on small maps pool ->
gates and scale in one kernel (``_gated_scale_kernel``): x is read twice and written once; the launches
are planned once per input signature.
Training (:func:`pool_with_grad`, :func:`scale_with_grad`) puts :class:`_Pool` and :class:`_Scale` around
the gate network (its own kernels, :mod:`ca_yolo.nn.triton_gate_net`, or the modules). Their backward passes
are two kernels over the full map instead of autograd's eight or so: the scaling's backward computes
only the gate gradients and hands its incoming gradient to the pooling's backward, which writes the
whole dL/dx at once:
``grad * g_h * g_w + dL/dz_h / W + dL/dz_w / H``.

Any float dtype (sums in fp32), any strides (contiguous or channels_last; the output keeps x's
layout), any B, H, W >= 1. With ``TRITON_INTERPRET=1`` the kernels run on CPU tensors in Triton's
interpreter, which is how the test suite checks them without a GPU.
"""

from __future__ import annotations

import dataclasses
import functools

import torch
import triton
import triton.language as tl
from torch.autograd.function import once_differentiable

from ca_yolo.nn import triton_launch
from ca_yolo.nn.kept_workspaces import KeptWorkspaces
from ca_yolo.nn.triton_launch import KernelLauncher


@dataclasses.dataclass
class KernelConfig:
    """Tile sizes and warp counts of the kernels; the defaults were chosen for an H100/H200-class GPU.

    Attributes:
        tile: elements per program tile of the pooling, scaling and gate-gradient kernels: large enough
            to keep the memory system busy, small enough for registers.
        large_tile: the least tile for contiguous maps of ``large_numel`` elements or more, raised to hold a whole
            channel (up to 16384 elements: 128 x 128). On an H200 at batch 32 a whole channel per
            program beat walking it in steps (80 x 80 maps: 39 against 47 us with 8192, 55 with 4096);
            at batch 1 the larger tiles lost up to 20% on maps of 40 x 40 and 20 x 20.
        gate_positions: H + W positions per program of the gate kernel.
        gate_tile: elements of the gate kernel's (mip, channels, positions) products per step; with
            ``gate_positions`` it sets how many channels one step reduces over, so the number of serial
            steps (what a batch-1 call waits for) is C * mip * gate_positions / gate_tile.
        gates_in_scale_below: inference on maps of fewer elements computes the gates inside the scaling
            kernel (two launches a layer instead of three: at batch 1 a layer's cost is its host-side
            launches); each scaling program then runs the gate network for its own rows and columns,
            which only pays while the map is small. Larger maps, or tiles whose gate products would
            exceed ``gate_tile``, keep the separate gate kernel. 0 turns it off.
        grad_warps: warps of the gate-gradient kernel, which keeps five tile-sized arrays live (8 warps:
            16 elements a thread each, in registers), and of the training gate network's first backward
            kernel (:mod:`ca_yolo.nn.triton_gate_net`), which keeps as many; the other kernels hold two or
            three and use 4.
        pool_warps: warps of the pooling kernel. At batch 32 it ran at a quarter of the card's bandwidth
            on an H200 (64 x 80 x 80: 20 us where a copy, which moves twice the bytes, took 13) with 4
            warps and 150 registers a thread (2-3 programs an SM): more warps a program is the
            probe's candidate.
        gate_net_kernels: training in this form runs the gate network (conv1, BatchNorm with batch
            statistics, h-swish, gate convs, sigmoids) as the kernels of :mod:`ca_yolo.nn.triton_gate_net`
            where its modules allow: five launches a layer and step instead of some 45 PyTorch kernels.
            False: as modules (the probe times both).
    """

    tile: int = 4096
    large_tile: int = 8192
    large_numel: int = 1 << 21
    gate_positions: int = 4
    gate_tile: int = 8192
    grad_warps: int = 8
    pool_warps: int = 4
    gates_in_scale_below: int = 1 << 21
    gate_net_kernels: bool = True


#: The configuration every call reads; a probe may change it between calls.
CONFIG = KernelConfig()


@functools.lru_cache(maxsize=256)
def _map_tiles(c: int, h: int, w: int, channels_last: bool, tile: int) -> tuple[int, int, int]:
    """(BLOCK_C, BLOCK_H, BLOCK_W) for a walk over whole rows of a (C, H, W) map.

    Rows are whole (BLOCK_W >= W) so column sums never leave registers. Contiguous maps fill a tile
    with rows of one channel first (loads along W) and take more channels only where the map is
    small (20 x 20: four), so that no program is mostly overhead; channels_last maps take up to 64
    channels, the contiguous direction there.
    """
    bw = triton.next_power_of_2(w)
    if channels_last:
        bc = min(triton.next_power_of_2(c), max(1, tile // bw), 64)
        bh = min(triton.next_power_of_2(h), max(1, tile // (bw * bc)))
    else:
        bh = min(triton.next_power_of_2(h), max(1, tile // bw))
        bc = min(triton.next_power_of_2(c), max(1, tile // (bw * bh)))
    return bc, bh, bw


@triton.jit
def _channel_block(C, W, BLOCK_C: tl.constexpr, BLOCK_W: tl.constexpr):
    """The walking kernels' program: image b (grid axis 1), channels c (axis 0), all column lanes w, masks."""
    c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    w = tl.arange(0, BLOCK_W)
    return tl.program_id(1), c, w, c < C, w < W


@triton.jit
def _row_starts(ptr, b, c, w, sb, sc, sw):
    """(BLOCK_C, 1, BLOCK_W) pointers to row 0 of channels c of image b of a strided map, column lanes w."""
    return ptr + b.to(tl.int64) * sb + c[:, None, None].to(tl.int64) * sc + w[None, None, :] * sw


@triton.jit
def _rows(h0, H, cm, wm, BLOCK_H: tl.constexpr):
    """Rows h0 .. h0 + BLOCK_H - 1: indices, their mask, and the (BLOCK_C, BLOCK_H, BLOCK_W) tile mask."""
    h = h0 + tl.arange(0, BLOCK_H)
    hm = h < H
    return h, hm, cm[:, None, None] & hm[None, :, None] & wm[None, None, :]


@triton.jit
def _walk_rows(
    x_ptr, grad_ptr, gh_ptr, gw_ptr, rows_ptr, cols_ptr, C, H, W, sb, sc, sh, sw, gb, gc, gh_s, gw_s,
    ghb, ghc, gwb, gwc, rows_bc, cols_bc, rows_div, cols_div,
    GRADS: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr,
):  # fmt: skip
    """One program's walk down the rows of a block of channels of one image; t = x, or grad * x with GRADS:
    ``rows[h] = sum_w t (* g_w) / rows_div`` and ``cols[w] = sum_h t (* g_h) / cols_div``, each channel's
    rows and columns at ``(b * C + c) * rows_bc`` resp. ``cols_bc``. Row sums are stored as the walk goes,
    column sums stay in registers until the end."""
    b, c, w, cm, wm = _channel_block(C, W, BLOCK_C, BLOCK_W)
    b64, c64 = b.to(tl.int64), c.to(tl.int64)
    src = _row_starts(x_ptr, b, c, w, sb, sc, sw)
    bc = (b * C + c).to(tl.int64)[:, None]
    if GRADS:
        gsrc = _row_starts(grad_ptr, b, c, w, gb, gc, gw_s)
        gw = tl.load(gw_ptr + b64 * gwb + c64[:, None] * gwc + w[None, :], mask=cm[:, None] & wm[None, :], other=0.0)
        gw = gw.to(tl.float32)
    cols = tl.zeros([BLOCK_C, BLOCK_W], dtype=tl.float32)
    for h0 in range(0, H, BLOCK_H):
        h, hm, m3 = _rows(h0, H, cm, wm, BLOCK_H)
        t = tl.load(src + h[None, :, None] * sh, mask=m3, other=0.0).to(tl.float32)
        if GRADS:
            t = t * tl.load(gsrc + h[None, :, None] * gh_s, mask=m3, other=0.0).to(tl.float32)
            gh = tl.load(
                gh_ptr + b64 * ghb + c64[:, None] * ghc + h[None, :], mask=cm[:, None] & hm[None, :], other=0.0
            )
            row_sums = tl.sum(t * gw[:, None, :], 2)
            cols += tl.sum(t * gh.to(tl.float32)[:, :, None], 1)
        else:
            row_sums = tl.sum(t, 2)
            cols += tl.sum(t, 1)
        tl.store(rows_ptr + bc * rows_bc + h[None, :], row_sums / rows_div, mask=cm[:, None] & hm[None, :])
    tl.store(cols_ptr + bc * cols_bc + w[None, :], cols / cols_div, mask=cm[:, None] & wm[None, :])


@triton.jit
def _pool_kernel(
    x_ptr, z_ptr, C, H, W, sb, sc, sh, sw,
    BLOCK_C: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr
):  # fmt: skip
    # z (B, C, H + W): the row means, then the column means
    _walk_rows(
        x_ptr, x_ptr, x_ptr, x_ptr, z_ptr, z_ptr + H, C, H, W, sb, sc, sh, sw, 0, 0, 0, 0,
        0, 0, 0, 0, H + W, H + W, W, H, False, BLOCK_C, BLOCK_H, BLOCK_W,
    )  # fmt: skip


@triton.jit
def hswish(f):
    """h-swish, elementwise: ``f * relu6(f + 3) / 6``."""
    return f * tl.minimum(tl.maximum(f + 3.0, 0.0), 6.0) / 6.0


@triton.jit
def conv1_values(
    z_img, w1_ptr, b1_ptr, C, L, MIP, pos, pm, MIP_P: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_P: tl.constexpr
):  # fmt: skip
    """``w1 z[:, pos] + b1`` of one image, fp32 (MIP_P, BLOCK_P) (rows past MIP and masked positions: b1 or 0).

    z_img: the image's z (C, L), any float dtype; w1 (MIP, C), b1 (MIP,). The reduction over C runs in
    steps of BLOCK_K channels.
    """
    m = tl.arange(0, MIP_P)
    mm = m < MIP
    f = tl.zeros([MIP_P, BLOCK_P], dtype=tl.float32)
    for k0 in range(0, C, BLOCK_K):
        kk = k0 + tl.arange(0, BLOCK_K)
        kkm = kk < C
        zt = tl.load(z_img + kk[:, None] * L + pos[None, :], mask=kkm[:, None] & pm[None, :], other=0.0)
        wt = tl.load(w1_ptr + m[:, None] * C + kk[None, :], mask=mm[:, None] & kkm[None, :], other=0.0)
        f += tl.sum(wt.to(tl.float32)[:, :, None] * zt.to(tl.float32)[None, :, :], 1)
    return f + tl.load(b1_ptr + m, mask=mm, other=0.0).to(tl.float32)[:, None]


@triton.jit
def _gate_values(
    z_img, w1_ptr, b1_ptr, wg_ptr, bg_ptr, C, L, MIP, pos, pm, k, km, row_off,
    MIP_P: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_P: tl.constexpr,
):  # fmt: skip
    """Gates of channels k at positions pos of one image, fp32 (len(k), BLOCK_P):
    ``sigmoid(wg[k + row_off] . h_swish(w1 z[:, pos] + b1) + bg[k + row_off])``.

    z_img: the image's z (C, L); row_off: 0 (conv_h's rows), C (conv_w's), or per position (BLOCK_P,).
    """
    m = tl.arange(0, MIP_P)
    mm = m < MIP
    f = hswish(conv1_values(z_img, w1_ptr, b1_ptr, C, L, MIP, pos, pm, MIP_P, BLOCK_K, BLOCK_P))
    row = k[:, None] + row_off
    wm3 = km[:, None, None] & mm[None, :, None]
    wt = tl.load(wg_ptr + row[:, None, :] * MIP + m[None, :, None], mask=wm3, other=0.0)
    bias = tl.load(bg_ptr + row, mask=km[:, None], other=0.0)
    return tl.sigmoid(tl.sum(wt.to(tl.float32) * f[None, :, :], 1) + bias.to(tl.float32))


@triton.jit
def _gates_kernel(
    ws_ptr, w1_ptr, b1_ptr, wg_ptr, bg_ptr, C, H, L, MIP,
    MIP_P: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_L: tl.constexpr,
):  # fmt: skip
    # ws holds z (B, C, L) then g (B, C, L); B is the grid's last dimension. Positions < H take
    # conv_h's rows (c), the others conv_w's (C + c).
    b = tl.program_id(2)
    pos = tl.program_id(0) * BLOCK_L + tl.arange(0, BLOCK_L)
    k = tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)
    lm, km = pos < L, k < C
    z_img = ws_ptr + b.to(tl.int64) * C * L
    row_off = (pos >= H).to(tl.int32)[None, :] * C
    g = _gate_values(z_img, w1_ptr, b1_ptr, wg_ptr, bg_ptr, C, L, MIP, pos, lm, k, km, row_off, MIP_P, BLOCK_K, BLOCK_L)
    g_img = z_img + tl.num_programs(2).to(tl.int64) * C * L
    tl.store(g_img + k[:, None] * L + pos[None, :], g, mask=km[:, None] & lm[None, :])


@triton.jit
def _scale_program(C, H, W, NHB, BLOCK_C: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr):
    """The scaling kernels' program: image b (grid axis 1), channels c and rows h (axis 0), all columns w, masks."""
    c = (tl.program_id(0) // NHB) * BLOCK_C + tl.arange(0, BLOCK_C)
    h = (tl.program_id(0) % NHB) * BLOCK_H + tl.arange(0, BLOCK_H)
    w = tl.arange(0, BLOCK_W)
    return tl.program_id(1), c, h, w, c < C, h < H, w < W


@triton.jit
def _scaled(x_ptr, b, c, h, w, m3, sb, sc, sh, sw, gh, gw):
    """x[b, c, h, w] * gh[c, h] * gw[c, w] in fp32, (BLOCK_C, BLOCK_H, BLOCK_W)."""
    x = tl.load(_row_starts(x_ptr, b, c, w, sb, sc, sw) + h[None, :, None] * sh, mask=m3)
    return x.to(tl.float32) * gh.to(tl.float32)[:, :, None] * gw.to(tl.float32)[:, None, :]


@triton.jit
def _scale_kernel(
    src_ptr, out_ptr, gh_ptr, gw_ptr, add_ptr, C, H, W, NHB, sb, sc, sh, sw, ob, oc, oh, ow,
    ghb, ghc, gwb, gwc, gh_off, gw_off, inv_w, inv_h,
    ADD: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr
):  # fmt: skip
    b, c, h, w, cm, hm, wm = _scale_program(C, H, W, NHB, BLOCK_C, BLOCK_H, BLOCK_W)
    b64, c64 = b.to(tl.int64), c.to(tl.int64)
    m3 = cm[:, None, None] & hm[None, :, None] & wm[None, None, :]
    gh_at = gh_ptr + gh_off + b64 * ghb + c64[:, None] * ghc + h[None, :]
    gh = tl.load(gh_at, mask=cm[:, None] & hm[None, :], other=0.0)
    gw_at = gw_ptr + gw_off + b64 * gwb + c64[:, None] * gwc + w[None, :]
    gw = tl.load(gw_at, mask=cm[:, None] & wm[None, :], other=0.0)
    y = _scaled(src_ptr, b, c, h, w, m3, sb, sc, sh, sw, gh, gw)
    if ADD:  # + dL/dz_h / W + dL/dz_w / H, from add (B, C, H + W)
        a = add_ptr + (b * C + c).to(tl.int64) * (H + W)
        ah = tl.load(a[:, None] + h[None, :], mask=cm[:, None] & hm[None, :], other=0.0).to(tl.float32) * inv_w
        aw = tl.load(a[:, None] + H + w[None, :], mask=cm[:, None] & wm[None, :], other=0.0).to(tl.float32) * inv_h
        y += ah[:, :, None] + aw[:, None, :]
    tl.store(_row_starts(out_ptr, b, c, w, ob, oc, ow) + h[None, :, None] * oh, y, mask=m3)


@triton.jit
def _gated_scale_kernel(
    x_ptr, out_ptr, z_ptr, w1_ptr, b1_ptr, wg_ptr, bg_ptr, C, H, W, NHB, MIP, sb, sc, sh, sw, ob, oc, oh, ow,
    MIP_P: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr
):  # fmt: skip
    # The gates and the scaling in one pass: each program computes the gates of its own channels, rows
    # and columns from z (B, C, H + W) (the h-swish layer again for each, which is cheap next to a launch).
    b, c, h, w, cm, hm, wm = _scale_program(C, H, W, NHB, BLOCK_C, BLOCK_H, BLOCK_W)
    L = H + W
    z_img = z_ptr + b.to(tl.int64) * C * L
    gh = _gate_values(z_img, w1_ptr, b1_ptr, wg_ptr, bg_ptr, C, L, MIP, h, hm, c, cm, 0, MIP_P, BLOCK_K, BLOCK_H)
    gw = _gate_values(z_img, w1_ptr, b1_ptr, wg_ptr, bg_ptr, C, L, MIP, H + w, wm, c, cm, C, MIP_P, BLOCK_K, BLOCK_W)
    m3 = cm[:, None, None] & hm[None, :, None] & wm[None, None, :]
    y = _scaled(x_ptr, b, c, h, w, m3, sb, sc, sh, sw, gh, gw)
    tl.store(_row_starts(out_ptr, b, c, w, ob, oc, ow) + h[None, :, None] * oh, y, mask=m3)


@triton.jit
def _scale_grads_kernel(
    grad_ptr, x_ptr, gh_ptr, gw_ptr, dgh_ptr, dgw_ptr, C, H, W, gb, gc, gh_s, gw_s, sb, sc, sh, sw,
    ghb, ghc, gwb, gwc,
    BLOCK_C: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr
):  # fmt: skip
    # dL/dg_h (B, C, H) = sum_w grad * x * g_w, dL/dg_w (B, C, W) = sum_h grad * x * g_h
    _walk_rows(
        x_ptr, grad_ptr, gh_ptr, gw_ptr, dgh_ptr, dgw_ptr, C, H, W, sb, sc, sh, sw, gb, gc, gh_s, gw_s,
        ghb, ghc, gwb, gwc, H, W, 1, 1, True, BLOCK_C, BLOCK_H, BLOCK_W,
    )  # fmt: skip


_launch_pool_kernel = KernelLauncher(_pool_kernel, warps=lambda: CONFIG.pool_warps)
_launch_gates_kernel = KernelLauncher(_gates_kernel)
_launch_scale_kernel = KernelLauncher(_scale_kernel)
_launch_gated_scale_kernel = KernelLauncher(_gated_scale_kernel)
_launch_scale_grads_kernel = KernelLauncher(_scale_grads_kernel, warps=lambda: CONFIG.grad_warps)


@functools.lru_cache(maxsize=256)
def _gate_blocks(c: int, mip: int, positions: int, tile: int) -> tuple[int, int, int]:
    """(MIP_P, BLOCK_K, BLOCK_L) of the gate kernel: mip padded to a power of two, channels per step, positions."""
    mip_p = max(2, triton.next_power_of_2(mip))
    block_l = max(1, positions)
    block_k = max(1, min(triton.next_power_of_2(c), tile // (mip_p * block_l)))
    return mip_p, block_k, block_l


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.stride(1) == 1 and x.shape[1] > 1


def _tiles(x: torch.Tensor) -> tuple[int, int, int]:
    """(BLOCK_C, BLOCK_H, BLOCK_W) of the map kernels for x (B, C, H, W): see :class:`KernelConfig`."""
    _, c, h, w = x.shape
    tile, channels_last = CONFIG.tile, _is_channels_last(x)
    # Whole channels per program pay for contiguous maps (column sums of a channel stay in registers); a
    # channels_last tile that large holds 64 channels of two rows and takes all 255 registers a thread
    # has (compiled for sm_90: scripts/triton_compile_check.py), against 96 with the default tile.
    if x.numel() >= CONFIG.large_numel and not channels_last:
        tile = max(CONFIG.large_tile, min(triton.next_power_of_2(h) * triton.next_power_of_2(w), 16384))
    return _map_tiles(c, h, w, channels_last, tile)


def _pool_launch(x: torch.Tensor) -> tuple[tuple[int, int, int], tuple]:
    """The pooling kernel's grid and its arguments after (x, z) for x (B, C, H, W)."""
    b, c, h, w = x.shape
    bc, bh, bw = _tiles(x)
    return (triton.cdiv(c, bc), b, 1), (c, h, w, *x.stride(), bc, bh, bw)


def _gates_launch(b: int, c: int, h: int, length: int, mip: int) -> tuple[tuple[int, int, int], tuple]:
    """The gate kernel's grid and its arguments after (ws, w1, b1, wg, bg): B images, C channels, L = H + W."""
    mip_p, block_k, block_l = _gate_blocks(c, mip, CONFIG.gate_positions, CONFIG.gate_tile)
    grid = (triton.cdiv(length, block_l), triton.cdiv(c, block_k), b)
    return grid, (c, h, length, mip, mip_p, block_k, block_l)


def _scale_launch(
    x: torch.Tensor,
    out_strides: tuple[int, ...],
    g_strides: tuple[int, int, int, int],
    g_offsets: tuple[int, int],
    add: bool,
) -> tuple[tuple[int, int, int], tuple]:
    """The scaling kernel's grid and its arguments after (x, out, g_h, g_w, add).

    ``g_strides``: g_h's and g_w's strides along B and C; ``g_offsets``: their first elements' offsets.
    """
    b, c, h, w = x.shape
    bc, bh, bw = _tiles(x)
    nhb = triton.cdiv(h, bh)
    args = (c, h, w, nhb, *x.stride(), *out_strides, *g_strides, *g_offsets, 1.0 / w, 1.0 / h, add, bc, bh, bw)
    return (triton.cdiv(c, bc) * nhb, b, 1), args


def _gated_scale_launch(
    x: torch.Tensor, out_strides: tuple[int, ...], mip: int
) -> tuple[tuple[int, int, int], tuple] | None:
    """The gated scaling kernel's grid and its arguments after (x, out, z, w1, b1, wg, bg), or None where
    the map is too large for it (:attr:`KernelConfig.gates_in_scale_below`) or its gate products too wide."""
    if x.numel() >= CONFIG.gates_in_scale_below:
        return None
    b, c, h, w = x.shape
    bc, bh, bw = _tiles(x)
    mip_p = max(2, triton.next_power_of_2(mip))
    if bc * mip_p * max(bh, bw) > CONFIG.gate_tile:
        return None
    block_k = max(1, min(triton.next_power_of_2(c), CONFIG.gate_tile // (mip_p * max(bh, bw))))
    nhb = triton.cdiv(h, bh)
    args = (c, h, w, nhb, mip, *x.stride(), *out_strides, mip_p, block_k, bc, bh, bw)
    return (triton.cdiv(c, bc) * nhb, b, 1), args


def pool(x: torch.Tensor) -> torch.Tensor:
    """[mean_w(x) ; mean_h(x)] of x (B, C, H, W) -> (B, C, H + W) in x's dtype, summed in fp32."""
    b, c, h, w = x.shape
    z = torch.empty((b, c, h + w), dtype=x.dtype, device=x.device)
    grid, args = _pool_launch(x)
    _launch_pool_kernel(grid, x, z, *args)
    return z


def scale(
    x: torch.Tensor,
    g_h: torch.Tensor,
    g_w: torch.Tensor,
    add: torch.Tensor | None = None,
    out_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """x (B, C, H, W) * g_h * g_w in one pass; the result has x's shape and memory format.

    Args:
        x: the map (any strides).
        g_h, g_w: (B, C, H, 1) / (B, C, 1, W) gates with unit stride along H resp. W.
        add: optional (B, C, H + W); adds ``add[..., :H] / W`` along rows and ``add[..., H:] / H`` along
            columns (the pooling's backward).
        out_dtype: the output's dtype (default: x's).
    """
    out = torch.empty_like(x, dtype=out_dtype or x.dtype)
    g_strides = (g_h.stride(0), g_h.stride(1), g_w.stride(0), g_w.stride(1))
    grid, args = _scale_launch(x, out.stride(), g_strides, (0, 0), add is not None)
    _launch_scale_kernel(grid, x, out, g_h, g_w, x if add is None else add, *args)
    return out


def scale_grads(
    grad: torch.Tensor, x: torch.Tensor, g_h: torch.Tensor, g_w: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/dg_h (B, C, H, 1) and dL/dg_w (B, C, 1, W) of out = x * g_h * g_w, in the gates' dtypes, one pass."""
    b, c, h, w = x.shape
    dgh = torch.empty((b, c, h, 1), dtype=g_h.dtype, device=x.device)
    dgw = torch.empty((b, c, 1, w), dtype=g_w.dtype, device=x.device)
    bc, bh, bw = _tiles(x)
    _launch_scale_grads_kernel(
        (triton.cdiv(c, bc), b, 1),
        grad, x, g_h, g_w, dgh, dgw, c, h, w, *grad.stride(), *x.stride(),
        g_h.stride(0), g_h.stride(1), g_w.stride(0), g_w.stride(1), bc, bh, bw,
    )  # fmt: skip
    return dgh, dgw


def _unit_inner(g: torch.Tensor) -> torch.Tensor:
    """g (B, C, N, 1) or (B, C, 1, N) with unit stride along N, as the kernels index it."""
    return g if g.stride(2 if g.shape[3] == 1 else 3) == 1 or g.shape[2] * g.shape[3] == 1 else g.contiguous()


#: Input signatures a :class:`FusedCoordAtt` keeps plans for; past this it starts again (e.g. a validation
#: run with rectangular batches sees a new H x W every few batches).
MAX_PLANS = 64


class FusedCoordAtt:
    """The fused CoordAtt inference form of one layer on a GPU: x (B, C, H, W) -> (B, C, H, W) in x's dtype and layout.

    Pool, then gates and scaling in one kernel on small maps (:attr:`KernelConfig.gates_in_scale_below`),
    else pool, gates, scale: x is read twice and written once. At batch 1 a layer's cost is
    its host-side work, so everything that follows from x's shape, strides, dtype and 16-byte
    alignment - tiles, grids, scalar arguments and, after the first call, the compiled kernels - is
    worked out once per such signature (a plan), and so are the weights' device addresses; a call then
    allocates the output and launches. The fp32 workspace of the pooled vectors and gates is kept
    between calls (:class:`~ca_yolo.nn.kept_workspaces.KeptWorkspaces`: per shape, stream and thread).

    Args:
        w1 (mip, C), b1 (mip, 1): conv1 with BatchNorm folded in; wg (2C, mip), bg (2C, 1): conv_h then
            conv_w stacked. The inference constants, any float dtype, contiguous, kept by reference
            (make a new object when they change).
    """

    def __init__(self, w1: torch.Tensor, b1: torch.Tensor, wg: torch.Tensor, bg: torch.Tensor):
        self.weights = (w1, b1, wg, bg)
        self.plans: dict[tuple, _FusedPlan] = {}
        self.workspaces: KeptWorkspaces[torch.Tensor] = KeptWorkspaces()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) on the weights' device -> x * g_h * g_w."""
        key = (x.shape, x.stride(), x.dtype, x.data_ptr() % 16 == 0)
        plan = self.plans.get(key)
        if plan is None or plan.config is not CONFIG:
            if len(self.plans) >= MAX_PLANS:
                self.plans.clear()
            plan = self.plans[key] = _FusedPlan(x, self.weights)
        return plan(x, self.workspaces)


class _FusedPlan:
    """One input signature's launches of :class:`FusedCoordAtt`.

    Two kernels where the map is small (pool; gates and scaling in one), else three (pool, gates,
    scale): z and the gates then share one fp32 workspace (2, B, C, H + W) and the scaling kernel reads
    the gates at their offset in it.
    """

    __slots__ = ("config", "weights", "ws_shape", "launchers", "grids", "static", "binaries", "device", "addresses")

    def __init__(self, x: torch.Tensor, weights: tuple[torch.Tensor, ...]):
        b, c, h, w = x.shape
        length, mip = h + w, weights[0].shape[0]
        self.config, self.weights = CONFIG, weights
        out_strides = torch.empty_like(x, device="meta").stride()
        gated = _gated_scale_launch(x, out_strides, mip)
        if gated is not None:
            self.ws_shape = (b, c, length)
            self.launchers = (_launch_pool_kernel, _launch_gated_scale_kernel)
            launches = (_pool_launch(x), gated)
        else:
            self.ws_shape = (2, b, c, length)
            self.launchers = (_launch_pool_kernel, _launch_gates_kernel, _launch_scale_kernel)
            gates_at = b * c * length
            g_strides = (c * length, length) * 2
            launches = (
                _pool_launch(x),
                _gates_launch(b, c, h, length, mip),
                _scale_launch(x, out_strides, g_strides, (gates_at, gates_at + h), False),
            )
        self.grids, self.static = zip(*launches)
        self.binaries, self.device, self.addresses = None, None, None

    def _calls(self, x, out, ws, weights) -> tuple[tuple, ...]:
        """Each launch's arguments in order, from the tensors or from their device addresses alike."""
        if len(self.static) == 2:
            pool_args, scale_args = self.static
            return (x, ws, *pool_args), (x, out, ws, *weights, *scale_args)
        pool_args, gates_args, scale_args = self.static
        return (x, ws, *pool_args), (ws, *weights, *gates_args), (x, out, ws, ws, x, *scale_args)

    def _workspace(self, x: torch.Tensor) -> torch.Tensor:
        return torch.empty(self.ws_shape, dtype=torch.float32, device=x.device)

    def __call__(self, x: torch.Tensor, workspaces: KeptWorkspaces[torch.Tensor]) -> torch.Tensor:
        out = torch.empty_like(x)
        direct = self.binaries is not None and triton_launch.direct_device(x) == self.device
        # a direct launch needs the stream handle anyway: the workspace lookup takes it instead of asking again
        stream = triton_launch.current_stream(self.device) if direct else None
        ws = workspaces.get(self.ws_shape, x, lambda: self._workspace(x), stream)
        if direct:
            calls = self._calls(x.data_ptr(), out.data_ptr(), ws.data_ptr(), self.addresses)
            for binary, grid, args in zip(self.binaries, self.grids, calls):
                triton_launch.launch_direct(binary, grid, stream, args)
        else:
            calls = self._calls(x, out, ws, self.weights)
            binaries = [launcher(grid, *args) for launcher, grid, args in zip(self.launchers, self.grids, calls)]
            if None not in binaries:
                self.binaries, self.device = binaries, triton_launch.direct_device(x)
                self.addresses = tuple(t.data_ptr() for t in self.weights)
        return out


def fused_forward(
    x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, wg: torch.Tensor, bg: torch.Tensor
) -> torch.Tensor:
    """One call of :class:`FusedCoordAtt` (a layer keeps one instead, for its cached plans)."""
    return FusedCoordAtt(w1, b1, wg, bg)(x)


class GradLink:
    """What the scaling's backward hands to the pooling's backward of the same layer call."""

    __slots__ = ("grad", "g_h", "g_w")

    def __init__(self):
        self.grad = self.g_h = self.g_w = None


class _Pool(torch.autograd.Function):
    """z = pool(x); backward writes the layer's whole dL/dx, with the scaling's share from :class:`GradLink`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, link: GradLink) -> torch.Tensor:  # noqa: D102
        ctx.link, ctx.x_dtype, ctx.hw = link, x.dtype, x.shape[2:]
        return pool(x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_z: torch.Tensor):  # noqa: D102
        link = ctx.link
        grad_z = grad_z.contiguous()
        if link.grad is None:  # the scaling's backward did not run (no gradient reached it): the pooling's share
            h, w = ctx.hw
            return ((grad_z[:, :, :h] / w).unsqueeze(3) + (grad_z[:, :, h:] / h).unsqueeze(2)).to(ctx.x_dtype), None
        grad, g_h, g_w = link.grad, link.g_h, link.g_w
        link.grad = link.g_h = link.g_w = None
        return scale(grad, g_h, g_w, add=grad_z, out_dtype=ctx.x_dtype), None


class _Scale(torch.autograd.Function):
    """out = x * g_h * g_w in one pass; backward: the gate gradients in one pass, dL/dx left to :class:`_Pool`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, g_h: torch.Tensor, g_w: torch.Tensor, link: GradLink | None) -> torch.Tensor:  # noqa: D102
        g_h, g_w = _unit_inner(g_h), _unit_inner(g_w)
        ctx.save_for_backward(x, g_h, g_w)
        ctx.link = link
        return scale(x, g_h, g_w)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        x, g_h, g_w = ctx.saved_tensors
        need_x, need_h, need_w = ctx.needs_input_grad[:3]
        grad_h = grad_w = grad_x = None
        if need_h or need_w:
            grad_h, grad_w = scale_grads(grad, x, g_h, g_w)
        if need_x:
            if ctx.link is not None:  # the pooling's backward writes dL/dx for both paths, in one pass
                ctx.link.grad, ctx.link.g_h, ctx.link.g_w = grad, g_h, g_w
            else:
                grad_x = scale(grad, g_h, g_w, out_dtype=x.dtype)
        return grad_x, grad_h if need_h else None, grad_w if need_w else None, None


def pool_with_grad(x: torch.Tensor, link: GradLink) -> torch.Tensor:
    """:func:`pool` for training: z (B, C, H + W) in x's dtype; its backward writes the layer's whole dL/dx.

    ``link`` must be the one given to the same layer call's :func:`scale_with_grad`.
    """
    return _Pool.apply(x, link)


def scale_with_grad(x: torch.Tensor, g_h: torch.Tensor, g_w: torch.Tensor, link: GradLink | None) -> torch.Tensor:
    """:func:`scale` for training: x (B, C, H, W) * g_h (B, C, H, 1) * g_w (B, C, 1, W).

    With a ``link`` (x also went through :func:`pool_with_grad`) the backward computes only the gate
    gradients and leaves dL/dx to the pooling's backward; without one it computes dL/dx itself.
    """
    return _Scale.apply(x, g_h, g_w, link)
