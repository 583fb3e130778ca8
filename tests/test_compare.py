"""``ca-yolo compare``: checks before training, train/resume/skip, statistics, report files."""

from __future__ import annotations

import csv
import json
import math

import pytest
import yaml

from ca_yolo.compare.cli import main as compare_main
from ca_yolo.compare.config import parse_compare_args
from ca_yolo.compare.stats import paired_difference, summarize, t_quantile

# Two-sided 95% Student t quantiles from statistical tables.
T975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 9: 2.2622, 19: 2.0930, 29: 2.0452, 120: 1.9799}


@pytest.mark.parametrize("df", sorted(T975))
def test_t_quantile_matches_tables(df):
    assert t_quantile(0.975, df) == pytest.approx(T975[df], abs=1e-4)


def test_paired_difference_numbers():
    ca = {0: 0.50, 1: 0.60, 2: 0.55}
    base = {0: 0.40, 1: 0.50, 2: 0.47, 7: 0.9}  # seed 7 has no partner and is ignored
    d = paired_difference(ca, base, "ca", "AP")
    diffs = [0.10, 0.10, 0.08]
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in diffs) / 2)
    half = 4.302653 * sd / math.sqrt(3)
    assert d.n == 3 and d.mean == pytest.approx(mean) and d.std == pytest.approx(sd)
    assert (d.ci_low, d.ci_high) == (pytest.approx(mean - half, abs=1e-6), pytest.approx(mean + half, abs=1e-6))
    assert d.verdict == "higher" and d.sentence.endswith("distinguishable from seed noise.")

    noisy = paired_difference({0: 0.5, 1: 0.4, 2: 0.45}, {0: 0.45, 1: 0.47, 2: 0.45}, "ca", "AP")
    assert noisy.verdict == "not distinguishable" and "contains 0" in noisy.sentence

    one = paired_difference({0: 0.9}, {0: 0.1}, "ca", "AP")
    assert (one.n, one.std, one.ci_low, one.verdict) == (1, None, None, "no conclusion (1 seed)")
    assert "no conclusion can be drawn" in one.sentence
    assert summarize([1.0, 2.0, 4.0]).std == pytest.approx(math.sqrt(7 / 3))


def _args(data, project, *extra):
    """compare arguments for a tiny, fast comparison; ``extra`` key=value items replace the defaults."""
    args = {"data": data, "models": "yolov8n.yaml,yolov8n-ca.yaml", "epochs": 2, "imgsz": 64, "batch": 4,
            "device": "cpu", "workers": 0, "project": project, "name": "cmp", "latency_runs": 3,
            "grid_images": 2, "plots": False}  # fmt: skip
    args.update(x.split("=", 1) for x in extra)
    return [f"{k}={v}" for k, v in args.items()]


@pytest.mark.parametrize(
    "models, expected",
    [
        ("yolov8n.yaml,{tmp}/yolov8n.yaml",
         "two models are named 'yolov8n' (yolov8n.yaml and {tmp}/yolov8n.yaml); model names are YAML file stems "
         "and must differ: rename one file"),
        ("yolov8n.yaml,{tmp}/broken.yaml",
         "model '{tmp}/broken.yaml' does not build: ModelYamlError: model YAML row 1: unknown module 'NoSuchLayer' "
         "(not in Ultralytics or ca-yolo)"),
        ("yolov8n.yaml,{tmp}/missing.yaml", "model '{tmp}/missing.yaml' does not build: FileNotFoundError"),
        ("yolov8n.yaml,yolov8n.pt", "models= takes model YAMLs (e.g. yolov8n.yaml); got 'yolov8n.pt'"),
    ],
)  # fmt: skip
def test_model_errors_before_training(tiny_data, tmp_path, capsys, models, expected):
    (tmp_path / "yolov8n.yaml").write_text("nc: 2\nbackbone: []\nhead: []\n")
    (tmp_path / "broken.yaml").write_text(
        "nc: 2\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - [-1, 1, NoSuchLayer, [16]]\n"
        "head:\n  - [-1, 1, Detect, [nc]]\n"
    )
    args = _args(tiny_data, tmp_path / "runs")
    args[1] = "models=" + models.format(tmp=tmp_path)
    assert compare_main(args) == (2 if "takes model YAMLs" in expected else 1)  # usage / model problem
    err = capsys.readouterr().err.strip()
    assert err.startswith("ca-yolo compare: error: " + expected.format(tmp=tmp_path))
    assert not (tmp_path / "runs").exists()  # nothing was trained or written


def test_data_and_argument_errors(tmp_path, capsys):
    assert compare_main(_args(tmp_path / "nope.yaml", tmp_path / "runs")) == 1
    assert capsys.readouterr().err.strip() == (
        f"ca-yolo compare: error: dataset: dataset YAML '{tmp_path / 'nope.yaml'}' not found"
    )
    assert compare_main(["seed=3"]) == 2
    assert capsys.readouterr().err.strip() == "ca-yolo compare: error: 'seed=' cannot be set: use seeds=0,1,2"
    assert compare_main(["data=x.yaml", "bogus=1"]) == 2
    assert "unknown key(s) ['bogus']" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_defaults():
    default = parse_compare_args([])
    assert default.data is None and default.models == ["yolov8n.yaml", "yolov8n-ca.yaml"] and default.seeds == [0, 1]
    full = parse_compare_args(["data=data/VOC.yaml", "lr0=0.02"])
    assert (full.epochs, full.imgsz, full.seeds, full.name) == (100, 640, [0, 1, 2], "VOC-100ep-640px")
    assert full.train_args == {"lr0": 0.02}


