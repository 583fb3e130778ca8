#!/usr/bin/env python
"""Where a fused CoordAtt layer's batch-1 time goes on CPU; prints one JSON object.

The README's "Speed" section quotes these figures. Each is a median of many calls in this process:

- ``kernel``: what fused CoordAtt layers run here (:func:`ca_yolo.nn.native.kernel_status`).
- ``layer_alone_us``: the fused layer on its own, called back to back, at the inputs yolov8n-ca
  gives it at 160 px (P3 1x64x20x20, P4 1x128x10x10, P5 1x256x5x5); the compiled kernel and the
  PyTorch inference form.
- ``layer_in_model_us``: the same layers inside a fused yolov8n-ca forward pass (each layer's
  inference form timed where it runs), at 160 and 640 px, both forms (passes alternating).
- ``in_model_floor_us``: at 640 px, per forward, the six fused layers against a plain read
  (``x.sum()``) and a plain read + write (``x * 0.5``) of the same maps at the same places, and the
  first and second of two ``torch.empty_like(x)`` there (the first pays for the cold caches).
- ``model_ratio``: yolov8n-ca / yolov8n batch-1 latency with the kernel and with the PyTorch form,
  the three models interleaved in one process (median of per-round ratios), at 160 and 640 px.
- ``add_us``: a tiny ``add`` (8 numbers) right after a 3x3 convolution of a 1x64x80x80 map, and
  warm (right after another ``add``) - the price of running after a large op.
- ``ort_ms``: ONNX Runtime, yolov8n at 640 px, one session timed right after another session's run
  and right after its own, with the sessions' worker threads left spinning (ONNX Runtime's default)
  and stopped at the end of each run (what ``ca-yolo bench`` sets).

Usage: ``python scripts/call_costs.py [--threads 2]`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch


def _median_us(fn, calls: int, before=None) -> float:
    """Median microseconds of ``fn()`` over ``calls`` calls (after 20 untimed), ``before()`` run untimed first."""
    samples = []
    for i in range(calls + 20):
        if before:
            before()
        t0 = time.perf_counter()
        fn()
        if i >= 20:
            samples.append(time.perf_counter() - t0)
    return round(statistics.median(samples) * 1e6, 1)


def layer_alone_us() -> dict[str, dict[str, float]]:
    from ca_yolo.bench.models import inference_forms
    from ca_yolo.nn import CoordAtt

    out = {}
    with torch.inference_mode():
        for label, form in inference_forms().items():
            with form():
                for level, (c, s) in {"P3": (64, 20), "P4": (128, 10), "P5": (256, 5)}.items():
                    layer, x = CoordAtt(c).eval().fuse(), torch.randn(1, c, s, s)
                    out.setdefault(label, {})[level] = _median_us(lambda layer=layer, x=x: layer(x), 2000)
    return out


def layer_in_model_us(imgsz: int, passes: int) -> dict[str, dict[str, float]]:
    from ca_yolo.bench.models import build_fused, inference_forms
    from ca_yolo.nn import CoordAtt

    model, spent, label = build_fused("yolov8n-ca.yaml"), {}, [""]
    for m in model.model:
        if isinstance(m, CoordAtt):

            def timed(x, m=m, fused=m.forward_fused):
                t0 = time.perf_counter()
                y = fused(x)
                spent.setdefault(label[0], {}).setdefault(f"layer {m.i}", []).append(time.perf_counter() - t0)
                return y

            m.forward_fused = timed  # instance attribute: this model only
    x = torch.rand(1, 3, imgsz, imgsz)
    with torch.inference_mode():
        for _ in range(passes):
            for label[0], form in inference_forms().items():
                with form():
                    model(x)
    return {
        form: {k: round(statistics.median(v[passes // 5 :]) * 1e6, 1) for k, v in layers.items()}
        for form, layers in spent.items()
    }


def in_model_floor_us(imgsz: int, passes: int) -> dict[str, float]:
    """Per forward, summed over the six CA positions of a fused yolov8n-ca: the layer (its inference form
    here) against plain passes over the same maps made in its place, and the price of a first call.

    ``x.sum()`` reads each map once, ``x * 0.5`` reads and writes it once: the kernel's pooling and
    scaling passes can't cost less than these. ``empty_like, first`` / ``second``: two
    ``torch.empty_like(x)`` back to back where the layer runs - the first pays for running right after
    a large convolution (caches cold), the second does not. Modes alternate per pass.
    """
    from ca_yolo.bench.models import build_fused
    from ca_yolo.nn import CoordAtt

    model, mode, spent = build_fused("yolov8n-ca.yaml"), [""], {}

    def probe(x, fused):
        if mode[0] == "layer":
            t0 = time.perf_counter()
            y = fused(x)
            spent.setdefault("layer", []).append(time.perf_counter() - t0)
        elif mode[0] == "empty_like":
            t0 = time.perf_counter()
            torch.empty_like(x)
            t1 = time.perf_counter()
            torch.empty_like(x)
            spent.setdefault("empty_like, first", []).append(t1 - t0)
            spent.setdefault("empty_like, second", []).append(time.perf_counter() - t1)
            y = fused(x)
        else:
            op = (lambda: x.sum()) if mode[0] == "x.sum()" else (lambda: x * 0.5)
            t0 = time.perf_counter()
            op()
            spent.setdefault(mode[0], []).append(time.perf_counter() - t0)
            y = fused(x)
        return y

    layers = [m for m in model.model if isinstance(m, CoordAtt)]
    for m in layers:
        m.forward_fused = lambda x, fused=m.forward_fused: probe(x, fused)  # this model only
    x, modes = torch.rand(1, 3, imgsz, imgsz), ["layer", "x.sum()", "x * 0.5", "empty_like"]
    with torch.inference_mode():
        for p in range(passes):
            for mode[0] in modes[p % 4 :] + modes[: p % 4]:
                model(x)
    n = len(layers)
    return {
        k: round(statistics.median(sum(v[i : i + n]) for i in range(n * (passes // 5), len(v), n)) * 1e6, 1)
        for k, v in spent.items()
    }


def model_ratio(imgsz: int, rounds: int) -> dict[str, float]:
    from ca_yolo.bench.models import build_fused, form_samples
    from ca_yolo.bench.timing import paired_ratio

    base, ca = build_fused("yolov8n.yaml"), build_fused("yolov8n-ca.yaml")
    s = form_samples(base, ca, torch.rand(1, 3, imgsz, imgsz), rounds)
    return {label: round(paired_ratio(v, s["base"])["median"], 4) for label, v in s.items() if label != "base"}


def add_us() -> dict[str, float]:
    conv, y = torch.nn.Conv2d(64, 64, 3, padding=1).eval(), torch.randn(1, 64, 80, 80)
    a = torch.randn(8, 1)
    with torch.inference_mode():
        return {
            "after_conv": _median_us(lambda: torch.add(a, a), 200, before=lambda: conv(y)),
            "warm": _median_us(lambda: torch.add(a, a), 200, before=lambda: torch.add(a, a)),
        }


def ort_ms(threads: int) -> dict[str, float]:
    import numpy as np
    import onnxruntime as ort

    from ca_yolo.bench.models import export_onnx

    x = np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx("yolov8n.yaml", Path(tmp), 640)
        for stop in (False, True):
            sessions = []
            for _ in range(2):
                opts = ort.SessionOptions()
                opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = threads, 1, 3
                if stop:
                    opts.add_session_config_entry("session.force_spinning_stop", "1")
                sessions.append(ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]))
            a, b = (lambda s=s: s.run(None, {"images": x}) for s in sessions)
            label = "spinning stopped" if stop else "spinning (default)"
            out[f"{label}: after the other session"] = round(_median_us(b, 15, before=a) / 1e3, 2)
            out[f"{label}: after itself"] = round(_median_us(b, 15, before=b) / 1e3, 2)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime threads (default 2)")
    threads = p.parse_args().threads
    torch.set_num_threads(threads)
    import logging

    from ultralytics.utils import LOGGER

    from ca_yolo.nn import native

    LOGGER.setLevel(logging.WARNING)  # the "model YAML ..." lines would go to stdout, before the JSON

    result = {
        "threads": threads,
        "kernel": native.kernel_status(),
        "layer_alone_us": layer_alone_us(),
        "layer_in_model_us": {"160": layer_in_model_us(160, 300), "640": layer_in_model_us(640, 60)},
        "in_model_floor_us": {"640": in_model_floor_us(640, 100)},
        "model_ratio": {"160": model_ratio(160, 300), "640": model_ratio(640, 60)},
        "add_us": add_us(),
        "ort_ms": ort_ms(threads),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
