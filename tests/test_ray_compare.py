"""``ca-yolo compare backend=ray`` on a real Ray cluster: a head and a second node started on this machine.

The cluster is started once for this module (``ray start``, session files in a temp dir) and torn
down by killing the process groups it started. The comparisons are the tiny ones of test_compare
(8 train / 4 val images, 64 px, CPU); every number asserted comes from real training on the cluster.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from ca_yolo.compare.cli import main as compare_main

# Ray is imported only by the fixture, after it set the environment Ray reads at import.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason='needs the ray extra: pip install -e ".[test]"'),
]
TASK_TITLE = "ray::run_in_worker"  # a Ray worker's process title while it runs a comparison's run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_start(*args: str) -> int:
    """``ray start ARGS`` in a new session (its daemons and their workers stay in it); return the session's id."""
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--num-cpus=1", "--disable-usage-stats",
           "--object-store-memory=100000000", *args]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    return proc.pid


@pytest.fixture(scope="module")
def cluster():
    """The address of a 2-node Ray cluster (1 CPU each) running on this machine."""
    # Ray's token authentication off, said explicitly for the nodes and every driver: a token file some
    # earlier local ray.init() left in ~/.ray would otherwise switch the head to it and lock the other
    # node and the drivers (which read the mode when ray is imported) out.
    auth = {"RAY_AUTH_MODE": "disabled"}
    saved = {k: os.environ.get(k) for k in auth}
    os.environ.update(auth)  # the nodes, the drivers (this process, subprocesses) and workers share it
    import ray

    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    port = _free_port()
    address = f"127.0.0.1:{port}"
    sessions = [_ray_start("--head", f"--port={port}", f"--temp-dir={temp_dir}", "--include-dashboard=false")]
    try:
        sessions.append(_ray_start(f"--address={address}"))
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        deadline = time.time() + 60
        while sum(n["Alive"] for n in ray.nodes()) < 2 and time.time() < deadline:
            time.sleep(0.5)
        assert sum(n["Alive"] for n in ray.nodes()) == 2
        ray.shutdown()
        yield address, sessions
    finally:
        ray.shutdown()
        for how in ("terminate", "kill"):  # every process of the two sessions, and nothing else
            for p in _processes(sessions):
                getattr(p, how)()
            time.sleep(2)
        shutil.rmtree(temp_dir, ignore_errors=True)
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _args(data, project, name, *extra):
    """The tiny comparison's arguments; ``extra`` key=value items replace the defaults."""
    args = {"data": data, "models": "yolov8n.yaml,yolov8n-ca.yaml", "seeds": "0,1", "epochs": 2, "imgsz": 64,
            "batch": 4, "device": "cpu", "workers": 0, "project": project, "name": name, "latency_runs": 3,
            "grid_images": 0, "plots": False}  # fmt: skip
    args.update(x.split("=", 1) for x in extra)
    return [f"{k}={v}" for k, v in args.items()]


def _processes(sessions: list[int]) -> list:
    """The live processes of the given sessions (the cluster this module started: daemons and workers)."""
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "status"]):
        try:
            if os.getsid(p.pid) in sessions and p.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(p)
        except (psutil.Error, ProcessLookupError):
            continue
    return found


def _task_processes(sessions: list[int]) -> list:
    """The cluster's worker processes running a comparison's run now (Ray titles them after the task)."""
    import psutil

    found = []
    for p in _processes(sessions):
        try:
            if " ".join(p.cmdline()).strip().startswith(TASK_TITLE):
                found.append(p)
        except psutil.Error:
            continue
    return found


def _losses(run_dir: Path) -> list[str]:
    """results.csv without its time column: the per-epoch losses and metrics, as Ultralytics wrote them."""
    lines = (run_dir / "results.csv").read_text().splitlines()
    return [",".join(c for k, c in enumerate(line.split(",")) if k != 1) for line in lines]


def test_ray_runs_spread_over_nodes_and_equal_local(cluster, tiny_data, tmp_path, capsys):
    """2 models x 2 seeds on 2 one-CPU nodes: both nodes train, and every number equals the local backend's."""
    address, _ = cluster
    runs = tmp_path / "runs"
    assert compare_main(_args(tiny_data, runs, "ray", "backend=ray", f"ray_address={address}")) == 0
    log = capsys.readouterr().out
    assert compare_main(_args(tiny_data, runs, "local")) == 0
    capsys.readouterr()

    assert "ca-yolo compare: 4 runs (2 models x 2 seeds) in " in log
    assert ": 2 nodes, 2 CPUs, 0 GPUs; each run holds cpus_per_run=1 gpus_per_run=0: up to 2 runs at once" in log
    ray_records = {p.parent.name: json.loads(p.read_text()) for p in (runs / "ray").glob("*/run.json")}
    local_records = {p.parent.name: json.loads(p.read_text()) for p in (runs / "local").glob("*/run.json")}
    assert sorted(ray_records) == ["yolov8n-ca-seed0", "yolov8n-ca-seed1", "yolov8n-seed0", "yolov8n-seed1"]
    assert sorted(local_records) == sorted(ray_records)
    for name, rec in ray_records.items():
        where = rec["ran_on"]
        assert where["backend"] == "ray" and where["device"] == "cpu" and where["gpus"] == []
        place = f"{where['host']} node {where['node_id'][:8]} cpu"
        label = f"{rec['model']} seed {rec['seed']}"
        assert log.count(f"] {label}: training 2 epochs on {place} (ETA for the comparison: ") == 1
        assert log.count(f"] {label}: done on {place} in ") == 1
        assert local_records[name]["ran_on"]["backend"] == "local"
        # same settings, seed and deterministic training: the same numbers, to the last digit
        for key in ("settings", "epochs_trained", "coco", "voc", "ultralytics", "counts", "curve", "per_class"):
            assert rec[key] == local_records[name][key], (name, key)
        assert _losses(runs / "ray" / name) == _losses(runs / "local" / name)
        assert rec["resumed"] is False
    assert len({r["ran_on"]["node_id"] for r in ray_records.values()}) == 2  # both nodes trained runs
    report = (runs / "ray" / "report.md").read_text()
    assert "| epochs | time | ran on |" in report
    assert all(f" node {r['ran_on']['node_id'][:8]} cpu |" in report for r in ray_records.values())
    assert "ran on" not in (runs / "local" / "report.md").read_text()
    ray_results = json.loads((runs / "ray" / "results.json").read_text())
    local_results = json.loads((runs / "local" / "results.json").read_text())
    assert ray_results["differences"] == local_results["differences"]


