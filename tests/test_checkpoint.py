"""Trained CA checkpoints reload in fresh processes: val, predict, export, resume, restricted loading."""

from __future__ import annotations

import shutil

import torch
from conftest import TINY_TRAIN, cli_args, run_cli, run_python


def test_checkpoint_reloads_with_plugin_for_predict_and_export(ca_run, tiny_data, tmp_path):
    best = ca_run / "weights" / "best.pt"
    image = next((tiny_data.parent / "images" / "val").glob("*.jpg"))
    code = f"""
import ca_yolo, torch
from ultralytics import YOLO
m = YOLO({str(best)!r})
print("CA_LAYERS", sum(isinstance(x, ca_yolo.CoordAtt) for x in m.model.modules()))
r = m.predict({str(image)!r}, imgsz=64, device="cpu", verbose=False)
print("PRED_SHAPE", tuple(r[0].orig_shape))
f = m.export(format="torchscript", imgsz=64)
ts = torch.jit.load(f)
out = ts(torch.zeros(1, 3, 64, 64))
print("TS_OUT", tuple((out[0] if isinstance(out, (list, tuple)) else out).shape))
"""
    p = run_python(code, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "CA_LAYERS 6" in p.stdout and "PRED_SHAPE (64, 64)" in p.stdout
    assert "TS_OUT (1, 6, 84)" in p.stdout  # 4 box + 2 classes, anchors at strides 8/16/32 of 64 px


def test_val_through_the_cli_in_a_fresh_process(ca_run, tiny_data, tmp_path):
    args = cli_args(model=ca_run / "weights" / "best.pt", data=tiny_data, project=tmp_path, name="val", **TINY_TRAIN)
    p = run_cli(["val", *args], cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    log = p.stdout + p.stderr
    assert "all" in log and "mAP50-95" in log


def test_resume_an_interrupted_run_in_a_fresh_process(ca_run, tiny_data, tmp_path):
    run = tmp_path / "ca"
    shutil.copytree(ca_run, run)
    ckpt = torch.load(run / "weights" / "last.pt", map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == 0  # interrupted after the first of two epochs
    # A resumed run trains in the folder recorded in the checkpoint; point it at the copy.
    ckpt["train_args"]["save_dir"] = str(run)
    ckpt["train_args"]["project"], ckpt["train_args"]["name"] = str(tmp_path), "ca"
    torch.save(ckpt, run / "weights" / "last.pt")
    p = run_cli(["train", "resume", f"model={run / 'weights' / 'last.pt'}"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    rows = (run / "results.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2  # header + both epochs
    assert torch.load(run / "weights" / "last.pt", map_location="cpu", weights_only=False)["epoch"] == -1  # finished


def test_restricted_loading_with_the_plugin(ca_run, tmp_path):
    code = f"""
import ca_yolo
from ultralytics import YOLO
from ultralytics.nn.tasks import torch_safe_load
ckpt, _ = torch_safe_load({str(ca_run / "weights" / "best.pt")!r}, safe_only=True)
print("SAFE_CA", sum(isinstance(x, ca_yolo.CoordAtt) for x in (ckpt.get("ema") or ckpt["model"]).modules()))
m = YOLO({str(ca_run / "weights" / "best.pt")!r})
print("ENV_CA", sum(isinstance(x, ca_yolo.CoordAtt) for x in m.model.modules()))
"""
    p = run_python(code, env={"ULTRALYTICS_SAFE_LOAD": "1"}, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "SAFE_CA 6" in p.stdout and "ENV_CA 6" in p.stdout


def test_plain_ultralytics_process_imports_the_plugin_through_the_pickle(ca_run, tmp_path):
    # best.pt names our classes by module path, so unpickling imports ca_yolo, which registers itself.
    code = f"""
import sys
from ultralytics import YOLO
m = YOLO({str(ca_run / "weights" / "best.pt")!r})
import ultralytics.nn.tasks as tasks
print("REGISTERED", "ca_yolo" in sys.modules and getattr(tasks.parse_model, "_ca_yolo_wrapper", False))
"""
    p = run_python(code, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "REGISTERED True" in p.stdout


def test_restricted_loading_without_the_plugin_says_to_import_it(ca_run, tmp_path):
    code = f"""
from ultralytics import YOLO
try:
    YOLO({str(ca_run / "weights" / "best.pt")!r})
except Exception as e:
    chain, err = [], e
    while err is not None:
        chain.append(f"{{type(err).__name__}}: {{err}}")
        err = err.__cause__ or err.__context__
    print("ERROR", " | ".join(chain))
"""
    p = run_python(code, env={"ULTRALYTICS_SAFE_LOAD": "1"}, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "ERROR TypeError" in p.stdout
    assert "ca_yolo.nn.coord_att.CoordAtt" in p.stdout
