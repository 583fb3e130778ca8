"""Where a fused CoordAtt layer's time goes on a GPU, at the layer shapes of yolov8n-ca and yolo11n-ca (fp16).

Per shape and batch:
- host time per call (what eager batch-1 latency is made of: launches): the Triton form with its direct
  launches (as configured, and with three kernels where small maps take two) and with Triton's own
  launch path, the plain PyTorch form, one tiny PyTorch op and one allocation of the map (a layer call
  makes two: its output and a small workspace);
- GPU time per call from CUDA-graph replays (no host in the way; the gaps between a layer's kernels are
  in it): both forms, and a copy of the map (one read and one write: what a pass over it costs);
- GPU time of each Triton kernel (torch.profiler);
- a sweep of :class:`~ca_yolo.nn.triton_coord_att.KernelConfig` settings, by CUDA-graph time;
- per layer, an AMP training step (forward + backward) under each form at ``--train-batch`` (the Triton
  form with its gate-network kernels and with the gate network as modules), with its kernels by name.

    python scripts/gpu_layer_probe.py OUT.json [--imgsz 640] [--batches 1,32] [--no-sweep] [--train-batch 64]

Needs a CUDA GPU. Uses only public API of ca_yolo.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

import torch

from ca_yolo import CoordAtt
from ca_yolo.bench.layer import ca_input_shapes
from ca_yolo.nn import triton_coord_att as tk
from ca_yolo.nn import triton_launch
from ca_yolo.nn.gpu_forms import gpu_form

SWEEP = [
    tk.KernelConfig(),
    tk.KernelConfig(large_tile=16384),
    tk.KernelConfig(large_tile=4096),
    tk.KernelConfig(tile=8192),
    tk.KernelConfig(gate_positions=8),
    tk.KernelConfig(gates_in_scale_below=0),
    tk.KernelConfig(pool_warps=8),
    tk.KernelConfig(pool_warps=16),
]


# label -> (GPU form, kernel settings) of the per-layer training rows
TRAIN_VARIANTS = {
    "triton": ("triton", tk.KernelConfig()),
    "triton_gate_modules": ("triton", tk.KernelConfig(gate_net_kernels=False)),
    "torch": ("torch", tk.KernelConfig()),
}


@contextlib.contextmanager
def kernel_config(config: tk.KernelConfig):
    """Run with ``config`` as the Triton kernels' settings, then the defaults again."""
    tk.CONFIG = config
    try:
        yield
    finally:
        tk.CONFIG = tk.KernelConfig()


def host_us(fn, calls: int = 200) -> float:
    """Median over 5 rounds of host time per call, without waiting for the GPU (what launches cost)."""
    rounds = []
    for _ in range(5):
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        rounds.append((time.perf_counter() - t) / calls * 1e6)
        torch.cuda.synchronize()
    return statistics.median(rounds)


def graph_us(fn, calls: int = 20, replays: int = 10) -> float:
    """Median over 5 rounds of GPU time per call, from replays of a CUDA graph of ``calls`` calls."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(calls):
            fn()
    graph.replay()
    return event_us(lambda: [graph.replay() for _ in range(replays)], replays * calls)


def event_us(run, calls: int) -> float:
    """Median over 5 rounds of the GPU time (CUDA events) of ``run()``, per one of the ``calls`` calls it makes."""
    rounds = []
    for _ in range(5):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        torch.cuda.synchronize()
        rounds.append(start.elapsed_time(end) / calls * 1e3)
    return statistics.median(rounds)


def kernel_profile(fn, calls: int = 20) -> tuple[dict[str, float], float]:
    """GPU time per call of each kernel ``fn`` launches (torch.profiler), by kernel name, and how many kernels
    (and copies) one call runs on the GPU."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    times: dict[str, float] = defaultdict(float)
    count = 0
    for e in prof.events():
        if e.device_type != torch.autograd.DeviceType.CPU:  # kernels (and copies) on the GPU timeline
            times[e.name] += e.time_range.elapsed_us() / calls
            count += 1
    return {k: round(v, 2) for k, v in sorted(times.items(), key=lambda kv: -kv[1])}, count / calls


def train_step(layer: torch.nn.Module, x: torch.Tensor):
    """An AMP forward + backward of ``layer`` in training mode on x (dL/dx and every parameter's gradient)."""
    layer.train()
    xx = x.detach().requires_grad_()
    gy = torch.randn_like(x)
    params = list(layer.parameters())

    def step():
        with torch.autocast(x.device.type, dtype=torch.float16):
            y = layer(xx)
        torch.autograd.grad(y, [xx, *params], gy)

    return step


def train_us(step, calls: int = 10) -> float:
    """Median over 5 rounds of GPU time per call of ``step`` (:func:`train_step`), after 3 untimed."""
    for _ in range(3):
        step()
    return event_us(lambda: [step() for _ in range(calls)], calls)


