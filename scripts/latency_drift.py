#!/usr/bin/env python
"""The CPU latency ratios CA / baseline measured again and again over time: how far do they move with the host?

On a shared CPU the yolov8n-ca / yolov8n batch-1 latency ratio is not one number: CA's fused layers
are memory-bound (passes over the feature map), the baseline's convolutions mostly compute-bound,
so when other tenants load the host's memory system CA's share rises. One run of ``ca-yolo bench``
gives one point; this script repeats the batch-1 latency measurement ``--sets`` times and keeps
every set, with what the host was doing meanwhile, so that a ratio can be read against its
conditions instead of being taken as a constant.

Each set (all in this one process, models built and exported once):

- PyTorch, 160 and 640 px: yolov8n, yolov8n-ca with the compiled kernel and yolov8n-ca with the
  PyTorch inference form, interleaved (median of per-round ratios, quartiles).
- ONNX Runtime, 640 px: yolov8n and yolov8n-ca exported by Ultralytics (``dynamic=False``),
  interleaved the same way.
- The baseline's median latency (the host's speed at that moment), the CPU steal time of the set
  (time the hypervisor gave this VM's CPUs to others) and the load average.

Sets are appended to ``<out>/sets.json`` as each finishes (written atomically); a rerun continues
up to ``--sets``. ``--report`` (also run at the end) writes ``<out>/summary.json``, ``report.md``
and ``ratios.png`` (each ratio against the baseline latency of its set, with the CPU latency targets).

Usage: ``python scripts/latency_drift.py --sets 40 --out docs/results/latency-drift``
(about 25 s a set on 2 cores, plus ``--pause`` seconds between sets).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

# metric key -> (what it measures, limit): the CPU batch-1 latency targets, one plot panel each
TARGETS = {
    "torch160_kernel": ("PyTorch 160 px", 1.06),
    "torch640_kernel": ("PyTorch 640 px", 1.02),
    "ort640": ("ONNX Runtime 640 px", 1.03),
}


def _cpu_times() -> tuple[int, int]:
    """(total, steal) jiffies of all CPUs from /proc/stat; (0, 0) where there is none."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0


def _ratios(samples: dict[str, list[float]], base: str) -> dict[str, dict[str, float]]:
    from ca_yolo.bench.timing import paired_ratio, summary

    out = {"base_ms": summary(samples[base])["median"]}
    for name, s in samples.items():
        if name != base:
            out[name] = {k: round(v, 4) for k, v in paired_ratio(s, samples[base]).items()}
    return out


class Bench:
    """The models of one study, built and exported once; :meth:`measure_set` times one set."""

    def __init__(self, threads: int, tmp: Path):
        from ca_yolo.bench.models import build_fused, export_onnx, inference_forms, ort_session
        from ca_yolo.nn import native

        if "kernel" not in inference_forms():
            raise SystemExit(f"latency_drift: the compiled kernel is not available here ({native.kernel_status()})")
        self.base, self.ca = build_fused("yolov8n.yaml"), build_fused("yolov8n-ca.yaml")
        onnx = {name: export_onnx(name, tmp / name.split(".")[0], 640) for name in ("yolov8n.yaml", "yolov8n-ca.yaml")}
        self.sessions = {name: ort_session(path, threads) for name, path in onnx.items()}
        torch.set_num_threads(threads)  # ort_session / export may have touched it

    def torch_set(self, imgsz: int, rounds: int) -> dict:
        from ca_yolo.bench.models import form_samples

        x = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0))
        return _ratios(form_samples(self.base, self.ca, x, rounds), "base")

    def ort_set(self, rounds: int) -> dict:
        from ca_yolo.bench.timing import timed_rounds

        x = np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32)
        fns = {name: (lambda s=s: s.run(None, {s.get_inputs()[0].name: x})) for name, s in self.sessions.items()}
        return _ratios(timed_rounds(fns, rounds, warmup=3), "yolov8n.yaml")

    def measure_set(self, rounds160: int, rounds640: int, rounds_ort: int) -> dict:
        total0, steal0 = _cpu_times()
        t0 = time.time()
        t160, t640, ort = self.torch_set(160, rounds160), self.torch_set(640, rounds640), self.ort_set(rounds_ort)
        total1, steal1 = _cpu_times()
        return {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.time() - t0, 1),
            "steal": round((steal1 - steal0) / (total1 - total0), 4) if total1 > total0 else None,
            "loadavg": [round(v, 2) for v in os.getloadavg()],
            "torch160": t160,
            "torch640": t640,
            "ort640": ort,
        }


