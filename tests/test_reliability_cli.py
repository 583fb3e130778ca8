"""Reliability of the command line: bad numbers, Ultralytics' own failures, data YAML readers, the
``yaml`` command and rough edges. Every input is made inside the test."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ca_yolo.cli import main as cli_main
from ca_yolo.plugin.failures import dataset_failure


def _dataset(root: Path, labels: dict[str, str], names: tuple[str, ...] = ("a", "b"), encoding: str = "utf-8") -> Path:
    """One 64x48 image per split (``000000.jpg``), its label text per split; the data YAML in ``encoding``."""
    for split, text in labels.items():
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / split / "000000.jpg"), np.full((48, 64, 3), 90, np.uint8))
        (root / "labels" / split / "000000.txt").write_text(text)
    y = root / "data.yaml"
    y.write_bytes(f"path: {root}\ntrain: images/train\nval: images/val\nnames: {list(names)}\n".encode(encoding))
    return y


def _run(argv: list[str], capsys) -> tuple[int, str]:
    code = cli_main(argv)
    return code, capsys.readouterr().err.strip()


# ---------------------------------------------------------------------- bad numbers: usage errors


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["eval", "model=x.pt", "data=y.yaml", "imgsz=-64"],
            "imgsz=-64 must be a positive integer (pixels) or two of them",
        ),
        (["eval", "model=x.pt", "data=y.yaml", "batch=0"], "batch=0 must be an integer >= 1"),
        (["eval", "model=x.pt", "data=y.yaml", "batch=-1"], "batch=-1 must be an integer >= 1"),
        (
            ["train", "model=yolov8n.yaml", "data=y.yaml", "batch=0"],
            "batch=0 must be an integer >= 1 (or -1, or a fraction in (0, 1), for AutoBatch)",
        ),
        (["train", "model=yolov8n.yaml", "imgsz=0"], "imgsz=0 must be a positive integer (pixels) or two of them"),
        (["train", "model=yolov8n.yaml", "workers=-1"], "workers=-1 must be an integer >= 0"),
        (["val", "model=x.pt", "imgsz=-64"], "imgsz=-64 must be a positive integer (pixels) or two of them"),
        (["predict", "model=x.pt", "batch=-3"], "batch=-3 must be an integer >= 1"),
        (["eval", "model=x.pt", "data=y.yaml", "conf=abc"], "conf=abc must be a number"),
        (["eval", "model=x.pt", "data=y.yaml", "batch=1.5"], "batch=1.5 must be an integer"),
        (["predict", "model="], "model= has no value: give a checkpoint (.pt) or a model YAML"),
        (["train", "model=yolov8n.yaml", "data="], "data= has no value: give a data YAML"),
        (["val", "model=x.pt", "name="], "name= has no value"),
    ],
)
def test_bad_or_empty_values_are_usage_errors(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    code, err = _run(argv, capsys)
    assert (code, err) == (2, f"ca-yolo {argv[0]}: error: {message}")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------- Ultralytics' own dataset failures


def test_no_labels_found_is_one_clean_line_and_leaves_no_run_folder(tmp_path, capsys):
    root = tmp_path / "ds"
    y = _dataset(root, {"train": "", "val": ""})
    for split in ("train", "val"):  # the labels beside the images, where Ultralytics does not look
        (root / "labels" / split / "000000.txt").unlink()
        (root / "images" / split / "000000.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    argv = ["train", "model=yolov8n.yaml", f"data={y}", "epochs=1", "imgsz=32", "batch=1", "workers=0"]
    code, err = _run([*argv, f"project={tmp_path / 'runs'}", "name=r", "plots=False"], capsys)
    assert code == 1
    assert err.splitlines()[-1] == (
        f"ca-yolo train: error: train: No labels found in {root / 'labels' / 'train.cache'}. (Ultralytics reads "
        "each image's labels from the 'labels' folder beside its 'images' folder; "
        "'ca-yolo data check <data.yaml>' lists what is wrong)"
    )
    assert "\x1b" not in err.splitlines()[-1]
    assert not (tmp_path / "runs").exists()


def test_no_valid_images_found_keeps_the_first_reason_and_counts_the_rest():
    e = RuntimeError(
        "No valid images found in /d/labels/train.cache.\n"
        "  \x1b[33mtrain: /d/images/train/a.jpg: ignoring corrupt image/label: image size (4, 4) <10 pixels\n"
        "  train: /d/images/train/b.jpg: ignoring corrupt image/label: cannot identify image file\n"
        "See https://docs.ultralytics.com/datasets for dataset formatting guidance."
    )
    assert str(dataset_failure(e)) == (
        "No valid images found in /d/labels/train.cache: train: /d/images/train/a.jpg: ignoring corrupt "
        "image/label: image size (4, 4) <10 pixels; and 1 more"
    )
    assert dataset_failure(ValueError("something else")) is None


# ------------------------------------------------------------------------------ data YAML readers


def test_utf16_data_yaml_is_read_by_the_train_precheck(tmp_path, capsys):
    y = _dataset(tmp_path, {"train": "3 0.5 0.5 0.2 0.2\n", "val": "0 0.5 0.5 0.2 0.2\n"}, encoding="utf-16")
    code, err = _run(["train", "model=yolov8n.yaml", f"data={y}", "project=" + str(tmp_path / "runs")], capsys)
    assert (code, err) == (
        1,
        f"ca-yolo train: error: {tmp_path / 'labels' / 'train' / '000000.txt'}:1: class id 3 is not in 0..1 "
        f"('{y}' names 2 classes)",
    )
    assert not (tmp_path / "runs").exists()


def test_relative_path_key_run_from_another_folder_is_explained(tmp_path, monkeypatch, capsys):
    _dataset(tmp_path / "ds", {"train": "0 0.5 0.5 0.2 0.2\n", "val": "0 0.5 0.5 0.2 0.2\n"})
    y = tmp_path / "data.yaml"
    y.write_text("path: ds\ntrain: images/train\nval: images/val\nnames: [a, b]\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, err = _run(["val", "model=yolov8n.yaml", f"data={y}"], capsys)
    assert code == 1
    assert err.startswith(f"ca-yolo val: error: dataset '{y}': Dataset '{y}' images not found, missing path")
    assert err.endswith(
        f" (its 'path: ds' is relative, so it is read from the working folder {elsewhere}, not from the YAML's "
        f"folder; from the YAML's folder it would be {tmp_path / 'ds'}: run from the folder it was written for, "
        "or make path: absolute)"
    )


def _checkpoint(path: Path, nc: int) -> Path:
    """An untrained yolov8n detector with ``nc`` classes, saved as Ultralytics saves checkpoints."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov8n.yaml", nc=nc, verbose=False)
    model.names = {i: f"c{i}" for i in range(nc)}
    torch.save({"model": model.half(), "train_args": {"imgsz": 64}, "epoch": -1}, path)
    return path


