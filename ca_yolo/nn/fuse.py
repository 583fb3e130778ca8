"""Inference form of the attention layers: BatchNorm folded, gate weights stacked, made once, not per call.

At batch 1 an attention layer costs what it dispatches, not what it computes: each small op is a
few microseconds of framework overhead (more on a busy multi-core CPU, where every op may wait for
an OpenMP thread). :meth:`InferenceForm.fuse` precomputes, from the layer's current weights, the
constants of a shorter forward pass (BatchNorm folded into the reduction conv, the gate convs'
weights stacked into one matrix, ...), the way Ultralytics' ``BaseModel.fuse`` folds its own
Conv + BatchNorm pairs. The plugin calls it from that very method (:mod:`ca_yolo.plugin.fuse_hook`),
so ``predict``, ``val`` and ``export`` get it without asking.

What stays as it was: the layer's parameters, buffers and ``state_dict`` (the constants are
non-persistent buffers, so checkpoints are unchanged and ``.half()`` / ``.to()`` convert them),
and the training path. The inference form is only a snapshot of the weights, so it is dropped as
soon as the weights may change: on ``train()``, on any forward pass in training mode and on
``load_state_dict``. A later ``fuse()`` makes it again.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch
import torch.nn as nn

_STATIC_SHAPES = contextvars.ContextVar("ca_yolo_static_shape_export", default=False)


@contextlib.contextmanager
def static_shape_export(enabled: bool = True) -> Iterator[None]:
    """While active, export forms may take the traced input's size as the only size (a faster graph).

    The plugin enters it around Ultralytics' ONNX export when ``dynamic=False`` and the format is
    ``onnx`` (:mod:`ca_yolo.plugin.export_hook`): that file then runs at the exported size only, and
    a layer may bake the size into its graph for a faster one. Everything else exports the form
    that accepts any input size.
    """
    token = _STATIC_SHAPES.set(enabled)
    try:
        yield
    finally:
        _STATIC_SHAPES.reset(token)


def exporting_static_shapes() -> bool:
    """Whether the current export has one fixed input size (see :func:`static_shape_export`)."""
    return _STATIC_SHAPES.get()


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """One affine map for a 1x1 ``conv`` followed by ``bn`` in eval mode (running statistics).

    Returns:
        weight (C_out, C_in) and bias (C_out,), computed in float64 and returned in the conv's
        dtype, so that ``weight @ z + bias == bn(conv(z))`` to float rounding.
    """
    w = conv.weight.detach().double().flatten(1)
    b = (
        conv.bias.detach().double()
        if conv.bias is not None
        else torch.zeros(w.shape[0], dtype=torch.float64, device=w.device)
    )
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(b)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(b)
    scale = gamma / torch.sqrt(bn.running_var.double() + bn.eps)
    return (w * scale[:, None]).to(conv.weight.dtype), ((b - bn.running_mean.double()) * scale + beta).to(
        conv.weight.dtype
    )


def conv_weight_bias(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The 1x1 ``conv``'s weight (C_out, C_in) and bias (C_out,) (zeros if it has none), detached."""
    w = conv.weight.detach().flatten(1)
    return w, conv.bias.detach() if conv.bias is not None else w.new_zeros(w.shape[0])


class InferenceForm:
    """Mixin for an ``nn.Module`` with a shorter eval-mode forward built from precomputed constants.

    A subclass implements :meth:`inference_constants` (name -> tensor) and uses the buffers while
    :attr:`fused` is true; everything else (making, dropping, keeping them fresh) is here.
    """

    _fused_names: tuple[str, ...] = ()
    # The same tensors as the buffers named in _fused_names, in that order, as a plain attribute: a
    # buffer read goes through nn.Module.__getattr__ (~0.5 us each), a measurable share of a batch-1
    # forward that is only a handful of ops. Remade whenever the buffers are (fuse, .to()/.half()).
    _constants: tuple[torch.Tensor, ...] = ()

    @property
    def fused(self) -> bool:
        """Whether the inference form is present (it is used only in eval mode)."""
        return bool(self._fused_names)

    def inference_constants(self) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        """Constants of the inference form, computed from the current weights."""
        raise NotImplementedError

    def can_fuse(self) -> bool:
        """Whether the layer's weights allow an inference form (e.g. BatchNorm with running statistics)."""
        return True

    def fuse(self) -> InferenceForm:
        """Make (or remake) the inference form from the current weights; returns self.

        The forward pass in eval mode then uses it; training mode keeps the exact training path.
        """
        if not self.can_fuse():
            return self
        self.unfuse()
        with torch.no_grad():
            constants = self.inference_constants()
        for name, value in constants.items():
            self.register_buffer(name, value.contiguous(), persistent=False)
        self._fused_names = tuple(constants)
        self._read_constants()
        return self

    def unfuse(self) -> None:
        """Drop the inference form (the layer then runs its full eval path)."""
        for name in self._fused_names:
            delattr(self, name)
        self._fused_names = ()
        self._read_constants()

    def _read_constants(self) -> None:
        """Point :attr:`_constants` at the current buffers named in :attr:`_fused_names` (none: empty)."""
        self._constants = tuple(self._buffers[name] for name in self._fused_names)

    def _apply(self, fn, *args, **kwargs):
        # .to() / .half() / .cuda() replace the buffers with converted copies: point at those.
        out = super()._apply(fn, *args, **kwargs)
        self._read_constants()
        return out

    def train(self, mode: bool = True):
        """As ``nn.Module.train``; switching to training drops the inference form (weights will change)."""
        if mode:
            self.unfuse()
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self.unfuse()  # new weights: the constants made from the old ones are stale
        super()._load_from_state_dict(*args, **kwargs)


class GateForm(InferenceForm):
    """An :class:`InferenceForm` layer whose output is ``x * self.gate(x)`` (SE, ECA, the CA halves).

    The subclass gives ``gate`` and :meth:`forward_fused`, the eval-mode pass from the constants;
    :meth:`forward` picks between them.
    """

    def forward_fused(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """The inference form of ``forward``: x (B, C, H, W) -> (B, C, H, W), from the constants."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale x (B, C, H, W) by its gate; returns (B, C, H, W)."""
        if self._fused_names:
            if not self.training:
                return self.forward_fused(x)
            self.unfuse()  # fused while training: the weights move, the snapshot would go stale
        return x * self.gate(x)


def fuse_attention(model: nn.Module) -> int:
    """Make the inference form of every attention layer in ``model``; returns how many were fused."""
    layers = [m for m in model.modules() if isinstance(m, InferenceForm)]
    for m in layers:
        m.fuse()
    return sum(m.fused for m in layers)
