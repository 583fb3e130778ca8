"""``ca-yolo bench``: measure the CA layer and the CA models against their baselines; print and save JSON.

Examples::

    ca-yolo bench --out docs/results/bench-cpu.json          # everything, CPU (several minutes)
    ca-yolo bench --parts layer --layer-repeats 100          # only the layer figures
    ca-yolo bench --device cuda --parts layer --half         # on a GPU, the layer in half precision
    ca-yolo bench --device 0 --out runs/bench/gpu.json --markdown runs/bench/gpu.md   # the GPU table
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import os
import platform
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from ca_yolo.atomic_io import write_json_atomic, write_text_atomic
from ca_yolo.cli_args import int_at_least
from ca_yolo.errors import CaYoloError, command_parser
from ca_yolo.errors import report as report_error

PARTS = ("layer", "ops", "torch", "onnx", "train", "gpu")
# what runs without --parts: on a CPU the CPU parts; on a CUDA device the GPU table
CPU_PARTS = PARTS[:5]
GPU_PARTS = ("gpu",)


def default_parts(device: str) -> list[str]:
    """The parts run without ``--parts``: the GPU table on a CUDA device, the CPU parts elsewhere."""
    return list(GPU_PARTS if device.startswith("cuda") else CPU_PARTS)


def device_arg(text: str) -> str:
    """argparse type for ``--device``: ``0`` or ``N`` means ``cuda:N`` (as in Ultralytics); other text as given."""
    return f"cuda:{int(text)}" if text.strip().isdigit() else text.strip()


def _csv(kind, minimum=None, multiple=None):
    def parse(text: str) -> list:
        try:
            values = [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__} values, got {text!r}") from None
        if minimum is not None and (not values or min(values) < minimum):
            raise argparse.ArgumentTypeError(f"expected comma-separated values >= {minimum}, got {text!r}")
        if multiple is not None and any(v % multiple for v in values):
            raise argparse.ArgumentTypeError(
                f"expected multiples of {multiple} (the models' largest stride), got {text!r}"
            )
        return values

    return parse


class GpuFlag(NamedTuple):
    """One ``--gpu-*`` flag: a value for each of the rows (or sizes) it names, and what its values must be."""

    name: str  # --gpu-<name>, args.gpu_<name>
    values: str  # what each value is for, in order; a value per entry of ``default``
    default: tuple[int, ...]
    minimum: int
    multiple: int | None
    help: str


# The gpu part's settings (gpu.row_specs takes them in this order). Parser and check_args both read
# this table, so a flag's value count and its help cannot disagree.
GPU_FLAGS = (
    GpuFlag("imgsz", "main, small", (640, 320), 32, 32, "main and small image size"),
    GpuFlag("batch", "inference, training", (32, 64), 1, None, "large inference batch and training batch"),
    GpuFlag(
        "rounds", "batch 1, large batch, training", (10, 8, 5), 1, None,
        "timed rounds of the batch-1, large-batch and training rows",
    ),
    GpuFlag(
        "iters", "batch 1, large batch, training", (30, 10, 3), 1, None,
        "calls per sample of the batch-1, large-batch and training rows",
    ),
)  # fmt: skip

DESCRIPTION = (
    "Time the CoordAtt layer (vs a paper-style reference and an elementwise floor), whole CA models vs their "
    "baselines (PyTorch and ONNX Runtime) and training throughput; interleaved runs, medians."
)


def build_parser() -> argparse.ArgumentParser:
    """The ``ca-yolo bench`` argument parser."""
    p = command_parser("bench", DESCRIPTION)
    p.add_argument("--device", type=device_arg, default="cpu", help="cpu, cuda, cuda:N or N (= cuda:N; default cpu)")
    p.add_argument(
        "--threads", type=int_at_least(1), default=None, help="torch / ONNX Runtime CPU threads (default: torch's)"
    )
    p.add_argument("--out", type=Path, default=None, help="JSON output (default runs/bench/bench-<device>.json)")
    p.add_argument("--markdown", type=Path, default=None, help="also write the tables as markdown here")
    names = functools.partial(p.add_argument, type=_csv(str), default=None)  # comma-separated names, None: all
    names(
        "--parts",
        help=f"subset of {','.join(PARTS)} (default {','.join(CPU_PARTS)} on a CPU, {','.join(GPU_PARTS)} on CUDA)",
    )
    p.add_argument("--imgsz", type=int_at_least(32, 32), default=640, help="image size for the layer shapes (640)")
    p.add_argument(
        "--sizes",
        type=_csv(int, 32, 32),
        default=[160, 320, 640],
        help="image sizes for whole-model latency at batch 1 (default 160,320,640)",
    )
    p.add_argument("--batches", type=_csv(int, 1), default=[1, 8], help="layer batch sizes (default 1,8)")
    p.add_argument(
        "--layer-repeats", type=int_at_least(1), default=60, help="timed rounds per layer shape (default 60)"
    )
    p.add_argument(
        "--layer-burst",
        type=int_at_least(1),
        default=4,
        help="layer calls per candidate per round, the first untimed (default 4: steady state; 1: every call "
        "follows another candidate, allocator effects included)",
    )
    p.add_argument(
        "--model-repeats", type=int_at_least(1), default=30, help="timed rounds per model family (default 30)"
    )
    names(
        "--models",
        help="scale-less CA YAMLs for the latency and gpu parts, e.g. yolov8-ca.yaml,yolo11-ca.yaml (default: "
        "all shipped; gpu part: yolov8-ca.yaml,yolo11-ca.yaml,yolo26-ca.yaml)",
    )
    p.add_argument("--train-models", type=_csv(str), default=["yolov8-ca.yaml"], help="CA YAMLs for throughput")
    p.add_argument("--train-batch", type=int_at_least(1), default=8, help="training batch size (default 8)")
    p.add_argument("--train-imgsz", type=int_at_least(32, 32), default=320, help="training image size (default 320)")
    p.add_argument(
        "--train-repeats", type=int_at_least(1), default=8, help="timed training steps per model (default 8)"
    )
    for g in GPU_FLAGS:
        default = ",".join(map(str, g.default))
        p.add_argument(
            f"--gpu-{g.name}",
            type=_csv(int, g.minimum, g.multiple),
            default=list(g.default),
            help=f"gpu part: {g.help} (default {default})",
        )
    names(
        "--gpu-forms",
        help="gpu part: CoordAtt forms to time, e.g. triton,torch (on CUDA: triton, torch, generic; on a CPU: kernel, "
        "pytorch; default every one that runs there)",
    )
    p.add_argument("--half", action="store_true", help="GPU only: layer and PyTorch model timings in float16")
    p.add_argument(
        "--no-kernel",
        action="store_true",
        help="fused CoordAtt layers run their PyTorch inference form, not the compiled CPU kernel (as where no C "
        "compiler is); for before/after figures",
    )
    return p


def device_name(device: str) -> str:
    """The device's name: the GPU model for cuda devices, the CPU model and CPU count otherwise."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    with open("/proc/cpuinfo") if Path("/proc/cpuinfo").exists() else open(os.devnull) as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} CPUs)"
    return platform.processor() or platform.machine()


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _meta(args: argparse.Namespace) -> dict:
    import torch
    import ultralytics

    from ca_yolo.nn import native

    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "ca-yolo bench " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["bench"] else sys.argv[1:]),
        "device": args.device,
        "device_name": device_name(args.device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "ultralytics": ultralytics.__version__,
        "onnxruntime": ort_version,
        "python": platform.python_version(),
        # without the kernel's file: a path in the user's cache says nothing to a reader of the results
        "coordatt_kernel": native.kernel_status(with_file=False)
        if args.device == "cpu"
        else "CPU only (not used on this device)",
        "loadavg_before": _loadavg(),
    }