def test_run_records_of_existing_folders_still_read(tmp_path):
    """run.json keeps its structure: records of earlier comparisons (here: the runs in docs/results, from
    before the VOC metric and per-class AP) read as RunRecords and write back as they were, with an empty
    'voc' and 'per_class' added."""
    from pathlib import Path

    import torch

    from ca_yolo.compare.plan import Run
    from ca_yolo.compare.record import RunRecord
    from ca_yolo.compare.runner import RUN_FILE, read_run, run_state

    order = ["model", "cfg", "seed", "settings", "weights", "epochs_trained", "seconds", "resumed", "finished_at",
             "coco", "voc", "ultralytics", "counts", "gt_source", "curve", "per_class"]  # fmt: skip
    docs = Path(__file__).resolve().parents[1] / "docs" / "results"
    old = [r for f in sorted(docs.glob("*/results.json")) for r in json.loads(f.read_text())["runs"]]
    assert old
    for raw in old:
        rec = RunRecord.from_json(raw)
        assert (rec.model, rec.seed, rec.coco) == (raw["model"], raw["seed"], raw["coco"])
        back = rec.to_json()
        assert list(back) == order and back == {**raw, "voc": raw.get("voc", {}), "per_class": {}}

    run = Run("m", "m.yaml", 0, tmp_path / "m-seed0")
    run.dir.mkdir()
    (run.dir / RUN_FILE).write_text(json.dumps(old[0]))
    assert read_run(run) == RunRecord.from_json(old[0])
    for bad in ("{not json", "[1, 2]", json.dumps({k: v for k, v in old[0].items() if k != "coco"})):
        (run.dir / RUN_FILE).write_text(bad)
        assert read_run(run) is None
    # a partial record beside a good best.pt: evaluated again (its settings are still checked)
    (run.dir / "weights").mkdir()
    torch.save({"epoch": -1}, run.dir / "weights" / "best.pt")
    log = []
    assert run_state(run, old[0]["settings"], 3, log.append) == ("evaluate", 0)
    assert log == ["ca-yolo compare: m seed 0: its run.json is not a whole run record; evaluating its best.pt again"]


class _Interrupt(Exception):
    pass


def _count_loads(monkeypatch) -> list:
    """Record the checkpoint path of every ``YOLO(...)`` load from now on."""
    from pathlib import Path

    import ultralytics.engine.model as engine_model

    loads = []
    load = engine_model.load_checkpoint

    def counted(weights, *args, **kwargs):
        loads.append(Path(weights).resolve())
        return load(weights, *args, **kwargs)

    monkeypatch.setattr(engine_model, "load_checkpoint", counted)
    return loads