def test_eval_with_coco_gt_names_a_bad_label_before_inference(tmp_path, capsys, monkeypatch):
    y = _dataset(tmp_path, {"train": "0 0.5 0.5 0.2 0.2\n", "val": "0 0.5 0.5 0.2 0.2\n"}, ("a", "b", "c", "d"))
    gt = {
        "images": [{"id": 0, "file_name": "000000.jpg", "width": 64, "height": 48}],
        "annotations": [
            {"id": 1, "image_id": 0, "category_id": 1, "bbox": [25, 19, 13, 10], "area": 130, "iscrowd": 0}
        ],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate("abcd")],
    }
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    y.write_text(y.read_text() + "coco_gt: gt.json\n")
    (tmp_path / "labels" / "val" / "000000.txt").write_text("7 0.5 0.5 0.2 0.2\n")
    pt = _checkpoint(tmp_path / "m.pt", 4)

    import ca_yolo.evaluation.evaluate as evaluate

    monkeypatch.setattr(evaluate, "validator_pass", lambda *a, **k: pytest.fail("inference ran"))
    code, err = _run(["eval", f"model={pt}", f"data={y}"], capsys)
    assert (code, err) == (
        1,
        f"ca-yolo eval: error: {tmp_path / 'labels' / 'val' / '000000.txt'}:1: class id 7 is not in 0..3",
    )


