"""Which form a CoordAtt layer runs on a GPU, and the plain-PyTorch GPU forms.

On a CUDA device a layer is dispatch- and launch-bound at batch 1 and memory-bound at large batches;
the CPU-tuned forms (pooling-matrix products, batched products over an expanded weight, a compiled C
kernel) are neither. Three forms exist for tensors on a GPU:

- ``"triton"`` (the inference default where Triton imports): :mod:`ca_yolo.nn.triton_coord_att`:
  inference is three kernels (pool: reads x once; gates: the tiny gate network; scale: reads x and
  writes x * g_h * g_w), two on small maps (the gates inside the scaling kernel); training uses
  pooling/scaling kernels with one-pass backward kernels, and the gate network as kernels of its own
  (:mod:`ca_yolo.nn.triton_gate_net`) where the layer's modules allow.
- ``"torch"``: plain PyTorch ops, the fewest the maths allows (:class:`PlainFusedForm`): two means
  into one (B, C, H + W) descriptor, conv1d + hardswish + conv1d + sigmoid on it, two multiplies by
  views of the gates; no batched products over expanded weights, no pooling matrices.
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

from ca_yolo.nn.kept_workspaces import KeptWorkspaces

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


class _Workspace:
    """The small tensors of one :class:`PlainFusedForm` signature, made once with the views the form needs.

    z (B, C, H + W) in x's dtype, its halves z_h (B, C, H) and z_w (B, C, W) written by the two means;
    g (B, 2C, H + W), the gates in the gate convs' dtype, and its broadcast views g_h (B, C, H, 1) and
    g_w (B, C, 1, W): rows :C are conv_h's gates (the first H positions are theirs), rows C: conv_w's (the last W).
    """

    __slots__ = ("z", "z_h", "z_w", "g", "g_h", "g_w")

    def __init__(self, x: torch.Tensor):
        b, c, h, w = x.shape
        self.z = x.new_empty((b, c, h + w))
        self.z_h, self.z_w = self.z[:, :, :h], self.z[:, :, h:]
        self.make_gates(x.dtype)

    def make_gates(self, dtype: torch.dtype) -> None:
        """(Re)make g and its views for gates of ``dtype`` (autocast makes the gate convs' dtype differ from x's)."""
        b, c, length = self.z.shape
        h = self.z_h.shape[2]
        self.g = g = self.z.new_empty((b, 2 * c, length), dtype=dtype)
        bs, cs = g.stride(0), g.stride(1)
        self.g_h = g.as_strided((b, c, h, 1), (bs, cs, 1, 1))
        self.g_w = g.as_strided((b, c, 1, length - h), (bs, cs, 1, 1), c * cs + h)


class PlainFusedForm:
    """The fused CoordAtt inference form in plain PyTorch ops: x (B, C, H, W) -> (B, C, H, W), x's layout.

    Eight ops, each of which launches work: two means written straight into the halves of the pooled
    descriptor z (B, C, H + W), conv1d, hardswish, conv1d, a sigmoid written into the gate tensor, and
    two multiplies by its broadcast views. Made afresh on every call, z would cost a concatenation and
    the views a dispatch each, so both are kept between calls (:class:`_Workspace`), one set per input
    signature, thread and CUDA stream (:class:`~ca_yolo.nn.kept_workspaces.KeptWorkspaces`).
    Inference only (``out=`` ops have no autograd).

    Args:
        w1, b1: conv1 with BatchNorm folded in, as conv1d weights (mip, C, 1) and bias (mip,).
        wg, bg: conv_h and conv_w stacked, conv1d weights (2C, mip, 1) and bias (2C,). Kept by
            reference: make a new object when they change.
    """

    def __init__(self, w1: torch.Tensor, b1: torch.Tensor, wg: torch.Tensor, bg: torch.Tensor):
        self.weights = (w1, b1, wg, bg)
        self.workspaces: KeptWorkspaces[_Workspace] = KeptWorkspaces()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) on the weights' device, any memory format -> x * g_h * g_w."""
        w1, b1, wg, bg = self.weights
        ws = self.workspaces.get((x.shape, x.dtype), x, lambda: _Workspace(x))
        torch.mean(x, 3, out=ws.z_h)
        torch.mean(x, 2, out=ws.z_w)
        a = F.conv1d(F.hardswish(F.conv1d(ws.z, w1, b1), inplace=True), wg, bg)  # (B, 2C, H + W)
        if a.dtype != ws.g.dtype:
            ws.make_gates(a.dtype)
        torch.sigmoid(a, out=ws.g)
        out = torch.mul(x, ws.g_h)
        return out.mul_(ws.g_w) if out.dtype == x.dtype else out * ws.g_w
