#!/usr/bin/env python
"""The Python host work of a fused CoordAtt layer's Triton form, measured without a GPU; prints one JSON object.

At batch 1 on a GPU an eager CoordAtt layer costs what its host side costs (the kernels take a few
microseconds). Here the layer runs on CPU tensors with its launches recorded instead of run
(:func:`ca_yolo.nn.triton_launch.recorded_launches`), so what is timed is everything a call does in
Python - the module call, the form check, the plan lookup, the two allocations (CPU ones), the launch
arguments - but not Triton's launcher. Meta tensors would need no memory, but their allocations run
PyTorch's Python reference code (20+ us each). For scale: one tiny op (``torch.empty(1).fill_(1)``)
and one ``torch.empty_like(x)``.

Per shape (yolov8n-ca's layer inputs at 640 px, batch 1): ``launches`` per call, ``layer_us`` (the
module call), ``fused_us`` (a ``FusedCoordAtt`` of the layer's constants alone), ``tiny_op_us``,
``empty_like_us``.

Usage: ``python scripts/triton_host_cost.py [--calls 20000]`` (about 10 s). Uses only public API of ca_yolo.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from ca_yolo import CoordAtt
from ca_yolo.nn import triton_coord_att as tk
from ca_yolo.nn import triton_launch
from ca_yolo.nn.gpu_forms import forced_on_cpu, gpu_form

SHAPES = [(1, 64, 80, 80), (1, 128, 40, 40), (1, 256, 20, 20)]


def per_call_us(fn, calls: int) -> float:
    """Median over 5 rounds of microseconds per call of ``fn()``, after ``calls // 10`` untimed calls."""
    for _ in range(calls // 10):
        fn()
    rounds = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        rounds.append((time.perf_counter() - t) / calls * 1e6)
    return statistics.median(rounds)


def shape_row(shape: tuple[int, int, int, int], calls: int) -> dict:
    """One shape's figures (see the module docstring)."""
    c = shape[1]
    layer = CoordAtt(c).eval().fuse().half()
    x = torch.randn(shape).half()
    with torch.inference_mode(), forced_on_cpu(), gpu_form("triton"), triton_launch.recorded_launches() as recorded:
        layer(x)
        launches = len(recorded)
        constants = layer.inference_constants()
        fused = tk.FusedCoordAtt(*(constants[k] for k in ("_w1", "_b1", "_wg", "_bg")))
        # the recorded launches hold the call's output and workspace: dropped after each call, as a run frees them
        row = {
            "shape": list(shape),
            "launches": launches,
            "layer_us": per_call_us(lambda: (layer(x), recorded.clear()), calls),
            "fused_us": per_call_us(lambda: (fused(x), recorded.clear()), calls),
            "tiny_op_us": per_call_us(lambda: torch.empty(1).fill_(1), calls),
            "empty_like_us": per_call_us(lambda: torch.empty_like(x), calls),
        }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="calls per timed round")
    args = parser.parse_args()
    rows = [shape_row(s, args.calls) for s in SHAPES]
    info = {"machine": platform.processor() or platform.machine(), "python": platform.python_version()}
    print(json.dumps({**info, "torch": torch.__version__, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
