#!/usr/bin/env python
"""What a GPU check found, on one screen: the goals met or not, per-layer host and GPU time, the steps.

Reads what ``scripts/gpu_check.sh OUT_DIR`` leaves in OUT_DIR (``bench-gpu.json``, ``bench-gpu-others.json``,
``layer-probe.json``, ``steps.txt``, the test logs) and prints markdown; whatever is missing (a step cut
short or skipped) is said so, not guessed. The check runs it last, so the end of its output is this page.

    python scripts/gpu_check_summary.py OUT_DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# CA / baseline ratios we hold yolov8n-ca to (bench row -> the most it may be); parity as relative error.
GOALS = {
    "eager fp16 640px bs1": 1.08,
    "eager fp16 640px bs32": 1.04,
    "cuda graph fp16 640px bs1": 1.05,
    "train step amp 640px bs64": 1.02,
}
PARITY_GOALS = {"fp32_rel": 1e-5, "fp16_rel": 2e-2}
# the layer probe's host times per call (us), in the order they are shown
HOST_FIELDS = {
    "triton_host_us": "triton",
    "triton_3_kernels_host_us": "triton, 3 kernels",
    "triton_jit_launch_host_us": "triton, Triton's launch path",
    "torch_host_us": "torch",
    "tiny_op_host_us": "a tiny op",
    "empty_like_host_us": "empty_like(x)",
}
GRAPH_FIELDS = {"triton_graph_us": "triton", "torch_graph_us": "torch", "copy_graph_us": "a copy of x"}
TRAIN_VARIANTS = ("triton", "triton_gate_modules", "torch")


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _num(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    """A markdown table; ``align`` has a letter a column: ``l`` (text) or ``r`` (numbers)."""
    rule = "|" + "".join("---:|" if a == "r" else "---|" for a in align)
    return [f"| {' | '.join(header)} |", rule, *(f"| {' | '.join(row)} |" for row in rows)]


def goal_lines(bench: dict | None) -> list[str]:
    """yolov8n-ca's rows against :data:`GOALS`, every form timed; and the fused parity per form."""
    if bench is None:
        return ["No yolov8n-ca bench result (bench-gpu.json missing or unreadable)."]
    gpu = bench["gpu"]
    forms = gpu["meta"].get("forms", [])
    rows = []
    by_name = {r["row"]: r for r in gpu["rows"] if r["model"].startswith("yolov8")}
    for name, goal in GOALS.items():
        ratio = by_name.get(name, {}).get("ratio", {})
        met = [f for f in forms if ratio.get(f) is not None and ratio[f] <= goal]
        verdict = ", ".join(met) if met else ("not measured" if not ratio else "none")
        rows.append([name, f"≤ {goal}", *(_num(ratio.get(f)) for f in forms), verdict])
    goal = ", ".join(f"{k.split('_')[0]} ≤ {v:.0e}" for k, v in PARITY_GOALS.items())
    for p in gpu.get("parity", []):
        errors = ", ".join(
            f"{k.split('_')[0]} {'–' if p.get(k) is None else format(p[k], '.1e')}" for k in PARITY_GOALS
        )
        held = all(p.get(k) is not None and p[k] <= v for k, v in PARITY_GOALS.items())
        cells = [errors] + [""] * (len(forms) - 1)
        rows.append([f"parity {p['model']} {p['form']}", goal, *cells, "met" if held else "not met"])
    return _table(["yolov8n-ca / yolov8n", "goal", *forms, "met by"], rows, "lr" + "r" * len(forms) + "l")


def family_lines(benches: list[dict]) -> list[str]:
    """Every bench row of every family: ratio per form."""
    rows = [r for b in benches for r in b["gpu"]["rows"]]
    if not rows:
        return ["No bench rows."]
    forms = sorted({f for r in rows for f in r.get("ratio", {})})
    cells = [[r["model"], r["row"], *(_num(r.get("ratio", {}).get(f)) for f in forms)] for r in rows]
    return _table(["model", "row", *forms], cells, "ll" + "r" * len(forms))


def probe_lines(probe: dict | None) -> list[str]:
    """Per layer shape: host time per call and CUDA-graph time per call (us); per training row, each variant."""
    if probe is None:
        return ["No layer probe result (layer-probe.json missing or unreadable)."]
    lines = []
    for title, fields in (
        ("Host time per call, µs (what an eager batch-1 layer costs):", HOST_FIELDS),
        ("GPU time per call from CUDA-graph replays, µs:", GRAPH_FIELDS),
    ):
        rows = [[str(r["shape"]), *(_num(r.get(k), 1) for k in fields)] for r in probe.get("rows", [])]
        lines += [title, "", *_table(["shape", *fields.values()], rows, "l" + "r" * len(fields)), ""]
    train = probe.get("train_rows", [])
    if train:
        rows = []
        for r in train:
            counts = [r.get(f"{v}_train_kernels") for v in TRAIN_VARIANTS]
            times = [_num(r.get(f"{v}_train_us"), 1) for v in TRAIN_VARIANTS]
            rows.append(
                [str(r["shape"]), *(f"{t} ({'–' if n is None else format(n, 'g')})" for t, n in zip(times, counts))]
            )
        title = "AMP training step of one layer, µs (GPU kernels in it):"
        lines += [title, "", *_table(["shape", *TRAIN_VARIANTS], rows, "l" + "r" * len(TRAIN_VARIANTS)), ""]
    return lines[:-1]  # no blank line after the last table


def step_lines(out: Path) -> list[str]:
    """The check's step lines (exit status and time), each test log's pytest summary line."""
    steps = out / "steps.txt"
    lines = steps.read_text().splitlines() if steps.exists() else ["No steps.txt."]
    for log in sorted(out.glob("tests*.log")):
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        lines.append(f"{log.stem}: {tail[-1] if tail else 'empty log'}")
    return [f"- {line}" for line in lines]


def cut_short_lines(benches: dict[str, dict | None]) -> list[str]:
    """A line for each bench result that was saved before its run ended (its step's time limit cut it)."""
    return [
        f"{name}: cut short after {len(b['gpu']['rows'])} rows; the tables hold what it measured."
        for name, b in benches.items()
        if b and b.get("partial")
    ]


def summary(out: Path) -> str:
    """The whole page for the check's folder ``out``."""
    bench, others = _load(out / "bench-gpu.json"), _load(out / "bench-gpu-others.json")
    probe = _load(out / "layer-probe.json")
    device = (probe or {}).get("device") or (bench or {}).get("meta", {}).get("device_name", "unknown device")
    commit = (out / "commit.txt").read_text().strip() if (out / "commit.txt").exists() else "commit unknown"
    cut = cut_short_lines({"bench-gpu.json": bench, "bench-gpu-others.json": others})
    parts = [
        f"# GPU check summary: {device}, {commit}",
        "",
        *((*cut, "") if cut else ()),
        *goal_lines(bench),
        "",
        "## Every bench row (CA / baseline)",
        "",
        *family_lines([b for b in (bench, others) if b]),
        "",
        "## Layer probe",
        "",
        *probe_lines(probe),
        "",
        "## Steps",
        "",
        *step_lines(out),
    ]
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder scripts/gpu_check.sh wrote")
    print(summary(parser.parse_args().out), end="")


if __name__ == "__main__":
    main()
