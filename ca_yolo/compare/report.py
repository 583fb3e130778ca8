"""Write a comparison's outputs: report.md, results.json, results.csv and the plots."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ca_yolo.atomic_io import write_json_atomic, write_text_atomic
from ca_yolo.compare.analysis_plots import plot_per_class, plot_speed_accuracy
from ca_yolo.compare.plots import plot_curves, plot_final, plot_prediction_grid
from ca_yolo.compare.progress import fmt_duration
from ca_yolo.compare.record import describe_place
from ca_yolo.compare.report_analysis import FIGURES, analysis_markdown
from ca_yolo.compare.results import HEADLINE, metric_value, metrics_for, results_json
from ca_yolo.evaluation.cocogt import GroundTruth

PLOTS = {"curves": "curves.png", "final": "final_metrics.png", "grid": "predictions.png"}


def write_outputs(
    results: dict, out: Path, grid: tuple | None = None, attention: dict[str, list[Path]] | None = None
) -> dict[str, Path]:
    """Write every output file of a comparison into ``out``; return their paths by kind.

    Args:
        grid: (images, gt boxes, predictions, class names) for the prediction grid, or None to skip it.
        attention: model name -> attention figure PNGs (already written), linked from the report.
    """
    from ca_yolo.viz.report import attention_markdown

    out.mkdir(parents=True, exist_ok=True)
    files = {"json": write_json_atomic(out / "results.json", results_json(results), indent=2)}
    files["csv"] = write_text_atomic(out / "results.csv", results_csv(results))
    files["curves"] = plot_curves(results, out / PLOTS["curves"])
    files["final"] = plot_final(results, out / PLOTS["final"])
    if "tide" in results:
        files["per_class"] = plot_per_class(results, out / FIGURES["per_class"])
        files["speed"] = plot_speed_accuracy(results, out / FIGURES["speed"])
    if grid is not None:
        files["grid"] = plot_prediction_grid(*grid, out / PLOTS["grid"])
    md = report_markdown(results, has_grid=grid is not None)
    if attention:
        md = md.rstrip("\n") + "\n\n" + attention_markdown(attention, out)
    files["md"] = write_text_atomic(out / "report.md", md)
    return files


def results_csv(results: dict) -> str:
    """One row per run: model, seed, every metric, epochs, seconds, the model's size and speed, then
    per-class ``AP:<class>`` and ``AP50:<class>`` columns (empty where the class has no GT)."""
    measures = {m["name"]: m for m in results["models"]}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = [k for k, *_ in metrics_for(results["data"].get("voc_metric", False))]
    classes = results["data"].get("classes", [])  # results of folders written before per-class AP have none
    per_class = [f"{metric}:{c}" for c in classes for metric in ("AP", "AP50")]
    w.writerow(["model", "seed", *keys, "epochs_trained", "seconds", "params", "gflops", "latency_ms", *per_class])
    for rec in results["runs"]:
        m = measures[rec.model]
        vals = ["" if (v := metric_value(rec, k)) is None else f"{v:.5f}" for k in keys]
        pc = [(rec.per_class.get(c) or {}).get(metric) for c in classes for metric in ("AP", "AP50")]
        w.writerow([rec.model, rec.seed, *vals, rec.epochs_trained, rec.seconds,
                    m.get("params", ""), m.get("gflops", ""), m.get("latency_ms", ""),
                    *("" if v is None else f"{v:.5f}" for v in pc)])  # fmt: skip
    return buf.getvalue()


def metric_cell(metric: dict) -> str:
    """``mean ± std`` of a metric over seeds, ``–`` when undefined."""
    if metric["mean"] is None:
        return "–"
    return f"{metric['mean']:.3f}" if metric["std"] is None else f"{metric['mean']:.3f} ± {metric['std']:.3f}"


def _num(v: float | None, fmt: str = ".3f") -> str:
    return "–" if v is None else format(v, fmt)


def report_markdown(results: dict, has_grid: bool = True) -> str:
    """The human-readable report: main table first, then differences, runs, plots, settings, environment."""
    s = results["settings"]
    d = results["data"]
    seeds = results["seeds"]
    active = metrics_for(d.get("voc_metric", False))
    labels = {k: label for k, _, _, label in active}
    keys = [k for k, *_ in active]
    lines = [
        f"# ca-yolo compare: {results['name']}",
        "",
        f"Produced by: `{results['command']}`  ",
        f"Data: `{d['yaml']}` ({d['train_images']} train / {d['val_images']} val images, {len(d['classes'])} classes; "
        f"COCO GT {d['gt_source']})  ",
        f"Training: {s['epochs']} epochs, imgsz {s['imgsz']}, batch {s['batch']}, seeds {', '.join(map(str, seeds))}, "
        f"deterministic, identical settings for every model; device {s['device'] or 'auto'}  ",
        f"Written {results['created']}",
        "",
        f"## Results on val (mean ± std over {len(seeds)} seed{'s' if len(seeds) > 1 else ''})",
        "",
        "| model | params (M) | GFLOPs | latency (ms) | " + " | ".join(labels[k] for k in keys) + " |",
        "|---|---:|---:|---:|" + "---:|" * len(keys),
    ]
    for m in results["models"]:
        size = f"{m['params'] / 1e6:.3f}" if "params" in m else "–"
        lines.append(
            f"| {m['name']}{' (baseline)' if m['name'] == results['baseline'] else ''} | {size} | "
            f"{_num(m.get('gflops'), '.2f')} | {_num(m.get('latency_ms'), '.2f')} | "
            + " | ".join(metric_cell(m["metrics"][k]) for k in keys)
            + " |"
        )
    lines += ["", f"## Difference to the baseline ({results['baseline']}), paired by seed", ""]
    lines += _difference_section(results, labels)
    lines += ["", *analysis_markdown(results)]
    spread = any(rec.ran_on.get("backend") == "ray" for rec in results["runs"])  # runs on several machines
    lines += ["## Every run", "", "| model | seed | " + " | ".join(labels[k] for k in keys)
              + " | epochs | time |" + (" ran on |" if spread else ""),
              "|---|---:|" + "---:|" * (len(keys) + 2) + ("---|" if spread else "")]  # fmt: skip
    for rec in results["runs"]:
        t = fmt_duration(rec.seconds) + (" (*resumed*: this part only)" if rec.resumed else "")
        lines.append(f"| {rec.model} | {rec.seed} | "
                     + " | ".join(_num(metric_value(rec, k)) for k in keys)
                     + f" | {rec.epochs_trained} | {t} |"
                     + (f" {describe_place(rec.ran_on)} |" if spread else ""))  # fmt: skip
    lines += ["", "## Plots", "", f"![mAP50-95 per epoch]({PLOTS['curves']})", "",
              f"![final metrics]({PLOTS['final']})", ""]  # fmt: skip
    if has_grid:
        lines += [f"![predictions]({PLOTS['grid']})", ""]
    lines += _notes(results) + ["", "## Settings given to Ultralytics train (every run)", "", "```"]
    lines += [f"{k}: {v}" for k, v in {"epochs": s["epochs"], "imgsz": s["imgsz"], "batch": s["batch"],
                                        "workers": s["workers"], "deterministic": True,
                                        "seed": "per run", **s["train_args"]}.items()]  # fmt: skip
    lines += ["```", "", "## Environment", ""]
    lines += [f"- {k}: {v}" for k, v in results["environment"].items()]
    return "\n".join(lines) + "\n"


def _difference_section(results: dict, labels: dict) -> list[str]:
    """Verdict sentences for the headline metrics, then a table; with one seed, only the warning."""
    if len(results["seeds"]) < 2:
        return [
            "**One seed only: no conclusion can be drawn.** A single training run per model cannot separate "
            "a real difference from seed-to-seed noise, so no difference is reported here. "
            "Re-run with `seeds=0,1,2` (or more) to get paired differences with confidence intervals.",
        ]
    diffs = results["differences"]
    out = [f"- {x['sentence']}" for x in diffs if x["metric"] in HEADLINE]
    out += [
        "",
        "| model | metric | mean difference | std | 95% CI | seeds | verdict |",
        "|---|---|---:|---:|---|---:|---|",
    ]
    for x in diffs:
        ci = "–" if x["ci_low"] is None else f"[{x['ci_low']:+.4f}, {x['ci_high']:+.4f}]"
        out.append(f"| {x['model']} | {labels[x['metric']]} | {x['mean']:+.4f} | {_num(x['std'], '.4f')} | {ci} | "
                   f"{x['n']} | {x['verdict']} |")  # fmt: skip
    out += ["", "A difference is called higher or lower (distinguishable from seed noise) only from 3 or more "
            "seeds and only when its 95% confidence interval (Student t over the per-seed differences) excludes "
            "0. With 2 seeds the differences and their interval are shown without a verdict: their spread rests "
            "on one degree of freedom, so two nearly equal differences give a narrow interval by chance."]  # fmt: skip
    return out


def _notes(results: dict) -> list[str]:
    """How to read the numbers."""
    m0 = results["models"][0] if results["models"] else {}
    return [
        "## How to read this",
        "",
        "- AP@[.5:.95], AP50, AP75, AP_S/M/L: COCO-standard metrics computed by pycocotools on the detections "
        "of one pass of Ultralytics' validator over val with the best checkpoint (conf 0.001, NMS IoU 0.7; "
        "at most 100 detections per image count); `–` = no objects of that size in val.",
        "- mAP50 / mAP50-95 (Ultralytics): Ultralytics' own numbers of that same pass (what `yolo val` prints); "
        "its matching and AP integration differ in detail from pycocotools' (e.g. every detection counts, "
        "trapezoidal 101-point integration), so these are close to but not equal to AP50 / AP.",
        *(["- VOC07 mAP50 (11-pt) / VOC mAP50 (all-pt): PASCAL VOC AP@0.5 on the same predictions, VOC2007's "
           "11-point and VOC2010+'s all-point interpolation, difficult objects ignored as in the VOC devkit: the "
           "numbers VOC papers report."] if results["data"].get("voc_metric") else []),
        f"- Latency: median of {m0.get('latency_runs', '?')} forward passes, batch 1, FP32, fused, eval mode, imgsz "
        f"{results['settings']['imgsz']}, on {m0.get('device', '?')}"
        + (f" with {m0['threads']} torch thread(s)" if m0.get("threads") else "")
        + "; all models measured in one process, "
        "interleaved. Params: trained (unfused) model. GFLOPs: fused model at the same imgsz.",
    ] + (
        ["- Runs marked *resumed* continued from their last checkpoint after an interruption. Ultralytics "
         "re-seeds on resume without restoring the augmentation random state, so such a run is valid but "
         "not bit-identical to an uninterrupted run with the same seed."]
        if any(r.resumed for r in results["runs"])
        else []
    )  # fmt: skip


def grid_inputs(results: dict, gt: GroundTruth, images: list[Path], models: dict, n: int, imgsz: int, device):
    """The prediction grid's inputs: the first ``n`` val images, their GT, each model's predictions.

    Args:
        models: model name -> its first-seed checkpoint loaded as an ``ultralytics.YOLO``.
    """
    from ca_yolo.evaluation.predict import predict_boxes

    chosen = images[:n]
    cat_to_cls = {c: i for i, c in enumerate(gt.category_ids)}
    gt_boxes = {}
    for img in chosen:
        iid = gt.image_ids[img]
        rows = [[cat_to_cls[a["category_id"]], a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                 a["bbox"][1] + a["bbox"][3]] for a in gt.coco["annotations"]
                if a["image_id"] == iid and a["category_id"] in cat_to_cls]  # fmt: skip
        gt_boxes[img] = np.asarray(rows, dtype=float).reshape(-1, 5)
    preds = {
        m["name"]: predict_boxes(models[m["name"]], chosen, imgsz, batch=len(chosen), device=device, conf=0.25)
        for m in results["models"]
    }
    return chosen, gt_boxes, preds, results["data"]["classes"]
