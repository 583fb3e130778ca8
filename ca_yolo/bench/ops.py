"""Op counts of one attention layer before and after ``fuse()``: eager calls and ONNX nodes.

At batch 1 a layer's cost is mostly its number of dispatched ops, so the count is the figure the
inference form (:mod:`ca_yolo.nn.fuse`) is made to cut; the benchmark reports it next to latency.
"""

from __future__ import annotations

import collections
import copy
import io
import os

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

# Tensor methods that read a property and dispatch nothing (the compiled kernel's checks and pointers).
ACCESSORS = frozenset({"data_ptr", "is_contiguous", "numel"})


class _Recorder:
    """The op names a counting mode records, in call order (mixed in before the torch mode class)."""

    def __init__(self):
        super().__init__()
        self.names: list[str] = []


class _CallCounter(_Recorder, TorchFunctionMode):
    """Records every torch function / Tensor method called, except attribute reads (``x.shape``)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", str(func))
        if name != "__get__":
            self.names.append(name)
        return func(*args, **(kwargs or {}))


class _DispatchCounter(_Recorder, TorchDispatchMode):
    """Records every ATen op that reaches a backend kernel (views included), after autograd and decompositions."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def _second_call(layer: nn.Module, x: torch.Tensor, counter: _Recorder) -> list[str]:
    """What ``counter`` records over one no-grad forward of ``layer`` on x, after an uncounted first call.

    The first call may make per-size constants once (CoordAtt's pooling matrix): steady state is the second.
    """
    with torch.no_grad():
        layer(x)
        with counter:
            layer(x)
    return counter.names


def eager_calls(layer: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of the torch ops one inference forward of ``layer`` on x (B, C, H, W) dispatches, in order.

    Counted on a second call: the first may make per-size constants once (CoordAtt's pooling matrix).
    """
    return _second_call(layer, x, _CallCounter())


def dispatched_ops(layer: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of the ATen ops one inference forward of ``layer`` on x (B, C, H, W) dispatches, in order.

    What a GPU pays a launch (or, for views, a dispatch) for; counted on a second call, as :func:`eager_calls`.
    """
    return _second_call(layer, x, _DispatchCounter())


def export_layer(layer: nn.Module, x: torch.Tensor, f: str | os.PathLike | io.BytesIO, opset: int = 18) -> None:
    """Export ``layer`` alone to ONNX file or buffer ``f``: input ``x``, output ``y``, dynamic batch, height and width.

    The TorchScript-based exporter (``dynamo=False``): it traces ``x`` through the layer's export path.
    """
    axes = {0: "batch", 2: "height", 3: "width"}
    torch.onnx.export(
        layer,
        (x,),
        f,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": axes, "y": axes},
        opset_version=opset,
        dynamo=False,
    )


def onnx_nodes(layer: nn.Module, x: torch.Tensor, opset: int = 18) -> collections.Counter:
    """ONNX node types of ``layer`` exported alone (:func:`export_layer`).

    ``Constant`` nodes (weights and reduction axes, data rather than compute) are counted too;
    callers usually report them apart.
    """
    import onnx

    buf = io.BytesIO()
    export_layer(layer, x, buf, opset)
    return collections.Counter(n.op_type for n in onnx.load_from_string(buf.getvalue()).graph.node)


def layer_op_counts(layer: nn.Module, x: torch.Tensor) -> dict:
    """Eager op calls and ONNX compute nodes of ``layer`` (eval) before and after ``fuse()``.

    "after" counts the PyTorch inference form. Where the compiled kernel runs the fused layer
    (:mod:`ca_yolo.nn.native`: CoordAtt), ``eager["after_kernel"]`` counts the torch calls around it
    (the output's allocation; property reads such as ``data_ptr`` excluded), to which the kernel call adds one.

    Returns:
        ``{"eager": {"before", "after"[, "after_kernel"]}, "onnx": {"before", "after"}, "onnx_constants":
        {...}, "onnx_ops_after": {op: count}}``; a layer without an inference form has equal counts.
    """
    from ca_yolo.nn import native

    before = copy.deepcopy(layer).eval()
    after = copy.deepcopy(layer).eval()
    if hasattr(after, "fuse"):
        after.fuse()
    out: dict = {"eager": {}, "onnx": {}, "onnx_constants": {}}
    for key, m in (("before", before), ("after", after)):
        nodes = onnx_nodes(m, x)
        with native.disabled():
            out["eager"][key] = len(eager_calls(m, x))
        out["onnx_constants"][key] = nodes.pop("Constant", 0)
        out["onnx"][key] = sum(nodes.values())
        if key == "after":
            out["onnx_ops_after"] = dict(sorted(nodes.items()))
    with_kernel = [name for name in eager_calls(after, x) if name not in ACCESSORS]
    if len(with_kernel) != out["eager"]["after"]:
        out["eager"]["after_kernel"] = len(with_kernel)
    return out


def op_counts(shape: tuple[int, int, int, int] = (1, 64, 20, 20)) -> list[dict]:
    """:func:`layer_op_counts` of every registered attention layer on an input of ``shape``."""
    import warnings

    from ca_yolo.nn import ATTENTIONS, create_layer

    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notices
        for name in ATTENTIONS:
            layer = create_layer(name, shape[1])
            rows.append({"layer": name, "shape": list(shape), **layer_op_counts(layer, x)})
    return rows
