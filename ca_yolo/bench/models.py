"""Whole-model latency: each shipped CA model against its baseline, in PyTorch and ONNX Runtime.

Models are built from their YAMLs at scale n with random weights (latency does not depend on
the weights), fused the way Ultralytics fuses for inference, and run in eval mode at batch 1.
Each family's baseline and its CA variants are timed interleaved in one loop, so every ratio
compares runs made under the same machine conditions.
"""

from __future__ import annotations

import contextlib
import functools
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch

from ca_yolo.bench.timing import paired_ratio, summary, timed_rounds

# A shipped CA YAML name -> its family ("yolov8-ca-neck.yaml" -> "yolov8"); other YAMLs (ablations) don't match.
_CA_NAME = re.compile(r"^(?P<family>yolo(?:v)?\d+)-ca(?:-backbone|-neck)?\.ya?ml$")


def with_scale(name: str, scale: str = "n") -> str:
    """``yolov8-ca.yaml`` -> ``yolov8n-ca.yaml``: the scale letter goes right after the version digits."""
    return re.sub(r"^(yolo(?:v)?\d+)", rf"\g<1>{scale}", name, count=1)


def ca_model_pairs(names: list[str] | None = None, scale: str = "n") -> list[tuple[str, str]]:
    """(CA model, baseline) name pairs at ``scale`` for the shipped CA YAMLs (or ``names``).

    Args:
        names: scale-less CA YAML names (``yolov8-ca.yaml``); default: every shipped
            ``<family>-ca[-backbone|-neck].yaml``.

    Raises:
        ValueError: a name is not a ``<family>-ca[-backbone|-neck].yaml`` name.
    """
    from ca_yolo.plugin.cfg_models import shipped_models

    if names is None:
        names = [n for n in shipped_models() if _CA_NAME.match(n)]
    pairs = []
    for name in names:
        m = _CA_NAME.match(name)
        if not m:
            raise ValueError(f"not a CA model name: {name!r} (expected e.g. 'yolov8-ca.yaml', 'yolo11-ca-neck.yaml')")
        pairs.append((with_scale(name, scale), f"{m['family']}{scale}.yaml"))
    return pairs


def build_fused(name: str, device: str = "cpu", half: bool = False) -> torch.nn.Module:
    """Detection model ``name`` (YAML, random weights), fused and in eval mode, on ``device``."""
    from ultralytics.nn.tasks import DetectionModel

    import ca_yolo  # noqa: F401

    model = DetectionModel(name, verbose=False).fuse(verbose=False).eval().to(device)
    return model.half() if half else model


def inference_forms(device: str | torch.device = "cpu") -> dict[str, Callable[[], contextlib.AbstractContextManager]]:
    """Label -> context of each inference form fused CoordAtt layers can run on ``device``, for side-by-side
    timings.

    On a CPU: ``"kernel"`` (the compiled CPU kernel, only where it could be built) and ``"pytorch"`` (the
    PyTorch form). On a CUDA device: each of :data:`ca_yolo.nn.gpu_forms.GPU_FORMS` that can run here
    (``"triton"`` only where Triton imports), in that order, each selected with ``gpu_form``.
    """
    if torch.device(device).type == "cuda":
        from ca_yolo.nn.gpu_forms import GPU_FORMS, gpu_form, triton_available

        names = [name for name in GPU_FORMS if name != "triton" or triton_available()]
        return {name: functools.partial(gpu_form, name) for name in names}
    from ca_yolo.nn import native

    kernel = {"kernel": contextlib.nullcontext} if native.coord_att_kernel() else {}
    return {**kernel, "pytorch": native.disabled}


def default_form(device: str | torch.device = "cpu") -> str:
    """The label (in :func:`inference_forms`) of the form fused CoordAtt layers run on ``device`` when no
    scope selects one: on CUDA the process default (``CA_YOLO_GPU_FORM``, else Triton where it imports,
    else ``"torch"``), on a CPU the compiled kernel where it was built, else ``"pytorch"``."""
    if torch.device(device).type == "cuda":
        from ca_yolo.nn.gpu_forms import active_form

        return active_form(torch.empty(0, device=device))
    return next(iter(inference_forms(device)))