# ---------------------------------------------------------------------------- write failures


def test_train_project_under_a_file_is_refused_before_any_work(tmp_path, capsys):
    y = _dataset(tmp_path / "ds", {"train": "0 0.5 0.5 0.2 0.2\n", "val": "0 0.5 0.5 0.2 0.2\n"})
    (tmp_path / "file").write_text("x")
    code, err = _run(["train", "model=yolov8n.yaml", f"data={y}", f"project={tmp_path / 'file' / 'runs'}"], capsys)
    assert (code, err) == (
        1,
        f"ca-yolo train: error: cannot write project={tmp_path / 'file' / 'runs'}: "
        f"'{tmp_path / 'file'}' is a file, not a folder",
    )


def test_train_full_disk_while_saving_is_one_line(tmp_path, monkeypatch, capsys):
    import errno

    from ultralytics.engine.trainer import BaseTrainer

    def full_disk(self):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.last))

    monkeypatch.setattr(BaseTrainer, "save_model", full_disk)
    y = _dataset(tmp_path / "ds", {"train": "0 0.5 0.5 0.2 0.2\n", "val": "0 0.5 0.5 0.2 0.2\n"})
    run = tmp_path / "runs" / "r"
    argv = ["train", "model=yolov8n.yaml", f"data={y}", "epochs=1", "imgsz=64", "batch=1", "workers=0", "plots=False"]
    code, err = _run([*argv, f"project={tmp_path / 'runs'}", "name=r", "val=False"], capsys)
    assert (code, err.splitlines()[-1]) == (
        1,
        f"ca-yolo train: error: cannot write {run / 'weights' / 'last.pt'}: No space left on device",
    )


# ------------------------------------------------------------------------------- ca-yolo yaml


