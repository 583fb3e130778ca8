"""Which starting gate value lets a fresh CoordAtt layer train like its baseline? (docs/attention-training.md)

For each starting gate logit L (every gate starts at sigmoid(L), gate weights zero; L = 0 is the
"gates at exactly 0.5" probe), yolov8n-ca is trained on the sample dataset twice with `ca-yolo
compare`'s default schedule and attention statistics:

- from scratch (12 epochs), and
- fine-tuned for 3 epochs from a trained yolov8n checkpoint (``--pretrained``, e.g. the seed-0
  baseline of the default comparison), close_mosaic=0, as in the protocol of docs/attention-training.md.

Resumable (compare skips finished runs). Writes ``OUT/sweep.json`` and ``OUT/sweep.md``.

    python scripts/gate_logit_study.py --pretrained runs/compare/sample-init/yolov8n-seed0/weights/best.pt \
        --logits 0,2,4,6 --seeds 0 --out docs/results/gate-logit-sweep
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path


def _gates(run: Path) -> dict:
    """Final-epoch gate std (spread over images, channels, positions) and mean per CA layer."""
    rows = list(csv.DictReader(open(run / "attention_stats.csv", newline="")))
    last = max(int(r["epoch"]) for r in rows)
    out = {}
    for r in rows:
        if int(r["epoch"]) == last:
            out.setdefault(r["layer"], {})[r["gate"]] = {"mean": float(r["mean"]), "std": float(r["std"])}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pretrained", required=True, help="trained yolov8n checkpoint on the sample dataset")
    p.add_argument("--logits", default="0,2,4,6")
    p.add_argument("--seeds", default="0")
    p.add_argument("--project", default="runs/gate-logit-study")
    p.add_argument("--out", default="docs/results/gate-logit-sweep")
    a = p.parse_args()

    import ca_yolo.nn.gate_init as gate_init
    from ca_yolo.compare.cli import main as compare
    from ca_yolo.compare.runner import read_curve

    results = []
    for logit in [float(x) for x in a.logits.split(",")]:
        gate_init.GATE_LOGIT = logit  # read when each layer is initialised
        tag = f"logit{logit:g}"
        common = ["models=yolov8n-ca.yaml", f"seeds={a.seeds}", f"project={a.project}", "attn_stats=True",
                  "grid_images=0", "latency_runs=1"]  # fmt: skip
        compare([*common, f"name={tag}-scratch"])
        compare([*common, f"name={tag}-finetune", f"pretrained={a.pretrained}", "epochs=3", "close_mosaic=0"])
        for seed in a.seeds.split(","):
            scratch = Path(a.project) / f"{tag}-scratch" / f"yolov8n-ca-seed{seed}"
            tune = Path(a.project) / f"{tag}-finetune" / f"yolov8n-ca-seed{seed}"
            c, t = (read_curve(run / "results.csv")["mAP50-95"] for run in (scratch, tune))
            results.append(
                {
                    "logit": logit,
                    "seed": int(seed),
                    "scratch_curve": c,
                    "scratch_ep5_8_mean": sum(c[4:8]) / 4,
                    "scratch_final": c[-1],
                    "finetune_curve": t,
                    "gates_scratch": _gates(scratch),
                    "gates_finetune": _gates(tune),
                }
            )
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(results, indent=1))
    lines = [
        "| start gate logit (gate) | seed | scratch mAP50-95 ep 5-8 mean | scratch final | fine-tune ep 1 / 2 / 3 "
        "| final gate std (min-max over layers) |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in results:
        stds = [g["std"] for layer in r["gates_scratch"].values() for g in layer.values()]
        lines.append(
            f"| {r['logit']:g} ({1 / (1 + math.exp(-r['logit'])):.3f}) | {r['seed']} "
            f"| {r['scratch_ep5_8_mean']:.3f} | "
            f"{r['scratch_final']:.3f} | {' / '.join(f'{v:.3f}' for v in r['finetune_curve'])} | "
            f"{min(stds):.3f}-{max(stds):.3f} |"
        )
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