def form_samples(
    base: Callable[[torch.Tensor], object],
    ca: Callable[[torch.Tensor], object] | Mapping[str, Callable[[torch.Tensor], object]],
    x: torch.Tensor,
    rounds: int,
    *,
    forms: Mapping[str, Callable[[], contextlib.AbstractContextManager]] | None = None,
    warmup: int = 5,
    iters: int = 1,
    sync: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    grad: bool = False,
) -> dict[str, list[float]]:
    """Latency samples (seconds per call) of ``base(x)`` (key ``"base"``) and of the CA model under each form
    (keys the form labels), all interleaved in one loop (:func:`ca_yolo.bench.timing.timed_rounds`).

    Args:
        base, ca: callables taking ``x``. ``ca`` is either one callable, called under each form's context,
            or label -> callable made for that form (e.g. a CUDA graph captured under it; its form's context
            is entered all the same).
        forms: label -> context of each form (default :func:`inference_forms` on the CPU).
        warmup: untimed rounds first.
        iters: calls per sample, back to back (a GPU then queues them like a deployed loop would); each
            sample is the time of the ``iters`` calls divided by ``iters``.
        sync, clock: as in ``timed_rounds`` (e.g. ``torch.cuda.synchronize`` and a CUDA-event clock).
        grad: run with autograd on (training steps); otherwise under ``torch.inference_mode``.

    Returns:
        ``{"base": [...], <label>: [...], ...}``: ``rounds`` samples each, in round order.
    """
    forms = inference_forms() if forms is None else forms

    def repeated(fn, form=contextlib.nullcontext):
        def call():
            with form():
                for _ in range(iters):
                    fn(x)

        return call

    fns = {"base": repeated(base)}
    for label, form in forms.items():
        fns[label] = repeated(ca[label] if isinstance(ca, Mapping) else ca, form)
    with contextlib.nullcontext() if grad else torch.inference_mode():
        samples = timed_rounds(fns, rounds, warmup=warmup, sync=sync, clock=clock)
    return {label: [s / iters for s in values] for label, values in samples.items()}


def export_onnx(name: str, folder: Path, imgsz: int) -> Path:
    """Export model ``name`` (YAML) to ONNX with Ultralytics' exporter into ``folder``; return the file.

    ``simplify=False``: onnxslim is optional and not needed for ONNX Runtime, and asking for it
    would make Ultralytics try to install it.
    """
    from ultralytics import YOLO

    import ca_yolo  # noqa: F401
    from ca_yolo.cli_args import quiet_ultralytics

    threads = torch.get_num_threads()
    try:
        # quiet: the exporter's banner, once per model, would bury the figures; a YAML-built model is
        # exported into the working directory
        with quiet_ultralytics(), contextlib.chdir(folder):
            out = YOLO(name).export(format="onnx", imgsz=imgsz, simplify=False, dynamic=False, verbose=False)
    finally:
        # Ultralytics' select_device sets torch's threads to cpu_count - 1 (1 on a 2-core machine):
        # every model timed after an export would otherwise run with fewer threads than asked for.
        torch.set_num_threads(threads)
    return folder / Path(out).name


