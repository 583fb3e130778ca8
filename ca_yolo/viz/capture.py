"""Record the gates of every attention layer during a forward pass, with hooks that never outlive it.

An attention layer here is one whose gates are 1-D along image height and/or width:

- any module with a ``gates(x)`` method whose gates (named by its class's ``gate_names``, by default
  ``(g_h, g_w)``; see :mod:`ca_yolo.nn.registry`) are only ``g_h`` and/or ``g_w``: ``CoordAtt``
  gives ``g_h`` (B, C, H, 1) and ``g_w`` (B, C, 1, W); the single-direction halves ``CoordAttH`` /
  ``CoordAttW`` give one of them; a third-party single-direction layer may give ``None`` for the other.

Channel-only gates (SE, ECA: ``g_c`` (B, C, 1, 1)) and CBAM's 2-D spatial gate ``g_s`` are not
coordinate maps and are not captured.

The gates are recomputed from the layer's own input in a forward *pre*-hook, before the layer can
touch that input, with the layer's own weights: so they are exactly what the layer applies, and the
layer's output is not changed (the hook returns nothing and only reads). In training mode
BatchNorm would count that extra pass in its running statistics; the layer's buffers are put
back afterwards, so capturing changes no state either.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from ca_yolo.diagnose.gates import layer_gates
from ca_yolo.errors import CaYoloError
from ca_yolo.nn.registry import gate_names


class NoAttentionLayersError(CaYoloError, ValueError):
    """The model has no coordinate attention layer (see :func:`is_attention_layer`) to draw."""


@dataclass(frozen=True)
class AttentionLayer:
    """An attention module inside a model and where it sits."""

    index: int  # layer index in the model YAML / Ultralytics layer table (-1 if unknown)
    name: str  # dotted module name, e.g. "model.5"
    module: nn.Module

    @property
    def type(self) -> str:
        return type(self.module).__name__


@dataclass
class AttentionMap:
    """The gates one attention layer applied to one image, as numpy arrays on the feature grid.

    ``g_h`` is (C, H) and ``g_w`` is (C, W), values in (0, 1); either is None for a
    single-direction layer, which then attends uniformly along the missing direction.
    """

    layer: int
    type: str
    channels: int
    size: tuple[int, int]  # feature map (H, W)
    stride: float  # network input size / feature map size
    g_h: np.ndarray | None
    g_w: np.ndarray | None

    def _h(self) -> np.ndarray:
        """(C, H) gate along H, ones when the layer has none."""
        return self.g_h if self.g_h is not None else np.ones((self.channels, self.size[0]), np.float32)

    def _w(self) -> np.ndarray:
        """(C, W) gate along W, ones when the layer has none."""
        return self.g_w if self.g_w is not None else np.ones((self.channels, self.size[1]), np.float32)

    def full(self) -> np.ndarray:
        """The (C, H, W) attention map g_h ⊗ g_w the layer multiplied its input by."""
        return self._h()[:, :, None] * self._w()[:, None, :]

    def mean(self) -> np.ndarray:
        """(H, W) attention map averaged over channels."""
        # mean_c g_h[c, y] g_w[c, x] as one matrix product, without the (C, H, W) temporary
        return (self._h().T @ self._w() / self.channels).astype(np.float32)

    def spread(self) -> np.ndarray:
        """(C,) max - min of each channel's (H, W) map: how much that channel varies over the image."""
        h, w = self._h(), self._w()  # gates are positive, so the extremes are products of extremes
        return h.max(1) * w.max(1) - h.min(1) * w.min(1)

    def topk(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k channels with the largest spread: (indices (k,), maps (k, H, W)), largest first."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        idx = np.argsort(-self.spread(), kind="stable")[: min(k, self.channels)]
        return idx, self._h()[idx][:, :, None] * self._w()[idx][:, None, :]

    def profiles(self, channel: int | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """1-D gates (H,) and (W,) of one channel, or their channel mean when ``channel`` is None."""

        def pick(g: np.ndarray | None) -> np.ndarray | None:
            if g is None:
                return None
            return g.mean(0) if channel is None else g[channel]

        return pick(self.g_h), pick(self.g_w)


@dataclass
class LayerGates:
    """Gates recorded from one call of one layer: tensors on the CPU, float32."""

    g_h: torch.Tensor | None  # (B, C, H, 1)
    g_w: torch.Tensor | None  # (B, C, 1, W)
    shape: tuple[int, int, int, int]  # the layer's input (B, C, H, W)


@dataclass
class AttentionCapture:
    """What :func:`capture_attention` recorded: per layer, one :class:`LayerGates` per forward call."""

    layers: list[AttentionLayer]
    calls: dict[int, list[LayerGates]] = field(default_factory=dict)  # keyed by position in `layers`
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)  # network input per forward call

    def clear(self) -> None:
        """Forget everything recorded so far (e.g. a warm-up pass)."""
        self.calls = {k: [] for k in self.calls}
        self.input_shapes.clear()

    def maps(self, item: int = 0, call: int = -1) -> list[AttentionMap]:
        """Numpy maps of batch item ``item`` from forward call ``call`` (default: the last), one per layer.

        Raises:
            RuntimeError: nothing was recorded (the model did not run inside the ``with`` block).
        """
        if not self.input_shapes or not all(self.calls.values()):
            raise RuntimeError("no forward pass was recorded: run the model inside 'with capture_attention(...)'")
        in_h = self.input_shapes[call][-2]
        out = []
        for pos, layer in enumerate(self.layers):
            rec = self.calls[pos][call]
            _, c, h, w = rec.shape
            stride = in_h / h
            out.append(
                AttentionMap(
                    layer=layer.index, type=layer.type, channels=c, size=(h, w),
                    stride=int(stride) if stride.is_integer() else stride,
                    g_h=None if rec.g_h is None else rec.g_h[item, :, :, 0].numpy(),
                    g_w=None if rec.g_w is None else rec.g_w[item, :, 0, :].numpy(),
                )
            )  # fmt: skip
        return out


COORDINATE_GATES = frozenset({"g_h", "g_w"})


def is_attention_layer(module: nn.Module) -> bool:
    """Whether ``module`` has coordinate gates this package can capture (see the module docstring)."""
    return callable(getattr(module, "gates", None)) and set(gate_names(module)) <= COORDINATE_GATES


def _layer_index(name: str, modules: dict[str, nn.Module]) -> int:
    """Index ``i`` Ultralytics' parser gave the module or its nearest ancestor; -1 if none has one."""
    parts = name.split(".")
    for end in range(len(parts), -1, -1):
        i = getattr(modules.get(".".join(parts[:end])), "i", None)
        if isinstance(i, int):
            return i
    return -1


def find_attention_layers(model: nn.Module) -> list[AttentionLayer]:
    """All attention layers of ``model`` (see :func:`is_attention_layer`), outermost only, in order.

    ``model`` may be an Ultralytics ``DetectionModel`` (or any ``nn.Module``); an ``ultralytics.YOLO``
    is unwrapped to its network.
    """
    model = getattr(model, "model", model) if not isinstance(model, nn.Module) else model
    modules = dict(model.named_modules())
    found: list[AttentionLayer] = []
    for name, m in modules.items():
        if not is_attention_layer(m):
            continue
        if any(name.startswith(f.name + ".") for f in found if f.name):  # inside one already found
            continue
        found.append(AttentionLayer(_layer_index(name, modules), name, m))
    return found


def select_layers(found: list[AttentionLayer], layers: str | int | Sequence[int] | None) -> list[AttentionLayer]:
    """Pick layers by YAML index: ``None``/``"all"`` for every one, else indices (list or ``"5,8"``).

    Raises:
        NoAttentionLayersError: the model has no attention layer at all.
        ValueError: an index that is not an attention layer (the message lists the valid ones).
    """
    if not found:
        raise NoAttentionLayersError(
            "the model has no Coordinate Attention layer (CoordAtt, CoordAttH, CoordAttW or a module with a "
            "gates() method); attention maps need a model built from a YAML with such rows, e.g. yolov8n-ca.yaml "
            "(see 'ca-yolo models')"
        )
    if layers is None or (isinstance(layers, str) and layers.strip().lower() == "all"):
        return list(found)
    if isinstance(layers, int):
        wanted = [layers]
    elif isinstance(layers, str):
        try:
            wanted = [int(s) for s in layers.split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"layers='{layers}' must be 'all' or comma-separated layer indices, e.g. 5,8") from None
    else:
        wanted = [int(v) for v in layers]
    by_index = {f.index: f for f in found}
    missing = [i for i in wanted if i not in by_index]
    if missing or not wanted:
        raise ValueError(
            f"layer(s) {missing or wanted} are not attention layers of this model; "
            f"its attention layers are {', '.join(str(f.index) for f in found)} (or use layers=all)"
        )
    return [by_index[i] for i in dict.fromkeys(wanted)]


def _record_gates(capture: AttentionCapture, pos: int):
    """Forward pre-hook for layer ``pos``: compute and store its gates from its input, change nothing."""

    def hook(module: nn.Module, args: tuple) -> None:
        x = args[0]
        # In training mode BatchNorm would fold this extra pass into its running statistics.
        saved = [(b, b.detach().clone()) for b in module.buffers()] if module.training else []
        try:
            with torch.no_grad():
                gates = layer_gates(module, x)
                g_h, g_w = gates.get("g_h"), gates.get("g_w")
        finally:
            for buf, value in saved:
                buf.copy_(value)
        b, c, h, w = x.shape
        if g_h is None and g_w is None:
            raise RuntimeError(f"{type(module).__name__} gave no gate at all (both g_h and g_w are None)")
        for gate, want, what in ((g_h, (b, c, h, 1), "g_h"), (g_w, (b, c, 1, w), "g_w")):
            if gate is not None and tuple(gate.shape) != want:
                raise RuntimeError(f"{type(module).__name__} gave {what} of shape {tuple(gate.shape)}, expected {want}")
        capture.calls[pos].append(
            LayerGates(
                g_h=None if g_h is None else g_h.detach().float().cpu(),
                g_w=None if g_w is None else g_w.detach().float().cpu(),
                shape=tuple(x.shape),
            )
        )

    return hook


def _record_input_shape(capture: AttentionCapture):
    """Forward pre-hook for the whole network: store the input image tensor's shape (B, 3, H, W)."""

    def hook(module: nn.Module, args: tuple) -> None:
        if args and isinstance(args[0], torch.Tensor):  # training calls the model with a batch dict
            capture.input_shapes.append(tuple(args[0].shape))

    return hook


@contextmanager
def capture_attention(model: nn.Module, layers: str | int | Sequence[int] | None = None) -> Iterator[AttentionCapture]:
    """Record the gates of the model's attention layers during forward passes inside the block.

    Example::

        with capture_attention(model) as cap:
            y = model(x)            # x (B, 3, H, W); y is exactly what model(x) gives without capture
        maps = cap.maps(item=0)     # list[AttentionMap], one per attention layer

    Args:
        model: The network (e.g. a ``DetectionModel``), or anything :func:`find_attention_layers` accepts.
        layers: ``None``/``"all"``, or layer indices to record (see :func:`select_layers`).

    Hooks are removed when the block ends, also when it ends with an exception.

    Raises:
        NoAttentionLayersError: the model has no attention layer.
    """
    net = getattr(model, "model", model) if not isinstance(model, nn.Module) else model
    chosen = select_layers(find_attention_layers(net), layers)
    capture = AttentionCapture(chosen, {pos: [] for pos in range(len(chosen))})
    handles = []
    try:
        handles.append(net.register_forward_pre_hook(_record_input_shape(capture)))
        for pos, layer in enumerate(chosen):
            handles.append(layer.module.register_forward_pre_hook(_record_gates(capture, pos)))
        yield capture
    finally:
        for h in handles:
            h.remove()
