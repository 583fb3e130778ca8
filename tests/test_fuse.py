"""Inference form of the attention layers (``fuse()``): parity, op counts, life cycle, hook.

Parity is to float rounding against the unfused layer in eval mode (which ``test_coord_att`` and
``test_siblings`` check against the papers' equations), in eager mode, TorchScript and ONNX Runtime.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import max_rel, trained_like

import ca_yolo  # noqa: F401  (registers the plugin, hence the BaseModel.fuse hook)
from ca_yolo.bench.ops import eager_calls, export_layer, layer_op_counts, onnx_nodes
from ca_yolo.nn import ECA, SE, CoordAtt, CoordAttH, CoordAttW, native
from ca_yolo.nn.coord_att import pooling_matrix
from ca_yolo.nn.fuse import InferenceForm, fuse_attention

FUSABLE = [(CoordAtt, {}), (CoordAttH, {}), (CoordAttW, {}), (SE, {}), (ECA, {}), (ECA, {"k_size": 7})]
# Batch 1 small maps take the pooling-matrix path, batch 1 large maps and batches the summing path.
SHAPES = [
    (1, 64, 20, 20),
    (1, 64, 20, 30),
    (1, 64, 48, 40),
    (2, 64, 7, 11),
    (3, 64, 16, 5),
    (1, 64, 1, 9),
    (2, 64, 1, 1),
]
# One CoordAtt layer exported after fuse(): each direction is ReduceMean -> Conv -> HardSwish -> Conv -> Sigmoid.
CA_NODES = collections.Counter({"ReduceMean": 2, "Conv": 4, "HardSwish": 2, "Sigmoid": 2, "Mul": 2})
# How both paths of fused CoordAtt's PyTorch form end: one in-place sigmoid over both gates, sliced into the two,
# then the two products (the second in place).
GATES_APPLIED = ["sigmoid_", "__getitem__", "__getitem__", "mul", "mul_"]


# Every layer's inference form as it runs by default, plus CoordAtt's PyTorch form: on the CPU the default
# CoordAtt runs the compiled kernel where it could be built; the other layers have one eager form only.
FORMS = [(cls, kwargs, "default") for cls, kwargs in FUSABLE] + [(CoordAtt, {}, "pytorch")]


@pytest.mark.parametrize("cls, kwargs, form", FORMS)
@pytest.mark.parametrize("shape", SHAPES)
def test_fused_eager_equals_unfused_to_float_rounding(cls, kwargs, shape, form):
    """ "default": what fused layers run here; "pytorch": CoordAtt's PyTorch form (the kernel's fallback)."""
    m = trained_like(cls, **kwargs)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1)) * 3
    with torch.no_grad(), native.disabled() if form == "pytorch" else contextlib.nullcontext():
        expected = m(x)
        fused = copy.deepcopy(m).fuse()
        assert fused.fused
        got = fused(x)
    assert got.shape == shape and max_rel(got, expected) <= 1e-6


@pytest.mark.parametrize("cls, kwargs", FUSABLE)
def test_fused_torchscript_trace_equals_unfused(cls, kwargs):
    m = trained_like(cls, **kwargs)
    fused = copy.deepcopy(m).fuse()
    x = torch.randn(2, 64, 12, 7)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace deprecation notice
        traced = torch.jit.trace(fused, x)
        graph = str(traced.inlined_graph)
        assert "aten::baddbmm" not in graph and "aten::batch_norm" not in graph
        for shape in [(2, 64, 12, 7), (1, 64, 5, 9)]:  # another size through the same trace
            y = torch.randn(shape)
            assert max_rel(traced(y), m(y)) <= 1e-6


def _export(m: torch.nn.Module) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_layer(m, torch.randn(1, 64, 20, 20), buf)
    return buf.getvalue()


def test_fused_coordatt_onnx_is_twelve_standard_nodes_with_dynamic_sizes():
    m = trained_like(CoordAtt)
    model = onnx.load_from_string(_export(copy.deepcopy(m).fuse()))
    onnx.checker.check_model(model, full_check=True)
    nodes = collections.Counter(n.op_type for n in model.graph.node)
    assert nodes.pop("Constant") == 10  # the folded weights and biases, and the two reduction axes
    assert nodes == CA_NODES and sum(nodes.values()) == 12
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 64, "height", "width"]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for shape in [(1, 64, 20, 20), (2, 64, 80, 80), (3, 64, 7, 33), (1, 64, 1, 1)]:
        x = torch.randn(shape, generator=torch.Generator().manual_seed(3)) * 3
        with torch.no_grad():
            expected = m(x)
        got = torch.from_numpy(sess.run(None, {"x": x.numpy()})[0])
        assert got.shape == shape and max_rel(got, expected) <= 1e-6


def test_op_counts_before_and_after():
    """The counts ``ca-yolo bench`` reports: eager calls (attribute reads excluded) and ONNX compute nodes."""
    x = torch.randn(1, 64, 20, 20)
    ca = layer_op_counts(CoordAtt(64), x)
    # with the compiled kernel: its call and one torch call around it (the output's allocation)
    kernel = {"after_kernel": 1} if native.coord_att_kernel() is not None else {}
    assert ca["eager"] == {"before": 28, "after": 10, **kernel} and ca["onnx"] == {"before": 24, "after": 12}
    assert collections.Counter(ca["onnx_ops_after"]) == CA_NODES
    fused = CoordAtt(64).eval().fuse()
    # the PyTorch form, batch 1, small map: conv1 and both poolings in two products, biases inside addmm
    with native.disabled():
        small, batch, large = (eager_calls(fused, torch.randn(s)) for s in [x.shape, (2, 64, 20, 20), (1, 64, 48, 40)])
    assert small == ["view", "mm", "addmm", "hardswish", "addmm", *GATES_APPLIED]
    # a batch (or a large map): two sums and batched products
    assert batch == ["sum", "sum", "cat", "expand", "baddbmm", "expand", "hardswish", "baddbmm", *GATES_APPLIED]
    assert large[:3] == ["sum", "sum", "cat"]
    for cls, after in ((CoordAttH, 6), (SE, 6), (ECA, 4)):
        counts = layer_op_counts(cls(64), x)
        assert counts["eager"]["after"] == after and counts["onnx"]["after"] == after
    assert onnx_nodes(ECA(64).eval().fuse(), x) == collections.Counter(
        {"ReduceMean": 1, "Conv": 1, "Sigmoid": 1, "Mul": 1, "Constant": 2}
    )


@pytest.mark.parametrize("cls, kwargs", FUSABLE)
def test_fuse_keeps_state_dict_and_training_path(cls, kwargs):
    m = trained_like(cls, **kwargs)
    keys = list(m.state_dict())
    fused = copy.deepcopy(m).fuse()
    assert list(fused.state_dict()) == keys  # checkpoints of fused models are unchanged
    x = torch.randn(4, 64, 6, 5)
    fused.train(), m.train()
    assert not fused.fused  # training drops the snapshot: the weights will change
    torch.manual_seed(0)
    assert torch.equal(fused(x), m(x))  # the exact training path, BatchNorm batch statistics included


def test_fused_while_training_then_eval_uses_the_form_and_a_training_forward_drops_it():
    m = trained_like(CoordAtt).train()
    m.fuse()  # as DetectionModel(...).fuse() does before .eval()
    m.eval()
    assert m.fused
    m.training = True  # a training step without train(): the forward itself drops the snapshot
    m(torch.randn(2, 64, 4, 4))
    assert not m.fused


def test_load_state_dict_drops_the_form_and_grad_mode_falls_back():
    m = trained_like(CoordAtt).fuse()
    other = trained_like(CoordAtt, seed=5)
    m.load_state_dict(other.state_dict())
    assert not m.fused
    m.fuse()
    x = torch.randn(1, 64, 8, 8, requires_grad=True)
    y = m(x)  # grad enabled: the full path with its autograd functions
    y.sum().backward()
    assert x.grad is not None and max_rel(y.detach(), other(x).detach()) <= 1e-6


def test_half_and_copies_carry_the_constants():
    m = trained_like(CoordAtt).fuse()
    h = copy.deepcopy(m).half()
    assert h.fused and h._wg.dtype == torch.float16 and h._w1.dtype == torch.float16
    assert not any(name.startswith("_") for name in h.state_dict())
    # the forward reads the constants from a plain tuple: it must follow the converted buffers
    assert all(t is h._buffers[n] for t, n in zip(h._constants, h._fused_names, strict=True))
    assert all(t.dtype == torch.float16 for t in h._constants)
    c = copy.deepcopy(m)
    assert all(t is c._buffers[n] for t, n in zip(c._constants, c._fused_names, strict=True))
    c.unfuse()
    assert c._constants == () and not c.fused


def test_pooling_matrix_gives_both_means():
    x = torch.randn(5, 7, 9, dtype=torch.float64)
    p = pooling_matrix(7, 9, torch.float64, torch.device("cpu"))
    assert p.shape == (63, 16)
    assert torch.allclose(x.view(5, 63) @ p, torch.cat((x.mean(2), x.mean(1)), 1), rtol=0, atol=1e-12)


def test_fused_under_autocast_keeps_the_input_dtype():
    """Autocast makes the gates bfloat16 while x stays float32: the product must not be done in place."""
    m = trained_like(CoordAtt)
    fused = copy.deepcopy(m).fuse()
    for shape in [(1, 64, 20, 20), (2, 64, 48, 40)]:
        x = torch.randn(shape)
        with torch.no_grad():
            expected = m(x)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                got = fused(x)
        assert got.dtype == torch.float32 and max_rel(got, expected) <= 2e-2


def test_model_fuse_hook_fuses_every_attention_layer_and_keeps_outputs():
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    model = DetectionModel("yolov8n-ca.yaml", verbose=False).eval()
    x = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        expected = model(x)[0]
        fused = copy.deepcopy(model).fuse(verbose=False)
        layers = [m for m in fused.modules() if isinstance(m, InferenceForm)]
        assert len(layers) == 6 and all(m.fused for m in layers)
        got = fused(x)[0]
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)
    assert fuse_attention(fused) == 6  # idempotent: made again from the same weights


def test_exported_model_has_twelve_nodes_per_ca_layer(tmp_path, monkeypatch):
    """Ultralytics' own exporter (which calls model.fuse()): CA adds exactly its 12 nodes per layer."""
    from ultralytics import YOLO

    monkeypatch.chdir(tmp_path)
    counts = {}
    for name in ("yolov8n.yaml", "yolov8n-ca.yaml"):
        path = YOLO(name).export(format="onnx", imgsz=64, dynamic=True, simplify=False)
        graph = onnx.load(path).graph
        counts[name] = collections.Counter(n.op_type for n in graph.node if n.op_type != "Constant")
    added = counts["yolov8n-ca.yaml"] - counts["yolov8n.yaml"]
    assert added == collections.Counter({op: 6 * n for op, n in CA_NODES.items()})
    assert not counts["yolov8n.yaml"] - counts["yolov8n-ca.yaml"]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.run(None, {sess.get_inputs()[0].name: np.random.rand(2, 3, 96, 64).astype(np.float32)})[0].shape[0] == 2
