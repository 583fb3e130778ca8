"""Per-layer time of the CoordAtt layers from ``torch.profiler``, and fused-form parity, for ``bench --parts gpu``."""

from __future__ import annotations

import contextlib
import copy
import statistics
from collections.abc import Callable

import torch

FORWARD = "ca_yolo.bench/forward"
LAYER = "ca_yolo.bench/CoordAtt "  # + the layer's module name
NO_CUDA_TIMES = "no CUDA device: CPU times only"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _annotate(model: torch.nn.Module) -> tuple[list[str], dict[str, list[int]], list]:
    """A profiler range around every CoordAtt of ``model``, named ``LAYER + module name``.

    Returns:
        (range names in model order, name -> input shape (filled on the first call), hook handles).
    """
    from ca_yolo.nn import CoordAtt

    names, shapes, handles, open_ranges = [], {}, [], {}
    for module_name, m in model.named_modules():
        if not isinstance(m, CoordAtt):
            continue
        name = LAYER + module_name

        def pre(_m, args, name=name):
            shapes.setdefault(name, list(args[0].shape))
            open_ranges[name] = torch.profiler.record_function(name)
            open_ranges[name].__enter__()

        def post(_m, _args, _out, name=name):
            open_ranges.pop(name).__exit__(None, None, None)

        names.append(name)
        handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    return names, shapes, handles


def _times(events, kernels: list, name: str, cuda: bool) -> dict[str, float | None]:
    """Median over passes of one range: its CPU time, the GPU time of the ``kernels`` (:func:`_kernel_ranges`)
    run inside its span on the GPU timeline, and that span (first kernel start to last end, where the
    profiler records the range there).

    Kernels are matched by time, not by the op that launched them: Triton kernels are launched outside any
    aten op, so the profiler attributes none of them to the range's CPU event.
    """
    cpu_type = torch.autograd.DeviceType.CPU
    cpu = [e for e in events if e.name == name and e.device_type == cpu_type]
    spans = [e.time_range for e in events if e.name == name and e.device_type != cpu_type]
    if not cuda:
        return {"cpu_us": _median([e.cpu_time_total for e in cpu]), "kernel_us": None, "gpu_span_us": None}
    inside = [sum(k.elapsed_us() for k in kernels if s.start <= k.start and k.end <= s.end) for s in spans]
    return {
        "cpu_us": _median([e.cpu_time_total for e in cpu]),
        # no span on the GPU timeline (older profilers): the kernels the profiler attributes to the range
        "kernel_us": _median(inside) if spans else _median([e.device_time_total for e in cpu]),
        "gpu_span_us": _median([s.elapsed_us() for s in spans]),
    }


def _kernel_ranges(events) -> list:
    """Time ranges of the device-side events that are kernels, not range annotations (ours or the profiler's steps)."""
    cpu_type = torch.autograd.DeviceType.CPU
    return [
        e.time_range
        for e in events
        if e.device_type != cpu_type and not e.name.startswith(("ca_yolo.bench/", "ProfilerStep"))
    ]


