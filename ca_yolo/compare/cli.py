"""``ca-yolo compare``: train several models alike, evaluate them the COCO way, write a report."""

from __future__ import annotations

import sys
import time

from ca_yolo.cli_args import HELP_WORDS
from ca_yolo.compare.config import CompareConfig, parse_compare_args
from ca_yolo.compare.plan import PLAN_FILE, Plan, data_for, make_plan, run_settings
from ca_yolo.compare.progress import fmt_duration
from ca_yolo.errors import CaYoloError, check_output, report

RESUME_HINT = "finished runs are kept; re-run the same command to resume"

USAGE = """\
usage: ca-yolo compare [data=DATA.yaml] [models=a.yaml,b.yaml,...] [seeds=0,1,2] [key=value ...]

Trains every model on the same data with identical settings, once per seed (deterministic), then
evaluates each best checkpoint on val in one pass of Ultralytics' validator: its mAP50 and
mAP50-95, and from the same detections pycocotools (AP@[.5:.95], AP50, AP75, AP_S/M/L) and, for
VOC data, the PASCAL VOC metric (mAP@0.5, 11-point and all-point); measures params, GFLOPs and
latency side by side, and writes report.md, results.json, results.csv and plots into project/name. Re-running the same
command skips finished runs and resumes interrupted ones.

With no data= it runs the embedded default: the sample dataset (generated into datasets/sample
if missing), yolov8n vs yolov8n-ca, seeds 0,1, 12 epochs at imgsz 160, batch 16, nbs 16,
close_mosaic 4, CPU, workers 0, into runs/compare/sample - about 7 minutes on 2 CPU cores.

compare's keys (defaults with data= given):
  data=          data YAML (YOLO format)
  models=        model YAMLs, comma-separated; names are the file stems (yolov8n.yaml,yolov8n-ca.yaml)
  seeds=         0,1,2
  baseline=      model name differences are taken against (default: the first model)
  epochs=100 imgsz=640 batch=16 device= workers=8
  project=runs/compare  name=<data stem>-<epochs>ep-<imgsz>px
  latency_runs=50  grid_images=4
  attn_stats=False   True: each run also writes attention_stats.csv/.png (gates, drift, gradients)
  backend=local      ray: every run a Ray task on a multi-GPU server or cluster (pip install "ca-yolo[ray]"),
                     with ray_address= gpus_per_run= cpus_per_run= (docs/cluster.md)
Start every model from one checkpoint with pretrained=baseline.pt (an attention variant gets every
baseline tensor mapped to its new index; its attention layers start fresh).
Any other key is an Ultralytics train setting (lr0=, optimizer=, close_mosaic=, ...) given to
every run alike. Not allowed: model= (use models=), seed= (use seeds=), resume=, deterministic=.
"""


def main(argv: list[str]) -> int:
    """Run ``ca-yolo compare``; return 0 when the report is written, 2 on bad arguments, 1 on a data,
    model or run problem or a folder another compare holds, 130 on Ctrl-C and 143 on SIGTERM (finished
    runs are kept; the same command resumes)."""
    if argv and argv[0] in HELP_WORDS:  # no arguments is not a request for help here: it runs the default job
        print(USAGE)
        return 0
    from ca_yolo.compare.lock import Terminated, folder_lock, sigterm_as_interrupt

    t0 = time.time()
    try:
        # SIGTERM unwinds like Ctrl-C: the same cleanup (plan.json, the lock) and one line, exit 143.
        with sigterm_as_interrupt():
            config = parse_compare_args(argv)
            check_output(config.out_dir, "project/name=", folder=True)  # before the sample dataset or plan.json
            with folder_lock(config.out_dir):  # a second compare into this folder fails here, at once
                data = data_for(config)
                plan = make_plan(config, data)
                report_md = run_comparison(plan)
    except CaYoloError as e:
        return report("compare", e)
    except KeyboardInterrupt as e:
        how, code = ("stopped by SIGTERM", 143) if isinstance(e, Terminated) else ("interrupted", 130)
        print(f"\nca-yolo compare: {how}; {RESUME_HINT}", file=sys.stderr)
        return code
    print(f"\nca-yolo compare: finished in {fmt_duration(time.time() - t0)}; report: {report_md}")
    return 0


