"""``ca-yolo bench --parts gpu`` (the GPU table): rows, ratios, skip reasons, markdown and ``--device`` parsing.

On this CPU-only CI the part runs its CPU variant: eager and training rows wall-clock timed, CUDA-graph rows
and the profiler's CUDA times skipped with the reason.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
from conftest import REPO, script_module
from torch.profiler import ProfilerActivity

from ca_yolo.bench import gpu, gpu_report
from ca_yolo.bench.cli import build_parser, check_args, default_parts, main
from ca_yolo.bench.models import default_form, inference_forms
from ca_yolo.bench.timing import form_ratios
from ca_yolo.errors import UsageError

TINY = ["--gpu-imgsz", "64,32", "--gpu-batch", "2,2", "--gpu-rounds", "1,1,1", "--gpu-iters", "1,1,1"]


def test_form_ratios_are_medians_of_per_round_ratios():
    samples = {
        "base": [0.010, 0.020, 0.030],
        "fast": [0.011, 0.020, 0.036],  # ratios 1.1, 1.0, 1.2
        "slow": [0.030, 0.020, 0.033],  # ratios 3.0, 1.0, 1.1
    }
    r = form_ratios(samples)
    assert r["base_ms"] == pytest.approx(20.0)
    assert r["ca_ms"] == pytest.approx({"fast": 20.0, "slow": 30.0})
    assert list(r["ratio"]) == ["fast", "slow"]
    assert r["ratio"] == pytest.approx({"fast": 1.1, "slow": 1.1})  # medians of the ratios, not of the times
    assert r["ratio_p25"] == pytest.approx({"fast": 1.05, "slow": 1.05})
    assert r["ratio_p75"] == pytest.approx({"fast": 1.15, "slow": 2.05})
    assert r["n"] == 3


@pytest.mark.parametrize(
    "samples, message",
    [
        ({"ca": [1.0]}, "no 'base' samples among ca"),
        ({"base": [1.0, 2.0], "ca": [1.0]}, "paired samples must be non-empty and of equal length, got 1 and 2"),
    ],
)
def test_form_ratios_rejects_unpaired_samples(samples, message):
    with pytest.raises(ValueError, match=message):
        form_ratios(samples)


def test_row_specs_are_the_tables_seven_rows():
    labels = [s.label for s in gpu.row_specs()]
    assert labels == [
        "eager fp32 640px bs1",
        "eager fp16 640px bs1",
        "eager fp16 320px bs1",
        "eager fp16 640px bs32",
        "cuda graph fp16 640px bs1",
        "cuda graph fp16 640px bs32",
        "train step amp 640px bs64",
    ]
    counts = [(s.rounds, s.iters) for s in gpu.row_specs()]
    assert counts == [(10, 30)] * 3 + [(8, 10), (10, 30), (8, 10), (5, 3)]
    small = gpu.row_specs((64, 32), (2, 4), (1, 2, 3), (4, 5, 6))
    # (imgsz, batch, rounds, iters): the batch-1 rows at the main size share one setting, the large-batch rows another
    bs1, large = (64, 1, 1, 4), (64, 2, 2, 5)
    got = [(s.imgsz, s.batch, s.rounds, s.iters) for s in small]
    assert got == [bs1, bs1, (32, 1, 1, 4), large, bs1, large, (64, 4, 3, 6)]


def test_raw_tensors_flattens_nested_outputs_in_order():
    a, b, c = torch.zeros(1), torch.ones(2), torch.full((3,), 2.0)
    out = gpu.raw_tensors((a, {"boxes": b, "feats": [c, None]}, "text"))
    assert [t.shape[0] for t in out] == [1, 2, 3]


@pytest.mark.parametrize("text, device", [("0", "cuda:0"), ("1", "cuda:1"), ("cuda", "cuda"), ("cpu", "cpu")])
def test_device_argument_follows_ultralytics(text, device):
    assert build_parser().parse_args(["--device", text]).device == device


def test_default_parts_depend_on_the_device():
    assert default_parts("cuda:0") == ["gpu"]
    assert default_parts("cpu") == ["layer", "ops", "torch", "onnx", "train"]
    args = build_parser().parse_args(["--parts", "gpu"])
    assert (args.gpu_imgsz, args.gpu_batch, args.gpu_rounds, args.gpu_iters) == (
        [640, 320],
        [32, 64],
        [10, 8, 5],
        [30, 10, 3],
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_device_0_without_cuda_is_refused(tmp_path, capsys):
    assert main(["--device", "0", "--out", str(tmp_path / "x.json")]) == 2
    assert "--device cuda:0: no CUDA device is available" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--gpu-imgsz", "640", "--gpu-imgsz: expected 2 values (main, small), got 1"),
        ("--gpu-batch", "32,64,8", "--gpu-batch: expected 2 values (inference, training), got 3"),
        ("--gpu-rounds", "10,8", "--gpu-rounds: expected 3 values (batch 1, large batch, training), got 2"),
        ("--gpu-iters", "1", "--gpu-iters: expected 3 values (batch 1, large batch, training), got 1"),
    ],
)
def test_gpu_flags_need_their_value_counts(flag, value, message, tmp_path):
    args = build_parser().parse_args(["--parts", "gpu", flag, value, "--out", str(tmp_path / "x.json")])
    with pytest.raises(UsageError, match=re.escape(message)):
        check_args(args)


def test_gpu_forms_flag_names_forms_of_the_device(tmp_path):
    args = build_parser().parse_args(["--parts", "gpu", "--gpu-forms", "pytorch,triton", "--out", str(tmp_path / "x")])
    offered = ",".join(inference_forms("cpu"))
    with pytest.raises(UsageError, match=re.escape(f"unknown --gpu-forms triton; on cpu choose from {offered}")):
        check_args(args)


def test_cuda_forms_are_the_gpu_forms_that_can_run():
    from ca_yolo.nn.gpu_forms import GPU_FORMS, triton_available

    expected = [f for f in GPU_FORMS if f != "triton" or triton_available()]
    assert list(inference_forms("cuda:0")) == expected
    assert list(inference_forms(torch.device("cuda"))) == expected
    assert default_form("cpu") == next(iter(inference_forms("cpu")))


@pytest.mark.slow
def test_gpu_part_on_cpu_writes_rows_per_form_skips_and_markdown(tmp_path, capsys):
    """One family, tiny settings, the last form the CPU offers (--gpu-forms): every row, form, profile and parity
    entry is there; CUDA-only parts say why not."""
    out, md = tmp_path / "gpu.json", tmp_path / "gpu.md"
    forms = list(inference_forms("cpu"))[-1:]
    argv = ["--parts", "gpu", "--models", "yolov8-ca.yaml", *TINY, "--out", str(out), "--markdown", str(md)]
    assert main([*argv, "--gpu-forms", forms[0]]) == 0
    result = json.loads(out.read_text())
    assert "targets" not in result and "partial" not in result  # measurements only, and all of them
    g = result["gpu"]
    assert g["meta"]["forms"] == forms and g["meta"]["default_form"] == default_form("cpu")
    assert (g["meta"]["device"], g["meta"]["cuda"], g["meta"]["cudnn"]) == ("cpu", None, None)
    assert [r["row"] for r in g["rows"]] == [s.label for s in gpu.row_specs((64, 32), (2, 2), (1, 1, 1), (1, 1, 1))]
    for r in g["rows"]:
        assert (r["model"], r["baseline"]) == ("yolov8n-ca.yaml", "yolov8n.yaml")
        if r["kind"] == "cuda_graph":
            assert r["skipped"] == "no CUDA device: CUDA graphs need one" and "ratio" not in r
            continue
        assert "skipped" not in r and r["n"] == 1
        assert list(r["ca_ms"]) == forms and list(r["ratio"]) == forms
        for f in forms:  # one round: the ratio is that round's CA / base time
            assert r["ratio"][f] == pytest.approx(r["ca_ms"][f] / r["base_ms"])
    assert [(p["batch"], p["imgsz"], p["dtype"], p["form"]) for p in g["profile"]] == [
        (1, 64, "float16", forms[0]),
        (2, 64, "float16", forms[0]),
    ]
    for p in g["profile"]:
        assert p["layers_count"] == 6 and [layer["layer"] for layer in p["layers"]] == [
            "model.5",
            "model.8",
            "model.11",
            "model.19",
            "model.23",
            "model.27",
        ]
        assert p["layers"][0]["input"] == [p["batch"], 64, 8, 8]
        assert p["cuda_skipped"] == "no CUDA device: CPU times only"
        assert p["ca_kernel_us"] is None and all(layer["kernel_us"] is None for layer in p["layers"])
        assert p["ca_cpu_us"] == pytest.approx(sum(layer["cpu_us"] for layer in p["layers"]))
        assert 0 < p["ca_cpu_us"] < p["forward_cpu_us"]
    assert [(p["form"], p["input"]) for p in g["parity"]] == [(f, [2, 3, 32, 32]) for f in forms]
    assert all(p["fp32_rel"] < 1e-5 and p["fp16_rel"] < 2e-2 for p in g["parity"])
    table = md.read_text()
    assert f"Command: `{result['meta']['command']}`." in table.splitlines()[2]  # after the CPU header line
    assert table.count("| yolov8n-ca.yaml / yolov8n.yaml | ") == 7
    graph_cells = "| skipped: no CUDA device: CUDA graphs need one |" + " – |" * (2 * len(forms))
    assert f"| yolov8n-ca.yaml / yolov8n.yaml | cuda graph fp16 64px bs1 | 1 × 1 {graph_cells}" in table
    assert "GPU times skipped: no CUDA device: CPU times only." in table
    assert f"| yolov8n-ca.yaml | {forms[0]} | float16, 2 × 64 | all 6 CA layers |" in table
    log = capsys.readouterr().out
    assert log.count("gpu yolov8n.yaml vs yolov8n-ca.yaml ") == 7 and log.count("gpu parity ") == len(forms)
    cpu_profile = r"gpu profile yolov8n-ca.yaml fp16 bs1 64px: 6 CA layers, CPU \d+ µs in CA layers of \d+ µs\n"
    assert re.search(cpu_profile, log)


def test_markdown_of_a_gpu_result():
    """The tables from a hand-made result: CA ms and ratio per form, a skipped row, parity and profile rows."""
    row = {"model": "m-ca", "baseline": "m", "row": "eager fp16 640px bs1", "rounds": 10, "iters": 30}
    result = {
        "meta": {"device_name": "H200", "torch": "2.11", "ultralytics": "8.4", "command": "ca-yolo bench --device 0"},
        "gpu": {
            "meta": {"device": "cuda:0", "cuda": "13.0", "cudnn": 91000, "triton": "3.5", "forms": ["triton", "torch"]}
            | {"default_form": "triton"},
            "rows": [
                {
                    **row,
                    "base_ms": 2.0,
                    "ca_ms": {"triton": 2.1, "torch": 2.5},
                    "ratio": {"triton": 1.05, "torch": 1.25},
                    "ratio_p25": {"triton": 1.04, "torch": 1.2},
                    "ratio_p75": {"triton": 1.06, "torch": 1.3},
                },
                {**row, "row": "cuda graph fp16 640px bs1", "skipped": "RuntimeError: capture failed"},
            ],
            "parity": [
                {"model": "m-ca", "form": "triton", "input": [2, 3, 320, 256], "fp32_rel": 1e-6} | {"fp16_rel": None}
            ],
            "profile": [],
        },
    }
    lines = gpu_report.markdown(result).splitlines()
    assert lines[0] == (
        "GPU table: H200 (cuda:0), torch 2.11, CUDA 13.0, cuDNN 91000, triton 3.5, ultralytics 8.4; CoordAtt "
        "forms timed: triton, torch (default triton). Command: `ca-yolo bench --device 0`."
    )
    assert lines[2:6] == [
        "| model / baseline | row | rounds × iters | base ms | triton ms | triton ratio [IQR] | torch ms "
        "| torch ratio [IQR] |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        "| m-ca / m | eager fp16 640px bs1 | 10 × 30 | 2.000 | 2.100 | 1.050 [1.040–1.060] | 2.500 "
        "| 1.250 [1.200–1.300] |",
        "| m-ca / m | cuda graph fp16 640px bs1 | 10 × 30 | skipped: RuntimeError: capture failed | – | – | – | – |",
    ]
    assert lines[-1] == "| m-ca | triton | 2×3×320×256 | 1.00e-06 | – |"
    assert not any(line.startswith("Per-layer") for line in lines)


@pytest.mark.slow
def test_failed_profile_and_parity_runs_are_reported_and_the_table_goes_on(monkeypatch):
    from ca_yolo.bench import gpu_profile
    from ca_yolo.bench.models import ca_model_pairs

    def broken(*args):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(gpu_profile, "layer_profile", broken)
    monkeypatch.setattr(gpu_profile, "fused_parity", broken)
    lines = []
    specs = gpu.row_specs((64, 32), (2, 2), (1, 1, 1), (1, 1, 1))[:1]
    g = gpu.bench_gpu(ca_model_pairs(["yolov8-ca.yaml"]), specs, "cpu", lines.append, form_names=["pytorch"])
    assert [r["row"] for r in g["rows"]] == ["eager fp32 64px bs1"] and g["profile"] == g["parity"] == []
    assert g["errors"] == [
        "profile yolov8n-ca.yaml bs1: RuntimeError: out of memory",
        "parity yolov8n-ca.yaml pytorch: RuntimeError: out of memory",
    ]
    assert "gpu parity yolov8n-ca.yaml pytorch failed: RuntimeError: out of memory" in lines


def test_gpu_bench_cut_short_keeps_the_rows_it_measured(monkeypatch, tmp_path):
    """The GPU part saves its result after every row: a bench that its time limit stops (here: interrupted in
    its third row) leaves the first two rows, marked partial, which the check's summary page reports."""
    bench_row = gpu.bench_row

    def cut_in_third_row(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt  # what the step's time limit does to the run, more or less
        calls.append(args[0].label)
        return bench_row(*args)

    calls = []
    monkeypatch.setattr(gpu, "bench_row", cut_in_third_row)
    out = tmp_path / "bench-gpu.json"
    with pytest.raises(KeyboardInterrupt):
        main(["--parts", "gpu", "--models", "yolov8-ca.yaml", *TINY, "--gpu-forms", "pytorch", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["partial"] is True and [r["row"] for r in saved["gpu"]["rows"]] == calls
    assert calls == ["eager fp32 64px bs1", "eager fp16 64px bs1"]
    assert saved["gpu"]["profile"] == saved["gpu"]["parity"] == [] and saved["gpu"]["meta"]["forms"] == ["pytorch"]
    assert not list(tmp_path.glob(".*.tmp"))
    page = script_module("gpu_check_summary").summary(tmp_path).splitlines()
    assert page[2] == "bench-gpu.json: cut short after 2 rows; the tables hold what it measured."
    assert "| yolov8n-ca.yaml | eager fp16 64px bs1 | " + f"{saved['gpu']['rows'][1]['ratio']['pytorch']:.3f} |" in page


def test_gpu_layer_probe_saves_every_row_as_it_goes(monkeypatch, tmp_path):
    """scripts/gpu_layer_probe.py with its CUDA timers stubbed (no GPU here): one row per layer shape with the
    whole KernelConfig sweep, training rows with both forms' times and kernel counts, and the JSON rewritten
    after every row, so a run its time limit cuts short keeps what it measured."""
    probe = script_module("gpu_layer_probe")
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: None)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "stub")

    def stub(value):  # a timer that runs what it times once and reports ``value`` microseconds
        return lambda fn, *args, **kwargs: (fn(), value)[1]

    monkeypatch.setattr(probe, "host_us", stub(3.0))
    monkeypatch.setattr(probe, "graph_us", stub(1.0))
    monkeypatch.setattr(probe, "event_us", stub(2.0))
    cpu_profile = torch.profiler.profile
    monkeypatch.setattr(torch.profiler, "profile", lambda **k: cpu_profile(activities=[ProfilerActivity.CPU]))
    train_row = probe.train_row

    def cut_after_one(*args):
        if cut_after_one.done:
            raise KeyboardInterrupt  # what the step's time limit does to the run, more or less
        cut_after_one.done = True
        return train_row(*args)

    cut_after_one.done = False
    monkeypatch.setattr(probe, "train_row", cut_after_one)
    out = tmp_path / "probe.json"
    argv = ["probe", str(out), "--batches", "1", "--device", "cpu", "--train-batch", "1", "--imgsz", "64"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(KeyboardInterrupt):
        probe.main()
    saved = json.loads(out.read_text())
    assert [r["shape"] for r in saved["rows"]] == [[1, 64, 8, 8], [1, 128, 4, 4], [1, 128, 8, 8], [1, 256, 2, 2]]
    assert all(len(r["sweep"]) == len(probe.SWEEP) for r in saved["rows"])
    assert all(r["empty_like_host_us"] == r["triton_host_us"] == 3.0 for r in saved["rows"])
    (train,) = saved["train_rows"]
    assert train["shape"] == [1, 64, 8, 8]
    for variant in ("triton", "triton_gate_modules", "torch"):
        assert train[f"{variant}_train_us"] == 2.0
        assert train[f"{variant}_train_kernels"] == 0  # a CPU profile: no GPU kernels
    assert not list(tmp_path.glob("*.tmp"))
    out.rename(tmp_path / "layer-probe.json")  # what the check's summary page makes of it
    page = script_module("gpu_check_summary").summary(tmp_path).splitlines()
    assert "| [1, 64, 8, 8] | 2.0 (0) | 2.0 (0) | 2.0 (0) |" in page


def test_gpu_check_summary_reads_a_check_folder(tmp_path):
    """scripts/gpu_check_summary.py on the files of the 84a3cd4 check (kept in docs/results/gpu): the goals with
    the measured ratios and the forms that met each, the parity, the probe's per-layer times, the steps and the
    test logs' summary lines; a result that is missing is said so."""
    summary = script_module("gpu_check_summary")
    results = REPO / "docs" / "results" / "gpu"
    shutil.copy(results / "h200-yolov8n-84a3cd4.json", tmp_path / "bench-gpu.json")
    (tmp_path / "steps.txt").write_text("bench: exit 0 after 121 s\nprobe: exit 124 after 90 s\n")
    (tmp_path / "tests.log").write_text("....\n21 passed, 3 skipped in 60.2s\n\n")
    page = summary.summary(tmp_path).splitlines()
    assert page[0] == "# GPU check summary: NVIDIA H200, commit unknown"  # the card as the bench names it
    assert "| eager fp16 640px bs1 | ≤ 1.08 | 1.163 | none |" in page
    assert "| cuda graph fp16 640px bs1 | ≤ 1.05 | 1.043 | triton |" in page
    assert "| train step amp 640px bs64 | ≤ 1.02 | 1.028 | none |" in page
    parity = [line for line in page if line.startswith("| parity ")]
    goal, measured = "fp32 ≤ 1e-05, fp16 ≤ 2e-02", "fp32 2.3e-06, fp16 8.4e-04"
    assert parity == [f"| parity yolov8n-ca.yaml triton | {goal} | {measured} | met |"]
    assert "No layer probe result (layer-probe.json missing or unreadable)." in page
    assert "- probe: exit 124 after 90 s" in page and "- tests: 21 passed, 3 skipped in 60.2s" in page
    shutil.copy(results / "h200-layer-probe-84a3cd4.json", tmp_path / "layer-probe.json")
    (tmp_path / "commit.txt").write_text("84a3cd4\n")
    page = summary.summary(tmp_path).splitlines()
    assert page[0] == "# GPU check summary: NVIDIA H200, 84a3cd4"
    assert "| [1, 64, 80, 80] | 103.4 | – | 109.1 | 208.0 | 13.3 | – |" in page  # fields it predates: "–"
    assert "| [32, 64, 80, 80] | 39.7 | 158.5 | 13.4 |" in page
