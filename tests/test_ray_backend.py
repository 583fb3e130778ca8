"""``backend=ray`` without a cluster: its arguments, the missing-Ray message, what the local backend
imports, the storage probe a node runs, slots, ETA and place lines, and the last.pt kept across a kill.
The runs on a real cluster are in test_ray_compare."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import sys

import pytest
from conftest import run_python

from ca_yolo.compare.cli import main as compare_main
from ca_yolo.compare.config import parse_compare_args
from ca_yolo.compare.plan import PlanError, Run
from ca_yolo.compare.progress import Progress
from ca_yolo.compare.ray_storage import probe_storage
from ca_yolo.compare.record import describe_place
from ca_yolo.compare.runner import PREVIOUS_FILE, run_state

INSTALL = 'backend=ray needs Ray, which is not installed: pip install "ca-yolo[ray]"'
# backend=ray's further checks run only where Ray is installed; asking find_spec imports nothing of it
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra")


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["backend=slurm"], "backend=slurm must be local or ray"),
        (["ray_address=127.0.0.1:6379"], "ray_address= is for backend=ray"),
        (["gpus_per_run=1"], "gpus_per_run= is for backend=ray"),
        (["backend=ray", "device=0"], "device=0: with backend=ray each run gets its GPU from Ray; use gpus_per_run= "
                                      "(or device=cpu)"),
        (["backend=ray", "device=cpu", "gpus_per_run=1"],
         "gpus_per_run=1 with device=cpu: the runs would hold GPUs they never use"),
        (["backend=ray", "cpus_per_run=0"], "cpus_per_run=0 must be a number > 0"),
        (["backend=ray", "gpus_per_run=-1"], "gpus_per_run=-1 must be a number >= 0"),
    ],
)  # fmt: skip
@needs_ray
def test_backend_argument_errors(extra, expected, capsys):
    assert compare_main(["data=x.yaml", *extra]) == 2
    assert capsys.readouterr().err == f"ca-yolo compare: error: {expected}\n"


@needs_ray
def test_backend_ray_settings_are_not_run_settings():
    cfg = parse_compare_args(["data=x.yaml", "backend=ray", "ray_address=10.0.0.1:6379", "gpus_per_run=0.5",
                              "cpus_per_run=4"])  # fmt: skip
    assert (cfg.backend, cfg.ray_address, cfg.gpus_per_run, cfg.cpus_per_run) == ("ray", "10.0.0.1:6379", 0.5, 4.0)
    local = parse_compare_args(["data=x.yaml"])
    assert (local.backend, local.ray_address, local.gpus_per_run, local.cpus_per_run) == ("local", None, None, 1.0)
    assert cfg.settings() == local.settings()  # the same runs, wherever they train: one comparison folder


def test_backend_ray_without_ray_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without the extra sees
    assert compare_main(["data=x.yaml", "backend=ray"]) == 2
    assert capsys.readouterr().err == f"ca-yolo compare: error: {INSTALL}\n"
    from ca_yolo.compare.ray_backend import import_ray

    with pytest.raises(PlanError) as e:
        import_ray()
    assert str(e.value) == INSTALL


def test_local_backend_imports_nothing_of_ray():
    code = (
        "import sys; import ca_yolo.compare.cli, ca_yolo.compare.backend, ca_yolo.compare.runner, "
        "ca_yolo.compare.ray_worker, ca_yolo.compare.ray_storage\n"
        "from ca_yolo.compare.config import parse_compare_args\n"
        "parse_compare_args(['data=x.yaml'])\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_storage_probe_says_what_a_node_cannot_do(tmp_path, tiny_data):
    token_file = tmp_path / "cmp" / ".ray-storage-check-ab"
    token_file.parent.mkdir()
    assert probe_storage(str(token_file), "ab", str(tiny_data)) == (
        f"does not see {token_file.parent} (project=/name=): it has no such folder or another one at that path"
    )
    token_file.write_text("cd")
    assert probe_storage(str(token_file), "ab", str(tiny_data)) == (
        f"sees another {token_file.parent} than the driver (project=/name=)"
    )
    token_file.write_text("ab")
    assert probe_storage(str(token_file), "ab", str(tmp_path / "none.yaml")) == (
        f"does not see the data YAML {tmp_path / 'none.yaml'}"
    )
    assert probe_storage(str(token_file), "ab", str(tiny_data)) is None
    assert sorted(p.name for p in token_file.parent.iterdir()) == [token_file.name]  # its own file removed


def test_unreachable_ray_address_is_one_line_at_once():
    from ca_yolo.compare.ray_backend import check_reachable

    with socket.socket() as s:  # a port nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PlanError) as e:
        check_reachable(f"127.0.0.1:{port}", timeout=2)
    assert str(e.value) == (
        f"ray_address=127.0.0.1:{port}: no Ray cluster answers there (Connection refused); start one with "
        f"`ray start --head --port={port}` or give the head's address"
    )
    check_reachable("auto")  # not host:port: left to Ray
    check_reachable(None)


def test_run_slots_count_every_live_node():
    from ca_yolo.compare.ray_backend import run_slots

    nodes = [{"Alive": True, "Resources": {"CPU": 16.0, "GPU": 8.0}},
             {"Alive": True, "Resources": {"CPU": 4.0}},
             {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}]  # fmt: skip
    assert run_slots(nodes, cpus=1, gpus=0) == 20
    assert run_slots(nodes, cpus=4, gpus=1) == 4  # GPU runs only on the GPU node, 16 CPUs for 4 runs
    assert run_slots(nodes, cpus=1, gpus=1) == 8
    assert run_slots(nodes, cpus=1, gpus=0.5) == 16
    assert run_slots(nodes, cpus=32, gpus=0) == 0


def test_place_lines_and_parallel_eta():
    ray_place = {"backend": "ray", "host": "gpu7", "node_id": "1a2b3c4d5e6f", "gpus": ["3"], "device": "0"}
    assert describe_place(ray_place) == "gpu7 node 1a2b3c4d GPU 3"
    assert describe_place({"backend": "ray", "host": "h", "node_id": "ffeeddccbb", "gpus": [], "device": "cpu"}) == (
        "h node ffeeddcc cpu"
    )
    assert describe_place({"backend": "local", "host": "h", "device": "auto"}) == "h auto"
    assert describe_place({}) == ""
    lines: list[str] = []
    progress = Progress([2, 2, 2, 2], lines.append, slots=2)
    progress.start(0, "a seed 0", "new", 2, "gpu7 node 1a2b3c4d GPU 3")
    progress.finish(0, "a seed 0", 10.0, 2, {"AP": 0.5, "AP50": 0.75}, {"mAP50-95": 0.25}, "gpu7 node 1a2b3c4d GPU 3")
    # 5 s per epoch, 6 epochs left, 2 runs at a time: 15 s
    assert lines == [
        "ca-yolo compare [1/4] a seed 0: training 2 epochs on gpu7 node 1a2b3c4d GPU 3 (ETA for the comparison: "
        "known after the first run)",
        "ca-yolo compare [1/4] a seed 0: done on gpu7 node 1a2b3c4d GPU 3 in 10s, AP 0.500 AP50 0.750 "
        "(Ultralytics mAP50-95 0.250); ETA for the comparison: 15s",
    ]
    progress.finish(1, "a seed 1", 10.0, 2, {}, {})
    progress.finish(2, "a seed 2", 10.0, 2, {}, {})
    assert lines[-1].endswith("ETA for the comparison: 10s")  # one run left: no second slot to share it


@pytest.mark.slow
def test_previous_epoch_checkpoint_replaces_one_cut_short(ca_run, tmp_path):
    """A process killed while Ultralytics rewrote last.pt: the epoch before, kept aside, is resumed from."""
    run = Run(model="ca", cfg="yolov8n-ca.yaml", seed=0, dir=tmp_path / "ca-seed0")
    weights = run.dir / "weights"
    weights.mkdir(parents=True)
    whole = (ca_run / "weights" / "last.pt").read_bytes()
    shutil.copy(ca_run / "weights" / "best.pt", weights / "best.pt")
    (weights / PREVIOUS_FILE).write_bytes(whole)
    (weights / "last.pt").write_bytes(whole[: len(whole) // 2])
    log: list[str] = []
    assert run_state(run, {}, 2, log.append) == ("resume", 1)
    assert log == [
        "ca-yolo compare: ca seed 0: training stopped while it saved an epoch; resuming from the epoch before"
    ]
    assert (weights / "last.pt").read_bytes() == whole and not (weights / PREVIOUS_FILE).exists()

    (weights / PREVIOUS_FILE).write_bytes(b"older")  # beside a whole last.pt it is stale: dropped, nothing said
    log.clear()
    assert run_state(run, {}, 2, log.append) == ("resume", 1)
    assert log == [] and not (weights / PREVIOUS_FILE).exists()

    (weights / "last.pt").unlink()  # killed after it was moved aside, before the new one was written
    (weights / PREVIOUS_FILE).write_bytes(whole)
    assert run_state(run, {}, 2, log.append) == ("resume", 1)
    assert len(log) == 1 and (weights / "last.pt").read_bytes() == whole