def run_comparison(plan: Plan):
    """Train and evaluate every run, measure the models, write every output; return report.md's path."""
    from ca_yolo.atomic_io import write_json_atomic
    from ca_yolo.compare.analysis import analyze_comparison
    from ca_yolo.compare.backend import run_plan
    from ca_yolo.compare.environment import environment
    from ca_yolo.compare.measure import measure_models
    from ca_yolo.compare.models import ModelCache
    from ca_yolo.compare.report import grid_inputs, write_outputs
    from ca_yolo.compare.results import build_results
    from ca_yolo.evaluation.cocogt import ground_truth_for
    from ca_yolo.evaluation.dataset import read_split

    cfg: CompareConfig = plan.config
    out = cfg.out_dir
    split = read_split(plan.data, "val")
    gt = ground_truth_for(split)
    plan_file = out / PLAN_FILE
    new_plan = not plan_file.exists()
    write_json_atomic(plan_file, {"settings": run_settings(cfg, plan.data), "command": cfg.command}, indent=2)
    first = {n: out / f"{n}-seed{cfg.seeds[0]}" / "weights" / "best.pt" for n in plan.names}
    models = ModelCache(keep=first.values())  # each best.pt loaded once; the first seed's kept for what follows
    try:
        records = run_plan(plan, gt, models)
    except BaseException:
        # plan.json pins the settings runs were trained with; if none got as far as a checkpoint, it
        # pins nothing and must not block a corrected command.
        if new_plan and not any(_has_checkpoint(r.dir) for r in plan.runs):
            plan_file.unlink(missing_ok=True)
        raise
    print(f"ca-yolo compare: measuring params, GFLOPs and latency of {', '.join(plan.names)} side by side")
    loaded = {n: models.get(w) for n, w in first.items()}
    measures = measure_models(loaded, cfg.imgsz, cfg.device, cfg.latency_runs)
    analysis = analyze_comparison(plan, records, gt, split, models)  # fills per-class AP of older records
    results = {**build_results(plan, records, measures, environment()), **analysis}
    grid, attention = None, {}
    if cfg.grid_images > 0:
        yolos = {n: m.yolo for n, m in loaded.items()}
        grid = grid_inputs(results, gt, split.images, yolos, cfg.grid_images, cfg.imgsz, cfg.device)
        attention = _attention_figures(yolos, split.images, out, cfg)
    files = write_outputs(results, out, grid, attention)
    print(_summary(results))
    return files["md"]


def _has_checkpoint(run_dir) -> bool:
    """True when a run folder holds something trained (a checkpoint or a finished record)."""
    return (run_dir / "weights" / "last.pt").is_file() or (run_dir / "run.json").is_file()


def _attention_figures(models: dict, images: list, out, cfg: CompareConfig, n_images: int = 2) -> dict:
    """Attention figures of the first val images for every model that has CoordAtt layers.

    Args:
        models: model name -> its first-seed checkpoint loaded as an ``ultralytics.YOLO``.
    """
    from ca_yolo.viz import report_attention_figures

    print(f"ca-yolo compare: drawing attention maps of {n_images} val images for the CA models")
    return report_attention_figures(models, images[:n_images], out / "attention", imgsz=cfg.imgsz, device=cfg.device)


def _summary(results: dict) -> str:
    """The report's headline, for the terminal."""
    from ca_yolo.compare.report import metric_cell

    lines = ["", f"{'model':<22} {'AP@[.5:.95]':>15} {'AP50':>15} {'mAP50-95 (U)':>15} {'latency ms':>10}"]
    for m in results["models"]:
        mm = m["metrics"]
        lines.append(f"{m['name']:<22} {metric_cell(mm['AP']):>15} {metric_cell(mm['AP50']):>15} "
                     f"{metric_cell(mm['ultralytics_mAP50-95']):>15} {m.get('latency_ms', 0):>10.2f}")  # fmt: skip
    if len(results["seeds"]) < 2:
        lines.append("one seed only: no conclusion can be drawn about differences (use seeds=0,1,2)")
    lines += [x["sentence"] for x in results["differences"] if x["metric"] in ("AP", "AP50")]
    return "\n".join(lines)