def train_row(c: int, h: int, w: int, bs: int, dev: torch.device) -> dict:
    """One layer's AMP training step (forward + backward) under each GPU form, and a copy of its map.

    Training passes over the map seven times (forward: read x twice, write the output; backward: read the
    incoming gradient twice and x once, write dL/dx): 3.5 copies' time (a copy reads and writes) is the
    floor to compare with. Per form also the kernels of one step by name (GPU µs) and their number: which
    share is the passes over the map and which the gate network's small kernels; the Triton form both with
    its gate-network kernels and with the gate network as modules (:data:`TRAIN_VARIANTS`).
    """
    layer = CoordAtt(c).to(dev)
    x = torch.randn(bs, c, h, w, device=dev, dtype=torch.float16)
    row: dict = {"shape": [bs, c, h, w], "dtype": "fp16 (AMP)", "copy_graph_us": graph_us(lambda: x.clone())}
    for label, (form, config) in TRAIN_VARIANTS.items():
        with gpu_form(form), kernel_config(config):
            step = train_step(layer, x)
            row[f"{label}_train_us"] = train_us(step)
            row[f"{label}_train_kernels_us"], row[f"{label}_train_kernels"] = kernel_profile(step, calls=5)
    return row


def probe(c: int, h: int, w: int, bs: int, dev: torch.device, sweep: bool) -> dict:
    """One row: host, graph, per-kernel and sweep times of a fused fp16 CoordAtt(c) on a (bs, c, h, w) map."""
    layer = CoordAtt(c).eval().fuse().to(dev).half()
    x = torch.randn(bs, c, h, w, device=dev, dtype=torch.float16)
    row: dict = {"shape": [bs, c, h, w], "dtype": "fp16"}
    row["tiny_op_host_us"] = host_us(lambda: torch.empty(1, device=dev).fill_(1))
    row["empty_like_host_us"] = host_us(lambda: torch.empty_like(x))
    row["copy_graph_us"] = graph_us(lambda: x.clone())
    with gpu_form("triton"):
        row["triton_host_us"] = host_us(lambda: layer(x))
        with kernel_config(tk.KernelConfig(gates_in_scale_below=0)):
            row["triton_3_kernels_host_us"] = host_us(lambda: layer(x))
        triton_launch.DIRECT_LAUNCH = False
        try:
            row["triton_jit_launch_host_us"] = host_us(lambda: layer(x))
        finally:
            triton_launch.DIRECT_LAUNCH = True
        row["triton_graph_us"] = graph_us(lambda: layer(x))
        row["triton_kernels_us"], _ = kernel_profile(lambda: layer(x))
        if sweep:
            row["sweep"] = []
            for cfg in SWEEP:
                with kernel_config(cfg):
                    row["sweep"].append({**dataclasses.asdict(cfg), "graph_us": graph_us(lambda: layer(x))})
    with gpu_form("torch"):
        row["torch_host_us"] = host_us(lambda: layer(x))
        row["torch_graph_us"] = graph_us(lambda: layer(x))
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--batches", default="1,32")
    p.add_argument("--device", default="cuda")
    p.add_argument("--no-sweep", action="store_true", help="skip the KernelConfig sweep")
    p.add_argument("--train-batch", type=int, default=64, help="batch of the per-layer training rows (0: none)")
    args = p.parse_args()
    dev = torch.device(args.device)
    shapes = sorted({*ca_input_shapes("yolov8n-ca.yaml", args.imgsz), *ca_input_shapes("yolo11n-ca.yaml", args.imgsz)})
    import triton

    out = {"device": torch.cuda.get_device_name(dev), "torch": torch.__version__, "triton": triton.__version__}
    rows, train_rows = [], []

    def save() -> None:  # after every row: a run cut short by its time limit keeps what it measured
        tmp = Path(args.out + ".tmp")
        tmp.write_text(json.dumps({**out, "rows": rows, "train_rows": train_rows}, indent=1))
        tmp.replace(args.out)

    with torch.inference_mode():
        for c, h, w in shapes:
            for bs in map(int, args.batches.split(",")):
                row = probe(c, h, w, bs, dev, not args.no_sweep)
                brief = {k: round(v, 1) for k, v in row.items() if k.endswith("_us") and isinstance(v, float)}
                best = min(row.get("sweep", []), key=lambda r: r["graph_us"], default=None)
                print(json.dumps({"shape": row["shape"], **brief, "best_sweep": best}), flush=True)
                rows.append(row)
                save()
    if args.train_batch:
        for c, h, w in shapes:
            train_rows.append(train_row(c, h, w, args.train_batch, dev))
            brief = {k: round(v, 1) if isinstance(v, float) else v for k, v in train_rows[-1].items()}
            print(json.dumps({k: v for k, v in brief.items() if not isinstance(v, dict)}), flush=True)
            save()


if __name__ == "__main__":
    main()
