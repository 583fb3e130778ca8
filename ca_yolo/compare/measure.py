"""Size and speed of the compared models, measured side by side in one process."""

from __future__ import annotations

import copy
import statistics
import time

from ca_yolo.compare.models import LoadedModel


def prepare_for_inference(model, device):
    """A copy of ``model`` fused (Conv+BN), in eval mode, FP32, contiguous, on ``device``, without gradients.

    A copy, as Ultralytics' validator and predictor take one: the shared network stays as loaded
    for the figures drawn after, and latency is measured on a model prepared the same way whatever
    ran on the shared one before.
    """
    import torch

    model = copy.deepcopy(model)
    model = model.fuse(verbose=False).eval().to(device).float().to(memory_format=torch.contiguous_format)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def gflops(model, imgsz: int) -> float:
    """GFLOPs of one forward pass at ``imgsz`` (Ultralytics' thop count; torch's counter if thop is absent)."""
    from ultralytics.utils.torch_utils import get_flops

    value = get_flops(model, imgsz)
    if value:
        return float(value)
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    p = next(model.parameters())
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.zeros(1, 3, imgsz, imgsz, device=p.device))
    return counter.get_total_flops() / 1e9


def latency_ms(models: dict[str, object], imgsz: int, runs: int = 50, warmup: int = 5) -> dict[str, dict]:
    """Median forward time per model, batch 1 at ``imgsz``, interleaved so drift hits all alike.

    Each round times every model once, in an order rotated per round, so slow phases of a shared
    machine (thermal, other processes) are spread over all models instead of one.

    Args:
        models: name -> model in eval mode on its device.

    Returns:
        name -> {"median_ms", "p25_ms", "p75_ms", "runs"}.
    """
    import torch

    names = list(models)
    dev = next(models[names[0]].parameters()).device
    x = torch.zeros(1, 3, imgsz, imgsz, device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    times: dict[str, list[float]] = {n: [] for n in names}
    with torch.inference_mode():
        for r in range(warmup + runs):
            order = names[r % len(names) :] + names[: r % len(names)]
            for n in order:
                sync()
                t0 = time.perf_counter()
                models[n](x)
                sync()
                if r >= warmup:
                    times[n].append((time.perf_counter() - t0) * 1000)
    out = {}
    for n, t in times.items():
        q = statistics.quantiles(t, n=4) if len(t) > 1 else [t[0]] * 3
        out[n] = {"median_ms": statistics.median(t), "p25_ms": q[0], "p75_ms": q[2], "runs": len(t)}
    return out


def measure_models(models: dict[str, LoadedModel], imgsz: int, device: str | None, runs: int = 50) -> dict[str, dict]:
    """Params, GFLOPs and batch-1 latency of each model's trained checkpoint, all in this process.

    Args:
        models: name -> the loaded checkpoint (its params were counted at load, before any fusing).

    Returns:
        name -> {"params", "gflops", "latency_ms", "latency_p25_ms", "latency_p75_ms", "device"}.
    """
    import torch
    from ultralytics.utils.torch_utils import select_device

    dev = select_device(device or "", verbose=False)
    ready, info = {}, {}
    for name, loaded in models.items():
        ready[name] = prepare_for_inference(loaded.yolo.model, dev)
        info[name] = {"params": loaded.params, "gflops": round(gflops(ready[name], imgsz), 3)}
    lat = latency_ms(ready, imgsz, runs)
    for name in models:
        info[name].update(
            latency_ms=round(lat[name]["median_ms"], 3),
            latency_p25_ms=round(lat[name]["p25_ms"], 3),
            latency_p75_ms=round(lat[name]["p75_ms"], 3),
            latency_runs=lat[name]["runs"],
            device=str(dev),
            threads=torch.get_num_threads() if dev.type == "cpu" else None,
        )
    return info
