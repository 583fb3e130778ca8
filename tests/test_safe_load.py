"""One safe-loading rule for every checkpoint ca-yolo opens, and checkpoints of the wrong kind named.

Each payload is a pickle whose ``__reduce__`` writes a marker file when unpickled: a command that
runs it leaves the marker behind. Nothing here trains: the checkpoints are models built from YAML
and saved the way Ultralytics saves them.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import make_tiny_dataset, run_python

from ca_yolo.cli import main as cli_main
from ca_yolo.errors import CheckpointError
from ca_yolo.plugin.checkpoint import UnsafeCheckpointError, read_checkpoint

SAFE = "ULTRALYTICS_SAFE_LOAD"


class Payload:
    """Unpickling this writes ``marker``: proof that a loader ran the file's code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


def refused(path: Path, what: str = "checkpoint") -> str:
    """The one line safe loading gives for a payload nested in a checkpoint dict."""
    return (
        f"{what} '{path}' refers to builtins.exec, which safe loading (ULTRALYTICS_SAFE_LOAD=1) does not allow; "
        "nothing of it was run"
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> SimpleNamespace:
    """A tiny dataset, the payload files and checkpoints of the wrong kinds (all made here)."""
    from ultralytics.nn.tasks import ClassificationModel, DetectionModel, SegmentationModel

    import ca_yolo  # noqa: F401  (the -ca YAMLs below)

    root = tmp_path_factory.mktemp("safe")
    marker = root / "MARKER"
    data = make_tiny_dataset(root / "ds", n_train=2, n_val=2)
    nested = root / "evil.pt"  # a dict like Ultralytics' last.pt, with the payload as its model
    torch.save({"epoch": 0, "optimizer": {"state": {}}, "model": Payload(marker), "train_args": {}}, nested)
    top = root / "top.pt"  # the payload is the whole pickle
    torch.save(Payload(marker), top)
    det = DetectionModel("yolov8n.yaml", nc=2, verbose=False)
    state_dict, whole = root / "sd.pt", root / "whole.pt"
    torch.save(det.state_dict(), state_dict)
    torch.save(det, whole)
    seg, cls = root / "seg.pt", root / "cls.pt"
    torch.save({"model": SegmentationModel("yolov8n-seg.yaml", nc=2, verbose=False), "epoch": -1}, seg)
    torch.save({"model": ClassificationModel("yolov8n-cls.yaml", nc=2, verbose=False), "epoch": -1}, cls)
    no_model = root / "nomodel.pt"
    torch.save({"epoch": 3, "note": "x"}, no_model)
    return SimpleNamespace(root=root, marker=marker, data=data, nested=nested, top=top, state_dict=state_dict,
                           whole=whole, seg=seg, cls=cls, no_model=no_model)  # fmt: skip


def _commands(f: SimpleNamespace, pt: Path, out: Path) -> dict[str, list[str]]:
    """Every ca-yolo command that opens a checkpoint, given ``pt`` where it reads one."""
    img = f.data.parent / "images" / "val" / "val0.jpg"
    return {
        "train pretrained=": ["train", "model=yolov8n-ca.yaml", f"pretrained={pt}", f"data={f.data}", "epochs=1",
                              "imgsz=64", "device=cpu", "workers=0", f"project={out}"],
        "train model=": ["train", f"model={pt}", f"data={f.data}", "epochs=1", "imgsz=64", "device=cpu",
                         "workers=0", f"project={out}"],
        "train resume": ["train", f"model={pt}", "resume=True", f"project={out}"],
        "val": ["val", f"model={pt}", f"data={f.data}", "imgsz=64", "device=cpu", f"project={out}"],
        "predict": ["predict", f"model={pt}", f"source={img}", "imgsz=64", "device=cpu", f"project={out}"],
        "export": ["export", f"model={pt}", "format=torchscript", "imgsz=64"],
        "eval": ["eval", f"model={pt}", f"data={f.data}", "imgsz=64", "device=cpu"],
        "attn": ["attn", f"model={pt}", f"source={img}", f"out={out}"],
        "compare pretrained=": ["compare", f"data={f.data}", "models=yolov8n.yaml", "seeds=0", "epochs=1",
                                "imgsz=64", "device=cpu", "workers=0", f"pretrained={pt}", f"project={out}",
                                "name=c"],
    }  # fmt: skip


def _fails(f: SimpleNamespace, pt: Path, out: Path, command: str) -> tuple[list[str], str]:
    """Run ``command`` of :func:`_commands` on ``pt``, which must fail (exit 1); return its argv and what the
    command calls the file in its error (the pretrained= reader names it a pretrained checkpoint)."""
    argv = _commands(f, pt, out)[command]
    assert cli_main(argv) == 1
    return argv, "pretrained checkpoint" if command == "train pretrained=" else "checkpoint"


@pytest.mark.parametrize("command", list(_commands(SimpleNamespace(data=Path("d")), Path("p"), Path("o"))))
def test_a_payload_checkpoint_is_never_run_under_safe_loading(files, tmp_path, monkeypatch, capsys, command):
    # The flag set after Ultralytics was imported: only ca-yolo's own rule (read at call time) stands
    # between the file and Ultralytics' unrestricted load, so a reader that skips it runs the payload.
    monkeypatch.setenv(SAFE, "1")
    out = tmp_path / "out"
    argv, what = _fails(files, files.nested, out, command)
    line = refused(files.nested, what)
    expected = f"ca-yolo {argv[0]}: error: {line}"
    if command == "compare pretrained=":
        expected = f"ca-yolo compare: error: {line.replace('checkpoint', 'pretrained checkpoint', 1)}"
    assert capsys.readouterr().err.strip().splitlines()[-1] == expected
    assert not files.marker.exists()
    assert not out.exists()


@pytest.mark.parametrize("command", ["predict", "eval", "train pretrained="])
def test_a_pickle_that_is_only_a_payload_is_refused_unread_even_without_safe_loading(
    files, tmp_path, monkeypatch, capsys, command
):
    monkeypatch.delenv(SAFE, raising=False)
    out = tmp_path / "out"
    argv, what = _fails(files, files.top, out, command)
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"ca-yolo {argv[0]}: error: {what} '{files.top}' is a pickle that calls __builtin__.exec when loaded, "
        "not a checkpoint dict (nothing of it was run)"
    )
    assert not files.marker.exists() and not out.exists()


