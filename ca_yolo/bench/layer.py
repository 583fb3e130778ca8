"""The CA layer alone: ours vs the paper-style reference vs one elementwise pass (the floor).

For each feature-map shape a CA model feeds its CoordAtt layers (YOLOv8n at 640: P3 64x80x80,
P4 128x40x40, P5 256x20x20) and each batch size, three candidates are timed interleaved:

- ``ours``: :class:`ca_yolo.nn.CoordAtt`;
- ``reference``: :class:`ca_yolo.bench.reference.ReferenceCoordAtt` with the same weights;
- ``floor``: ``x * s`` with s (B, C, 1, 1) - one read of x and one fresh full-size output, the
  least any layer that rescales x must do (and its backward, in train mode).

``eval`` times the forward under ``torch.no_grad()`` in eval mode; ``train`` times forward plus
backward (gradients for x and all parameters) in train mode.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from ca_yolo.bench.reference import ReferenceCoordAtt
from ca_yolo.bench.timing import paired_ratio, summary, timed_rounds
from ca_yolo.nn import CoordAtt

LEVELS = ("P3", "P4", "P5")


def ca_input_shapes(model: str = "yolov8n-ca.yaml", imgsz: int = 640) -> list[tuple[int, int, int]]:
    """Distinct (C, H, W) inputs of the CoordAtt layers of ``model`` at ``imgsz``, largest map first.

    Runs the model once on a zero image (batch 1, CPU) with hooks recording each layer's input.
    """
    from ultralytics.nn.tasks import DetectionModel

    import ca_yolo  # noqa: F401  (registers CoordAtt and the shipped YAMLs)

    net = DetectionModel(model, verbose=False).eval()
    shapes: set[tuple[int, int, int]] = set()
    hooks = [
        m.register_forward_pre_hook(lambda _m, inp: shapes.add(tuple(inp[0].shape[1:])))
        for m in net.modules()
        if isinstance(m, CoordAtt)
    ]
    with torch.no_grad():
        net(torch.zeros(1, 3, imgsz, imgsz))
    for h in hooks:
        h.remove()
    return sorted(shapes, key=lambda s: -s[1] * s[2])


def _round_medians(samples: list[float], per_round: int) -> list[float]:
    """Median of each round's ``per_round`` consecutive samples."""
    import statistics

    return [statistics.median(samples[i : i + per_round]) for i in range(0, len(samples), per_round)]


def _eval_fns(ours: nn.Module, ref: nn.Module, x: torch.Tensor, s: torch.Tensor) -> dict[str, Callable]:
    def run(f):
        def call():
            with torch.no_grad():
                f()

        return call

    return {"ours": run(lambda: ours(x)), "reference": run(lambda: ref(x)), "floor": run(lambda: x * s)}


def _train_fns(ours: nn.Module, ref: nn.Module, x: torch.Tensor, s: torch.Tensor) -> dict[str, Callable]:
    x = x.detach().requires_grad_(True)
    s = s.detach().requires_grad_(True)
    grad = torch.randn_like(x)

    def fwd_bwd(module: nn.Module) -> Callable:
        inputs = [x, *module.parameters()]
        return lambda: torch.autograd.grad(module(x), inputs, grad)

    return {
        "ours": fwd_bwd(ours),
        "reference": fwd_bwd(ref),
        "floor": lambda: torch.autograd.grad(x * s, [x, s], grad),
    }


def bench_layer_shape(
    shape: tuple[int, int, int, int],
    mode: str,
    repeats: int,
    warmup: int = 3,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    sync: Callable[[], None] | None = None,
    burst: int = 4,
) -> dict:
    """Time ours / reference / floor on one input shape (B, C, H, W) in ``mode`` 'eval' or 'train'.

    Steady-state per-call times (``burst`` calls per candidate per round, the first untimed; see
    :func:`ca_yolo.bench.timing.timed_rounds`).

    Returns:
        ``{"shape", "mode", "dtype", "ms": {name: summary}, "speedup_vs_reference", "x_floor",
        "max_abs_diff", ...}``: ``speedup_vs_reference`` = reference / ours and ``x_floor`` =
        ours / floor, each the median over rounds of the ratio of that round's medians (with
        quartiles in ``*_iqr``); ``max_abs_diff`` checks that ours and the reference agree.
    """
    if mode not in {"eval", "train"}:
        raise ValueError(f"mode must be 'eval' or 'train', got {mode!r}")
    b, c, h, w = shape
    gen = torch.Generator().manual_seed(0)
    ours = CoordAtt(c)
    ref = ReferenceCoordAtt(c)
    ref.load_state_dict(ours.state_dict())
    ours, ref = (m.to(device=device, dtype=dtype).train(mode == "train") for m in (ours, ref))
    x = torch.randn(shape, generator=gen).to(device=device, dtype=dtype)
    s = torch.rand(b, c, 1, 1, generator=gen).to(device=device, dtype=dtype)
    with torch.no_grad():
        diff = (ours.eval()(x) - ref.eval()(x)).abs().max().item()
    ours.train(mode == "train"), ref.train(mode == "train")
    fns = (_eval_fns if mode == "eval" else _train_fns)(ours, ref, x, s)
    samples = timed_rounds(fns, repeats, warmup, sync, burst=burst)
    stats = {k: summary(v) for k, v in samples.items()}
    per_round = {k: _round_medians(v, max(1, burst - 1)) for k, v in samples.items()}
    speedup = paired_ratio(per_round["reference"], per_round["ours"])
    x_floor = paired_ratio(per_round["ours"], per_round["floor"])
    return {
        "shape": list(shape),
        "mode": mode,
        "dtype": str(dtype).removeprefix("torch."),
        "ms": stats,
        "speedup_vs_reference": speedup["median"],
        "speedup_vs_reference_iqr": [speedup["p25"], speedup["p75"]],
        "x_floor": x_floor["median"],
        "x_floor_iqr": [x_floor["p25"], x_floor["p75"]],
        "max_abs_diff": diff,
        "burst": burst,
    }


def bench_layers(
    shapes: list[tuple[int, int, int]],
    batches: list[int],
    repeats: int,
    modes: tuple[str, ...] = ("eval", "train"),
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    sync: Callable[[], None] | None = None,
    log: Callable[[str], None] = print,
    burst: int = 4,
) -> list[dict]:
    """:func:`bench_layer_shape` for every (C, H, W) in ``shapes`` x batch x mode; rows gain "level"."""
    rows = []
    for i, (c, h, w) in enumerate(shapes):
        level = LEVELS[i] if len(shapes) <= len(LEVELS) else f"#{i}"
        for b in batches:
            for mode in modes:
                timed = bench_layer_shape(
                    (b, c, h, w), mode, repeats, device=device, dtype=dtype, sync=sync, burst=burst
                )
                row = {"level": level, **timed}
                log(
                    f"layer {level} {b}x{c}x{h}x{w} {mode:5s}: ours {row['ms']['ours']['median']:.3f} ms, "
                    f"reference {row['ms']['reference']['median']:.3f} ms, floor {row['ms']['floor']['median']:.3f} ms"
                )
                rows.append(row)
    return rows
