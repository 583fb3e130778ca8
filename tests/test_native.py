"""The compiled CoordAtt kernel (ca_yolo.nn.native): parity with the PyTorch inference form, when it is
used and when not, and how it is built (cache, failures, the off switch)."""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import max_rel, run_python, trained_like, ultralytics_log

from ca_yolo.nn import CoordAtt, native
from ca_yolo.nn import coord_att as coord_att_module

KERNEL = native.coord_att_kernel()
needs_kernel = pytest.mark.skipif(KERNEL is None, reason=f"no compiled kernel here: {native.kernel_status()}")


def _trained_like(c: int) -> CoordAtt:
    """A fused CoordAtt with O(1) random weights and non-trivial BatchNorm statistics."""
    return trained_like(CoordAtt, c).fuse()


@pytest.fixture
def fresh_kernel(monkeypatch, tmp_path):
    """A process-wide kernel lookup made anew in the test (and again after it), with an empty cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    native._kernel_once.cache_clear()
    yield tmp_path / "cache" / "ca_yolo" / "native"
    native._kernel_once.cache_clear()


@needs_kernel
@pytest.mark.parametrize(
    "shape",
    [(1, 64, 20, 20), (1, 256, 5, 5), (2, 16, 7, 9), (3, 32, 1, 13), (1, 8, 11, 1), (1, 8, 1, 1), (2, 64, 48, 40)],
)
def test_kernel_equals_the_pytorch_form_to_float_rounding(shape):
    m = _trained_like(shape[1])
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1)) * 3
    with torch.no_grad():
        got = m(x)
        with native.disabled():
            expected = m(x)
    assert got.shape == shape and got.dtype == torch.float32
    assert max_rel(got, expected) <= 1e-6 and not torch.equal(got, expected)  # not equal: the kernel did run


@needs_kernel
def test_kernel_on_two_threads_equals_one_thread():
    """Maps of 32768+ elements per image are split over PyTorch's OpenMP threads; the split changes nothing."""
    m = _trained_like(64)
    x = torch.randn(2, 64, 40, 40)
    threads = torch.get_num_threads()
    try:
        with torch.no_grad():
            torch.set_num_threads(1)
            one = m(x)
            torch.set_num_threads(2)
            two = m(x)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)


def test_kernel_runs_only_on_contiguous_float32_cpu_inputs(monkeypatch):
    """Other inputs (float64, channels_last, empty) take the PyTorch form: bit-identical to it."""
    calls = []

    def spy(*args):
        calls.append(args[0].shape)
        return torch.zeros_like(args[0])

    monkeypatch.setattr(coord_att_module, "coord_att_kernel", lambda: spy)
    m = _trained_like(16)
    m64 = copy.deepcopy(m).double()
    x = torch.randn(1, 16, 6, 7)
    with torch.no_grad():
        for layer, other in ((m64, x.double()), (m, x.to(memory_format=torch.channels_last)), (m, x[:0])):
            got = layer(other)
            with native.disabled():
                assert torch.equal(got, layer(other))
        assert calls == []
        assert torch.equal(m(x), torch.zeros_like(x)) and calls == [x.shape]


def test_disabled_is_scoped():
    assert native.coord_att_kernel() is KERNEL
    with native.disabled():
        assert native.coord_att_kernel() is None
        assert native.kernel_status() == "PyTorch inference form (ca_yolo.nn.native.disabled())"
    assert native.coord_att_kernel() is KERNEL


def test_fused_layer_still_copies_and_pickles():
    """The kernel lives in the module namespace, never on a layer: checkpoints and deep copies work as before."""
    m = _trained_like(32)
    x = torch.randn(1, 32, 9, 9)
    with torch.no_grad():
        expected = m(x)
        for other in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
            assert torch.equal(other(x), expected)


@needs_kernel
def test_build_is_cached_per_machine(fresh_kernel, monkeypatch):
    calls = []
    real_run = subprocess.run

    def counting_run(cmd, *args, **kwargs):
        calls.append(cmd[1] if cmd[1] == "--version" else "compile")
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting_run)
    first = native.build()
    assert calls == ["--version", "compile"] and first.parent == fresh_kernel
    assert native.build() == first and calls == ["--version", "compile", "--version"]  # from the cache
    # no temporary file left; the checksum the next load verifies sits beside the library
    assert sorted(p.name for p in fresh_kernel.iterdir()) == [first.name, f"{first.name}.sha256"]
    data = first.read_bytes()
    assert native.checksum_path(first).read_text() == f"{len(data)} {hashlib.sha256(data).hexdigest()}\n"
    assert native.kernel_status() == f"compiled kernel ({first})"
    assert native.kernel_status(with_file=False) == "compiled kernel"


_LOAD_AND_RUN = """
import torch
from ca_yolo.nn import CoordAtt, native
m = CoordAtt(16).fuse()
with torch.no_grad():
    m(torch.randn(1, 16, 5, 5))
print("STATUS", native.kernel_status())
"""


