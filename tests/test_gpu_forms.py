"""CoordAtt's GPU forms: the Triton kernels (in Triton's interpreter on CPU tensors when there is no GPU) and the
plain-PyTorch GPU form, against the paper's equations and autograd; op counts; CUDA-only checks where a GPU is."""

from __future__ import annotations

import contextlib
import copy
import subprocess
import sys

import pytest
import torch
from conftest import script_module
from test_coord_att import randomise, reference_coord_att
from torch import nn

from ca_yolo import CoordAtt
from ca_yolo.bench.ops import dispatched_ops
from ca_yolo.nn import gpu_forms, kept_workspaces
from ca_yolo.nn.gpu_forms import forced_on_cpu, gpu_form

triton = pytest.importorskip("triton")
tl = pytest.importorskip("triton.language")
tk = pytest.importorskip("ca_yolo.nn.triton_coord_att")
gate_net = pytest.importorskip("ca_yolo.nn.triton_gate_net")
launching = pytest.importorskip("ca_yolo.nn.triton_launch")
memory_checked = pytest.importorskip("triton_memory_checks").memory_checked

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
# Shapes: batch > 1, a 1x1 map, H or W = 1, non-square, more rows than one tile holds at W = 1.
SHAPES = [(2, 16, 5, 7), (1, 64, 1, 1), (3, 8, 9, 1), (1, 24, 1, 6), (2, 40, 12, 10)]
# Triton's interpreter runs bfloat16 from 3.8 on (numpy has no such type; earlier ones were not checked)
BF16_RUNS = CUDA or tuple(int(p) for p in triton.__version__.split(".")[:2]) >= (3, 8)
needs_bf16 = pytest.mark.skipif(not BF16_RUNS, reason="bfloat16 in Triton's interpreter needs Triton 3.8+")
TOL = {torch.float32: 1e-5, torch.float16: 2e-2, torch.bfloat16: 3e-2}  # bfloat16: 8-bit mantissa, ~4e-3 a rounding


@pytest.fixture(autouse=True)
def _kernels_memory_checked():
    """In Triton's interpreter every kernel's loads and stores are held to the tensors it was given, and no element
    is written by one program of a launch and accessed by another: either passes the numeric tests on the CPU and
    may fault, corrupt memory or depend on the programs' order on a GPU (triton_memory_checks)."""
    with contextlib.nullcontext() if CUDA else memory_checked():
        yield


@triton.jit
def _reads_past_its_tensor(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offsets)  # no mask: reads BLOCK - n elements past x
    tl.store(y_ptr + offsets, tl.where(offsets < n, x, 0.0), mask=offsets < n)


@pytest.mark.skipif(CUDA, reason="checks Triton's interpreter")
def test_interpreted_kernels_are_memory_checked():
    """The checks themselves (they patch Triton's interpreter, so a Triton that changed could make them no-ops):
    a load past a tensor fails, naming the kernel and the count, though the values read there are discarded; a
    store past a view, into memory of the same allocation, fails; the same kernel within bounds runs; launched on
    two programs, which both write every element, it fails as a race."""
    x, y = torch.randn(10), torch.empty(10)
    with pytest.raises(Exception, match=r"_reads_past_its_tensor: a load of 6 element\(s\) outside"):
        _reads_past_its_tensor[(1,)](x, y, 10, BLOCK=16)
    wide, buffer = torch.randn(16), torch.zeros(16)
    with pytest.raises(Exception, match=r"_reads_past_its_tensor: a store of 4 element\(s\) outside"):
        _reads_past_its_tensor[(1,)](wide, buffer[:6], 10, BLOCK=16)
    _reads_past_its_tensor[(1,)](wide, y, 10, BLOCK=16)
    assert torch.equal(y, wide[:10])
    with pytest.raises(AssertionError, match=r"_reads_past_its_tensor: 10 element\(s\) written by one program"):
        _reads_past_its_tensor[(2,)](wide, y, 10, BLOCK=16)