def _yaml(argv: list[str], capsys) -> tuple[int, str, str]:
    from ca_yolo.yamlgen.cli import main as yaml_main

    code = yaml_main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def test_yaml_refuses_to_stack_a_second_set_on_a_variant(tmp_path, capsys):
    code, out, err = _yaml(["yolov8.yaml", "-o", str(tmp_path / "yolov8-ca.yaml")], capsys)
    assert code == 0
    code, out, err = _yaml([str(tmp_path / "yolov8-ca.yaml"), "-o", str(tmp_path / "yolov8-caca.yaml")], capsys)
    assert (code, err) == (
        2,
        f"ca-yolo yaml: error: model YAML '{tmp_path / 'yolov8-ca.yaml'}' already has attention layers (CoordAtt at "
        "rows 5, 8, 11, 19, 23, 27); derive from its base YAML (yolov8.yaml) instead, or give --after to add layers "
        "at rows of your choice",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["yolov8-ca.yaml"]


def test_yaml_resolves_a_shipped_name_as_base(capsys):
    code, out, err = _yaml(["yolov8n-ca.yaml"], capsys)
    assert (code, err) == (
        2,
        "ca-yolo yaml: error: model YAML 'yolov8n-ca.yaml' already has attention layers (CoordAtt at rows 5, 8, 11, "
        "19, 23, 27); derive from its base YAML (yolov8.yaml) instead, or give --after to add layers at rows of your "
        "choice",
    )
    code, out, err = _yaml(["yolov8-se.yaml", "--attn", "CoordAtt", "--after", "0"], capsys)
    assert code == 0
    assert err.splitlines()[:2] == ["yolov8-se.yaml + 1 x CoordAtt", "  after base row 0 -> new row 1"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--args", "64"],
            "--args 64: a first number above 32 is a channel count in a CoordAtt row, not a setting; give only the "
            "settings (reduction), each <= 32: channels are inferred",
        ),
        (
            ["--args", "16,3"],
            "--args 16,3: 2 settings after 0 channel counts, at most 1; CoordAtt rows take [], [r], [C, r], "
            "[inp, oup, r] (trailing numbers optional)",
        ),
        (["-o", "my-ca.txt"], "-o my-ca.txt: a model YAML must end in .yaml or .yml (Ultralytics reads model= by it)"),
    ],
)
def test_yaml_bad_args_and_output_suffix_are_usage_errors(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = _yaml(["yolov8.yaml", *argv], capsys)
    assert (code, out, err) == (2, "", f"ca-yolo yaml: error: {message}")
    assert list(tmp_path.iterdir()) == []


def test_yaml_args_within_the_rule_still_work(capsys):
    code, out, err = _yaml(["yolov8.yaml", "--attn", "CBAM", "--args", "16,7"], capsys)
    assert code == 0 and "- [-1, 1, CBAM, [16, 7]]" in out


# -------------------------------------------------------------------------------- rough edges


def test_mistyped_command_suggests_ours_not_an_ultralytics_setting(capsys):
    code, err = _run(["compar", "models=yolov8n.yaml"], capsys)
    assert (code, err) == (
        2,
        "ca-yolo compar: error: 'compar' is not a command; did you mean 'ca-yolo compare'? "
        "('ca-yolo --help' lists them)",
    )


def test_missing_asset_offline_asks_for_a_local_file_without_downloading(tmp_path, monkeypatch, capsys):
    import ultralytics.utils
    import ultralytics.utils.downloads as downloads

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ultralytics.utils, "ONLINE", False)
    monkeypatch.setattr(downloads, "safe_download", lambda *a, **k: pytest.fail("a download was attempted"))
    y = _dataset(tmp_path / "ds", {"train": "0 0.5 0.5 0.2 0.2\n", "val": "0 0.5 0.5 0.2 0.2\n"})
    code, err = _run(["train", "model=yolov8n-ca.yaml", f"data={y}", "pretrained=yolov8n.pt"], capsys)
    assert (code, err) == (
        1,
        "ca-yolo train: error: pretrained checkpoint 'yolov8n.pt' is not on disk, and Ultralytics cannot download it "
        "offline: give the path of a local .pt file (e.g. yolov8n.pt copied from a machine that is online)",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_attention_figure_of_identity_started_layers_shows_each_deviation(tmp_path):
    import dataclasses

    from ultralytics import YOLO

    from ca_yolo.viz import attention_for_images
    from ca_yolo.viz.figure import draw_attention_figure, range_label

    img = tmp_path / "a.jpg"
    cv2.imwrite(str(img), np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8))
    att = attention_for_images(YOLO("yolov8n-ca.yaml"), [img], layers="5,27", imgsz=96, conf=0.01)[0]

    # What identity-started layers look like after a little training: gates about sigmoid(4) = 0.982,
    # each layer departing from it by its own small amount (here 3e-4 and 3e-5) along the image.
    def gate(shape: tuple[int, int], amp: float) -> np.ndarray:
        return (0.982 + amp * np.sin(np.linspace(0, 3, shape[1]))[None, :].repeat(shape[0], 0)).astype(np.float32)

    maps = [
        dataclasses.replace(m, g_h=gate(m.g_h.shape, amp), g_w=gate(m.g_w.shape, amp))
        for m, amp in zip(att.maps, (3e-4, 3e-5))
    ]
    fig = draw_attention_figure(dataclasses.replace(att, maps=maps))
    heats = [ax.images[1] for ax in fig.axes if len(ax.images) == 2]
    assert len(heats) == 2
    for heat, m in zip(heats, maps):
        lo, hi = heat.get_clim()
        dev = m.mean().astype(np.float64) - float(m.mean().mean())
        assert lo == -hi and hi == pytest.approx(np.abs(dev).max(), rel=1e-6) and hi > 1e-5  # its own contrast
        shown = np.asarray(heat.get_array())
        assert shown.max() - shown.min() > hi  # spans both ends of the colour map, not one flat colour
    labels = [lab for ax in fig.axes for lab in (ax.get_xlabel(), ax.get_ylabel()) if lab.startswith("g_")]
    assert len(labels) == 4
    for label in labels:
        lo_text, hi_text = label.split()[1].split("–")
        assert lo_text != hi_text  # was "0.98–0.98"
    assert range_label("g_h", np.array([0.98212, 0.98237])) == "g_h 0.9821–0.9824"
    assert range_label("g_w", np.array([0.5, 0.5])) == "g_w 0.500000 (constant)"