@needs_kernel
@pytest.mark.parametrize("damage", ["truncated", "8 bytes", "no checksum", "flipped byte"])
def test_a_damaged_cached_kernel_is_built_again_not_loaded(fresh_kernel, damage):
    # A library cut short is mapped by the loader and dies with SIGBUS on first use, so each load runs in
    # its own process: a regression fails this test instead of killing pytest.
    path = native.build()
    good = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
        why = f"{len(good) // 2} bytes where {len(good)} were written"
    elif damage == "8 bytes":
        path.write_bytes(good[:8])
        why = f"8 bytes where {len(good)} were written"
    elif damage == "no checksum":  # a cache made before checksums, or the checksum file lost
        native.checksum_path(path).unlink()
        why = "it has no checksum file"
    else:
        path.write_bytes(good[:100] + bytes([good[100] ^ 1]) + good[101:])
        why = "its bytes differ from their checksum"
    p = run_python(_LOAD_AND_RUN, env={"XDG_CACHE_HOME": str(fresh_kernel.parents[1])})
    assert p.returncode == 0, (p.returncode, p.stderr[-2000:])
    assert f"STATUS compiled kernel ({path})" in p.stdout
    warnings = [ln for ln in (p.stdout + p.stderr).splitlines() if "ca-yolo:" in ln]  # Ultralytics logs to stdout
    assert [ln.split("ca-yolo: ", 1)[1] for ln in warnings] == [
        f"the cached CoordAtt kernel {path} is damaged ({why}); building it again"
    ]
    assert native.cache_problem(path) is None and len(path.read_bytes()) == len(good)
    assert sorted(p.name for p in fresh_kernel.iterdir()) == [path.name, f"{path.name}.sha256"]


def test_no_compiler_means_the_pytorch_form_and_one_warning(fresh_kernel, monkeypatch, caplog):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    x = torch.randn(1, 16, 5, 5)
    with ultralytics_log(caplog) as log, torch.no_grad():
        m = _trained_like(16)  # fuse() looks for the kernel
        got = m(x)
        m(x)
    with native.disabled(), torch.no_grad():
        assert torch.equal(got, m(x))
    reason = "C compiler '/nonexistent/cc' does not run: [Errno 2] No such file or directory: '/nonexistent/cc'"
    # once per process, whatever the number of layers and calls
    assert [s.removeprefix("WARNING ⚠️ ") for s in log] == [
        f"ca-yolo: CoordAtt kernel not built ({reason}); the PyTorch inference form runs instead "
        "(CA_YOLO_NATIVE=0 silences this)"
    ]
    assert native.kernel_status() == f"PyTorch inference form (kernel not built: {reason})"
    assert not fresh_kernel.exists() or not any(fresh_kernel.iterdir())


def test_compile_error_names_the_compiler_and_its_first_message(fresh_kernel, tmp_path):
    cc = tmp_path / "fakecc"
    cc.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "gcc (fake) 1.0"; exit 0; fi\n'
        'echo "fakecc: error: unsupported option" >&2\nexit 1\n'
    )
    cc.chmod(0o755)
    with pytest.raises(native.BuildError) as e:
        native.build(str(cc))
    assert str(e.value) == f"{cc} failed on coord_att_cpu.c: fakecc: error: unsupported option"
    assert not any(fresh_kernel.iterdir())  # the failed output was removed


def test_environment_switch_turns_it_off_without_building(fresh_kernel, monkeypatch):
    monkeypatch.setenv(native.ENV_SWITCH, "0")

    def no_subprocess(*args, **kwargs):
        raise AssertionError("nothing may be compiled")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    assert native.coord_att_kernel() is None
    assert native.kernel_status() == "PyTorch inference form (CA_YOLO_NATIVE=0)"


@needs_kernel
def test_kernel_shares_pytorchs_openmp_runtime():
    """Built with -fopenmp where PyTorch runs on GNU OpenMP: then exactly one libgomp is loaded (PyTorch's)."""
    if not native._gnu_openmp_loaded():
        pytest.skip("PyTorch does not run on GNU OpenMP here")
    assert "-fopenmp" in native.build_flags(native._compiler_version(native.compiler()))
    assert len(native._libgomp_files()) == 1


def test_cache_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert native.cache_dir() == tmp_path / "ca_yolo" / "native"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert native.cache_dir() == Path(os.path.expanduser("~")) / ".cache" / "ca_yolo" / "native"


@needs_kernel
def test_fused_model_with_the_kernel_matches_the_pytorch_form():
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    model = DetectionModel("yolov8n-ca.yaml", verbose=False).eval()
    for m in model.modules():  # gates that depend on the input (fresh layers start as constants)
        if isinstance(m, CoordAtt):
            for conv in (m.conv_h, m.conv_w):
                torch.nn.init.normal_(conv.weight, std=0.3)
    model.fuse(verbose=False)
    outputs: list[torch.Tensor] = []  # every CA layer's output (a fresh head hides small differences)
    for m in model.modules():
        if isinstance(m, CoordAtt):
            m.register_forward_hook(lambda mod, args, out: outputs.append(out))
    x = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        model(x)
        with native.disabled():
            model(x)
    assert len(outputs) == 12
    for got, expected in zip(outputs[:6], outputs[6:]):
        assert max_rel(got, expected) <= 1e-5 and not torch.equal(got, expected)


@needs_kernel
def test_kernel_spreads_nan_and_inf_exactly_as_the_unfused_layer():
    """A NaN or inf pixel poisons its row and column gates, nothing else. (The PyTorch form's pooling-matrix
    product at batch 1 multiplies it by the matrix's zeros too and spreads NaN further: non-finite inputs only.)"""
    unfused = trained_like(CoordAtt, 16)
    fused = copy.deepcopy(unfused).fuse()
    x = torch.randn(1, 16, 6, 7)
    x[0, 3, 2, 2], x[0, 5, 1, 4] = float("nan"), float("inf")
    with torch.no_grad():
        got, expected = fused(x), unfused(x)
    assert torch.equal(got.isnan(), expected.isnan()) and torch.equal(got.isinf(), expected.isinf())
    assert 0 < int(got.isnan().sum()) < got.numel()
    finite = got.isfinite()
    assert max_rel(got[finite], expected[finite]) <= 1e-6