@pytest.mark.slow
def test_compare_trains_resumes_skips_and_reports(tiny_data, tmp_path, capsys, monkeypatch):
    """First call: interrupted after epoch 1 of the first run. Second: resumes it, trains the rest,
    writes the report. Third: trains nothing."""
    # The dict get_default_callbacks() copies: Ultralytics' trainer rebinds the package attribute
    # ultralytics.utils.callbacks.default_callbacks to a copy during its AMP check, so patching that
    # attribute has no effect once any training has run in this process.
    from ultralytics.utils.callbacks import base as callbacks

    def interrupt_once(trainer):
        if trainer.epoch == 0 and not trainer.args.resume and trainer.save_dir.name == "yolov8n-seed0":
            raise _Interrupt

    monkeypatch.setitem(callbacks.default_callbacks, "on_model_save",
                        [*callbacks.default_callbacks["on_model_save"], interrupt_once])  # fmt: skip
    args = _args(tiny_data, tmp_path / "runs", "seeds=0,1")
    out = tmp_path / "runs" / "cmp"
    with pytest.raises(_Interrupt):
        compare_main(args)
    assert (out / "yolov8n-seed0" / "weights" / "last.pt").is_file() and not (
        out / "yolov8n-seed0" / "run.json"
    ).exists()
    capsys.readouterr()

    loads = _count_loads(monkeypatch)
    assert compare_main(args) == 0
    log = capsys.readouterr().out
    assert "[1/4] yolov8n seed 0: resuming, 1 epochs left" in log
    # each best.pt loaded once, for evaluation; the first seed's shared with measurement, grid and figures
    bests = sorted(p.resolve() for p in out.glob("*-seed*/weights/best.pt"))
    assert sorted(p for p in loads if p.name == "best.pt") == bests
    for i, label in enumerate(["yolov8n-ca seed 0", "yolov8n seed 1", "yolov8n-ca seed 1"], 2):
        assert f"[{i}/4] {label}: training 2 epochs (ETA for the comparison: " in log
        assert f"[{i}/4] {label}: done in " in log

    # identical hyperparameters for every run, only seed/name differ; seeds as asked; deterministic
    run_args = {d.name: yaml.safe_load((d / "args.yaml").read_text()) for d in sorted(out.glob("*-seed*"))}
    assert sorted(run_args) == ["yolov8n-ca-seed0", "yolov8n-ca-seed1", "yolov8n-seed0", "yolov8n-seed1"]
    varying = {"model", "name", "seed", "save_dir", "resume"}
    # a resumed run's args.yaml records what optimizer=auto resolved to; the rest must be equal
    resolved = {"optimizer", "lr0", "warmup_bias_lr"}
    shared = {n: {k: v for k, v in a.items() if k not in varying} for n, a in run_args.items()}
    ref = shared["yolov8n-seed1"]
    for name, s in shared.items():
        ignore = resolved if name == "yolov8n-seed0" else set()
        assert {k: v for k, v in s.items() if ref.get(k) != v and k not in ignore} == {}, name
    assert all(a["deterministic"] is True and a["seed"] == int(n[-1]) for n, a in run_args.items())

    results = json.loads((out / "results.json").read_text())
    assert [m["name"] for m in results["models"]] == ["yolov8n", "yolov8n-ca"]
    assert all(m["metrics"]["AP"]["n"] == 2 and m["params"] > 0 and m["latency_ms"] > 0 for m in results["models"])
    assert results["models"][1]["params"] > results["models"][0]["params"]  # CA adds parameters
    from ultralytics import YOLO

    for m in results["models"]:  # the trained (unfused) count, although evaluation fused the shared model first
        trained = YOLO(str(out / f"{m['name']}-seed0" / "weights" / "best.pt")).model
        assert m["params"] == sum(p.numel() for p in trained.parameters())
    assert [r["epochs_trained"] for r in results["runs"]] == [2, 2, 2, 2]
    assert results["runs"][0]["resumed"] is True
    diff = {d["metric"]: d for d in results["differences"]}
    ap = [r["coco"]["AP"] for r in results["runs"]]  # order: n s0, ca s0, n s1, ca s1
    assert diff["AP"]["mean"] == pytest.approx(((ap[1] - ap[0]) + (ap[3] - ap[2])) / 2)
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["model"], r["seed"]) for r in rows] == [
        ("yolov8n", "0"),
        ("yolov8n-ca", "0"),
        ("yolov8n", "1"),
        ("yolov8n-ca", "1"),
    ]
    report = (out / "report.md").read_text()
    assert report.startswith("# ca-yolo compare: cmp\n")
    assert "Produced by: `ca-yolo compare data=" in report and "| yolov8n (baseline) |" in report
    assert "95% CI" in report and "## Environment" in report and "- ultralytics: 8.4" in report
    assert all((out / f).stat().st_size > 1000 for f in ("curves.png", "final_metrics.png", "predictions.png"))
    # attention figures of 2 val images for the CA model only, linked from the report
    figures = sorted(p.relative_to(out).as_posix() for p in (out / "attention").rglob("*.png"))
    assert len(figures) == 2 and all("yolov8n-ca" in f for f in figures)
    assert "## What the attention layers attend to" in report and all(f in report for f in figures)

    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/run.json")}
    loads.clear()
    assert compare_main(args) == 0
    assert sorted(loads) == sorted(p.resolve() for p in out.glob("*-seed0/weights/best.pt"))  # for the figures
    log = capsys.readouterr().out
    assert log.count(": finished earlier, skipped") == 4 and "training" not in log.replace("Ultralytics train", "")
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/run.json")} == stamps


@pytest.mark.slow
def test_one_seed_reports_no_conclusion(tiny_data, tmp_path, capsys):
    args = _args(tiny_data, tmp_path / "runs", "seeds=0", "epochs=1", "grid_images=0")
    assert compare_main(args) == 0
    report = (tmp_path / "runs" / "cmp" / "report.md").read_text()
    assert "**One seed only: no conclusion can be drawn.**" in report
    assert "| mean difference |" not in report  # no difference table from a single run
    assert "one seed only: no conclusion can be drawn" in capsys.readouterr().out
    # deterministic: the same command into another folder reproduces every loss and metric
    assert compare_main(_args(tiny_data, tmp_path / "runs", "seeds=0", "epochs=1", "grid_images=0", "name=again")) == 0
    for model in ("yolov8n", "yolov8n-ca"):
        runs = [tmp_path / "runs" / n / f"{model}-seed0" for n in ("cmp", "again")]
        curves = [[{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader((r / "results.csv").open())]
                  for r in runs]  # fmt: skip
        assert curves[0] == curves[1] and len(curves[0]) == 1
        records = [json.loads((r / "run.json").read_text()) for r in runs]
        assert records[0]["coco"] == records[1]["coco"] and records[0]["counts"] == records[1]["counts"]
    capsys.readouterr()
    # a different setting in the same folder is refused before training
    assert compare_main(_args(tiny_data, tmp_path / "runs", "seeds=0", "epochs=3")) == 1
    assert "holds a comparison made with other settings (epochs: 1 there, 3 now)" in capsys.readouterr().err