def test_killed_worker_resumes_from_last_pt_and_own_failure_is_reported(cluster, tiny_data, tmp_path, capsys):
    """seed 0's worker process is killed (SIGKILL) after its first epoch: Ray runs the task again, which
    resumes from its last.pt. seed 1 fails for a reason of its own (its run folder is a file): reported,
    seed 0 unharmed."""
    address, sessions = cluster
    out = tmp_path / "runs" / "cmp"
    out.mkdir(parents=True)
    (out / "yolov8n-seed1").write_text("not a folder")
    last = out / "yolov8n-seed0" / "weights" / "last.pt"
    killed: list[int] = []

    def kill_after_first_epoch():
        deadline = time.time() + 240
        while time.time() < deadline and not killed:
            # once epoch 1's checkpoint is whole, every worker busy with a run: seed 0's, and seed 1's if it
            # has not failed yet (its retry then fails for its own reason all the same)
            if last.is_file() and zipfile.is_zipfile(last):
                for p in _task_processes(sessions):
                    p.kill()
                    killed.append(p.pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_after_first_epoch, daemon=True)
    killer.start()
    args = _args(tiny_data, tmp_path / "runs", "cmp", "models=yolov8n.yaml", "epochs=4", "backend=ray",
                 f"ray_address={address}")  # fmt: skip
    assert compare_main(args) == 1
    killer.join(timeout=5)
    captured = capsys.readouterr()
    assert 1 <= len(killed) <= 2
    assert "[2/2] yolov8n seed 1: failed: " in captured.out
    assert captured.err.startswith("ca-yolo compare: error: 1 of 2 runs failed (yolov8n seed 1: ")
    assert captured.err.rstrip().endswith(
        "; the other runs are finished and kept: fix the cause and re-run the same command"
    )
    assert captured.err.count("\n") == 1
    # the retry picked the run up where the kill left it, and counted it once
    assert captured.out.count("[1/2] yolov8n seed 0: training 4 epochs on ") == 1
    assert captured.out.count("[1/2] yolov8n seed 0: resuming, ") == 1
    assert captured.out.count("[1/2] yolov8n seed 0: done on ") == 1
    record = json.loads((out / "yolov8n-seed0" / "run.json").read_text())
    assert record["resumed"] is True and record["epochs_trained"] == 4
    assert record["curve"]["epoch"] == [1, 2, 3, 4]
    assert [line.split(",")[0] for line in (out / "yolov8n-seed0" / "results.csv").read_text().splitlines()[1:]] == [
        "1", "2", "3", "4"
    ]  # fmt: skip
    assert (out / "yolov8n-seed1").read_text() == "not a folder"


def test_interrupted_driver_stops_cluster_runs_and_rerun_completes(cluster, tiny_data, tmp_path, capsys):
    """Ctrl-C on the driver (SIGINT) while both runs train: exit 130, no run goes on training on the
    cluster; the same command run again resumes and finishes the plan."""
    address, sessions = cluster
    out = tmp_path / "runs" / "cmp"
    args = _args(tiny_data, tmp_path / "runs", "cmp", "models=yolov8n.yaml", "epochs=3", "backend=ray",
                 f"ray_address={address}")  # fmt: skip
    code = f"import sys; from ca_yolo.cli import main; sys.exit(main({['compare', *args]!r}))"
    driver = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not list(out.glob("*/weights/last.pt")) and time.time() < deadline:
        time.sleep(0.05)
    assert list(out.glob("*/weights/last.pt")), "no run saved a checkpoint"
    driver.send_signal(signal.SIGINT)
    stdout, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 130, stdout + stderr
    assert stderr.strip().splitlines()[-1] == (
        "ca-yolo compare: interrupted; finished runs are kept; re-run the same command to resume"
    )
    deadline = time.time() + 30
    while _task_processes(sessions) and time.time() < deadline:
        time.sleep(0.2)
    assert _task_processes(sessions) == []  # the cancel reached the workers
    done_before = {p.parent.name for p in out.glob("*/run.json")}
    assert done_before != {"yolov8n-seed0", "yolov8n-seed1"}  # the interrupt came mid-plan

    assert compare_main(args) == 0
    log = capsys.readouterr().out
    records = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/run.json")}
    assert sorted(records) == ["yolov8n-seed0", "yolov8n-seed1"]
    assert all(r["epochs_trained"] == 3 and r["curve"]["epoch"] == [1, 2, 3] for r in records.values())
    assert any(r["resumed"] for r in records.values())
    assert log.count("finished earlier, skipped") == len(done_before)
    assert log.count(": done on ") == 2 - len(done_before)
    assert (out / "report.md").is_file()
