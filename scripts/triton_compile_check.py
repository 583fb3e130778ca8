"""Compile every Triton kernel a CoordAtt layer launches for an NVIDIA architecture, with no GPU: registers and spills.

Triton's interpreter checks the kernels' maths on CPU tensors but never compiles them. This records the
launches a layer makes for an input (meta tensors: no device needed) - the fused inference form, and the
training path's pooling, scaling, gate-gradient and backward scaling kernels and its gate network's
kernels, forward and back - compiles each distinct one
with Triton's compiler and ptxas for the target, and reads its registers and stack (spilled registers)
per thread from the binary with cuobjdump. Needs Triton's NVIDIA toolchain (in its Linux wheels); must run
without ``TRITON_INTERPRET`` (under it Triton builds interpreter functions, which do not compile).

    python scripts/triton_compile_check.py [--arch 90] [--dtypes fp16,bf16] [--layouts contiguous,channels_last]
        [--shapes 1x64x80x80,32x64x80x80] [--out report.json]

Prints one JSON line per compiled kernel: kernel, constexprs, warps, registers, stack bytes. Uses only the
public API of ca_yolo.nn.triton_coord_att and ca_yolo.nn.triton_gate_net.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from ca_yolo import CoordAtt
from ca_yolo.nn import triton_coord_att as tk
from ca_yolo.nn import triton_gate_net, triton_launch

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
TRITON_TYPES = {dtype: name for name, dtype in DTYPES.items()} | {torch.int64: "i64"}
CUOBJDUMP = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"


def layer_launches(
    shape: tuple[int, int, int, int], dtype: torch.dtype, channels_last: bool
) -> list[triton_launch.KernelCall]:
    """The kernel calls of one fused layer call and of a training step's pooling, scaling and gate network,
    forward and back (the gate network's parameters in fp32, as AMP keeps them)."""
    b, c, h, w = shape
    meta = {"device": "meta", "dtype": dtype}
    x = torch.empty(shape, **meta)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    mip = max(8, c // 32)
    weights = [torch.empty(s, **meta) for s in [(mip, c), (mip, 1), (2 * c, mip), (2 * c, 1)]]
    g_h, g_w = torch.empty(b, c, h, 1, **meta), torch.empty(b, c, 1, w, **meta)
    with triton_launch.recorded_launches() as calls:
        tk.FusedCoordAtt(*weights)(x)
        z = tk.pool(x)
        tk.scale(x, g_h, g_w)
        tk.scale_grads(x, x, g_h, g_w)
        tk.scale(x, g_h, g_w, add=z)
        layer = CoordAtt(c).train().to("meta")
        zz = z.detach().requires_grad_()
        f_h, f_w = triton_gate_net.gates_with_grad(zz, h, layer.conv1, layer.bn1, layer.conv_h, layer.conv_w)
        torch.autograd.grad(f_h.sum() + f_w.sum(), [zz])
    return calls


def signature(call: triton_launch.KernelCall) -> tuple[dict, dict, dict]:
    """Triton's signature, constexpr values and attributes for a recorded call, specialised as a launch would be.

    As Triton specialises a launch: an integer equal to 1 becomes a constant, integers divisible by 16
    and pointers (aligned to 16 bytes here, as fresh allocations are) are marked divisible by 16.
    """
    sig, constexprs, attrs = {}, {}, {}
    for i, (param, arg) in enumerate(zip(call.kernel.params, call.args)):
        if param.is_constexpr or (type(arg) is int and arg == 1):
            sig[param.name], constexprs[(i,)] = "constexpr", arg
            continue
        if isinstance(arg, torch.Tensor):
            sig[param.name] = "*" + TRITON_TYPES[arg.dtype]
        elif isinstance(arg, bool):
            sig[param.name] = "u1"
        elif isinstance(arg, int):
            sig[param.name] = "i32" if -(2**31) <= arg < 2**31 else "i64"
        else:
            sig[param.name] = "fp32"
        if isinstance(arg, torch.Tensor) or (type(arg) is int and arg % 16 == 0):
            attrs[(i,)] = [["tt.divisibility", 16]]
    return sig, constexprs, attrs


def resource_usage(call: triton_launch.KernelCall, arch: int) -> dict[str, int]:
    """Compile ``call`` for sm_``arch``; its registers and stack bytes per thread, read from the binary."""
    sig, constexprs, attrs = signature(call)
    options = {} if call.num_warps is None else {"num_warps": call.num_warps}
    source = ASTSource(fn=call.kernel, signature=sig, constexprs=constexprs, attrs=attrs)
    compiled = triton.compile(source, target=GPUTarget("cuda", arch, 32), options=options)
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp) / "kernel.cubin"
        cubin.write_bytes(compiled.asm["cubin"])
        usage = subprocess.run([str(CUOBJDUMP), "-res-usage", str(cubin)], capture_output=True, text=True, check=True)
    found = re.search(r"REG:(\d+) STACK:(\d+)", usage.stdout)
    return {"registers": int(found.group(1)), "stack_bytes": int(found.group(2))}


def check(shapes: list[tuple[int, ...]], dtypes: list[str], layouts: list[str], arch: int) -> list[dict]:
    """One row per distinct compiled kernel over every shape, dtype and layout."""
    rows, seen = [], set()
    for dtype in dtypes:
        for layout in layouts:
            for shape in shapes:
                for call in layer_launches(shape, DTYPES[dtype], layout == "channels_last"):
                    sig, constexprs, attrs = signature(call)
                    key = (call.kernel.__name__, *map(str, (sig, constexprs, attrs)), call.num_warps)
                    if key in seen:
                        continue
                    seen.add(key)
                    names = [p.name for p in call.kernel.params if p.is_constexpr]
                    blocks = {n: v for n, v in zip(call.kernel.arg_names, call.args) if n in names}
                    row = {"kernel": call.kernel.__name__, "dtype": dtype, "layout": layout, "shape": list(shape)}
                    row |= {"constexprs": blocks, "num_warps": call.num_warps}
                    rows.append(row | resource_usage(call, arch))
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", type=int, default=90, help="compute capability, e.g. 80 (A100) or 90 (H100/H200)")
    p.add_argument("--dtypes", default="fp16,bf16")
    p.add_argument("--layouts", default="contiguous,channels_last")
    p.add_argument("--shapes", default="1x64x80x80,32x64x80x80,1x256x20x20", help="B x C x H x W, comma-separated")
    p.add_argument("--out", help="write the rows as one JSON list")
    args = p.parse_args()
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        p.error("TRITON_INTERPRET is set: Triton's interpreter functions do not compile; unset it")
    shapes = [tuple(int(n) for n in s.split("x")) for s in args.shapes.split(",")]
    rows = check(shapes, args.dtypes.split(","), args.layouts.split(","), args.arch)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