@pytest.fixture(autouse=True)
def _true_fp32_convolutions():
    """On Ampere and newer GPUs PyTorch runs fp32 convolutions in TF32 (a 10-bit mantissa) by default, the gate
    convs of the GPU forms' gate networks included; these checks hold the maths to 1e-5 of float64, so they
    run true fp32 convolutions and products."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).abs().max() / b.abs().max())


def _layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _training_reference(m: CoordAtt, x: torch.Tensor, gy: torch.Tensor) -> tuple[torch.Tensor, tuple]:
    """The paper's equations in float64 with batch statistics: the output, and the gradients of (y * gy).sum()
    for x and every parameter of ``m``."""
    x_ref = x.double().requires_grad_()
    ref = reference_coord_att(m, x_ref, training=True)
    return ref, torch.autograd.grad(ref, [x_ref, *m.parameters()], gy.double())


def _assert_grads_match(
    first: str, m: nn.Module, grads, want_grads, tol: float, conv1_bias: float | None = 1e-5
) -> None:
    """The gradients of the input (named ``first``) and of every parameter of ``m``, in that order: each has its
    reference's shape and is within ``tol`` of it (relative), named on failure.

    conv1.bias's is zero in exact arithmetic (BatchNorm subtracts the batch mean), so rounding is all there is:
    it is held to ``conv1_bias`` absolute, or left out where that is None."""
    names = [first, *(name for name, _ in m.named_parameters())]
    for name, got, want in zip(names, grads, want_grads, strict=True):
        if name != "conv1.bias":
            assert got.shape == want.shape and _rel(got.cpu(), want) <= tol, name
        elif conv1_bias is not None:
            assert float(got.abs().max()) <= conv1_bias


class _Spy:
    """Counts calls of the Triton module's entry points (proves the kernels ran, not a fallback)."""

    NAMES = ("pool", "scale", "scale_grads")

    def __init__(self, monkeypatch):
        self.calls = dict.fromkeys(("FusedCoordAtt", *self.NAMES, "gates_with_grad"), 0)
        self.fused = []  # the FusedCoordAtt objects called
        for name in self.NAMES:
            monkeypatch.setattr(tk, name, self._wrap(name, getattr(tk, name)))
        monkeypatch.setattr(gate_net, "gates_with_grad", self._wrap("gates_with_grad", gate_net.gates_with_grad))
        fused_call = self._wrap("FusedCoordAtt", tk.FusedCoordAtt.__call__)
        monkeypatch.setattr(tk.FusedCoordAtt, "__call__", lambda f, x: self.fused.append(f) or fused_call(f, x))

    def launches(self) -> set[int]:
        """Kernel launches per call of every plan the called FusedCoordAtt objects made."""
        return {len(plan.launchers) for f in self.fused for plan in f.plans.values()}

    def _wrap(self, name, fn):
        def call(*args, **kwargs):
            self.calls[name] += 1
            return fn(*args, **kwargs)

        return call


