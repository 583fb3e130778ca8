"""``ca-yolo bench --device 0``: the CA / baseline table on a GPU, each CoordAtt GPU form side by side.

Per model family (yolov8n, yolo11n, yolo26n by default) the rows are: eager fused inference (fp32 and fp16,
batch 1 and a large batch, two image sizes), CUDA-graph replay (fp16, batch 1 and the large batch) and one
AMP training step (train-mode model, autocast fp16, loss = sum of the means of the raw outputs, backward).
Models are the fused eval models ``predict``/``val`` run (random weights: latency does not depend on them).
The baseline and the CA model under each form are timed interleaved in one process
(:func:`ca_yolo.bench.models.form_samples`), on the GPU's own timeline (CUDA events), and each ratio is the
median of per-round ratios. On a CPU the same rows run with the wall clock, except CUDA-graph rows, which
are skipped with the reason in the result (tests, and a dry run of the command).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import torch

from ca_yolo.bench.models import build_fused, default_form, form_samples, inference_forms
from ca_yolo.bench.timing import form_ratios
from ca_yolo.bench.train_throughput import build_trainable

DEFAULT_MODELS = ("yolov8-ca.yaml", "yolo11-ca.yaml", "yolo26-ca.yaml")
NO_CUDA = "no CUDA device: CUDA graphs need one"


@dataclass(frozen=True)
class RowSpec:
    """One row of the table: what runs (``kind``, ``precision``, ``imgsz``, ``batch``) and how often."""

    kind: str  # "eager", "cuda_graph" or "train_step"
    precision: str  # "fp32", "fp16" or "amp" (autocast fp16 over fp32 weights)
    imgsz: int
    batch: int
    rounds: int
    iters: int  # calls per sample

    @property
    def label(self) -> str:
        """``"eager fp16 640px bs1"``: the row's name in logs and markdown."""
        return f"{self.kind.replace('_', ' ')} {self.precision} {self.imgsz}px bs{self.batch}"


def row_specs(
    imgsz: tuple[int, int] = (640, 320),
    batch: tuple[int, int] = (32, 64),
    rounds: tuple[int, int, int] = (10, 8, 5),
    iters: tuple[int, int, int] = (30, 10, 3),
) -> list[RowSpec]:
    """The table's rows, in order.

    Args:
        imgsz: (main, small) image size; the small one has one eager fp16 batch-1 row.
        batch: (large inference batch, training batch).
        rounds, iters: (batch-1 rows, large-batch rows, training row).

    Returns:
        Seven rows: eager fp32 main bs1, eager fp16 main bs1, eager fp16 small bs1, eager fp16 main
        large-batch, CUDA graph fp16 main bs1 and large-batch, training step amp main training-batch.
    """
    main, small = imgsz
    big, train = batch
    one = {"batch": 1, "rounds": rounds[0], "iters": iters[0]}
    many = {"batch": big, "rounds": rounds[1], "iters": iters[1]}
    return [
        RowSpec("eager", "fp32", main, **one),
        RowSpec("eager", "fp16", main, **one),
        RowSpec("eager", "fp16", small, **one),
        RowSpec("eager", "fp16", main, **many),
        RowSpec("cuda_graph", "fp16", main, **one),
        RowSpec("cuda_graph", "fp16", main, **many),
        RowSpec("train_step", "amp", main, train, rounds[2], iters[2]),
    ]


def cuda_event_clock() -> Callable[[], float]:
    """A clock on the current CUDA stream's timeline, in seconds, for ``timed_rounds``' ``clock``.

    Each reading records an event and waits for it. The time since the previous reading is added in
    float64: a single ``elapsed_time`` over minutes would come back as float32 milliseconds, whose
    resolution there (~16 µs) is too coarse for one sample.
    """
    last = torch.cuda.Event(enable_timing=True)
    last.record()
    total = 0.0

    def clock() -> float:
        nonlocal last, total
        now = torch.cuda.Event(enable_timing=True)
        now.record()
        now.synchronize()
        total += last.elapsed_time(now) / 1e3
        last = now
        return total

    return clock


def raw_tensors(y: object) -> list[torch.Tensor]:
    """Every tensor in a model output (nested tuples, lists and dicts), depth first."""
    if isinstance(y, torch.Tensor):
        return [y]
    if isinstance(y, dict):
        y = list(y.values())
    if isinstance(y, (list, tuple)):
        return [t for v in y for t in raw_tensors(v)]
    return []


def train_step(model: torch.nn.Module, device: torch.device) -> Callable[[torch.Tensor], None]:
    """One AMP training step of ``model`` on images x (B, 3, S, S): autocast fp16 forward, loss = sum of the
    means of the raw outputs (no target assignment: what differs between CA and baseline is the network),
    backward. Gradients are dropped before each step so every step allocates the same."""

    def step(x: torch.Tensor) -> None:
        model.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16):
            loss = sum(t.float().mean() for t in raw_tensors(model(x)))
        loss.backward()

    return step