def ort_session(path: Path, threads: int, device: str = "cpu"):
    """An ONNX Runtime session for ``path``: all graph optimisations, ``threads`` intra-op threads.

    Each session has its own worker threads, and by default they keep spinning for tens of
    milliseconds after a run; timed right after another model's run, a session then shares the
    cores with those spinning threads (measured at 640 px, 2 cores: 58 ms instead of 32 ms). So the
    workers stop spinning when a run ends (``session.force_spinning_stop``), as they would park
    between requests of one deployed model; within a run they spin as usual.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.force_spinning_stop", "1")
    providers = ["CUDAExecutionProvider"] if device.startswith("cuda") else ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), opts, providers=providers)


def _by_family(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for ca, base in pairs:
        groups.setdefault(base, []).append(ca)
    return groups


def bench_torch(
    pairs: list[tuple[str, str]],
    imgsz: int,
    repeats: int,
    device: str = "cpu",
    half: bool = False,
    sync: Callable[[], None] | None = None,
    log: Callable[[str], None] = print,
    shares: dict[str, dict] | None = None,
) -> dict[str, list[float]]:
    """PyTorch latency samples (seconds) per model, each family's models interleaved with its baseline.

    If ``shares`` is a dict, it receives :func:`ca_time_share` of every CA model (same runs' models).
    """
    out: dict[str, list[float]] = {}
    x = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0)).to(device)
    x = x.half() if half else x
    for base, cas in _by_family(pairs).items():
        models = {name: build_fused(name, device, half) for name in [base, *cas]}

        def call(m):
            def run():
                with torch.inference_mode():
                    m(x)

            return run

        samples = timed_rounds({k: call(m) for k, m in models.items()}, repeats, warmup=3, sync=sync)
        for name, s in samples.items():
            out[name] = s
            log(f"torch {name} @{imgsz}: {summary(s)['median']:.2f} ms")
        if shares is not None:
            for name in cas:
                shares[name] = ca_time_share(models[name], x, repeats, sync)
                log(
                    f"torch {name} @{imgsz}: CoordAtt layers {shares[name]['ca_ms']:.2f} ms = "
                    f"{100 * shares[name]['share']:.1f}% of the forward pass"
                )
        del models
    return out


def ca_time_share(
    model: torch.nn.Module, x: torch.Tensor, repeats: int, sync: Callable[[], None] | None = None
) -> dict[str, float]:
    """Time spent inside the model's attention layers, measured in the forward pass itself.

    Hooks on every CoordAtt clock it from its input to its output; the sum over layers is divided
    by the whole forward pass of the same call. Unlike a ratio of two models' latencies, this
    share hardly moves with machine load (both parts are timed within the same few milliseconds),
    so it is a steadier estimate of the layers' cost: latency ratio ~ 1 + share / (1 - share).

    Returns:
        ``{"ca_ms", "forward_ms", "share", "share_p25", "share_p75", "layers"}`` (medians over
        ``repeats`` forward passes).
    """
    import statistics
    import time

    from ca_yolo.nn import CoordAtt

    spent: list[float] = []
    starts: dict[int, float] = {}

    def pre(m, _inp):
        if sync:
            sync()
        starts[id(m)] = time.perf_counter()

    def post(m, _inp, _out):
        if sync:
            sync()
        spent.append(time.perf_counter() - starts[id(m)])

    layers = [m for m in model.modules() if isinstance(m, CoordAtt)]
    handles = [h for m in layers for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    ca, total, share = [], [], []
    try:
        with torch.inference_mode():
            for r in range(repeats + 2):
                spent.clear()
                if sync:
                    sync()
                t0 = time.perf_counter()
                model(x)
                if sync:
                    sync()
                dt = time.perf_counter() - t0
                if r >= 2:  # two warm-up passes
                    ca.append(sum(spent))
                    total.append(dt)
                    share.append(sum(spent) / dt)
    finally:
        for h in handles:
            h.remove()
    q = statistics.quantiles(share, n=4, method="inclusive") if len(share) > 1 else [share[0]] * 3
    return {
        "ca_ms": statistics.median(ca) * 1e3,
        "forward_ms": statistics.median(total) * 1e3,
        "share": statistics.median(share),
        "share_p25": q[0],
        "share_p75": q[2],
        "layers": len(layers),
    }


def bench_onnxruntime(
    pairs: list[tuple[str, str]],
    imgsz: int,
    repeats: int,
    threads: int,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> dict[str, list[float]]:
    """ONNX Runtime latency samples (seconds) per model; models exported once into a temporary folder."""
    out: dict[str, list[float]] = {}
    x = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0)).numpy().astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="ca-yolo-bench-") as tmp:
        for base, cas in _by_family(pairs).items():
            sessions = {
                name: ort_session(export_onnx(name, Path(tmp), imgsz), threads, device) for name in [base, *cas]
            }
            fns = {k: (lambda s=s: s.run(None, {s.get_inputs()[0].name: x})) for k, s in sessions.items()}
            for name, s in timed_rounds(fns, repeats, warmup=3).items():
                out[name] = s
                log(f"onnxruntime {name} @{imgsz}: {summary(s)['median']:.2f} ms")
            del sessions
    return out


def ratios(pairs: list[tuple[str, str]], samples: dict[str, list[float]]) -> list[dict]:
    """Per pair: medians (ms) and the CA / baseline latency ratio.

    Returns:
        ``{"model", "baseline", "ms", "baseline_ms", "ratio", "ratio_p25", "ratio_p75",
        "ratio_of_medians", "n"}``; ``ratio`` is the median of per-round ratios (see
        :func:`ca_yolo.bench.timing.paired_ratio`).
    """
    rows = []
    for ca, base in pairs:
        if ca not in samples or base not in samples:
            continue
        a, b = summary(samples[ca]), summary(samples[base])
        r = paired_ratio(samples[ca], samples[base])
        rows.append(
            {
                "model": ca,
                "baseline": base,
                "ms": a["median"],
                "baseline_ms": b["median"],
                "ratio": r["median"],
                "ratio_p25": r["p25"],
                "ratio_p75": r["p75"],
                "ratio_of_medians": a["median"] / b["median"],
                "n": a["n"],
            }
        )
    return rows
