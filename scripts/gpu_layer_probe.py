"""Where a fused CoordAtt layer's time goes on a GPU: per form, the host time per call (launch overhead, what
batch-1 eager latency is made of) and the device time (CUDA events), at the layer shapes of yolov8n-ca.

    python scripts/gpu_layer_probe.py OUT.json [--imgsz 640] [--batches 1,32]

Needs a CUDA GPU. Uses only public API of ca_yolo (CoordAtt, gpu_form, bench.layer.ca_input_shapes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from ca_yolo import CoordAtt
from ca_yolo.bench.layer import ca_input_shapes
from ca_yolo.nn.gpu_forms import GPU_FORMS, gpu_form


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


def device_us(fn, calls: int = 50) -> float:
    """Median over 5 rounds of GPU time per call (CUDA events), launches queued back to back."""
    rounds = []
    for _ in range(5):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            fn()
        end.record()
        torch.cuda.synchronize()
        rounds.append(start.elapsed_time(end) / calls * 1e3)
    return statistics.median(rounds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--batches", default="1,32")
    p.add_argument("--device", default="cuda")
    args = p.parse_args()
    dev = torch.device(args.device)
    rows = []
    with torch.inference_mode():
        # reference points: one tiny native op, and a plain copy of the map (what one full pass costs)
        for c, h, w in ca_input_shapes("yolov8n-ca.yaml", args.imgsz):
            for bs in map(int, args.batches.split(",")):
                layer = CoordAtt(c).eval().fuse().to(dev).half()
                x = torch.randn(bs, c, h, w, device=dev, dtype=torch.float16)
                row = {"shape": [bs, c, h, w], "dtype": "fp16"}
                row["copy_us"] = device_us(lambda x=x: x.clone())
                row["tiny_op_host_us"] = host_us(lambda: torch.empty(1, device=dev).fill_(1))
                for form in GPU_FORMS:
                    with gpu_form(form):
                        for _ in range(3):
                            layer(x)
                        row[f"{form}_host_us"] = host_us(lambda layer=layer, x=x: layer(x))
                        row[f"{form}_device_us"] = device_us(lambda layer=layer, x=x: layer(x))
                print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
                rows.append(row)
    out = {"device": torch.cuda.get_device_name(dev), "torch": torch.__version__, "rows": rows}
    try:
        import triton

        out["triton"] = triton.__version__
    except ImportError:
        out["triton"] = None
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