def capture_graph(
    fn: Callable[[], object], form: Callable[[], contextlib.AbstractContextManager]
) -> torch.cuda.CUDAGraph:
    """A CUDA graph of ``fn()`` captured under ``form`` (3 warm-up calls on a side stream first, as
    ``torch.cuda.graph`` asks). The form is a context variable, read while the model runs: the graph holds
    the kernels of the form active during capture."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.inference_mode(), form():
        with torch.cuda.stream(side):
            for _ in range(3):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
    return graph


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")


class _Family:
    """One family's models on one device, built when a row first needs them."""

    def __init__(self, ca: str, base: str, device: torch.device):
        self.names, self.device = {"ca": ca, "base": base}, device
        self._fused: dict[tuple[str, bool], torch.nn.Module] = {}

    def fused(self, which: str, half: bool) -> torch.nn.Module:
        key = (which, half)
        if key not in self._fused:
            torch.manual_seed(0)
            self._fused[key] = build_fused(self.names[which], str(self.device), half)
        return self._fused[key]

    def trainable(self, which: str) -> torch.nn.Module:
        torch.manual_seed(0)
        return build_trainable(self.names[which], str(self.device))


def _samples(spec: RowSpec, fam: _Family, forms: dict, x: torch.Tensor, timing: dict) -> dict[str, list[float]]:
    """Interleaved samples of one row: ``"base"`` and one list per form in ``forms``."""
    common = {"forms": forms, "warmup": 3, "iters": spec.iters, **timing}
    if spec.kind == "eager":
        half = spec.precision == "fp16"
        return form_samples(fam.fused("base", half), fam.fused("ca", half), x, spec.rounds, **common)
    if spec.kind == "train_step":
        base, ca = (train_step(fam.trainable(k), fam.device) for k in ("base", "ca"))
        return form_samples(base, ca, x, spec.rounds, grad=True, **common)
    base_model, ca_model = fam.fused("base", True), fam.fused("ca", True)
    base_graph = capture_graph(lambda: base_model(x), contextlib.nullcontext)
    graphs = {label: capture_graph(lambda: ca_model(x), form) for label, form in forms.items()}
    replays = {label: (lambda _x, g=g: g.replay()) for label, g in graphs.items()}
    return form_samples(lambda _x: base_graph.replay(), replays, x, spec.rounds, **common)


def bench_row(spec: RowSpec, fam: _Family, forms: dict, timing: dict) -> dict:
    """One row for one family: medians and ratios per form, or ``"skipped"`` with the reason.

    Returns:
        ``{"model", "baseline", "row", **asdict(spec)}`` plus :func:`ca_yolo.bench.timing.form_ratios`'
        keys (``base_ms``, ``ca_ms``, ``ratio``, ``ratio_p25``, ``ratio_p75``, ``n``), or plus ``skipped``.
    """
    row = {"model": fam.names["ca"], "baseline": fam.names["base"], "row": spec.label, **asdict(spec)}
    cuda = fam.device.type == "cuda"
    if spec.kind == "cuda_graph" and not cuda:
        return {**row, "skipped": NO_CUDA}
    g = torch.Generator().manual_seed(0)
    x = torch.rand(spec.batch, 3, spec.imgsz, spec.imgsz, generator=g).to(fam.device)
    x = x.half() if spec.precision == "fp16" else x
    try:
        samples = _samples(spec, fam, forms, x, timing)
    except Exception as e:  # one row that cannot run (capture refused, out of memory) must not end the table
        if cuda:
            torch.cuda.synchronize(fam.device)
            torch.cuda.empty_cache()
        return {**row, "skipped": _error(e)}
    return {**row, **form_ratios(samples)}