def test_the_real_flag_in_a_fresh_process_guards_every_reader(files, tmp_path):
    # ULTRALYTICS_SAFE_LOAD=1 from the start, as a user sets it: Ultralytics' own loads are restricted
    # too. One process runs the commands in turn (each start-up imports torch).
    out = tmp_path / "out"
    cmds = {k: v for k, v in _commands(files, files.nested, out).items() if k in ("train pretrained=", "val", "attn")}
    code = f"""
import contextlib, io, json, sys
from ca_yolo.cli import main
res = {{}}
for name, argv in {cmds!r}.items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv)
    res[name] = [rc, err.getvalue().strip().splitlines()[-1]]
print("RESULT", json.dumps(res))
"""
    p = run_python(code, env={SAFE: "1"}, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(p.stdout.split("RESULT ", 1)[1])
    assert res == {
        "train pretrained=": [1, f"ca-yolo train: error: {refused(files.nested, 'pretrained checkpoint')}"],
        "val": [1, f"ca-yolo val: error: {refused(files.nested)}"],
        "attn": [1, f"ca-yolo attn: error: {refused(files.nested)}"],
    }
    assert not files.marker.exists() and not out.exists()


def test_the_trainer_hook_refuses_a_payload_pretrained_and_removes_the_fresh_run_folder(files, tmp_path, monkeypatch):
    # Python API users (YOLO(...).train(pretrained=...)) reach the file through this callback, not the CLI.
    from ca_yolo.plugin.load_hook import check_pretrained_early

    monkeypatch.setenv(SAFE, "1")
    run = tmp_path / "run"
    (run / "weights").mkdir(parents=True)
    (run / "args.yaml").write_text("x: 1\n")
    trainer = SimpleNamespace(args=SimpleNamespace(pretrained=str(files.nested), model="yolov8n-ca.yaml"), save_dir=run)
    with pytest.raises(UnsafeCheckpointError) as e:
        check_pretrained_early(trainer)
    assert str(e.value) == refused(files.nested, "pretrained checkpoint")
    assert not files.marker.exists() and not run.exists()


def test_compare_refuses_a_payload_last_pt_in_its_folder(files, tmp_path, monkeypatch, capsys):
    from ca_yolo.compare.cli import main as compare_main

    monkeypatch.setenv(SAFE, "1")
    weights = tmp_path / "runs" / "c" / "yolov8n-seed0" / "weights"
    weights.mkdir(parents=True)
    last = weights / "last.pt"
    last.write_bytes(files.nested.read_bytes())
    argv = [f"data={files.data}", "models=yolov8n.yaml", "seeds=0", "epochs=2", "imgsz=64", "batch=2",
            "device=cpu", "workers=0", f"project={tmp_path / 'runs'}", "name=c", "grid_images=0", "latency_runs=2",
            "plots=False"]  # fmt: skip
    assert compare_main(argv) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"ca-yolo compare: error: {refused(last)}"
    assert not files.marker.exists()
    assert last.is_file() and not (weights.parent / "results.csv").exists()  # left in place for the user to look at


def test_compare_refuses_a_payload_best_pt_before_ultralytics_loads_it(files, tmp_path, monkeypatch):
    from ca_yolo.compare.models import load_checkpoint_model

    monkeypatch.setenv(SAFE, "1")
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint_model(files.nested)
    assert not files.marker.exists()


def test_read_checkpoint_without_safe_loading_still_refuses_a_bare_payload(files, monkeypatch):
    monkeypatch.delenv(SAFE, raising=False)
    with pytest.raises(UnsafeCheckpointError):
        read_checkpoint(files.top)
    assert not files.marker.exists()


# ----------------------------------------------------------------------------- wrong checkpoint kinds


def test_checkpoints_of_the_wrong_kind_are_named_in_one_line(files, tmp_path, capsys):
    img = files.data.parent / "images" / "val" / "val0.jpg"
    how = "an Ultralytics checkpoint is a dict holding 'model' (a run's weights/best.pt, or YOLO(...).save('x.pt'))"
    # (command, the checkpoint it is given, its one line): each command reads the dataset, predict an image
    cases = [
        ("predict", files.state_dict,
         f"checkpoint '{files.state_dict}' is a plain state_dict (355 tensors, no model), not an Ultralytics "
         "checkpoint: load it with model.load_state_dict() into a model built from its YAML, or give a run's "
         "weights/best.pt"),
        ("val", files.whole,
         f"checkpoint '{files.whole}' is a whole pickled ultralytics.nn.tasks.DetectionModel object "
         f"(torch.save(model) rather than a checkpoint dict); {how}"),
        ("eval", files.no_model,
         f"checkpoint '{files.no_model}' is not an Ultralytics checkpoint: it holds no model (keys: epoch, note)"),
        ("eval", files.seg, f"checkpoint '{files.seg}' is a segment model; eval (COCO box mAP) needs a detect model"),
        ("eval", files.cls, f"checkpoint '{files.cls}' is a classify model; eval (COCO box mAP) needs a detect model"),
        ("val", files.seg,
         f"model '{files.seg}' cannot use dataset '{files.data}': a segment model needs polygon labels, and the "
         "'val' labels are boxes (5 values a line)"),
        ("val", files.cls,
         f"model '{files.cls}' cannot use dataset '{files.data}': a classify model trains on an image folder per "
         "class, not on a detection data YAML"),
    ]  # fmt: skip
    for command, pt, message in cases:
        argv = [command, f"model={pt}", f"source={img}" if command == "predict" else f"data={files.data}"]
        if command in ("val", "predict"):
            argv.append(f"project={tmp_path / 'o'}")
        assert cli_main(argv) == 1, argv
        assert capsys.readouterr().err.strip() == f"ca-yolo {command}: error: {message}"
    assert not (tmp_path / "o").exists()


def test_read_checkpoint_returns_an_ultralytics_checkpoint_under_either_setting(files, tmp_path, monkeypatch):
    from ultralytics.nn.tasks import DetectionModel

    good = tmp_path / "good.pt"
    torch.save({"model": DetectionModel("yolov8n-ca.yaml", nc=2, verbose=False), "epoch": -1}, good)
    for flag in ("0", "1"):
        monkeypatch.setenv(SAFE, flag)
        assert sorted(read_checkpoint(good)) == ["epoch", "model"]
    assert read_checkpoint(files.no_model, model=False) == {"epoch": 3, "note": "x"}
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "none.pt")
