"""Every failure is one line naming what is wrong (or recovers), and leaves no partial output.

Each case here is a row of docs/reliability.md; the messages are asserted exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_data_convert import make_coco, no_leftovers, standard_voc

from ca_yolo.cli import main as cli_main
from ca_yolo.compare import runner
from ca_yolo.compare.cli import main as compare_main
from ca_yolo.compare.plan import Run
from ca_yolo.data.cli import main as data_main
from ca_yolo.data.problems import DataError
from ca_yolo.data.voc import convert_voc
from ca_yolo.evaluation.checkpoint import checkpoint_problem
from ca_yolo.evaluation.cli import main as eval_main

# ------------------------------------------------------------------------------------------ images


def _spoil(path: Path, how: str) -> None:
    """Make an image file unusable: zero bytes, or text under an image name."""
    path.write_bytes(b"" if how == "empty" else b"this is not an image\n")


def test_voc_corrupt_images_are_rejected_by_name_and_nothing_is_written(tmp_path, capsys):
    root = standard_voc(tmp_path)
    jpgs = root / "VOC2007" / "JPEGImages"
    _spoil(jpgs / "000001.jpg", "empty")
    _spoil(jpgs / "000003.jpg", "text")
    out = tmp_path / "out"
    assert data_main(["voc", "--root", str(root), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"ca-yolo data voc: error: VOC conversion of {root}: 2 problem(s); nothing was written (--skip-bad skips them)",
        f"  {jpgs / '000001.jpg'}: image file is empty",
        f"  {jpgs / '000003.jpg'}: not a decodable image (corrupt or unsupported format)",
    ]
    assert not out.exists() and no_leftovers(tmp_path) == []


def test_voc_skip_bad_leaves_corrupt_images_out(tmp_path, capsys):
    root = standard_voc(tmp_path)
    _spoil(root / "VOC2007" / "JPEGImages" / "000002.jpg", "text")
    convert_voc(root, tmp_path / "out", skip_bad=True, log=lambda s: None)
    written = sorted(p.name for p in (tmp_path / "out" / "images" / "train").iterdir())
    assert written == ["000001.jpg", "2008_000007.jpg"]
    assert "WARNING VOC conversion" in capsys.readouterr().err


def test_voc_image_of_another_size_than_its_xml_is_rejected(tmp_path):
    import cv2
    import numpy as np

    root = standard_voc(tmp_path)
    img = root / "VOC2007" / "JPEGImages" / "000002.jpg"
    cv2.imwrite(str(img), np.zeros((30, 40, 3), np.uint8))
    with pytest.raises(DataError) as e:
        convert_voc(root, tmp_path / "out", log=lambda s: None)
    assert str(e.value).splitlines()[1] == f"  {img}: image is 40x30 but its annotation says 200x100"


def test_coco_corrupt_image_and_negative_box_are_named(tmp_path, capsys):
    root = make_coco(tmp_path)
    img = root / "val2017" / "000000000030.jpg"
    _spoil(img, "text")
    ann = root / "annotations" / "instances_train2017.json"
    data = json.loads(ann.read_text())
    data["annotations"][0]["bbox"] = [10, 5, -50, 40]
    ann.write_text(json.dumps(data))
    assert data_main(["coco", "--root", str(root), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[1:] == [
        f"  {root / 'train2017' / '000000000009.jpg'}: annotation 1: bbox [10, 5, -50, 40] has a negative "
        "width or height",
        f"  {img}: not a decodable image (corrupt or unsupported format)",
    ]
    assert not (tmp_path / "out").exists()


def test_data_check_reports_a_text_file_named_jpg(tmp_path, capsys):
    from conftest import make_tiny_dataset

    y = make_tiny_dataset(tmp_path / "ds", n_train=2, n_val=1)
    _spoil(tmp_path / "ds" / "images" / "val" / "val0.jpg", "text")
    assert data_main(["check", str(y)]) == 1
    out = capsys.readouterr().out
    assert (
        "ERROR image corrupt or unreadable: 1\n"
        "  images/val/val0.jpg  not a decodable image (corrupt or unsupported format)"
    ) in out


def test_eval_names_an_unreadable_image_instead_of_a_missing_module(ca_run, tmp_path, capsys):
    from conftest import make_tiny_dataset

    y = make_tiny_dataset(tmp_path / "ds", n_train=2, n_val=2)
    bad = tmp_path / "ds" / "images" / "val" / "val1.jpg"
    _spoil(bad, "text")
    assert eval_main([f"model={ca_run / 'weights' / 'best.pt'}", f"data={y}"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"ca-yolo eval: error: 1 of 2 images of the 'val' split of '{y}' cannot be read ({bad}: not a decodable "
        "image (corrupt or unsupported format)); fix or remove them ('ca-yolo data check' lists them all)"
    )
    # Ultralytics' validator would skip it with a warning about a HEIF module and exit 0
    assert cli_main(["val", f"model={ca_run / 'weights' / 'best.pt'}", f"data={y}", f"project={tmp_path}"]) == 1
    assert capsys.readouterr().err == (
        f"ca-yolo val: error: 1 of 2 images of the 'val' split of '{y}' cannot be read ({bad}: not a decodable "
        "image (corrupt or unsupported format)); fix or remove them ('ca-yolo data check' lists them all)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


# ------------------------------------------------------------------------------------- checkpoints


@pytest.fixture
def truncated_pt(ca_run, tmp_path) -> Path:
    data = (ca_run / "weights" / "best.pt").read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    return path


def test_checkpoint_problems():
    assert checkpoint_problem("/nonexistent/x.pt") == "missing"


def test_truncated_or_foreign_pt_is_one_line_for_eval_val_predict_attn(
    ca_run, truncated_pt, tiny_data, tmp_path, capsys
):
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    cut = "is truncated or corrupt (its zip archive is incomplete)"
    cases = [
        (["eval", f"model={truncated_pt}", f"data={tiny_data}"],
         f"ca-yolo eval: error: checkpoint '{truncated_pt}' {cut}"),
        (["val", f"model={truncated_pt}", f"data={tiny_data}"],
         f"ca-yolo val: error: checkpoint '{truncated_pt}' {cut}"),
        (["predict", f"model={text}", "source=x.jpg"],
         f"ca-yolo predict: error: checkpoint '{text}' is not a PyTorch checkpoint (not a torch.save zip archive)"),
        (["val", f"model={tmp_path / 'none.pt'}"],
         f"ca-yolo val: error: checkpoint '{tmp_path / 'none.pt'}' not found"),
        (["attn", f"model={truncated_pt}", f"source={tiny_data.parent / 'images' / 'val'}", f"out={tmp_path / 'o'}"],
         f"ca-yolo attn: error: checkpoint '{truncated_pt}' {cut}"),
        (["predict", f"model={ca_run / 'weights' / 'best.pt'}", f"source={tmp_path / 'none.jpg'}"],
         f"ca-yolo predict: error: {tmp_path / 'none.jpg'} does not exist"),  # Ultralytics' message
    ]  # fmt: skip
    for argv, message in cases:
        if argv[0] in ("val", "predict"):  # Ultralytics' modes: a regression writes here, not into the repo's runs/
            argv = [*argv, f"project={tmp_path / 'o'}"]
        assert cli_main(argv) == 1, argv
        assert capsys.readouterr().err.strip() == message
    assert not (tmp_path / "o").exists()


def test_val_refuses_a_checkpoint_with_another_class_count(ca_run, tmp_path, capsys):
    from conftest import make_tiny_dataset

    y = make_tiny_dataset(tmp_path / "ds", n_train=1, n_val=1)
    y.write_text(y.read_text() + "  2: green\n")
    best = ca_run / "weights" / "best.pt"
    assert cli_main(["val", f"model={best}", f"data={y}", f"project={tmp_path / 'runs'}"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"ca-yolo val: error: checkpoint '{best}' has 2 classes but dataset '{y}' has 3: "
        "evaluate on the dataset it was trained for"
    )
    assert not (tmp_path / "runs").exists()


def test_attn_with_one_unreadable_image_writes_nothing(ca_run, tmp_path, capsys):
    import cv2
    import numpy as np

    src = tmp_path / "imgs"
    src.mkdir()
    cv2.imwrite(str(src / "a.jpg"), np.full((64, 64, 3), 100, np.uint8))
    _spoil(src / "b.jpg", "empty")
    assert cli_main(["attn", f"model={ca_run / 'weights' / 'best.pt'}", f"source={src}", f"out={tmp_path / 'o'}"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"ca-yolo attn: error: {src / 'b.jpg'}: image file is empty; nothing was written"
    )
    assert not (tmp_path / "o").exists()


def test_attn_bad_arguments_and_outputs_are_one_line(ca_run, tmp_path, capsys):
    best = ca_run / "weights" / "best.pt"
    src = tmp_path / "imgs"
    src.mkdir()
    file = tmp_path / "notes.txt"
    file.write_text("x")
    base = ["attn", f"model={best}", f"source={src}"]
    import cv2
    import numpy as np

    cv2.imwrite(str(src / "a.jpg"), np.full((64, 64, 3), 100, np.uint8))
    cases = [
        ([*base, "conf=abc", f"out={tmp_path / 'o'}"], 2, "conf=abc must be a number in [0, 1]"),
        ([*base, f"out={file}/o"], 1, f"cannot write out={file}/o: '{file}' is a file, not a folder"),
        (["attn", f"model={tmp_path}", f"source={src}", f"out={tmp_path / 'o'}"], 1,
         f"model '{tmp_path}' is a folder; give a checkpoint (.pt) or a model YAML"),
    ]  # fmt: skip
    if torch.cuda.device_count() < 8:
        cases.append(([*base, "device=cuda:7", f"out={tmp_path / 'o'}"], 2, "device=cuda:7: Invalid CUDA 'device=7' "
                      "requested. Use 'device=cpu' or pass valid CUDA device(s) if available, i.e. 'device=0' or "
                      "'device=0,1,2,3' for Multi-GPU."))  # fmt: skip
    for argv, code, message in cases:
        assert cli_main(argv) == code, argv
        assert capsys.readouterr().err == f"ca-yolo attn: error: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "notes.txt"]


def test_attn_failing_midway_removes_the_figures_it_wrote(ca_run, tmp_path, monkeypatch, capsys):
    import cv2
    import numpy as np

    import ca_yolo.viz.save as save

    src = tmp_path / "imgs"
    src.mkdir()
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(src / name), np.full((64, 64, 3), 100, np.uint8))
    draw, calls = save.draw_attention_figure, []

    def second_fails(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("out of memory")
        return draw(*a, **k)

    monkeypatch.setattr(save, "draw_attention_figure", second_fails)
    monkeypatch.delenv("CA_YOLO_DEBUG", raising=False)
    out = tmp_path / "o" / "deep"
    assert cli_main(["attn", f"model={ca_run / 'weights' / 'best.pt'}", f"source={src}", f"out={out}"]) == 1
    assert (
        capsys.readouterr().err == "ca-yolo attn: error: MemoryError: out of memory (add --debug for the traceback)\n"
    )
    assert len(calls) == 2 and not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------ command line


@pytest.mark.parametrize(
    "arg, message",
    [
        ("iou=2", "bad Ultralytics setting: 'iou=2' is an invalid value. Valid 'iou' values are between 0.0 and 1.0."),
        ("conf=2", "bad Ultralytics setting: 'conf=2' is an invalid value. Valid 'conf' values are between 0.0 and "
                   "1.0."),
        ("max_det=0", "bad Ultralytics setting: 'max_det=0' is an invalid value. 'max_det' must be >= 1."),
    ],
)  # fmt: skip
def test_eval_settings_ultralytics_rejects_fail_before_the_model_loads(tiny_data, tmp_path, capsys, arg, message):
    argv = ["eval", f"model={tmp_path / 'none.pt'}", f"data={tiny_data}", arg]  # no checkpoint needed: checked first
    assert cli_main(argv) == 2
    assert capsys.readouterr().err == f"ca-yolo eval: error: {message}\n"


@pytest.mark.skipif(torch.cuda.device_count() > 7, reason="needs a machine without an 8th GPU")
def test_eval_missing_gpu_fails_before_the_model_loads(tiny_data, tmp_path, capsys):
    assert cli_main(["eval", f"model={tmp_path / 'none.pt'}", f"data={tiny_data}", "device=cuda:7"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ca-yolo eval: error: device=cuda:7: Invalid CUDA 'device=7' requested.")
    assert err.count("\n") == 1


def test_eval_model_that_is_a_folder_or_a_yaml_is_named_for_what_it_is(tiny_data, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    cases = [
        (tmp_path / "run", f"checkpoint '{tmp_path / 'run'}' is a folder, not a .pt file"),
        ("yolov8n.yaml", "checkpoint 'yolov8n.yaml' is a model YAML, not a trained checkpoint (a .pt file is needed)"),
    ]
    for model, message in cases:
        assert cli_main(["eval", f"model={model}", f"data={tiny_data}"]) == 1
        assert capsys.readouterr().err == f"ca-yolo eval: error: {message}\n"


def test_eval_save_dir_is_checked_before_evaluating_and_written_whole(tiny_data, tmp_path, monkeypatch, capsys):
    from ultralytics.nn.tasks import DetectionModel

    import ca_yolo.evaluation.evaluate as evaluate

    pt = tmp_path / "m.pt"
    torch.save({"model": DetectionModel("yolov8n.yaml", nc=2, verbose=False), "epoch": 0}, pt)  # passes the check
    calls = []
    monkeypatch.setattr(evaluate, "evaluate_checkpoint", lambda *a, **k: calls.append(a))
    file = tmp_path / "notes.txt"
    file.write_text("x")
    assert cli_main(["eval", f"model={pt}", f"data={tiny_data}", f"save_dir={file / 'out'}"]) == 1
    assert capsys.readouterr().err == (
        f"ca-yolo eval: error: cannot write save_dir={file / 'out'}: '{file}' is a file, not a folder\n"
    )
    assert cli_main(["eval", f"model={pt}", f"data={tiny_data}", f"save_dir={file}"]) == 1
    assert capsys.readouterr().err == f"ca-yolo eval: error: save_dir={file} is a file, not a folder\n"
    assert calls == []  # refused before the evaluation

    # a write failing after metrics.json (a full disk at detections.json) leaves neither file, nor the folder
    from ca_yolo import atomic_io

    out = tmp_path / "new" / "out"
    written = []
    write_temp = atomic_io._write_temp

    def write_until_full(path, write):
        if written:
            raise OSError(28, "No space left on device")
        written.append(write_temp(path, write))
        return written[-1]

    class Result:
        images, gt_objects, detections, gt_source, coco, voc, ultralytics = 1, 1, 0, "labels", {}, {}, None
        detections_list = []

        def summary(self):
            return {"coco": {}}

    monkeypatch.setattr(evaluate, "evaluate_checkpoint", lambda *a, **k: Result())
    monkeypatch.setattr(atomic_io, "_write_temp", write_until_full)
    assert cli_main(["eval", f"model={pt}", f"data={tiny_data}", f"save_dir={out}"]) == 1
    assert capsys.readouterr().err == (
        f"ca-yolo eval: error: cannot write save_dir={out}: No space left on device; nothing was written\n"
    )
    assert not (tmp_path / "new").exists() and len(written) == 1  # metrics.json had been written


@pytest.mark.parametrize(
    "arg, message",
    [
        ("workers=abc", "workers=abc must be an integer >= 0"),
        ("seeds=-1", "seeds=-1: seeds must be >= 0 (Ultralytics rejects negative seeds)"),
        ("optimizer=Adamm", "optimizer=Adamm: Optimizer 'Adamm' not found in list of available optimizers"),
        ("grid_images=-2", "grid_images=-2 must be an integer >= 0"),
        ("epochs=0", "epochs=0 must be a positive integer"),
        ("seeds=0,0", "seeds=0,0 repeats a seed"),
        ("momentum=5", "bad Ultralytics setting: 'momentum=5' is an invalid value. Valid 'momentum' values are "
                       "between 0.0 and 1.0."),
        ("lr0=abc", "bad Ultralytics setting: 'lr0=abc' is of invalid type str. Valid 'lr0' types are int (i.e. "
                    "'lr0=0') or float (i.e. 'lr0=0.5')"),
    ],
)  # fmt: skip
def test_compare_settings_ultralytics_rejects_fail_before_anything_is_written(
    tiny_data, tmp_path, capsys, arg, message
):
    argv = [f"data={tiny_data}", f"project={tmp_path / 'runs'}", "name=x", "device=cpu", arg]
    assert compare_main(argv) == 2
    assert capsys.readouterr().err.strip() == f"ca-yolo compare: error: {message}"
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(torch.cuda.device_count() > 7, reason="needs a machine without an 8th GPU")
def test_compare_missing_gpu_fails_before_anything_is_written(tiny_data, tmp_path, capsys):
    assert compare_main([f"data={tiny_data}", f"project={tmp_path / 'runs'}", "device=cuda:7"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ca-yolo compare: error: device=cuda:7: Invalid CUDA 'device=7' requested.")
    assert "\n" not in err and not (tmp_path / "runs").exists()


def test_compare_output_and_data_folder_are_checked_before_anything_is_written(tiny_data, tmp_path, capsys):
    file = tmp_path / "notes.txt"
    file.write_text("x")
    cases = [
        ([f"data={tiny_data}", f"project={file / 'runs'}", "name=x"],
         f"cannot write project/name={file / 'runs' / 'x'}: '{file}' is a file, not a folder"),
        ([f"data={tiny_data}", "project=/proc/runs", "name=x"],
         "cannot write project/name=/proc/runs/x: No such file or directory in '/proc'"),
        ([f"data={tiny_data}", f"project={tmp_path}", f"name={file.name}"],
         f"project/name={file} is a file, not a folder"),
        ([f"data={tiny_data.parent}", f"project={tmp_path / 'runs'}", "name=x"],
         f"dataset: dataset YAML '{tiny_data.parent}' is a folder: give the data YAML in it, e.g. {tiny_data}"),
    ]  # fmt: skip
    for argv, message in cases:
        assert compare_main([*argv, "device=cpu"]) == 1, argv
        assert capsys.readouterr().err == f"ca-yolo compare: error: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_ctrl_c_while_torch_and_ultralytics_import_is_one_line():
    """The console script imports the package (torch, Ultralytics: seconds) before main() can catch anything."""
    from conftest import run_python

    code = (
        "import sys\n"
        "sys.argv = ['/venv/bin/ca-yolo', *sys.argv[1:]]\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ultralytics':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from ca_yolo.cli import main\n"
        "sys.exit(main())\n"
    )
    p = run_python(code.replace("sys.argv[1:]", "['train', 'model=yolov8n.yaml']"))
    assert (p.returncode, p.stdout, p.stderr) == (
        130,
        "",
        "\nca-yolo train: interrupted while starting; nothing was written\n",
    )
    p = run_python(code.replace("sys.argv[1:]", "['--debug', 'val']"))
    assert p.returncode == 130 and p.stderr.startswith("Traceback (most recent call last):")
    assert p.stderr.endswith("KeyboardInterrupt\n\nca-yolo val: interrupted while starting; nothing was written\n")
    # anywhere but the console script, the interrupt is Python's own
    p = run_python(code.replace("'/venv/bin/ca-yolo', *sys.argv[1:]", "'python'"))
    assert p.returncode != 130 and p.stderr.rstrip().endswith("KeyboardInterrupt")


def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    import ca_yolo.compare.cli as compare_cli

    def boom(argv):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(compare_cli, "main", boom)
    monkeypatch.delenv("CA_YOLO_DEBUG", raising=False)
    assert cli_main(["compare"]) == 1
    assert capsys.readouterr().err == (
        "ca-yolo compare: error: RuntimeError: disk on fire (add --debug for the traceback)\n"
    )
    assert cli_main(["compare", "--debug"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and err.endswith(
        "ca-yolo compare: error: RuntimeError: disk on fire\n"
    )


def test_ctrl_c_in_compare_is_one_line_with_how_to_resume(tiny_data, tmp_path, monkeypatch, capsys):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_train", interrupted)
    argv = [f"data={tiny_data}", "models=yolov8n.yaml", "seeds=0", "epochs=1", "imgsz=64", "device=cpu",
            "workers=0", f"project={tmp_path / 'runs'}", "name=c"]  # fmt: skip
    assert compare_main(argv) == 130
    assert capsys.readouterr().err == (
        "\nca-yolo compare: interrupted; finished runs are kept; re-run the same command to resume\n"
    )
    # nothing was trained, so plan.json pins nothing: a corrected command is not blocked by it
    assert not (tmp_path / "runs" / "c" / "plan.json").exists()


@pytest.mark.parametrize(
    "cmd, hint",
    [
        ("yaml", "nothing was written"),
        ("attn", "no figure of this run was kept"),
        ("bench", "nothing was written"),
        ("eval", "stopped"),
    ],
)
def test_ctrl_c_in_other_commands_is_one_line(monkeypatch, capsys, cmd, hint):
    import importlib

    from ca_yolo.cli import COMMANDS

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(COMMANDS[cmd][0]), "main", interrupted)
    assert cli_main([cmd, "x"]) == 130
    assert capsys.readouterr().err == f"\nca-yolo {cmd}: interrupted; {hint}\n"


@pytest.mark.parametrize("event", ["before", "on_pretrain_routine_end", "on_fit_epoch_end"])
def test_ctrl_c_in_train_is_one_line_saying_what_was_kept(tiny_data, tmp_path, monkeypatch, capsys, event):
    import ultralytics.cfg
    from ultralytics.utils.callbacks.base import default_callbacks

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    if event == "before":
        monkeypatch.setattr(ultralytics.cfg, "entrypoint", interrupt)
    else:
        monkeypatch.setitem(default_callbacks, event, [*default_callbacks[event], interrupt])
    project = tmp_path / "runs"
    argv = ["train", "model=yolov8n.yaml", f"data={tiny_data}", "epochs=2", "imgsz=64", "batch=4", "device=cpu",
            "workers=0", "plots=False", f"project={project}", "name=x"]  # fmt: skip
    assert cli_main(argv) == 130
    hint = {
        "before": "training had not started; nothing was written",
        "on_pretrain_routine_end": "no epoch had finished, so no run folder was kept",
        "on_fit_epoch_end": f"resume with 'ca-yolo train resume=True model={project / 'x' / 'weights' / 'last.pt'}'",
    }[event]
    assert capsys.readouterr().err == f"\nca-yolo train: interrupted; {hint}\n"
    assert project.exists() == (event == "on_fit_epoch_end")


def test_plan_json_is_removed_when_the_first_training_fails_before_a_checkpoint(tiny_data, tmp_path, monkeypatch):
    def fails(*a, **k):
        raise RuntimeError("Ultralytics refused a setting")

    monkeypatch.setattr(runner, "_train", fails)
    argv = [f"data={tiny_data}", "models=yolov8n.yaml", "seeds=0", "epochs=1", "imgsz=64", "device=cpu",
            "workers=0", f"project={tmp_path / 'runs'}", "name=c"]  # fmt: skip
    with pytest.raises(RuntimeError):
        compare_main(argv)
    assert not (tmp_path / "runs" / "c" / "plan.json").exists()


def test_yaml_after_out_of_range_and_output_equal_to_input(tmp_path, capsys):
    from ca_yolo.yamlgen.cli import main as yaml_main

    rows = (
        "yolov8.yaml has rows 0..22 (row 22 is the head), so layers go after rows 0..21, "
        "or -23..-2 counted from the end"
    )
    for after in ("-30", "22", "-1"):
        assert yaml_main(["yolov8.yaml", f"--after={after}"]) == 2
        assert capsys.readouterr().err.strip() == f"ca-yolo yaml: error: --after {after} is out of range: {rows}"
    base = tmp_path / "mine.yaml"
    base.write_text("nc: 2\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\nhead:\n  - [-1, 1, Detect, [nc]]\n")
    before = base.read_text()
    assert yaml_main([str(base), "--after", "0", "-o", str(base), "--force"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"ca-yolo yaml: error: -o {base} is the base YAML itself; write the variant to another file"
    )
    assert base.read_text() == before
    bad = tmp_path / "indent.yaml"
    bad.write_text("nc: 2\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n   - [-1, 1, Conv, [16, 3, 2]]\n")
    assert yaml_main([str(bad)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"ca-yolo yaml: error: model YAML '{bad}' is not valid YAML at line 4: "
        "expected <block end>, but found '<block sequence start>'"
    )


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["--batches", "0"], 2, "argument --batches: expected comma-separated values >= 1, got '0' "
                                "(see 'ca-yolo bench --help')"),
        (["--sizes", "0"], 2, "argument --sizes: expected comma-separated values >= 32, got '0' "
                              "(see 'ca-yolo bench --help')"),
        (["--sizes", "100"], 2, "argument --sizes: expected multiples of 32 (the models' largest stride), got '100' "
                                "(see 'ca-yolo bench --help')"),
        (["--threads=-2"], 2, "argument --threads: expected an integer >= 1, got '-2' (see 'ca-yolo bench --help')"),
        (["--device", "gpu"], 2, "--device gpu: expected cpu, cuda, cuda:N or N"),
        (["--out", "{file}/x.json"], 1, "cannot write --out {file}/x.json: '{file}' is a file, not a folder"),
    ],
)  # fmt: skip
def test_bench_bad_arguments_are_one_line_before_anything_runs(tmp_path, capsys, argv, code, message):
    file = tmp_path / "notes.txt"
    file.write_text("a file, not a folder")
    argv = [a.format(file=file) for a in argv]
    assert cli_main(["bench", "--parts", "ops", *argv]) == code
    assert capsys.readouterr().err == f"ca-yolo bench: error: {message.format(file=file)}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_argparse_usage_errors_are_one_line(capsys):
    from ca_yolo.yamlgen.cli import main as yaml_main

    assert cli_main(["data", "voc"]) == 2
    assert capsys.readouterr().err == (
        "ca-yolo data voc: error: the following arguments are required: --root (see 'ca-yolo data voc --help')\n"
    )
    with pytest.raises(SystemExit) as e:
        yaml_main(["yolov8.yaml", "--after", "abc"])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        "ca-yolo yaml: error: argument --after: expected comma-separated integers, got 'abc' "
        "(see 'ca-yolo yaml --help')\n"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("nc: 2\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - [[-1, 0], 1, Conv, [32, 3, 2]]\n"
         "head:\n  - [-1, 1, Detect, [nc]]\n",
         "model YAML '{f}' row 1 (Conv): 'from' is a list [-1, 0], but Conv reads one input (rows such as Concat "
         "and Detect read several)"),
        ("nc: 2\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\nhead:\n  - [-1, 1, SPPF_EMA, [16]]\n"
         "  - [-1, 1, Detect, [nc]]\n",
         "model YAML '{f}' row 1: unknown module 'SPPF_EMA' (not in Ultralytics or ca-yolo; did you mean SPPF?)"),
        ("path: ../datasets/x\ntrain: images/train\nval: images/val\nnames:\n  0: a\n",
         "model YAML '{f}' has no 'backbone:' and 'head:' lists of rows; it looks like a dataset YAML"),
        ("", "model YAML '{f}' has no 'backbone:' and 'head:' lists of rows"),
        ("nc: 2\nbackbone:\n\t- [-1, 1, Conv, [16, 3, 2]]\n",
         "model YAML '{f}' is not valid YAML at line 3: found character '\\t' that cannot start any token"),
    ],
)  # fmt: skip
def test_yaml_unusable_base_is_one_line_exit_1_and_writes_nothing(tmp_path, capsys, text, message):
    from ca_yolo.yamlgen.cli import main as yaml_main

    base = tmp_path / "base.yaml"
    base.write_text(text)
    for extra in ([], ["--after", "0"]):
        assert yaml_main([str(base), "-o", str(tmp_path / "out.yaml"), *extra]) == 1
        assert capsys.readouterr().err == f"ca-yolo yaml: error: {message.format(f=base)}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["base.yaml"]


def test_yaml_bad_paths_are_named(tmp_path, capsys):
    from ca_yolo.yamlgen.cli import main as yaml_main

    file = tmp_path / "notes.txt"
    file.write_text("x")
    base = tmp_path / "sub" / "mine.yaml"
    base.parent.mkdir()
    base.write_text("nc: 2\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\nhead:\n  - [-1, 1, Detect, [nc]]\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(base)
    cases = [
        ([str(tmp_path / "sub")], 1, f"model YAML '{tmp_path / 'sub'}' is a folder, not a YAML file"),
        (["yolov8.yaml", "-o", str(tmp_path)], 2, f"-o {tmp_path} is a folder; give a file name"),
        (["yolov8.yaml", "-o", f"{file}/v.yaml"], 1,
         f"cannot write -o {file}/v.yaml: '{file}' is a file, not a folder"),
        ([str(file.with_name("nope.txt"))], 1, f"model YAML '{file.with_name('nope.txt')}' not found"),
        ([str(base), "-o", str(link)], 2, f"-o {link} is the base YAML itself; write the variant to another file"),
    ]  # fmt: skip
    for argv, code, message in cases:
        assert yaml_main(argv) == code, argv
        assert capsys.readouterr().err == f"ca-yolo yaml: error: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.yaml", "notes.txt", "sub"]
    assert [p.name for p in base.parent.iterdir()] == ["mine.yaml"]


# ------------------------------------------------------------------- files named on the command line


def test_ultralytics_modes_check_the_files_they_are_given(tiny_data, tmp_path, capsys):
    cut = tmp_path / "cut.pt"
    _ckpt(cut, 0, True)
    cut.write_bytes(cut.read_bytes()[:-40])
    (tmp_path / "d.pt").mkdir()
    train = ["train", "model=yolov8n-ca.yaml", "epochs=1", "imgsz=64", "device=cpu", f"project={tmp_path / 'runs'}"]
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(f"path: {tiny_data.parent}\ntrain: images/train\nval: images/nowhere\nnames:\n  0: a\n  1: b\n")
    cases = [
        ([*train, f"data={tiny_data}", "pretrained=/nonexistent/base.pt"],
         "ca-yolo train: error: pretrained checkpoint '/nonexistent/base.pt' not found"),
        ([*train, f"data={tiny_data}", f"pretrained={cut}"],
         f"ca-yolo train: error: pretrained checkpoint '{cut}' is truncated or corrupt (its zip archive is "
         "incomplete)"),
        ([*train, f"data={tmp_path / 'none.yaml'}"],
         f"ca-yolo train: error: dataset YAML '{tmp_path / 'none.yaml'}' not found"),
        ([*train, f"data={wrong}"],
         f"ca-yolo train: error: dataset '{wrong}': Dataset '{wrong}' images not found, missing path "
         f"'{tiny_data.parent / 'images' / 'nowhere'}'"),
        (["val", "model=no_such_model.pt", f"data={tiny_data}", f"project={tmp_path / 'runs'}"],
         "ca-yolo val: error: checkpoint 'no_such_model.pt' not found (nor one of the checkpoints Ultralytics "
         "downloads)"),
        (["predict", f"model={tmp_path / 'd.pt'}", "source=x.jpg"],
         f"ca-yolo predict: error: checkpoint '{tmp_path / 'd.pt'}' is a folder, not a .pt file"),
        (["predict", f"model={cut.with_name('none.pt')}", f"source={tmp_path / 'none.jpg'}"],
         f"ca-yolo predict: error: checkpoint '{cut.with_name('none.pt')}' not found"),
    ]  # fmt: skip
    for argv, message in cases:
        assert cli_main(argv) == 1, argv
        assert capsys.readouterr().err == message + "\n"
    assert not (tmp_path / "runs").exists()


def test_a_train_that_fails_after_ultralytics_made_its_run_folder_removes_it(tiny_data, tmp_path, capsys):
    data = tmp_path / "dl.yaml"  # a download script: the pre-check leaves it to Ultralytics, which fails in it
    data.write_text(f"path: {tmp_path}\ntrain: images/train\nval: images/val\nnames:\n  0: a\n"
                    "download: |\n  raise RuntimeError('no network here')\n")  # fmt: skip
    argv = ["train", "model=yolov8n.yaml", f"data={data}", "epochs=1", "imgsz=64", "device=cpu",
            f"project={tmp_path / 'runs'}", "name=x"]  # fmt: skip
    assert cli_main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("ca-yolo train: error: RuntimeError: Dataset") and "no network here" in err
    assert err.count("\n") == 1 and not (tmp_path / "runs").exists()


def test_dataset_yaml_problems_are_one_line(tmp_path, capsys):
    from conftest import make_tiny_dataset

    from ca_yolo.data.yamlio import load_checked

    y = make_tiny_dataset(tmp_path / "ds", n_train=1, n_val=1)
    with pytest.raises(DataError) as e:
        load_checked(y.parent)
    assert str(e.value) == f"dataset YAML '{y.parent}' is a folder: give the data YAML in it, e.g. {y}"
    y.write_text(y.read_text().replace("val: images/val", "val: images/valX"))
    with pytest.raises(DataError) as e:
        load_checked(y)
    assert str(e.value) == (
        f"dataset '{y}': Dataset '{y}' images not found, missing path '{y.parent / 'images' / 'valX'}'"
    )  # Ultralytics' 'Note dataset download directory ...' line is dropped
    y.write_text("train: [\n")
    assert data_main(["check", str(y)]) == 1
    assert f"  {y.name}  malformed YAML at line 2: expected the node content, but found '<stream end>'\n" in (
        capsys.readouterr().out.replace(str(y), y.name)
    )


def test_data_output_that_cannot_be_written_fails_before_converting(tmp_path, capsys):
    root = standard_voc(tmp_path)
    file = tmp_path / "notes.txt"
    file.write_text("x")
    assert data_main(["voc", "--root", str(root), "--out", f"{file}/voc"]) == 1
    assert capsys.readouterr().err == (
        f"ca-yolo data voc: error: cannot write --out {file}/voc: '{file}' is a file, not a folder\n"
    )
    assert data_main(["voc", "--root", str(root), "--out", str(file)]) == 1
    assert capsys.readouterr().err == f"ca-yolo data voc: error: --out {file} is a file, not a folder\n"
    assert data_main(["gt", str(tmp_path / "data.yaml"), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"ca-yolo data gt: error: --out {tmp_path} is a folder; give a file name\n"
    assert no_leftovers(tmp_path) == []


# ------------------------------------------------------------------------------ compare recovery


def _run(tmp_path: Path) -> Run:
    d = tmp_path / "cmp" / "m-seed0"
    (d / "weights").mkdir(parents=True)
    return Run("m", "m.yaml", 0, d)


def _ckpt(path: Path, epoch: int, optimizer: bool) -> None:
    torch.save({"epoch": epoch, "optimizer": {"state": {}} if optimizer else None}, path)


def test_truncated_last_pt_is_reported_set_aside_and_retrained(tmp_path):
    run, log = _run(tmp_path), []
    _ckpt(run.dir / "weights" / "last.pt", 0, True)
    data = (run.dir / "weights" / "last.pt").read_bytes()
    (run.dir / "weights" / "last.pt").write_bytes(data[: len(data) - 40])
    assert runner.run_state(run, {}, 3, log.append) == ("new", 3)
    assert log == [
        "ca-yolo compare: m seed 0: m-seed0/weights/last.pt is truncated or corrupt (its zip archive is incomplete); "
        "training it again (old folder kept as m-seed0.broken-1)"
    ]
    assert not run.dir.exists() and (run.dir.parent / "m-seed0.broken-1" / "weights" / "last.pt").is_file()


def test_final_epoch_last_pt_not_yet_stripped_is_evaluated_not_resumed(tmp_path):
    run, log = _run(tmp_path), []
    _ckpt(run.dir / "weights" / "last.pt", 2, True)  # epochs=3: epoch index 2 is the last one
    _ckpt(run.dir / "weights" / "best.pt", 2, True)
    assert runner.run_state(run, {}, 3, log.append) == ("evaluate", 0)
    assert log == ["ca-yolo compare: m seed 0: m-seed0/weights/last.pt holds the final epoch; evaluating its best.pt"]
    _ckpt(run.dir / "weights" / "last.pt", 1, True)
    assert runner.run_state(run, {}, 3, log.append) == ("resume", 1)


def test_finished_run_without_best_pt_is_retrained(tmp_path):
    run, log = _run(tmp_path), []
    (run.dir / "run.json").write_text(json.dumps({"settings": {"epochs": 3}}))
    assert runner.run_state(run, {"epochs": 3}, 3, log.append) == ("new", 3)
    assert log == ["ca-yolo compare: m seed 0: m-seed0/weights/best.pt is missing; training it again "
                   "(old folder kept as m-seed0.broken-1)"]  # fmt: skip


def test_trained_run_with_a_cut_best_pt_is_retrained(tmp_path):
    run, log = _run(tmp_path), []
    _ckpt(run.dir / "weights" / "last.pt", -1, False)  # stripped: training finished
    (run.dir / "weights" / "best.pt").write_bytes(b"PK\x03\x04cut")
    assert runner.run_state(run, {}, 3, log.append) == ("new", 3)
    assert log == ["ca-yolo compare: m seed 0: training finished but m-seed0/weights/best.pt is truncated or corrupt "
                   "(its zip archive is incomplete); training it again "
                   "(old folder kept as m-seed0.broken-1)"]  # fmt: skip


@pytest.mark.slow
def test_compare_recovers_from_a_truncated_last_pt_end_to_end(tiny_data, tmp_path, capsys):
    argv = [f"data={tiny_data}", "models=yolov8n.yaml", "seeds=0", "epochs=1", "imgsz=64", "batch=4", "device=cpu",
            "workers=0", f"project={tmp_path / 'runs'}", "name=c", "grid_images=0", "latency_runs=2",
            "plots=False"]  # fmt: skip
    assert compare_main(argv) == 0
    run = tmp_path / "runs" / "c" / "yolov8n-seed0"
    (run / "run.json").unlink()
    last = run / "weights" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    capsys.readouterr()
    assert compare_main(argv) == 0
    out = capsys.readouterr().out
    assert ("ca-yolo compare: yolov8n seed 0: yolov8n-seed0/weights/last.pt is truncated or corrupt (its zip archive "
            "is incomplete); training it again (old folder kept as yolov8n-seed0.broken-1)") in out  # fmt: skip
    assert (run / "run.json").is_file() and checkpoint_problem(run / "weights" / "best.pt") is None