def _onnxruntime_unavailable(device: str) -> str | None:
    """Why ONNX Runtime cannot be timed on ``device`` (not installed, no CUDA provider), else None."""
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime is not installed (pip install onnxruntime)"
    if device.startswith("cuda") and "CUDAExecutionProvider" not in ort.get_available_providers():
        return "this onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu)"
    return None


def run(args: argparse.Namespace, log=print, on_progress: Callable[[dict], None] | None = None) -> dict:
    """Run the selected benchmark parts on arguments :func:`check_args` accepted; return the result dict.

    See README "Speed" for what each part measures. ``on_progress`` gets the result so far, marked
    ``"partial": True``, after every measurement of the GPU part (the one that runs on lent, time-limited
    machines), so that a run cut short can keep what it measured.

    ``--threads`` applies to this run only: torch's thread count is restored afterwards. ``--no-kernel``
    too: the compiled CoordAtt kernel is off for this run only.
    """
    import torch

    from ca_yolo.nn import native

    args.parts = args.parts or default_parts(args.device)
    threads = torch.get_num_threads()
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        with native.disabled() if args.no_kernel else contextlib.nullcontext():
            return _run(args, log, on_progress)
    finally:
        torch.set_num_threads(threads)


def _run(args: argparse.Namespace, log, on_progress: Callable[[dict], None] | None) -> dict:
    import torch

    from ca_yolo.bench import layer, models, ops, train_throughput

    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else None
    dtype = torch.float16 if args.half else torch.float32

    result: dict = {
        "meta": _meta(args),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    if "layer" in args.parts:
        shapes = layer.ca_input_shapes(models.with_scale("yolov8-ca.yaml"), args.imgsz)
        result["layer"] = layer.bench_layers(
            shapes,
            args.batches,
            args.layer_repeats,
            device=args.device,
            dtype=dtype,
            sync=sync,
            log=log,
            burst=args.layer_burst,
        )
    if "ops" in args.parts:
        result["ops"] = ops.op_counts()
        for row in result["ops"]:
            kernel = row["eager"].get("after_kernel")
            log(
                f"ops {row['layer']}: eager {row['eager']['before']} -> {row['eager']['after']}"
                + (f" (compiled kernel: 1 call + {kernel})" if kernel is not None else "")
                + f", ONNX nodes {row['onnx']['before']} -> {row['onnx']['after']}"
            )
    pairs = models.ca_model_pairs(args.models)
    result["models"] = {}
    for size in args.sizes:  # rows of every size in one list, each tagged with its "imgsz"
        if "torch" in args.parts:
            shares: dict[str, dict] = {}
            lat = models.bench_torch(pairs, size, args.model_repeats, args.device, args.half, sync, log, shares)
            result["models"].setdefault("torch", []).extend(
                {**row, "imgsz": size, "ca_layers": shares.get(row["model"])} for row in models.ratios(pairs, lat)
            )
        if "onnx" in args.parts:
            reason = _onnxruntime_unavailable(args.device)
            if reason:
                result["models"]["onnxruntime_skipped"] = reason
                log(f"onnxruntime skipped: {reason}")
            else:
                lat = models.bench_onnxruntime(
                    pairs, size, args.model_repeats, torch.get_num_threads(), args.device, log
                )
                result["models"].setdefault("onnxruntime", []).extend(
                    {**row, "imgsz": size} for row in models.ratios(pairs, lat)
                )
    if "gpu" in args.parts:
        from ca_yolo.bench import gpu

        specs = gpu.row_specs(*(tuple(getattr(args, f"gpu_{g.name}")) for g in GPU_FLAGS))
        gpu_pairs = models.ca_model_pairs(args.models or list(gpu.DEFAULT_MODELS))
        partial = (lambda g: on_progress({**result, "gpu": g, "partial": True})) if on_progress else None
        result["gpu"] = gpu.bench_gpu(
            gpu_pairs, specs, args.device, log, form_names=args.gpu_forms, on_progress=partial
        )
    if "train" in args.parts:
        train_pairs = models.ca_model_pairs(args.train_models)
        result["train"] = train_throughput.bench_train(
            train_pairs, args.train_batch, args.train_imgsz, args.train_repeats, args.device, sync, log
        )
    result["meta"]["loadavg_after"] = _loadavg()
    return result


def check_args(args: argparse.Namespace) -> None:
    """Refuse settings the benchmark would fail on, before it runs (minutes) or writes anything.

    Raises:
        UsageError: unknown ``--parts``, an unavailable ``--device``, ``--half`` without CUDA, or a
            ``--models``/``--train-models`` name that is not a shipped CA YAML name.
        CaYoloError: ``--out`` or ``--markdown`` cannot be written.
    """
    from ca_yolo.bench.models import ca_model_pairs
    from ca_yolo.errors import UsageError, check_output

    args.parts = args.parts or default_parts(args.device)
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        raise UsageError(f"unknown --parts {','.join(unknown)}; choose from {','.join(PARTS)}")
    if args.device != "cpu":
        import torch

        m = re.fullmatch(r"cuda(?::(\d+))?", args.device)
        if not m:
            raise UsageError(f"--device {args.device}: expected cpu, cuda, cuda:N or N")
        if not torch.cuda.is_available():
            raise UsageError(f"--device {args.device}: no CUDA device is available")
        if m.group(1) is not None and int(m.group(1)) >= torch.cuda.device_count():
            raise UsageError(f"--device {args.device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if args.half and args.device == "cpu":
        raise UsageError("--half needs a CUDA device (half precision on CPU is not a deployment target)")
    if args.gpu_forms is not None:
        from ca_yolo.bench.models import inference_forms

        offered = list(inference_forms(args.device))
        unknown = [f for f in args.gpu_forms if f not in offered]
        if unknown:
            raise UsageError(
                f"unknown --gpu-forms {','.join(unknown)}; on {args.device} choose from {','.join(offered)}"
            )
    for g in GPU_FLAGS:
        values = getattr(args, f"gpu_{g.name}")
        if len(values) != len(g.default):
            raise UsageError(f"--gpu-{g.name}: expected {len(g.default)} values ({g.values}), got {len(values)}")
    try:
        ca_model_pairs(args.models)
        ca_model_pairs(args.train_models)
    except ValueError as e:
        raise UsageError(str(e)) from None
    check_output(output_path(args), "--out")
    if args.markdown:
        check_output(args.markdown, "--markdown")


def output_path(args: argparse.Namespace) -> Path:
    """``--out``, or ``runs/bench/bench-<device>.json``."""
    return args.out or Path("runs") / "bench" / f"bench-{args.device.replace(':', '')}.json"


def main(argv: list[str]) -> int:
    """``ca-yolo bench ...``; returns the exit code (0; 2 on bad arguments, 1 on an output it cannot write)."""
    args = build_parser().parse_args(argv)
    from ca_yolo.bench import report

    try:
        check_args(args)
    except CaYoloError as e:
        return report_error("bench", e)
    out = output_path(args)
    result = run(args, on_progress=lambda partial: write_json_atomic(out, partial, indent=1))
    write_json_atomic(out, result, indent=1)
    table = report.markdown(result)
    if "gpu" in result:
        from ca_yolo.bench import gpu_report

        table += "\n\n" + gpu_report.markdown(result)
    print(table)
    if args.markdown:
        write_text_atomic(args.markdown, table + "\n")
    print(f"\nsaved {out}")
    return 0
