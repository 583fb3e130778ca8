"""``ca-yolo bench``: timing harness, reference layer, model pairs, targets and the JSON it writes.

No timing is asserted (the machine is shared); the runs use tiny shapes and one repeat.
"""

from __future__ import annotations

import json

import pytest
import torch
from conftest import script_module

import ca_yolo  # noqa: F401
from ca_yolo.bench import models
from ca_yolo.bench.cli import main
from ca_yolo.bench.layer import bench_layer_shape, ca_input_shapes
from ca_yolo.bench.reference import ReferenceCoordAtt
from ca_yolo.bench.timing import paired_ratio, summary, timed_rounds
from ca_yolo.nn import CoordAtt, native


class FakeClock:
    """Advances by the duration the last called candidate declared."""

    def __init__(self):
        self.now, self.pending = 0.0, 0.0

    def __call__(self) -> float:
        self.now += self.pending
        self.pending = 0.0
        return self.now


def test_timed_rounds_rotates_order_skips_warmup_and_times_each_call():
    clock, calls = FakeClock(), []

    def candidate(name, seconds):
        def run():
            calls.append(name)
            clock.pending = seconds

        return run

    fns = {"a": candidate("a", 1.0), "b": candidate("b", 2.0), "c": candidate("c", 4.0)}
    samples = timed_rounds(fns, repeats=3, warmup=2, clock=clock)
    assert "".join(calls) == "abcbcacababcbca"
    assert samples == {"a": [1.0] * 3, "b": [2.0] * 3, "c": [4.0] * 3}


def test_timed_rounds_bursts_drop_the_first_call_of_each_burst():
    clock, calls = FakeClock(), []
    durations = iter([9.0, 1.0, 2.0, 8.0, 3.0, 4.0] + [7.0, 5.0, 6.0, 7.0, 1.0, 1.0])

    def candidate(name):
        def run():
            calls.append(name)
            clock.pending = next(durations)

        return run

    samples = timed_rounds({"a": candidate("a"), "b": candidate("b")}, repeats=2, warmup=0, clock=clock, burst=3)
    assert "".join(calls) == "aaabbbbbbaaa"
    assert samples == {"a": [1.0, 2.0, 1.0, 1.0], "b": [3.0, 4.0, 5.0, 6.0]}


def test_timed_rounds_rejects_bad_counts():
    with pytest.raises(ValueError, match=r">= 0, got repeats=0, warmup=1, burst=1"):
        timed_rounds({"a": lambda: None}, repeats=0, warmup=1)
    with pytest.raises(ValueError, match=r"got repeats=2, warmup=0, burst=0"):
        timed_rounds({"a": lambda: None}, repeats=2, warmup=0, burst=0)
    with pytest.raises(ValueError, match="nothing to time"):
        timed_rounds({}, repeats=1)


def test_summary_in_milliseconds():
    assert summary([0.004, 0.001, 0.003, 0.002, 0.005]) == {"median": 3.0, "p25": 2.0, "p75": 4.0, "min": 1.0, "n": 5}
    assert summary([0.002]) == {"median": 2.0, "p25": 2.0, "p75": 2.0, "min": 2.0, "n": 1}


def test_paired_ratio_is_the_median_of_per_round_ratios():
    # load doubles in rounds 2-3: per-round ratios stay 1.1 while the ratio of medians does not
    ca, base = [1.1, 2.2, 2.2, 1.1, 1.1], [1.0, 2.0, 2.0, 1.0, 1.0]
    assert paired_ratio(ca, base) == pytest.approx({"median": 1.1, "p25": 1.1, "p75": 1.1})
    assert paired_ratio([3.0, 1.0, 2.0], [1.0, 1.0, 1.0]) == {"median": 2.0, "p25": 1.5, "p75": 2.5}
    with pytest.raises(ValueError, match="equal length, got 2 and 1"):
        paired_ratio([1.0, 2.0], [1.0])


@pytest.mark.parametrize("training", [False, True])
def test_reference_layer_computes_the_same_function_as_coordatt(training):
    torch.manual_seed(0)
    ours = CoordAtt(48)
    with torch.no_grad():
        ours.bn1.running_mean.normal_()
        ours.bn1.running_var.uniform_(0.5, 2.0)
    ref = ReferenceCoordAtt(48)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(3, 48, 11, 6)
    ours.train(training), ref.train(training)
    assert torch.allclose(ours(x), ref(x), atol=1e-6, rtol=0)


def test_layer_shapes_are_the_ca_inputs_of_yolov8n():
    # at 640 these are 64x80x80, 128x40x40, 256x20x20 (strides 8, 16, 32); 320 keeps the test fast
    assert ca_input_shapes("yolov8n-ca.yaml", 320) == [(64, 40, 40), (128, 20, 20), (256, 10, 10)]