@pytest.mark.parametrize("form", ["triton", "triton:3", "torch"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_gpu_forms_match_paper_equations(form, dtype, channels_last, monkeypatch):
    """triton: two kernels on these small maps (the gates inside the scaling kernel); triton:3 the three-kernel
    form larger maps take (pool, gates, scale)."""
    form, _, kernels = form.partition(":")
    if kernels:
        monkeypatch.setattr(tk, "CONFIG", tk.KernelConfig(gates_in_scale_below=0))
    spy = _Spy(monkeypatch)
    strided = 0
    for shape in SHAPES:
        m = randomise(CoordAtt(shape[1])).eval()
        x = torch.randn(shape)
        ref = reference_coord_att(m, x, training=False)
        m = m.fuse().to(DEVICE, dtype)
        xx = _layout(x.to(DEVICE, dtype), channels_last)
        strided += not xx.is_contiguous()
        with torch.no_grad(), forced_on_cpu(), gpu_form(form):
            y = m(xx)
        assert y.dtype == dtype and y.shape == x.shape
        assert y.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        assert _rel(y.cpu(), ref) <= TOL[dtype], (shape, _rel(y.cpu(), ref))
    expected = len(SHAPES) if form == "triton" else 0
    assert spy.calls == {"FusedCoordAtt": expected, "pool": 0, "scale": 0, "scale_grads": 0, "gates_with_grad": 0}
    assert spy.launches() == ({3 if kernels else 2} if form == "triton" else set())
    assert strided == (4 if channels_last else 0)  # a 1x1 map is contiguous in both formats


@pytest.mark.parametrize("form", ["triton", "torch"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_gpu_training_matches_paper_and_autograd(form, channels_last, monkeypatch):
    """Forward with batch statistics, and dL/dx and every parameter's gradient, against autograd through the
    paper's equations (float64)."""
    spy = _Spy(monkeypatch)
    for shape in [(2, 16, 5, 7), (3, 8, 9, 1), (2, 40, 12, 10)]:
        m = randomise(CoordAtt(shape[1])).train()
        x = torch.randn(shape)
        gy = torch.randn(shape)
        ref, ref_grads = _training_reference(m, x, gy)
        m.to(DEVICE)
        xx = _layout(x.to(DEVICE), channels_last).requires_grad_()
        with forced_on_cpu(), gpu_form(form):
            y = m(xx)
        grads = torch.autograd.grad(y, [xx, *m.parameters()], gy.to(DEVICE))
        assert _rel(y.detach().cpu(), ref) <= 1e-5
        _assert_grads_match("x", m, grads, ref_grads, 1e-5)
    # per call: pooling and scaling forward, gate gradients and the one dL/dx pass (a scale with add)
    n = 3 if form == "triton" else 0
    assert spy.calls == {"FusedCoordAtt": 0, "pool": n, "scale": 2 * n, "scale_grads": n, "gates_with_grad": n}


@needs_bf16
@pytest.mark.parametrize("form", ["triton", "torch"])
@pytest.mark.parametrize("input_dtype", ["float32", "autocast"])
def test_gpu_training_under_autocast_matches_paper_and_autograd(form, input_dtype, monkeypatch):
    """Mixed precision as AMP training runs it (fp16 on CUDA; bfloat16, the CPU's autocast type, in Triton's
    interpreter): the gate convs in the low precision, the map in it too (a layer after a conv) or in fp32 (after
    an op autocast keeps in fp32); output and every gradient against float64 autograd."""
    low = torch.float16 if CUDA else torch.bfloat16
    spy = _Spy(monkeypatch)
    shape = (2, 40, 12, 10)
    m = randomise(CoordAtt(shape[1])).train()
    x, gy = torch.randn(shape), torch.randn(shape)
    ref, ref_grads = _training_reference(m, x, gy)
    m.to(DEVICE)
    xx = x.to(DEVICE, low if input_dtype == "autocast" else torch.float32).requires_grad_()
    with forced_on_cpu(), gpu_form(form), torch.autocast(DEVICE, dtype=low):
        y = m(xx)
    assert y.dtype == xx.dtype and _rel(y.cpu(), ref) <= TOL[low]
    grads = torch.autograd.grad(y, [xx, *m.parameters()], gy.to(DEVICE, y.dtype))
    assert [g.dtype for g in grads] == [xx.dtype] + [torch.float32] * (len(grads) - 1)
    _assert_grads_match("x", m, grads, ref_grads, TOL[low], conv1_bias=None)  # its rounding in the low precision
    n = 1 if form == "triton" else 0
    assert spy.calls == {"FusedCoordAtt": 0, "pool": n, "scale": 2 * n, "scale_grads": n, "gates_with_grad": n}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, pytest.param(torch.bfloat16, marks=needs_bf16)])
def test_triton_pool_and_scale_gradients_match_autograd(dtype):
    """The two autograd functions alone, fed gates that need their own gradients, in fp32, fp16 and bf16."""
    torch.manual_seed(0)
    b, c, h, w = 2, 8, 6, 9
    x = torch.randn(b, c, h, w, device=DEVICE, dtype=dtype, requires_grad=True)
    g_h = torch.rand(b, c, h, 1, device=DEVICE, dtype=dtype, requires_grad=True)
    g_w = torch.rand(b, c, 1, w, device=DEVICE, dtype=dtype, requires_grad=True)
    gy = torch.randn(b, c, h, w, device=DEVICE, dtype=dtype)
    gz = torch.randn(b, c, h + w, device=DEVICE, dtype=dtype)

    def loss(pool, scale):
        return (pool(x) * gz).sum() + (scale(x, g_h, g_w) * gy).sum()

    def plain_pool(t):
        return torch.cat((t.float().mean(3), t.float().mean(2)), 2)

    ref = torch.autograd.grad(loss(plain_pool, lambda t, a, b: t.float() * a.float() * b.float()), [x, g_h, g_w])
    link = tk.GradLink()
    got = torch.autograd.grad(
        loss(lambda t: tk.pool_with_grad(t, link), lambda t, a, b: tk.scale_with_grad(t, a, b, link)), [x, g_h, g_w]
    )
    for g, r in zip(got, ref):
        assert g.dtype == dtype
        assert _rel(g.float().cpu(), r.float().cpu()) <= TOL[dtype]
    assert link.grad is None  # handed over and released by the pooling's backward


@pytest.mark.parametrize("shape", [(1, 64, 20, 20), (8, 64, 80, 80)])
def test_plain_gpu_form_dispatches_eight_ops_each_launching_work(shape):
    m = randomise(CoordAtt(shape[1])).eval().fuse()
    with forced_on_cpu(), gpu_form("torch"):
        ops = dispatched_ops(m, torch.randn(shape))
    assert ops == ["mean", "mean", "convolution", "hardswish_", "convolution", "sigmoid", "mul", "mul_"]


def _plain_form(m: CoordAtt) -> gpu_forms.PlainFusedForm:
    (run,) = m._gpu_runners.values()
    assert isinstance(run, gpu_forms.PlainFusedForm)
    return run


def test_plain_gpu_form_keeps_a_workspace_per_signature_thread_and_mode():
    """New data through a kept workspace gives new results; another shape, inference mode or thread gets a
    workspace of its own (a channels_last input of the same shape shares one); at most MAX_WORKSPACES are kept."""
    import threading

    m = randomise(CoordAtt(16)).eval().fuse()
    xs = [torch.randn(2, 16, 5, 7) for _ in range(3)]
    refs = [reference_coord_att(m, x, training=False) for x in xs]
    got = {}
    with forced_on_cpu(), gpu_form("torch"):
        with torch.no_grad():
            for x, ref in zip(xs, refs):
                assert _rel(m(x), ref) <= 1e-5
            assert _rel(m(_layout(xs[0], True)), refs[0]) <= 1e-5
            assert len(_plain_form(m).workspaces) == 1
            m(torch.randn(1, 16, 5, 7))
        with torch.inference_mode():
            assert _rel(m(xs[1]), refs[1]) <= 1e-5
        assert len(_plain_form(m).workspaces) == 3

        def other_thread():
            with torch.no_grad(), forced_on_cpu(), gpu_form("torch"):
                got["thread"] = m(xs[2])

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert _rel(got["thread"], refs[2]) <= 1e-5 and len(_plain_form(m).workspaces) == 4
        with torch.no_grad():
            for h in range(1, 12):
                x = torch.randn(1, 16, h, 3)
                assert _rel(m(x), reference_coord_att(m, x, training=False)) <= 1e-5
    assert len(_plain_form(m).workspaces) == kept_workspaces.MAX_WORKSPACES


def test_plain_gpu_form_from_threads_at_once():
    """Threads calling one layer at the same time (the GIL is released inside ops) each get their own results."""
    from concurrent.futures import ThreadPoolExecutor

    m = randomise(CoordAtt(32)).eval().fuse()
    xs = [torch.randn(4, 32, 24, 24) for _ in range(4)]
    refs = [reference_coord_att(m, x, training=False) for x in xs]

    def run(i: int) -> float:
        with torch.no_grad(), forced_on_cpu(), gpu_form("torch"):
            return max(_rel(m(xs[i]), refs[i]) for _ in range(20))

    with ThreadPoolExecutor(4) as pool:
        assert max(pool.map(run, range(4))) <= 1e-5


def test_plain_gpu_form_under_autocast():
    """Autocast makes the gate convs' dtype differ from x's: the kept gate tensor follows it and back."""
    m = randomise(CoordAtt(16)).eval().fuse()
    x = torch.randn(2, 16, 5, 7)
    ref = reference_coord_att(m, x, training=False)
    with torch.no_grad(), forced_on_cpu(), gpu_form("torch"):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = m(x)
        assert _rel(y.float(), ref) <= TOL[torch.bfloat16]
        assert _rel(m(x), ref) <= 1e-5
    assert len(_plain_form(m).workspaces) == 1


def test_form_selection_and_fallback(monkeypatch):
    x = torch.zeros(1, 8, 2, 2)
    assert gpu_forms.active_form(x) is None  # CPU tensors take the CPU forms
    monkeypatch.delenv(gpu_forms.ENV_FORM, raising=False)
    with forced_on_cpu():
        assert gpu_forms.active_form(x) == "triton"
        assert gpu_forms.active_form(x, training=True) == "torch"  # measured faster for training (docs/gpu.md)
        with gpu_form("triton"):
            assert gpu_forms.active_form(x, training=True) == "triton"
        most = torch.empty(gpu_forms.TRITON_MAX_BATCH, 8, 2, 2, device="meta")
        more = torch.empty(gpu_forms.TRITON_MAX_BATCH + 1, 8, 2, 2, device="meta")
        assert gpu_forms.active_form(most) == "triton" and gpu_forms.active_form(more, training=False) == "torch"
        monkeypatch.setattr(gpu_forms, "triton_available", lambda: False)
        assert gpu_forms.active_form(x) == "torch"
        monkeypatch.setenv(gpu_forms.ENV_FORM, "generic")
        assert gpu_forms.active_form(x) == "generic"
        monkeypatch.setenv(gpu_forms.ENV_FORM, "fast")
        with pytest.raises(ValueError, match=r"^CA_YOLO_GPU_FORM: unknown GPU form 'fast'; expected one of triton, "):
            gpu_forms.active_form(x)


@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_launches_keep_to_cudas_grid_limits_up_to_the_largest_batch(channels_last):
    """CUDA holds grid axes 1 and 2 to 65535 blocks (axis 0 to 2^31 - 1). With TRITON_MAX_BATCH images every launch
    of a fused call and of training's pooling, scaling and gate network keeps to that (meta tensors, no device);
    a larger batch takes the plain form (test_form_selection_and_fallback)."""
    calls = script_module("triton_compile_check").layer_launches(
        (gpu_forms.TRITON_MAX_BATCH, 8, 2, 2), torch.float16, channels_last
    )
    assert len(calls) == 2 + 4 + 5  # a fused call; pooling and scaling forward and back; the gate network
    assert max(c.grid[1] for c in calls) == max(c.grid[2] for c in calls) == gpu_forms.TRITON_MAX_BATCH
    assert all(c.grid[0] < 2**31 and c.grid[1] <= 65535 and c.grid[2] <= 65535 for c in calls)


def test_importing_ca_yolo_does_not_import_triton():
    code = "import sys, ca_yolo, ca_yolo.nn.coord_att; print('triton' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize(
    "config",
    [tk.KernelConfig(tile=1024, gate_positions=32, gate_tile=2048), tk.KernelConfig(large_numel=1, gate_positions=8)],
    ids=["small-tiles", "large-tiles"],
)
def test_kernel_configs_keep_the_maths(config, monkeypatch):
    """The tile and block settings a probe may sweep change how work is split, never the result."""
    monkeypatch.setattr(tk, "CONFIG", config)
    # rows split over several tiles; channels over gate blocks; a whole channel in one tile (large maps)
    for shape in [(2, 40, 12, 10), (1, 72, 3, 33), (2, 8, 4, 16)]:
        m = randomise(CoordAtt(shape[1])).eval()
        x = torch.randn(shape)
        ref = reference_coord_att(m, x, training=False)
        m = m.fuse().to(DEVICE)
        for channels_last in (False, True):
            with torch.no_grad(), forced_on_cpu(), gpu_form("triton"):
                y = m(_layout(x.to(DEVICE), channels_last))
            assert _rel(y.cpu(), ref) <= 1e-5, (shape, channels_last)


def test_fused_layer_plans_once_per_input_signature(monkeypatch):
    """Launches are worked out once per shape, strides, dtype and 16-byte alignment of x and used again;
    another KernelConfig plans anew; past MAX_PLANS signatures the plans start again."""
    m = randomise(CoordAtt(16)).eval()
    x = torch.randn(2, 16, 5, 7)
    ref = reference_coord_att(m, x, training=False)
    c = m.inference_constants()
    fused = tk.FusedCoordAtt(*(c[k].to(DEVICE) for k in ("_w1", "_b1", "_wg", "_bg")))
    xx = x.to(DEVICE)
    misaligned = torch.empty(xx.numel() + 1, device=DEVICE)[1:].view_as(xx).copy_(xx)
    inputs = [xx, xx.clone(), _layout(xx, True), misaligned, xx[:1], xx]
    with torch.no_grad():
        for i in inputs:
            assert _rel(fused(i).cpu(), ref[: len(i)]) <= 1e-5
        assert len(fused.plans) == 4  # the clone and the repeat share the first input's plan
        assert len(fused.workspaces) == 2  # one per workspace shape: batch 2 and batch 1
        monkeypatch.setattr(tk, "CONFIG", tk.KernelConfig(tile=1024))
        assert _rel(fused(xx).cpu(), ref) <= 1e-5
        assert {plan.config.tile for plan in fused.plans.values()} == {1024, 4096}
        monkeypatch.setattr(tk, "MAX_PLANS", 4)
        fused(xx[:, :, :3])
        assert len(fused.plans) == 1


@pytest.mark.parametrize("kernels", [2, 3])
def test_fused_layer_keeps_its_workspace_and_overwrites_it(kernels, monkeypatch):
    """The pooled vectors and gates of one call in the kept workspace do not leak into the next: inputs of one
    shape and other data (the last one's values 1000 times larger) each give their own results, through one
    workspace; inference mode gets a workspace of its own. Both the two-kernel and the three-kernel form."""
    if kernels == 3:
        monkeypatch.setattr(tk, "CONFIG", tk.KernelConfig(gates_in_scale_below=0))
    m = randomise(CoordAtt(16)).eval()
    xs = [torch.randn(2, 16, 5, 7) for _ in range(2)] + [1000 * torch.randn(2, 16, 5, 7)]
    refs = [reference_coord_att(m, x, training=False) for x in xs]
    c = m.inference_constants()
    fused = tk.FusedCoordAtt(*(c[k].to(DEVICE) for k in ("_w1", "_b1", "_wg", "_bg")))
    with torch.no_grad():
        for x, ref in [*zip(xs, refs), (xs[0], refs[0])]:
            assert _rel(fused(x.to(DEVICE)).cpu(), ref) <= 1e-5
        assert {len(plan.launchers) for plan in fused.plans.values()} == {kernels}
        assert len(fused.workspaces) == 1
    with torch.inference_mode():
        assert _rel(fused(xs[1].to(DEVICE)).cpu(), refs[1]) <= 1e-5
    assert len(fused.workspaces) == 2


def test_recorded_launches_list_the_kernels_a_layer_would_launch():
    """Meta tensors, no device: a fused call on a small map is two launches, on a large map three; a training
    step's pooling and scaling, forward and back, four; each with its grid and every argument."""
    meta = {"device": "meta", "dtype": torch.float16}
    weights = [torch.empty(s, **meta) for s in [(8, 64), (8, 1), (128, 8), (128, 1)]]
    fused = tk.FusedCoordAtt(*weights)
    small, large = torch.empty(1, 64, 80, 80, **meta), torch.empty(32, 64, 80, 80, **meta)
    g_h, g_w = torch.empty(1, 64, 80, 1, **meta), torch.empty(1, 64, 1, 80, **meta)
    with launching.recorded_launches() as calls:
        fused(small)
        fused(large)
        tk.scale(small, g_h, g_w, add=tk.pool(small))
        tk.scale_grads(small, small, g_h, g_w)
    names = [c.kernel.__name__ for c in calls]
    fused_small, fused_large = (
        ["_pool_kernel", "_gated_scale_kernel"],
        ["_pool_kernel", "_gates_kernel", "_scale_kernel"],
    )
    assert names == fused_small + fused_large + ["_pool_kernel", "_scale_kernel", "_scale_grads_kernel"]
    assert [len(c.args) for c in calls] == [len(c.kernel.arg_names) for c in calls]
    assert calls[0].grid == (64, 1, 1) and calls[2].grid == (64, 32, 1)  # a channel a program; 32 images
    assert calls[-1].num_warps == tk.CONFIG.grad_warps and calls[0].num_warps == tk.CONFIG.pool_warps
    assert calls[1].num_warps is None  # Triton's default


class _StandInKernel:
    """Stands in for a ``@triton.jit`` kernel: ``kernel[grid](*args)`` records the call and returns a stand-in
    compiled kernel (anything with a ``function`` handle)."""

    def __init__(self, calls: list):
        self.calls = calls

    def __getitem__(self, grid):
        return lambda *args, **options: self.calls.append((grid, args)) or type("Compiled", (), {"function": 1})()


def test_direct_launches_pass_each_tensor_as_its_address(monkeypatch):
    """Without a GPU, with stand-in kernels and a stand-in device: after a first launch through Triton's own
    path, a fused layer's and a training launcher's direct launches pass the same arguments in the same places,
    each tensor as its device address (Triton's launcher then skips a data_ptr() call and a driver query per
    pointer); another 16-byte alignment is another key, launched through Triton's path again."""
    jit_calls, direct_calls = [], []
    for launcher in [v for v in vars(tk).values() if isinstance(v, launching.KernelLauncher)]:
        monkeypatch.setattr(launcher, "kernel", _StandInKernel(jit_calls))
        monkeypatch.setattr(launcher, "binaries", {})
    monkeypatch.setattr(launching, "direct_device", lambda x: 0)
    monkeypatch.setattr(launching, "current_stream", lambda device: 7)
    monkeypatch.setattr(
        launching, "launch_direct", lambda binary, grid, stream, a: direct_calls.append((grid, stream, a))
    )

    weights = [torch.randn(s) for s in [(8, 64), (8, 1), (128, 8), (128, 1)]]
    fused, x = tk.FusedCoordAtt(*weights), torch.randn(1, 64, 5, 7)
    first_out, out = fused(x), fused(x)
    (ws,) = fused.workspaces.kept.values()  # one workspace, kept: both calls used it
    # x, the weights, the workspace and the output at their addresses (each call has its own output)
    addresses = {id(t): t.data_ptr() for t in (x, *weights, ws)} | {id(first_out): out.data_ptr()}
    assert len(jit_calls) == len(direct_calls) == 2  # pool; gates and scaling
    for (grid, args), (direct_grid, stream, direct_args) in zip(jit_calls, direct_calls):
        assert (direct_grid, stream, len(direct_args)) == (grid, 7, len(args))
        for a, d in zip(args, direct_args):
            assert d == a if not isinstance(a, torch.Tensor) else (type(d) is int and d == addresses[id(a)])
    # written by the pooling kernel, read by the scaling one
    assert [a is ws for _, args in jit_calls for a in args].count(True) == 2

    jit_calls.clear(), direct_calls.clear()
    launch = launching.KernelLauncher(_StandInKernel(jit_calls))
    a, b = torch.randn(8), torch.randn(9)[1:]  # b: 4 bytes past an allocation's start
    launch((2, 1, 1), a, a, 3)
    launch((2, 1, 1), a, a, 3)
    launch((2, 1, 1), a, b, 3)
    assert [len(jit_calls), len(direct_calls)] == [2, 1]
    assert direct_calls[0] == ((2, 1, 1), 7, [a.data_ptr(), a.data_ptr(), 3])


@pytest.mark.parametrize("form", ["triton", "torch"])
def test_fused_layer_follows_new_constants_and_pickles_without_its_gpu_form(form):
    """The layer's GPU form is remade with its constants (new weights, .half()), and neither a deep copy
    nor a pickle of a layer that ran it carries the form (safe loading would refuse its class)."""
    import copy
    import pickle

    m = randomise(CoordAtt(16)).eval().fuse().to(DEVICE)
    x = torch.randn(2, 16, 5, 7)
    with torch.no_grad(), forced_on_cpu(), gpu_form(form):
        m(x.to(DEVICE))
        assert m._gpu_runners and b"FusedCoordAtt" not in pickle.dumps(m) and b"Workspace" not in pickle.dumps(m)
        twin = copy.deepcopy(m)
        m.conv_h.bias.add_(0.5)
        m.fuse()
        assert _rel(m(x.to(DEVICE)).cpu(), reference_coord_att(m, x, training=False)) <= 1e-5
        assert _rel(twin(x.to(DEVICE)).cpu(), reference_coord_att(twin, x, training=False)) <= 1e-5
        y = m.half()(x.to(DEVICE).half())
    assert y.dtype == torch.float16 and _rel(y.cpu(), reference_coord_att(m.float(), x, training=False)) <= 2e-2


@needs_bf16
@pytest.mark.parametrize("form", ["triton", "torch"])
def test_bfloat16_matches_paper_equations(form, monkeypatch):
    """bfloat16 in both layouts, fused and unfused (the path training takes)."""
    spy = _Spy(monkeypatch)
    for shape in [(2, 40, 12, 10), (1, 64, 1, 1)]:
        for channels_last in (False, True):
            m = randomise(CoordAtt(shape[1])).eval()
            x = torch.randn(shape)
            ref = reference_coord_att(m, x, training=False)
            xx = _layout(x.to(DEVICE, torch.bfloat16), channels_last)
            with torch.inference_mode(), forced_on_cpu(), gpu_form(form):
                y = m.fuse().to(DEVICE, torch.bfloat16)(xx)
                assert y.dtype == torch.bfloat16 and _rel(y.cpu(), ref) <= TOL[torch.bfloat16]
                m.unfuse()
                assert _rel(m(xx).cpu(), ref) <= TOL[torch.bfloat16]
    n = 4 if form == "triton" else 0  # 2 shapes x 2 layouts
    assert spy.calls == {"FusedCoordAtt": n, "pool": n, "scale": n, "scale_grads": 0, "gates_with_grad": 0}


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("shape", [(8, 64, 80, 80), (16, 128, 40, 40)])
def test_cuda_large_maps_match_paper_equations(shape):
    """Maps of 2M elements or more take the large tiles (a whole channel per program)."""
    m = randomise(CoordAtt(shape[1])).eval()
    x = torch.randn(shape)
    ref = reference_coord_att(m, x, training=False)
    m = m.fuse().cuda()
    with torch.inference_mode(), gpu_form("triton"):
        assert _rel(m(x.cuda()).cpu(), ref) <= 1e-5
        assert _rel(m.half()(x.cuda().half()).cpu(), ref) <= 2e-2


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_direct_launches_match_tritons_own_launches(monkeypatch):
    """After a plan's first call its kernels launch without Triton's binding: same results, bit for bit, for
    another shape, a 16-byte-misaligned input (another plan) and inside a CUDA graph; both the two-kernel
    form (these maps) and the three-kernel one."""
    torch.manual_seed(0)
    m = randomise(CoordAtt(64)).eval().fuse().cuda().half()
    aligned = torch.randn(2, 64, 20, 20, device="cuda", dtype=torch.float16)
    misaligned = torch.randn(2 * 64 * 20 * 20 + 1, device="cuda", dtype=torch.float16)[1:].view(2, 64, 20, 20)
    other = torch.randn(1, 64, 9, 13, device="cuda", dtype=torch.float16)
    large = torch.randn(40, 64, 32, 32, device="cuda", dtype=torch.float16)  # 2.6M elements: three kernels
    inputs = [aligned, misaligned, other, aligned.contiguous(memory_format=torch.channels_last), large]
    with torch.inference_mode(), gpu_form("triton"):
        monkeypatch.setattr(launching, "DIRECT_LAUNCH", False)
        want = [m(x) for x in inputs]
        monkeypatch.setattr(launching, "DIRECT_LAUNCH", True)
        first = [m(x) for x in inputs]  # compiles or finds each key's binary through Triton's path
        again = [m(x) for x in inputs]  # direct launches
        assert len(tk._launch_pool_kernel.binaries) >= len(inputs)  # one key per input at least
        graph, static = torch.cuda.CUDAGraph(), aligned.clone()
        torch.cuda.synchronize()
        with torch.cuda.graph(graph):
            out = m(static)
        static.copy_(misaligned)  # new data in the captured buffer: the replayed direct launches must see it
        graph.replay()
        torch.cuda.synchronize()
    for w, a, b in zip(want, first, again):
        assert torch.equal(w, a) and torch.equal(w, b)
    assert torch.equal(out, want[1])
    # one kept workspace per workspace shape (batch 2, batch 1, the large map's three-kernel one); none for the graph
    assert len(m._gpu_runners["triton"].workspaces) == 3


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_plain_form_in_a_graph_and_on_a_side_stream():
    """The plain form on a second stream and in a CUDA graph (capture, then replay with new data): the results of
    eager calls on the default stream, bit for bit; a workspace kept per stream, none for the graph."""
    torch.manual_seed(0)
    m = randomise(CoordAtt(64)).eval().fuse().cuda().half()
    a, b = (torch.randn(2, 64, 20, 20, device="cuda", dtype=torch.float16) for _ in range(2))
    with torch.inference_mode(), gpu_form("torch"):
        want_a, want_b = m(a), m(b)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            on_side = m(b)
        torch.cuda.current_stream().wait_stream(side)
        graph, static = torch.cuda.CUDAGraph(), a.clone()
        torch.cuda.synchronize()
        with torch.cuda.graph(graph):
            out = m(static)
        static.copy_(b)
        graph.replay()
        again = m(a)  # eager, on the default stream, after the replay
        torch.cuda.synchronize()
    assert torch.equal(on_side, want_b) and torch.equal(out, want_b) and torch.equal(again, want_a)
    # the default stream's and the side stream's; the graph holds its own (it may be replayed on any stream)
    assert len(_plain_form(m).workspaces) == 2


@pytest.mark.skipif(not CUDA or torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_cuda_layer_on_another_device_than_the_current_one():
    """Triton launches on the current device; a layer on cuda:1 while cuda:0 is current still runs on cuda:1."""
    m = randomise(CoordAtt(16)).eval()
    x = torch.randn(2, 16, 5, 7)
    ref = reference_coord_att(m, x, training=False)
    m = m.fuse().to("cuda:1")
    with torch.cuda.device(0), torch.inference_mode(), gpu_form("triton"):
        for _ in range(2):  # Triton's own launch, then a planned one
            assert _rel(m(x.to("cuda:1")).cpu(), ref) <= 1e-5


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("form", ["triton", "torch"])
def test_cuda_whole_model_fused_parity(form):
    """yolov8n-ca fused on CUDA under each GPU form vs the unfused model (fp32 1e-5, fp16 2e-2 relative)."""
    import copy

    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    m = DetectionModel("yolov8n-ca.yaml", verbose=False).eval()
    for layer in m.modules():
        if isinstance(layer, CoordAtt):
            randomise(layer)
    m = m.cuda()
    x = torch.rand(2, 3, 320, 256, device="cuda")
    with torch.inference_mode():
        with gpu_form("generic"):
            ref = m(x)[0]
        fused = copy.deepcopy(m).fuse(verbose=False)
        with gpu_form(form):
            assert _rel(fused(x)[0], ref) <= 1e-5
            assert _rel(fused.half()(x.half())[0], ref) <= 2e-2


def test_host_cost_probe_times_the_two_launch_form():
    """scripts/triton_host_cost.py times yolov8n-ca's batch-1 layers as they run on a GPU: two launches each,
    kept in the script's own recording (none reach a recording around it) and every figure measured."""
    probe = script_module("triton_host_cost")
    with launching.recorded_launches() as outer:
        rows = [probe.shape_row(shape, calls=20) for shape in probe.SHAPES]
    assert [r["launches"] for r in rows] == [2, 2, 2] and outer == []
    assert all(min(r["layer_us"], r["fused_us"], r["tiny_op_us"], r["empty_like_us"]) > 0 for r in rows)


@pytest.mark.parametrize("shape, reduction", [((2, 128, 6, 30), 8), ((2, 16, 1, 1), 32)], ids=["mip16", "1x1"])
def test_gate_net_kernels_match_the_modules_and_their_running_statistics(shape, reduction):
    """The training gate network's kernels against the modules in float64 (BatchNorm with Ultralytics' eps and
    momentum): gates, the gradients of z and of every parameter, running statistics and the batch count; and
    with only one gate's gradient (the other None)."""
    b, c, h, w = shape  # mip16: two blocks of positions, the second part-filled
    m = randomise(CoordAtt(c, reduction)).train()
    m.bn1.eps, m.bn1.momentum = 1e-3, 0.03
    ref = copy.deepcopy(m).double()
    z, gy_h, gy_w = torch.randn(b, c, h + w) * 2 + 0.5, torch.randn(b, c, h), torch.randn(b, c, w)
    z_ref = z.double().requires_grad_()
    g_h, g_w = ref._gates_conv(z_ref, h)
    ref_grads = torch.autograd.grad((g_h * gy_h).sum() + (g_w * gy_w).sum(), [z_ref, *ref.parameters()])
    m.to(DEVICE)
    zz = z.to(DEVICE).requires_grad_()
    f_h, f_w = gate_net.gates_with_grad(zz, h, m.conv1, m.bn1, m.conv_h, m.conv_w)
    assert f_h.dtype == f_w.dtype == torch.float32 and (f_h.shape, f_w.shape) == ((b, c, h), (b, c, w))
    assert max(_rel(f_h.cpu(), g_h), _rel(f_w.cpu(), g_w)) <= 1e-5
    loss = (f_h * gy_h.to(DEVICE)).sum() + (f_w * gy_w.to(DEVICE)).sum()
    grads = torch.autograd.grad(loss, [zz, *m.parameters()])
    _assert_grads_match("z", m, grads, ref_grads, 1e-5)
    for stat in ("running_mean", "running_var"):
        assert _rel(getattr(m.bn1, stat).cpu(), getattr(ref.bn1, stat)) <= 1e-6, stat
    assert int(m.bn1.num_batches_tracked) == int(ref.bn1.num_batches_tracked) == 1
    f_h, _ = gate_net.gates_with_grad(zz, h, m.conv1, m.bn1, m.conv_h, m.conv_w)
    g_h, _ = ref._gates_conv(z_ref, h)
    (got,) = torch.autograd.grad((f_h * gy_h.to(DEVICE)).sum(), [zz])
    assert _rel(got.cpu(), torch.autograd.grad((g_h * gy_h).sum(), [z_ref])[0]) <= 1e-5


def test_gate_net_kernels_only_where_the_modules_allow(monkeypatch):
    """SyncBatchNorm, BatchNorm in eval mode or with cumulative averaging, a conv without bias, or
    KernelConfig(gate_net_kernels=False): the triton form's training runs the gate network as modules."""
    spy = _Spy(monkeypatch)
    x = torch.randn(2, 16, 5, 7)

    def step(m: CoordAtt) -> None:
        with forced_on_cpu(), gpu_form("triton"):
            m.to(DEVICE)(x.to(DEVICE).requires_grad_()).sum().backward()

    m = randomise(CoordAtt(16)).train()
    step(m)
    assert spy.calls["gates_with_grad"] == 1
    changes = [
        lambda m: setattr(m, "bn1", nn.SyncBatchNorm(m.mip)),
        lambda m: m.bn1.eval(),
        lambda m: setattr(m.bn1, "momentum", None),
        lambda m: setattr(m.conv_h, "bias", None),
    ]
    for change in changes:
        m = randomise(CoordAtt(16)).train()
        change(m)
        assert not gate_net.applies(m.conv1, m.bn1, m.act, m.conv_h, m.conv_w)
    monkeypatch.setattr(tk, "CONFIG", tk.KernelConfig(gate_net_kernels=False))
    step(randomise(CoordAtt(16)).train())
    assert spy.calls["gates_with_grad"] == 1 and spy.calls["scale_grads"] == 2


def test_detector_training_step_under_the_gpu_forms_matches_the_cpu_path(monkeypatch):
    """A whole yolov8n-ca training step (Ultralytics' BatchNorm settings, 64 px): the triton form (its map
    and gate-network kernels in Triton's interpreter) and the torch form give the CPU path's loss, every
    parameter's gradient and the running statistics."""
    from ca_yolo.bench.gpu import raw_tensors
    from ca_yolo.bench.train_throughput import build_trainable

    spy = _Spy(monkeypatch)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)  # on a GPU: the same conv algorithms each step
    torch.manual_seed(0)
    base = build_trainable("yolov8n-ca.yaml")
    x = torch.rand(2, 3, 64, 64)

    def step(form: str) -> tuple[float, dict, dict]:
        m = copy.deepcopy(base).to(DEVICE)
        with forced_on_cpu(), gpu_form(form):
            loss = sum(t.float().mean() for t in raw_tensors(m(x.to(DEVICE))))
            loss.backward()
        # conv1.bias: zero in exact arithmetic (BatchNorm follows); the DFL conv is frozen (no gradient)
        grads = {n: p.grad.cpu() for n, p in m.named_parameters() if p.requires_grad and not n.endswith("conv1.bias")}
        return float(loss), grads, {n: b.cpu() for n, b in m.named_buffers() if "running" in n}

    want_loss, want_grads, want_stats = step("generic")
    for form in ("torch", "triton"):
        loss, grads, stats = step(form)
        assert abs(loss - want_loss) <= 1e-5 * abs(want_loss)
        assert grads.keys() == want_grads.keys() and max(_rel(grads[n], want_grads[n]) for n in want_grads) <= 1e-5
        assert max(_rel(stats[n], want_stats[n]) for n in want_stats) <= 1e-6
    assert spy.calls["gates_with_grad"] == 6  # every CA layer of yolov8n-ca, once
