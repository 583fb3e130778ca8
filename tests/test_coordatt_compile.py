"""CoordAtt's numerics under torch.compile, its custom backward, and half precision on GPU.

The parity reference is the paper's equations as written in tests/test_coord_att.py.
``aot_eager`` runs Dynamo and AOTAutograd (the graph capture and the joint forward/backward graph
that every backend gets) without generating code, so it is fast; set CA_YOLO_TEST_INDUCTOR=1 to
also compile with Inductor (tens of seconds on CPU).
"""

from __future__ import annotations

import os

import pytest
import torch
from test_coord_att import random_layer_and_input, randomise, reference_coord_att

from ca_yolo import CoordAtt

BACKENDS = ["aot_eager"] + (["inductor"] if os.environ.get("CA_YOLO_TEST_INDUCTOR") == "1" else [])


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("training", [False, True])
def test_compiled_matches_paper_equations(backend, training):
    m, x = random_layer_and_input((2, 32, 9, 7), training)
    expected = reference_coord_att(m, x, training)
    compiled = torch.compile(m, backend=backend, fullgraph=True)
    with torch.set_grad_enabled(training):
        out = compiled(x.requires_grad_(training))
    assert torch.allclose(out.double(), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_gradients_equal_eager_gradients(backend):
    m, x = random_layer_and_input((3, 24, 6, 10), training=True)
    grad = torch.randn_like(x)

    def grads(module):
        xx = x.clone().requires_grad_(True)
        return torch.autograd.grad(module(xx), [xx, *m.parameters()], grad)

    eager = grads(m)
    compiled = grads(torch.compile(m, backend=backend, fullgraph=True))
    for e, c in zip(eager, compiled):
        assert torch.allclose(e, c, atol=1e-5, rtol=1e-4)


def test_custom_backward_equals_autograd_of_the_paper_equations():
    """The hand-written backward (lean pooling / scaling) against autograd through the reference, in float64."""
    m = randomise(CoordAtt(16)).double().train()
    x = torch.randn(2, 16, 5, 8, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(2, 16, 5, 8, dtype=torch.float64)
    params = list(m.parameters())
    ours = torch.autograd.grad(m(x), [x, *params], grad)
    ref = torch.autograd.grad(reference_coord_att(m, x, training=True), [x, *params], grad)
    for name, a, b in zip(["x", *dict(m.named_parameters())], ours, ref):
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-8), name
    small = randomise(CoordAtt(8)).double().train()
    assert torch.autograd.gradcheck(small, (torch.randn(2, 8, 3, 4, dtype=torch.float64, requires_grad=True),))


def test_custom_backward_handles_channels_last_and_mixed_precision_gates():
    m = randomise(CoordAtt(16)).train()
    x = torch.randn(2, 16, 6, 5).to(memory_format=torch.channels_last).requires_grad_(True)
    (g,) = torch.autograd.grad(m(x).square().sum(), [x])
    x2 = x.detach().contiguous().requires_grad_(True)
    (g2,) = torch.autograd.grad(m(x2).square().sum(), [x2])
    assert torch.allclose(g, g2, atol=1e-6)

    from ca_yolo.nn.coord_att import scale_with_grad

    xs = torch.randn(2, 4, 3, 5, requires_grad=True)
    gh = torch.rand(2, 4, 3, 1).half().requires_grad_(True)
    gw = torch.rand(2, 4, 1, 5).half().requires_grad_(True)
    out = scale_with_grad(xs, gh, gw)
    out.sum().backward()
    assert (out.dtype, xs.grad.dtype, gh.grad.dtype, gw.grad.dtype) == (
        torch.float32,
        torch.float32,
        torch.float16,
        torch.float16,
    )
    ref_h = (xs.detach() * gw.detach().float()).sum(dim=3, keepdim=True)
    assert torch.allclose(gh.grad.float(), ref_h, atol=1e-2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("training", [False, True])
def test_half_precision_on_gpu_matches_paper_equations(training):
    m, x = random_layer_and_input((2, 64, 20, 16), training)
    expected = reference_coord_att(m, x, training)
    with torch.set_grad_enabled(training):
        out = m.cuda().half()(x.cuda().half().requires_grad_(training))
        if training:
            out.float().square().sum().backward()
    assert out.dtype == torch.float16
    assert torch.allclose(out.double().cpu(), expected, atol=2e-2, rtol=1e-2)  # float16 has ~3 decimal digits


def test_gates_are_what_forward_applies():
    """``gates(x)`` (used by the attention figures) returns exactly the gates forward multiplies by."""
    m, x = random_layer_and_input((2, 16, 7, 9))
    with torch.no_grad():
        g_h, g_w = m.gates(x)
        assert g_h.shape == (2, 16, 7, 1) and g_w.shape == (2, 16, 1, 9)
        assert bool(((g_h > 0) & (g_h < 1)).all()) and bool(((g_w > 0) & (g_w < 1)).all())
        assert torch.equal(m(x), x * g_h * g_w)