def test_layer_row_structure():
    row = bench_layer_shape((2, 16, 6, 5), "train", repeats=2, warmup=0)
    assert row["shape"] == [2, 16, 6, 5] and row["mode"] == "train" and row["dtype"] == "float32"
    assert set(row["ms"]) == {"ours", "reference", "floor"}
    assert row["ms"]["ours"]["n"] == 2 * 3  # 2 rounds x (burst 4 - 1 untimed)
    lo, hi = row["speedup_vs_reference_iqr"]
    assert lo <= row["speedup_vs_reference"] <= hi and row["x_floor_iqr"][0] <= row["x_floor"] <= row["x_floor_iqr"][1]
    assert row["max_abs_diff"] < 1e-6
    with pytest.raises(ValueError, match="mode must be 'eval' or 'train', got 'infer'"):
        bench_layer_shape((1, 16, 4, 4), "infer", repeats=1)


def test_model_pairs_cover_the_nine_shipped_ca_models():
    pairs = models.ca_model_pairs()
    assert pairs == [
        ("yolo11n-ca-backbone.yaml", "yolo11n.yaml"),
        ("yolo11n-ca-neck.yaml", "yolo11n.yaml"),
        ("yolo11n-ca.yaml", "yolo11n.yaml"),
        ("yolo26n-ca-backbone.yaml", "yolo26n.yaml"),
        ("yolo26n-ca-neck.yaml", "yolo26n.yaml"),
        ("yolo26n-ca.yaml", "yolo26n.yaml"),
        ("yolov8n-ca-backbone.yaml", "yolov8n.yaml"),
        ("yolov8n-ca-neck.yaml", "yolov8n.yaml"),
        ("yolov8n-ca.yaml", "yolov8n.yaml"),
    ]
    assert models.ca_model_pairs(["yolov8-ca.yaml"], scale="s") == [("yolov8s-ca.yaml", "yolov8s.yaml")]
    with pytest.raises(ValueError, match=r"not a CA model name: 'yolov8-se.yaml'"):
        models.ca_model_pairs(["yolov8-se.yaml"])


def test_export_keeps_the_thread_count(tmp_path):
    """Ultralytics' exporter resets torch's threads (select_device: cpu_count - 1); later timings need ours."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(5)
        path = models.export_onnx("yolov8n.yaml", tmp_path, 64)
        assert path.is_file() and torch.get_num_threads() == 5
    finally:
        torch.set_num_threads(before)


def test_onnxruntime_sessions_stop_spinning_when_a_run_ends(tmp_path):
    """Interleaved sessions must not time each other's idle worker threads (each session has its own)."""
    from ca_yolo.bench.ops import export_layer

    path = tmp_path / "ca.onnx"
    export_layer(CoordAtt(16).eval().fuse(), torch.randn(1, 16, 8, 8), path)
    session = models.ort_session(path, threads=2)
    assert session.get_session_options().get_session_config_entry("session.force_spinning_stop") == "1"
    assert session.get_session_options().intra_op_num_threads == 2


def test_targets_are_checked_against_the_headline_figures():
    result = {
        "layer": [
            {"level": "P3", "shape": [8, 64, 80, 80], "mode": "eval", "speedup_vs_reference": 5.0, "x_floor": 4.5},
            {"level": "P3", "shape": [8, 64, 80, 80], "mode": "train", "speedup_vs_reference": 1.0, "x_floor": 9.0},
        ],
        "models": {
            "torch": [
                {"model": "yolov8n-ca.yaml", "imgsz": 160, "ratio": 1.07},
                {"model": "yolov8n-ca.yaml", "imgsz": 320, "ratio": 1.5},  # no target at 320
                {"model": "yolov8n-ca.yaml", "imgsz": 640, "ratio": 1.01},
                {"model": "yolo11n-ca.yaml", "imgsz": 640, "ratio": 1.5},
            ],
            "onnxruntime": [{"model": "yolov8n-ca.yaml", "imgsz": 640, "ratio": 1.03}],
        },
        "train": [{"model": "yolov8n-ca.yaml", "ratio": 0.95}],
    }
    got = {t["name"]: (t["value"], t["met"]) for t in script_module("bench_targets").check_targets(result)}
    assert got == {
        "layer_speedup_vs_reference": (5.0, True),
        "layer_x_floor": (4.5, False),
        "torch_latency_ratio_160": (1.07, False),
        "torch_latency_ratio_640": (1.01, True),
        "onnxruntime_latency_ratio_640": (1.03, True),
        "train_throughput_ratio": (0.95, True),
    }
    assert all(t["value"] is None and t["met"] is None for t in script_module("bench_targets").check_targets({}))