@contextlib.contextmanager
def _on(device: torch.device) -> Iterator[None]:
    """CUDA device ``device`` current and cuDNN autotuning on (as Ultralytics' predictor and trainer run),
    both restored afterwards."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        with torch.cuda.device(device):
            yield
    finally:
        torch.backends.cudnn.benchmark = before


def gpu_meta(device: str, forms: list[str] | None = None) -> dict:
    """Versions and forms of this run: ``{"device", "cuda", "cudnn", "triton", "forms", "default_form"}``
    (``cuda``/``cudnn`` None on a CPU, ``triton`` None where it is not installed)."""
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    cuda = torch.device(device).type == "cuda"
    return {
        "device": device,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "triton": triton_version,
        "forms": forms if forms is not None else list(inference_forms(device)),
        "default_form": default_form(device),
    }


def bench_gpu(
    pairs: list[tuple[str, str]],
    specs: list[RowSpec],
    device: str = "cuda:0",
    log: Callable[[str], None] = print,
    profile_batches: tuple[int, ...] | None = None,
    parity_imgsz: int | None = None,
    form_names: list[str] | None = None,
    on_progress: Callable[[dict], None] | None = None,
) -> dict:
    """The whole GPU part: rows, per-layer profile and fused-form parity for each (CA, baseline) pair.

    Args:
        pairs: (CA model, baseline) YAML names at a scale.
        specs: rows (:func:`row_specs`).
        device: ``"cuda:N"`` (CUDA events, CUDA graphs, profiler CUDA times) or ``"cpu"`` (wall clock;
            graph rows and CUDA times skipped with the reason).
        profile_batches: batches of the per-layer profile (fp16, main image size, default form); default
            1 and the large inference batch of ``specs``.
        parity_imgsz: height of the parity input (width 64 px less, at least 32); default the smallest
            image size of ``specs``.
        form_names: the CoordAtt forms to time (default every one that runs on ``device``); the profile
            runs the default form where it is among them, else the first.
        on_progress: called with the result so far after every row, profile and parity run (to save it:
            a run cut short by a time limit then keeps what it measured).

    Returns:
        ``{"meta": gpu_meta(device), "rows": [bench_row...], "profile": [...], "parity": [...], "errors":
        [...]}`` (``errors``: profile or parity runs that failed, one line each).
    """
    from ca_yolo.bench.gpu_profile import fused_parity, layer_profile

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    eager = [s for s in specs if s.kind == "eager"]
    main = eager[0].imgsz if eager else specs[0].imgsz
    if profile_batches is None:
        profile_batches = tuple(sorted({1, *(s.batch for s in eager)}))
    parity_imgsz = parity_imgsz or min(s.imgsz for s in specs)
    forms = {k: v for k, v in inference_forms(dev).items() if form_names is None or k in form_names}
    profiled = default_form(dev) if default_form(dev) in forms else next(iter(forms))
    out: dict = {"meta": gpu_meta(device, list(forms)), "rows": [], "profile": [], "parity": [], "errors": []}
    progress = (lambda: on_progress(out)) if on_progress else (lambda: None)
    with _on(dev):
        timing = {"sync": torch.cuda.synchronize, "clock": cuda_event_clock()} if cuda else {}
        for ca, base in pairs:
            fam = _Family(ca, base, dev)
            for spec in specs:
                row = bench_row(spec, fam, forms, timing)
                out["rows"].append(row)
                log(f"gpu {base} vs {ca} {spec.label}: {_row_line(row)}")
                progress()
            for batch in profile_batches:
                prof = _attempt(out, f"profile {ca} bs{batch}", log, layer_profile, fam.fused("ca", True), batch, main,
                                forms[profiled])  # fmt: skip
                if prof is not None:
                    out["profile"].append({"model": ca, "form": profiled, **prof})
                    log(
                        f"gpu profile {ca} fp16 bs{batch} {main}px: {prof['layers_count']} CA layers, "
                        + _profile_line(prof)
                    )
                progress()
            del fam
            if cuda:
                torch.cuda.empty_cache()
            for label, form in forms.items():
                par = _attempt(out, f"parity {ca} {label}", log, fused_parity, ca, dev, parity_imgsz, form)
                if par is not None:
                    out["parity"].append({"model": ca, "form": label, **par})
                    log(f"gpu parity {ca} {label}: {_parity_line(par)}")
                progress()
    return out


def _attempt(out: dict, what: str, log: Callable[[str], None], fn: Callable, *args) -> dict | None:
    """``fn(*args)``, or None once its failure is in ``out["errors"]`` and the log: as for rows, one failed
    profile or parity run is reported and the rest of the table goes on."""
    try:
        return fn(*args)
    except Exception as e:
        out["errors"].append(f"{what}: {_error(e)}")
        log(f"gpu {what} failed: {_error(e)}")
        return None


def _row_line(row: dict) -> str:
    if "skipped" in row:
        return f"skipped ({row['skipped']})"
    forms = ", ".join(f"{k} {ms:.3f} ms = {row['ratio'][k]:.3f}×" for k, ms in row["ca_ms"].items())
    return f"base {row['base_ms']:.3f} ms; {forms}"


def _profile_line(prof: dict) -> str:
    """``GPU kernels A µs in CA layers of B µs, CPU C of D µs``; on a CPU ``CPU C µs in CA layers of D µs``."""
    cpu = (prof["ca_cpu_us"], prof["forward_cpu_us"])
    if prof.get("ca_kernel_us") is None:
        return "CPU {:.0f} µs in CA layers of {:.0f} µs".format(*cpu)
    gpu = (prof["ca_kernel_us"], prof["forward_kernel_us"])
    return "GPU kernels {:.0f} µs in CA layers of {:.0f} µs, CPU {:.0f} of {:.0f} µs".format(*gpu, *cpu)


def _parity_line(par: dict) -> str:
    fp16 = par["fp16_rel"]
    return f"max rel err fp32 {par['fp32_rel']:.2e}, fp16 " + (f"{fp16:.2e}" if fp16 is not None else "–")
