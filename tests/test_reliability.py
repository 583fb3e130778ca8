"""Issue 15: every failure is one line naming what is wrong (or recovers), and leaves no partial output.

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


# ------------------------------------------------------------------------------------- checkpoints


@pytest.fixture
def truncated_pt(ca_run, tmp_path) -> Path:
    data = (ca_run / "weights" / "best.pt").read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    return path


def test_checkpoint_problems():
    assert checkpoint_problem("/nonexistent/x.pt") == "missing"


def test_truncated_or_foreign_pt_is_one_line_for_eval_val_predict_attn(truncated_pt, tiny_data, tmp_path, capsys):
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
    ]  # fmt: skip
    for argv, message in cases:
        assert cli_main(argv) == 1, argv
        assert capsys.readouterr().err.strip() == message
    assert not (tmp_path / "o").exists()


def test_val_refuses_a_checkpoint_with_another_class_count(ca_run, tmp_path, capsys):
    from conftest import make_tiny_dataset

    y = make_tiny_dataset(tmp_path / "ds", n_train=1, n_val=1)
    y.write_text(y.read_text() + "  2: green\n")
    best = ca_run / "weights" / "best.pt"
    assert cli_main(["val", f"model={best}", f"data={y}"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"ca-yolo val: error: checkpoint '{best}' has 2 classes but dataset '{y}' has 3: "
        "evaluate on the dataset it was trained for"
    )


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


# ------------------------------------------------------------------------------------ command line


@pytest.mark.parametrize(
    "argv, message",
    [
        (["conf=abc"], "conf=abc must be a number"),
        (["batch=1.5"], "batch=1.5 must be an integer"),
    ],
)
def test_eval_bad_numbers_name_the_key(tiny_data, argv, message, capsys):
    assert eval_main(["model=x.pt", f"data={tiny_data}", *argv]) == 2
    assert capsys.readouterr().err.strip() == f"ca-yolo eval: error: {message}"


@pytest.mark.parametrize(
    "arg, message",
    [
        ("workers=abc", "workers=abc must be an integer >= 0"),
        ("seeds=-1", "seeds=-1: seeds must be >= 0 (Ultralytics rejects negative seeds)"),
        ("optimizer=Adamm", "optimizer=Adamm: Optimizer 'Adamm' not found in list of available optimizers"),
        ("grid_images=-2", "grid_images=-2 must be an integer >= 0"),
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


def test_bench_batches_zero_is_a_usage_error(capsys):
    assert cli_main(["bench", "--batches", "0"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "ca-yolo bench: error: argument --batches: expected comma-separated values >= 1, got '0'"
    )


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