def test_cli_writes_json_and_markdown(tmp_path, capsys):
    out, md = tmp_path / "res" / "bench.json", tmp_path / "bench.md"
    threads_before = torch.get_num_threads()
    code = main(
        [
            "--imgsz",
            "64",
            "--sizes",
            "64",
            "--batches",
            "1",
            "--layer-repeats",
            "1",
            "--model-repeats",
            "1",
            "--models",
            "yolov8-ca.yaml",
            "--train-imgsz",
            "32",
            "--train-batch",
            "2",
            "--train-repeats",
            "1",
            "--threads",
            "1",
            "--out",
            str(out),
            "--markdown",
            str(md),
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert set(result) == {"meta", "settings", "layer", "ops", "models", "train"}  # measurements only
    ops = {r["layer"]: r for r in result["ops"]}
    assert ops["CoordAtt"]["onnx"] == {"before": 24, "after": 12} and ops["CoordAtt"]["eager"]["after"] == 10
    assert result["meta"]["threads"] == 1 and result["meta"]["device"] == "cpu"
    assert [(r["level"], r["shape"], r["mode"]) for r in result["layer"]] == [
        ("P3", [1, 64, 8, 8], "eval"),
        ("P3", [1, 64, 8, 8], "train"),
        ("P4", [1, 128, 4, 4], "eval"),
        ("P4", [1, 128, 4, 4], "train"),
        ("P5", [1, 256, 2, 2], "eval"),
        ("P5", [1, 256, 2, 2], "train"),
    ]
    for runtime in ("torch", "onnxruntime"):
        (row,) = result["models"][runtime]
        assert (row["model"], row["baseline"], row["imgsz"]) == ("yolov8n-ca.yaml", "yolov8n.yaml", 64)
        assert row["ratio_of_medians"] == pytest.approx(row["ms"] / row["baseline_ms"])
        assert row["n"] == 1 and row["ratio"] == pytest.approx(row["ratio_of_medians"])  # one round: the same
    share = result["models"]["torch"][0]["ca_layers"]
    assert share["layers"] == 6 and 0 < share["share"] < 1 and 0 < share["ca_ms"] < share["forward_ms"]
    assert "ca_layers" not in result["models"]["onnxruntime"][0]
    (train,) = result["train"]
    assert (train["batch"], train["imgsz"]) == (2, 32)
    assert train["ratio_of_medians"] == pytest.approx(train["images_per_s"] / train["baseline_images_per_s"])
    assert train["ratio"] == pytest.approx(train["ratio_of_medians"])
    targets = {t["name"]: t for t in script_module("bench_targets").check_targets(result)}
    assert targets["layer_x_floor"]["value"] is None  # no batch-8 P3 row in this run
    assert targets["torch_latency_ratio_640"]["value"] is None  # measured at 64 px only
    table = md.read_text()
    assert "| CA layer | shape (B×C×H×W) |" in table and "| yolov8n-ca.yaml | 64 | yolov8n.yaml |" in table
    kernel = " (compiled: 1 + 1)" if native.coord_att_kernel() else ""  # the kernel call and its output's allocation
    assert f"| CoordAtt | 28 → 10{kernel} | 24 → 12 (+16 → +10) |" in table
    assert result["meta"]["coordatt_kernel"] == native.kernel_status(with_file=False)
    assert str(native.cache_dir()) not in result["meta"]["coordatt_kernel"]
    assert f"Fused CoordAtt layers on the CPU: {'compiled kernel' if kernel else 'PyTorch inference form'}" in table
    assert f"saved {out}" in capsys.readouterr().out
    assert torch.get_num_threads() == threads_before  # --threads applies to the run only
    assert not list(out.parent.glob(".*tmp*"))  # the temporary file was renamed away


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--parts", "layer,bogus"], "unknown --parts bogus; choose from layer,ops,torch,onnx,train,gpu"),
        (["--half"], "--half needs a CUDA device"),
    ],
)
def test_cli_rejects_bad_arguments(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "x.json")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_no_kernel_runs_the_pytorch_form_for_that_run_only(tmp_path, monkeypatch):
    """--no-kernel: the before/after switch; the fused CA layers inside the run see no kernel."""
    from ca_yolo.bench import cli

    seen = []
    real = cli._run

    def spy(args, log, on_progress):
        seen.append(native.coord_att_kernel())
        return real(args, log, on_progress)

    monkeypatch.setattr(cli, "_run", spy)
    out = tmp_path / "b.json"
    argv = ["--parts", "layer", "--imgsz", "64", "--batches", "1", "--layer-repeats", "1", "--out", str(out)]
    assert main([*argv, "--no-kernel"]) == 0
    assert json.loads(out.read_text())["meta"]["coordatt_kernel"] == (
        "PyTorch inference form (ca_yolo.nn.native.disabled())"
    )
    assert seen == [None] and native.coord_att_kernel() is native._kernel_once()[0]


def test_form_samples_times_the_ca_model_under_each_inference_form():
    """scripts/call_costs.py and latency_drift.py: baseline + CA model per form, interleaved, the form active."""
    from ca_yolo.bench.models import form_samples, inference_forms

    assert list(inference_forms()) == (["kernel", "pytorch"] if native.coord_att_kernel() else ["pytorch"])
    seen = []

    def ca(x):
        seen.append(native.coord_att_kernel() is not None)
        return x

    samples = form_samples(lambda x: x, ca, torch.zeros(1), rounds=3)
    assert list(samples) == ["base", *inference_forms()] and all(len(v) == 3 for v in samples.values())
    kernel_calls = [True] * 8 if native.coord_att_kernel() else []  # 5 warm-up + 3 timed rounds per form
    assert sorted(seen) == [False] * 8 + kernel_calls  # the PyTorch form's calls saw no kernel