def layer_profile(
    model: torch.nn.Module,
    batch: int,
    imgsz: int,
    form: Callable[[], contextlib.AbstractContextManager],
    passes: int = 5,
) -> dict:
    """Time of each CoordAtt layer of a fused eval ``model`` in ``passes`` forward passes under ``torch.profiler``.

    The profiler's own overhead inflates CPU times (each op is recorded), so CPU figures are upper bounds;
    GPU kernel times are not inflated. Input: (batch, 3, imgsz, imgsz) in the model's dtype, on its device.

    Returns:
        ``{"batch", "imgsz", "dtype", "passes", "layers_count", "layers": [{"layer", "input", "cpu_us",
        "kernel_us", "gpu_span_us"}], "ca_cpu_us", "ca_kernel_us", "forward_cpu_us", "forward_kernel_us"}``:
        medians over passes, in µs; ``ca_*`` sums over the layers. On a CPU the kernel and span figures are
        None and ``cuda_skipped`` says why.
    """
    p = next(model.parameters())
    cuda = p.device.type == "cuda"
    x = torch.rand(batch, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0)).to(p.device, p.dtype)
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
    names, shapes, handles = _annotate(model)
    try:
        with torch.inference_mode(), form():
            for _ in range(2):  # first calls: allocation, autotuning, kernel compilation
                model(x)
            if cuda:
                torch.cuda.synchronize(p.device)
            with torch.profiler.profile(activities=activities) as prof:
                for _ in range(passes):
                    with torch.profiler.record_function(FORWARD):
                        model(x)
                if cuda:
                    torch.cuda.synchronize(p.device)
    finally:
        for h in handles:
            h.remove()
    events = prof.events()
    kernels = _kernel_ranges(events)
    layers = [{"layer": n[len(LAYER) :], "input": shapes.get(n), **_times(events, kernels, n, cuda)} for n in names]
    forward = _times(events, kernels, FORWARD, cuda)

    def total(key: str) -> float | None:
        values = [r[key] for r in layers]
        return None if not values or None in values else sum(values)

    out = {
        "batch": batch,
        "imgsz": imgsz,
        "dtype": str(p.dtype).removeprefix("torch."),
        "passes": passes,
        "layers_count": len(layers),
        "layers": layers,
        "ca_cpu_us": total("cpu_us"),
        "ca_kernel_us": total("kernel_us"),
        "forward_cpu_us": forward["cpu_us"],
        # every kernel in the profile ran in one of the passes; the forward range's own span on the GPU
        # timeline came out truncated at batch 32 (17 µs of ~6 ms on an H200), so it is not used
        "forward_kernel_us": sum(k.elapsed_us() for k in kernels) / passes if cuda else None,
    }
    if not cuda:
        out["cuda_skipped"] = NO_CUDA_TIMES
    return out


def _trained_like(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights that exercise the fused form: BatchNorm statistics away from (0, 1) and CoordAtt
    parameters far from their initialisation (fresh gates are near-constant, which would hide errors)."""
    from ca_yolo.nn import CoordAtt

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 1.5 + 0.5)
            if isinstance(m, CoordAtt):
                for t in m.parameters():
                    t.copy_(torch.randn(t.shape, generator=g) * 0.3)
    return model


def _rel(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out.float() - ref).abs().max() / ref.abs().max())


def fused_parity(
    name: str, device: torch.device, imgsz: int, form: Callable[[], contextlib.AbstractContextManager]
) -> dict[str, float | None]:
    """Max relative error of the fused model ``name`` under ``form`` against the unfused fp32 model.

    Input: (2, 3, imgsz, max(32, imgsz - 64)) (non-square, so H and W mix-ups show). Error = max |fused -
    unfused| / max |unfused| over the inference output.

    Returns:
        ``{"fp32_rel", "fp16_rel", "input"}`` (``fp16_rel``: the fused model in fp16 against the fp32
        reference; None with ``fp16_error`` where fp16 cannot run on this device).
    """
    from ultralytics.nn.tasks import DetectionModel

    import ca_yolo  # noqa: F401  (registers the layers and the shipped YAMLs)

    torch.manual_seed(0)
    ref_model = _trained_like(DetectionModel(name, verbose=False)).eval().to(device)
    shape = (2, 3, imgsz, max(32, imgsz - 64))
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1)).to(device)
    out: dict = {"input": list(shape)}
    with torch.inference_mode():
        ref = ref_model(x)[0].float()
        fused = copy.deepcopy(ref_model).fuse(verbose=False)
        with form():
            out["fp32_rel"] = _rel(fused(x)[0], ref)
            try:
                out["fp16_rel"] = _rel(fused.half()(x.half())[0], ref)
            except RuntimeError as e:  # a device without fp16 kernels for some op
                out["fp16_rel"], out["fp16_error"] = None, str(e).splitlines()[0]
    return out
