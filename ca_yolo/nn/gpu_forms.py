"""Which form a CoordAtt layer runs on a GPU, and the plain-PyTorch GPU forms.

On a CUDA device a layer is dispatch- and launch-bound at batch 1 and memory-bound at large batches;
the CPU-tuned forms (pooling-matrix products, batched products over an expanded weight, a compiled C
kernel) are neither. Three forms exist for tensors on a GPU:

- ``"triton"`` (the inference default where Triton imports): :mod:`ca_yolo.nn.triton_coord_att`:
  inference is three kernels (pool: reads x once; gates: the tiny gate network; scale: reads x and
  writes x * g_h * g_w), two on small maps (the gates inside the scaling kernel); training uses
  pooling/scaling kernels with one-pass backward kernels, and the gate network as kernels of its own
  (:mod:`ca_yolo.nn.triton_gate_net`) where the layer's modules allow.
- ``"torch"``: plain PyTorch ops, the fewest the maths allows (:func:`plain_fused_forward`): two
  means and a concatenation, conv1d + hardswish + conv1d + sigmoid on the (B, C, H + W) descriptors,
  two strided views, two multiplies; no batched products over expanded weights, no pooling matrices.
  Used where Triton is missing, and forced with ``CA_YOLO_GPU_FORM=torch``. In training (the
  training default) the gate network runs as conv modules between the pooling and scaling autograd
  functions the CPU uses.
- ``"generic"``: the forms the CPU uses (for comparisons only).

:func:`gpu_form` selects one for a scope (timings and parity checks side by side in one process);
the environment variable ``CA_YOLO_GPU_FORM`` sets the process default. :func:`forced_on_cpu` makes
CPU tensors take the GPU path too, so tests can count its ops and run its kernels in Triton's
interpreter (``TRITON_INTERPRET=1``) without a GPU.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.util
import os
from collections.abc import Iterator

import torch
import torch.nn.functional as F

GPU_FORMS = ("triton", "torch", "generic")
#: The most images the Triton kernels take in one call: they put the batch on a grid axis CUDA holds to 65535 blocks.
TRITON_MAX_BATCH = 65535
ENV_FORM = "CA_YOLO_GPU_FORM"
_FORM = contextvars.ContextVar("ca_yolo_gpu_form", default=None)
_ON_CPU = contextvars.ContextVar("ca_yolo_gpu_form_on_cpu", default=False)


@functools.cache
def triton_available() -> bool:
    """Whether Triton can be imported (torch's CUDA wheels bring it; a CPU install may not have it)."""
    return importlib.util.find_spec("triton") is not None


def _check(name: str, source: str) -> str:
    if name not in GPU_FORMS:
        raise ValueError(f"{source}: unknown GPU form {name!r}; expected one of {', '.join(GPU_FORMS)}")
    return name


@contextlib.contextmanager
def gpu_form(name: str) -> Iterator[None]:
    """While active (this thread or task), CoordAtt layers on a GPU run form ``name`` (one of :data:`GPU_FORMS`)."""
    token = _FORM.set(_check(name, "gpu_form"))
    try:
        yield
    finally:
        _FORM.reset(token)


@contextlib.contextmanager
def forced_on_cpu(enabled: bool = True) -> Iterator[None]:
    """While active, CPU tensors take the GPU forms too (tests: op counts, Triton's interpreter)."""
    token = _ON_CPU.set(enabled)
    try:
        yield
    finally:
        _ON_CPU.reset(token)


def active_form(x: torch.Tensor, training: bool = False) -> str | None:
    """The GPU form a layer runs for input ``x``, or None where ``x`` takes the CPU forms.

    A form set by :func:`gpu_form` or ``CA_YOLO_GPU_FORM`` applies to inference and training alike.
    Otherwise inference runs "triton" and training "torch": on an H200 the Triton training kernels
    gave no consistent gain in the AMP training step (ahead for yolo11n-ca, tied for yolo26n-ca, ahead
    and behind for yolov8n-ca in two runs; docs/gpu.md). "triton" falls back to "torch" where Triton
    is not importable, or where the batch is larger than :data:`TRITON_MAX_BATCH`.
    """
    if x.device.type != "cuda" and not _ON_CPU.get():
        return None
    name = _FORM.get() or os.environ.get(ENV_FORM)
    name = _check(name, ENV_FORM) if name else ("torch" if training else "triton")
    if name == "triton" and (x.shape[0] > TRITON_MAX_BATCH or not triton_available()):
        return "torch"
    return name


def plain_fused_forward(
    x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, wg: torch.Tensor, bg: torch.Tensor
) -> torch.Tensor:
    """The fused CoordAtt inference form in plain PyTorch ops: x (B, C, H, W) -> (B, C, H, W).

    Args:
        x: input map, any memory format (the output keeps it).
        w1, b1: conv1 with BatchNorm folded in, as conv1d weights (mip, C, 1) and bias (mip,).
        wg, bg: conv_h and conv_w stacked, conv1d weights (2C, mip, 1) and bias (2C,).

    Nine ops launch work (two means, cat, conv1d, hardswish, conv1d, sigmoid, two muls) and two are
    strided views of the gate tensor (no kernel).
    """
    b, c, h, w = x.shape
    z = torch.cat((x.mean(3), x.mean(2)), 2)  # (B, C, H + W)
    g = F.conv1d(F.hardswish(F.conv1d(z, w1, b1), inplace=True), wg, bg).sigmoid_()  # (B, 2C, H + W)
    # Rows :C are conv_h's gates (the first H positions are theirs), rows C: conv_w's (the last W).
    bs, cs = g.stride(0), g.stride(1)
    g_h = g.as_strided((b, c, h, 1), (bs, cs, 1, 1))
    g_w = g.as_strided((b, c, 1, w), (bs, cs, 1, 1), g.storage_offset() + c * cs + h)
    out = torch.mul(x, g_h)
    return out.mul_(g_w) if out.dtype == x.dtype else out * g_w