def metrics(s: dict) -> dict[str, tuple[float, float]]:
    """metric key -> (ratio, baseline ms) of one set."""
    return {
        "torch160_kernel": (s["torch160"]["kernel"]["median"], s["torch160"]["base_ms"]),
        "torch160_pytorch": (s["torch160"]["pytorch"]["median"], s["torch160"]["base_ms"]),
        "torch640_kernel": (s["torch640"]["kernel"]["median"], s["torch640"]["base_ms"]),
        "torch640_pytorch": (s["torch640"]["pytorch"]["median"], s["torch640"]["base_ms"]),
        "ort640": (s["ort640"]["yolov8n-ca.yaml"]["median"], s["ort640"]["base_ms"]),
    }


def _slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of ys on xs (ratio per ms of baseline latency); None for < 3 points or flat xs."""
    if len(xs) < 3 or max(xs) == min(xs):
        return None
    return float(np.polyfit(xs, ys, 1)[0])


def summarise(sets: list[dict], meta: dict) -> dict:
    """Per metric over all sets: median, range, share of sets under the target, slope vs baseline ms."""
    per: dict[str, dict] = {}
    per_set = [metrics(s) for s in sets]
    for key in per_set[0]:
        pairs = [m[key] for m in per_set]
        r, ms = [p[0] for p in pairs], [p[1] for p in pairs]
        row = {
            "sets": len(r),
            "median": round(statistics.median(r), 4),
            "min": round(min(r), 4),
            "max": round(max(r), 4),
            "baseline_ms_min": round(min(ms), 2),
            "baseline_ms_max": round(max(ms), 2),
            "slope_per_ms": None if (sl := _slope(ms, r)) is None else round(sl, 5),
        }
        if key in TARGETS:
            limit = TARGETS[key][1]
            row |= {"target": limit, "sets_met": sum(v <= limit for v in r)}
            # The ratio on this host's quietest third: the sets with the fastest baseline.
            quiet = sorted(pairs, key=lambda p: p[1])[: max(1, len(pairs) // 3)]
            row["median_quietest_third"] = round(statistics.median(p[0] for p in quiet), 4)
        per[key] = row
    return {"meta": meta, "metrics": per}


def markdown(summary: dict) -> str:
    m, rows = summary["meta"], summary["metrics"]
    lines = [
        f"# Latency ratios over time: {rows['ort640']['sets']} sets",
        "",
        f"{m['device']}, {m['threads']} threads, torch {m['torch']}, onnxruntime {m['onnxruntime']}; "
        f"{m['first']} to {m['last']} (UTC). Each set: yolov8n-ca / yolov8n batch-1 latency, median of "
        "per-round ratios of interleaved runs in one process (PyTorch 160 px: "
        f"{m['rounds160']} rounds, 640 px: {m['rounds640']}, ONNX Runtime 640 px: {m['rounds_ort']}).",
        "",
        "| ratio | target | median | min – max | sets meeting target | median, quietest third | "
        "baseline ms (min – max) | ratio change per ms of baseline |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "torch160_kernel": "PyTorch 160 px, compiled kernel",
        "torch160_pytorch": "PyTorch 160 px, PyTorch form",
        "torch640_kernel": "PyTorch 640 px, compiled kernel",
        "torch640_pytorch": "PyTorch 640 px, PyTorch form",
        "ort640": "ONNX Runtime 640 px",
    }
    for key, label in labels.items():
        r = rows[key]
        met = f"{r['sets_met']} of {r['sets']}" if "target" in r else "–"
        target = f"≤ {r['target']}" if "target" in r else "–"
        quiet = f"{r['median_quietest_third']:.3f}" if "median_quietest_third" in r else "–"
        slope = "–" if r["slope_per_ms"] is None else f"{r['slope_per_ms']:+.4f}"
        lines.append(
            f"| {label} | {target} | {r['median']:.3f} | {r['min']:.3f} – {r['max']:.3f} | {met} | {quiet} | "
            f"{r['baseline_ms_min']:.1f} – {r['baseline_ms_max']:.1f} | {slope} |"
        )
    lines += [
        "",
        "The baseline's own latency stands for the host's state in that set (same models, same input: "
        "it only moves with what else the machine is doing); ``ratios.png`` plots each ratio against it.",
        "",
        f"Produced by `python scripts/latency_drift.py --sets {m['sets_asked']} --out <folder>`.",
        "",
    ]
    return "\n".join(lines)


def plot(sets: list[dict], path: Path) -> None:
    from ca_yolo.figures import pyplot, save_and_close

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    names = {"kernel": "compiled kernel", "pytorch": "PyTorch form", "ort640": "exported graph"}
    per_set = [metrics(s) for s in sets]
    for ax, (target, (title, limit)) in zip(axes, TARGETS.items()):
        # the compiled kernel's panels also show the PyTorch form of the same size
        keys = [target, *([target.replace("_kernel", "_pytorch")] if target.endswith("_kernel") else [])]
        for key in keys:
            pts = [m[key] for m in per_set]
            ax.scatter([p[1] for p in pts], [p[0] for p in pts], s=14, label=names[key.split("_")[-1]])
        ax.axhline(limit, color="red", lw=1, ls="--", label=f"target {limit}")
        ax.axhline(1.0, color="grey", lw=0.5)
        ax.set(title=title, xlabel="yolov8n latency in that set (ms)", ylabel="yolov8n-ca / yolov8n")
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_and_close(fig, path)


def report(out: Path) -> dict:
    from ca_yolo.atomic_io import write_json_atomic, write_text_atomic

    data = _load(out)
    if not data["sets"]:
        raise SystemExit(f"latency_drift: no sets in {out / 'sets.json'} yet")
    meta = data["meta"] | {"first": data["sets"][0]["time"], "last": data["sets"][-1]["time"]}
    summary = summarise(data["sets"], meta)
    write_json_atomic(out / "summary.json", summary, indent=1)
    write_text_atomic(out / "report.md", markdown(summary))
    plot(data["sets"], out / "ratios.png")
    return summary


def _load(out: Path) -> dict:
    import json

    path = out / "sets.json"
    return json.loads(path.read_text()) if path.exists() else {"meta": {}, "sets": []}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", type=int, default=40, help="sets to have in the end (default 40); a rerun continues")
    p.add_argument("--out", type=Path, default=Path("docs/results/latency-drift"), help="output folder")
    p.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime threads (default 2)")
    p.add_argument("--pause", type=float, default=0.0, help="seconds to wait between sets (default 0)")
    p.add_argument("--rounds160", type=int, default=200, help="interleaved rounds at 160 px (default 200)")
    p.add_argument("--rounds640", type=int, default=60, help="interleaved rounds at 640 px (default 60)")
    p.add_argument("--rounds-ort", type=int, default=100, help="ONNX Runtime rounds at 640 px (default 100)")
    p.add_argument("--report", action="store_true", help="only write the report from the sets already measured")
    args = p.parse_args()
    if not args.report:
        run(args)
    summary = report(args.out)
    for key, row in summary["metrics"].items():
        print(f"{key:18s} median {row['median']:.3f}  range {row['min']:.3f}-{row['max']:.3f}", flush=True)


def run(args: argparse.Namespace) -> None:
    import onnxruntime as ort
    from ultralytics.utils import LOGGER

    from ca_yolo.atomic_io import write_json_atomic
    from ca_yolo.bench.cli import device_name

    torch.set_num_threads(args.threads)
    LOGGER.setLevel(logging.WARNING)
    data = _load(args.out)
    data["meta"] = {
        "device": device_name("cpu"),
        "threads": args.threads,
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "rounds160": args.rounds160,
        "rounds640": args.rounds640,
        "rounds_ort": args.rounds_ort,
        "sets_asked": args.sets,
    }
    if len(data["sets"]) >= args.sets:
        return
    with tempfile.TemporaryDirectory(prefix="ca-yolo-drift-") as tmp:
        for name in ("yolov8n", "yolov8n-ca"):
            (Path(tmp) / name).mkdir()
        bench = Bench(args.threads, Path(tmp))
        while len(data["sets"]) < args.sets:
            s = bench.measure_set(args.rounds160, args.rounds640, args.rounds_ort)
            data["sets"].append(s)
            write_json_atomic(args.out / "sets.json", data, indent=1)
            m = metrics(s)
            print(
                f"set {len(data['sets'])}/{args.sets} {s['time']} ({s['seconds']} s, steal {s['steal']}): "
                + ", ".join(f"{k} {v[0]:.3f} (base {v[1]:.1f} ms)" for k, v in m.items()),
                flush=True,
            )
            if args.pause and len(data["sets"]) < args.sets:
                time.sleep(args.pause)


if __name__ == "__main__":
    main()
