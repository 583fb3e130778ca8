"""``compare`` cannot collide: one process per comparison folder, a clean stop on SIGTERM, and a resume
that never writes an epoch twice into ``results.csv`` (nor counts one twice in the report)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import run_python

import ca_yolo.compare.cli as compare_cli
from ca_yolo.compare import runner
from ca_yolo.compare.cli import main as compare_main
from ca_yolo.compare.lock import LOCK_FILE, FolderInUse, folder_lock

HEADER = "epoch,time,train/box_loss,metrics/mAP50(B),metrics/mAP50-95(B)"


def _argv(data, tmp_path, epochs: int = 1) -> list[str]:
    return [f"data={data}", "models=yolov8n.yaml", "seeds=0", f"epochs={epochs}", "imgsz=64", "batch=4",
            "device=cpu", "workers=0", f"project={tmp_path / 'runs'}", "name=c", "grid_images=0",
            "latency_runs=2", "plots=False"]  # fmt: skip


def test_a_second_compare_into_a_held_folder_fails_at_once_naming_the_folder_and_pid(tiny_data, tmp_path, capsys):
    folder = tmp_path / "runs" / "c"
    # The holder is another process, as when two terminals run the same command.
    code = f"""
import sys, time
from ca_yolo.compare.lock import folder_lock
with folder_lock({str(folder)!r}):
    print("HELD", flush=True)
    time.sleep(60)
"""
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "HELD"
        t0 = time.monotonic()
        assert compare_main(_argv(tiny_data, tmp_path)) == 1
        assert time.monotonic() - t0 < 10  # refused before the plan's checks, not after a training
        assert capsys.readouterr().err == (
            f"ca-yolo compare: error: comparison folder '{folder}' is in use by another 'ca-yolo compare' "
            f"(pid {holder.pid}); wait for it to finish or stop it, or give another name=\n"
        )
        assert sorted(p.name for p in folder.iterdir()) == [LOCK_FILE]  # nothing of ours written
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_of_a_dead_process_is_taken_over_and_removed_afterwards(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / LOCK_FILE).write_text(f"{dead.pid}\n")
    with folder_lock(folder):
        assert (folder / LOCK_FILE).read_text() == f"{os.getpid()}\n"
        with pytest.raises(FolderInUse, match=rf"in use by another 'ca-yolo compare' \(pid {os.getpid()}\)"):
            with folder_lock(folder):
                pass
    assert list(folder.iterdir()) == []


def test_a_lock_on_a_new_folder_leaves_nothing_when_the_command_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with folder_lock(tmp_path / "a" / "b"):
            raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_sigterm_is_one_line_exit_143_and_releases_the_lock(tiny_data, tmp_path, monkeypatch, capsys):
    def terminated(plan):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(compare_cli, "make_plan", lambda config, data: None)
    monkeypatch.setattr(compare_cli, "run_comparison", terminated)
    before = signal.getsignal(signal.SIGTERM)
    assert compare_main(_argv(tiny_data, tmp_path)) == 143
    assert capsys.readouterr().err == (
        "\nca-yolo compare: stopped by SIGTERM; finished runs are kept; re-run the same command to resume\n"
    )
    assert signal.getsignal(signal.SIGTERM) == before
    assert not (tmp_path / "runs").exists()  # the folders made for the lock were empty and are gone


def test_resume_drops_the_row_of_an_epoch_whose_checkpoint_was_never_written(tmp_path):
    csv = tmp_path / "results.csv"
    csv.write_text(f"{HEADER}\n1,5.1,1.2,0.1,0.05\n2,9.8,1.1,0.2,0.08\n3,14.")  # killed while writing epoch 3
    runner.keep_epochs(csv, 1)  # last.pt holds epoch 1: epochs 2 and 3 are trained again
    assert csv.read_text() == f"{HEADER}\n1,5.1,1.2,0.1,0.05\n"
    runner.keep_epochs(csv, 1)
    assert csv.read_text() == f"{HEADER}\n1,5.1,1.2,0.1,0.05\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]  # no temporary file left


def test_an_epoch_written_twice_counts_once_with_its_last_row(tmp_path):
    csv = tmp_path / "results.csv"
    csv.write_text(f"{HEADER}\n1,5,1,0.1,0.05\n2,9,1,0.2,0.08\n2,19,1,0.3,0.09\n3,24,1,0.4,0.1\n")
    assert runner.read_curve(csv) == {"epoch": [1, 2, 3], "mAP50-95": [0.05, 0.09, 0.1], "mAP50": [0.1, 0.3, 0.4]}


@pytest.mark.slow
def test_sigterm_between_an_epochs_row_and_its_checkpoint_resumes_without_a_repeated_epoch(tiny_data, tmp_path):
    # SIGTERM lands after Ultralytics appended epoch 2's row and before it wrote epoch 2's last.pt: the
    # window where a resume used to train and write epoch 2 again.
    argv = _argv(tiny_data, tmp_path, epochs=3)
    code = f"""
import os, signal, sys
from ultralytics.engine.trainer import BaseTrainer
saved = BaseTrainer.save_model
def save_model(self):
    if self.epoch == 1:
        os.kill(os.getpid(), signal.SIGTERM)
    return saved(self)
BaseTrainer.save_model = save_model
from ca_yolo.cli import main
sys.exit(main(["compare", *{argv!r}]))
"""
    p = run_python(code, cwd=tmp_path)
    assert p.returncode == 143, p.stderr[-2000:]
    assert p.stderr.strip().splitlines()[-1] == (
        "ca-yolo compare: stopped by SIGTERM; finished runs are kept; re-run the same command to resume"
    )
    run = tmp_path / "runs" / "c" / "yolov8n-seed0"
    assert [ln.split(",")[0] for ln in (run / "results.csv").read_text().splitlines()[1:]] == ["1", "2"]
    assert not (tmp_path / "runs" / "c" / LOCK_FILE).exists()
    assert compare_main(argv) == 0
    assert [ln.split(",")[0] for ln in (run / "results.csv").read_text().splitlines()[1:]] == ["1", "2", "3"]
    report = (tmp_path / "runs" / "c" / "results.csv").read_text().splitlines()
    epochs = report[0].split(",").index("epochs_trained")
    assert [row.split(",")[epochs] for row in report[1:]] == ["3"]
