"""The Triton kernels compiled ahead of time for a Hopper GPU (sm_90), with no GPU present.

Triton's interpreter (tests/test_gpu_forms.py) checks the kernels' maths on CPU tensors but never compiles
them: a kernel the compiler rejects, or whose tiles overflow the registers, passes there and fails or
crawls on a GPU. scripts/triton_compile_check.py records every launch a layer makes - the fused inference
form and the training path - compiles each with Triton's compiler and ptxas for sm_90, specialised as a
launch would be, and reads its register spills from the binary; bfloat16, which the interpreter lacks,
included. It runs in a
subprocess: the test session has Triton in interpreter mode, whose functions do not compile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

triton = pytest.importorskip("triton")

REPO = Path(__file__).resolve().parents[1]
NVIDIA_BIN = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"


@pytest.mark.skipif(
    not all((NVIDIA_BIN / tool).exists() for tool in ("ptxas", "cuobjdump")),
    reason="Triton's NVIDIA toolchain (ptxas, cuobjdump) is not in this install",
)
def test_kernels_compile_for_sm90_without_spilling(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path / "cache")
    out = tmp_path / "report.json"
    cmd = [sys.executable, str(REPO / "scripts" / "triton_compile_check.py"), "--arch", "90", "--out", str(out)]
    subprocess.run(cmd, env=env, cwd=REPO, check=True, capture_output=True, text=True, timeout=600)
    rows = json.loads(out.read_text())
    net = {"_pre_kernel", "_post_kernel", "_back_gates_kernel", "_back_input_kernel", "_sum_rows_kernel"}
    kernels = {(r["kernel"], r["dtype"], r["layout"]) for r in rows if r["kernel"] not in net}
    # every map kernel in both dtypes and layouts (the layer at batch 1 takes two, at batch 32 three, training
    # four), except that channels_last tiles (up to 64 channels) are too wide for the gates in the scaling kernel
    names = {"_pool_kernel", "_gated_scale_kernel", "_gates_kernel", "_scale_kernel", "_scale_grads_kernel"}
    want = {(k, d, lay) for k in names for d in ("fp16", "bf16") for lay in ("contiguous", "channels_last")}
    assert kernels == {k for k in want if k[0] != "_gated_scale_kernel" or k[2] == "contiguous"}
    # the training gate network's five; those that read z (in the map's dtype under AMP) once per dtype, the
    # others once (fp32 throughout); none depends on the map's layout (z is contiguous)
    net_kernels = {(r["kernel"], r["dtype"]) for r in rows if r["kernel"] in net}
    reads_z = {"_pre_kernel", "_back_input_kernel"}
    assert net_kernels == {(k, d) for k in reads_z for d in ("fp16", "bf16")} | {(k, "fp16") for k in net - reads_z}
    assert all(r["registers"] > 0 for r in rows)
    # specialised as launches are (unit strides constant, 16-divisible sizes marked), no kernel spills
    spilling = [r for r in rows if r["stack_bytes"]]
    assert not spilling, spilling
