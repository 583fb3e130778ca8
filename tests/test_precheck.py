"""The pre-check of ``train`` and ``compare``: label class ids against ``names``, the model's task against
the data; refused in one line before any run folder exists."""

from __future__ import annotations

import pytest
from conftest import make_tiny_dataset

from ca_yolo.cli import main as cli_main
from ca_yolo.compare.cli import main as compare_main


@pytest.fixture
def data(tmp_path):
    return make_tiny_dataset(tmp_path / "ds", n_train=2, n_val=2)


def _train(data, tmp_path, model: str = "yolov8n.yaml") -> list[str]:
    return ["train", f"model={model}", f"data={data}", "epochs=1", "imgsz=64", "device=cpu", "workers=0",
            f"project={tmp_path / 'runs'}"]  # fmt: skip


def _compare(data, tmp_path, models: str = "yolov8n.yaml") -> list[str]:
    return [f"data={data}", f"models={models}", "seeds=0", "epochs=1", "imgsz=64", "device=cpu", "workers=0",
            f"project={tmp_path / 'runs'}", "name=c"]  # fmt: skip


@pytest.mark.parametrize("cls", ["3", "nan", "1e999"])
def test_a_class_id_outside_names_is_named_by_file_and_line_in_train_and_compare(data, tmp_path, capsys, cls):
    label = data.parent / "labels" / "train" / "train1.txt"
    lines = label.read_text().splitlines()
    label.write_text("\n".join([*lines, f"{cls} 0.5 0.5 0.2 0.2"]) + "\n")
    why = f"{label}:3: class id {cls} is not in 0..1 ('{data}' names 2 classes)"
    assert cli_main(_train(data, tmp_path)) == 1
    assert capsys.readouterr().err == f"ca-yolo train: error: {why}\n"
    assert compare_main(_compare(data, tmp_path)) == 1
    assert capsys.readouterr().err == f"ca-yolo compare: error: dataset: {why}\n"
    assert not (tmp_path / "runs").exists()


def test_a_bad_class_id_in_the_val_split_is_refused_by_val_too(data, tmp_path, capsys):
    import torch
    from ultralytics.nn.tasks import DetectionModel

    label = data.parent / "labels" / "val" / "val0.txt"
    label.write_text("7 0.5 0.5 0.2 0.2\n")
    pt = tmp_path / "m.pt"
    torch.save({"model": DetectionModel("yolov8n.yaml", nc=2, verbose=False), "epoch": -1}, pt)
    argv = ["val", f"model={pt}", f"data={data}", "imgsz=64", "device=cpu", f"project={tmp_path / 'runs'}"]
    assert cli_main(argv) == 1
    assert capsys.readouterr().err == (
        f"ca-yolo val: error: {label}:1: class id 7 is not in 0..1 ('{data}' names 2 classes)\n"
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "model, why",
    [
        (
            "yolov8n-seg.yaml",
            "a segment model needs polygon labels, and the 'train' labels are boxes (5 values a line)",
        ),
        ("yolov8n-cls.yaml", "a classify model trains on an image folder per class, not on a detection data YAML"),
        ("yolov8n-pose.yaml", "a pose model needs keypoint labels, and the data YAML has no kpt_shape"),
    ],
)
def test_a_model_of_another_task_than_the_data_is_refused_before_training(data, tmp_path, capsys, model, why):
    assert cli_main(_train(data, tmp_path, model)) == 1
    assert capsys.readouterr().err == f"ca-yolo train: error: model '{model}' cannot use dataset '{data}': {why}\n"
    assert not (tmp_path / "runs").exists()


def test_compare_refuses_a_model_that_is_not_a_detector_before_anything_is_written(data, tmp_path, capsys):
    assert compare_main(_compare(data, tmp_path, "yolov8n.yaml,yolov8n-seg.yaml")) == 1
    assert capsys.readouterr().err == (
        "ca-yolo compare: error: model 'yolov8n-seg.yaml' is a segment model; compare trains and evaluates "
        "detection models\n"
    )
    assert not (tmp_path / "runs").exists()


def test_a_segment_model_on_polygon_labels_passes_the_check(data):
    from ca_yolo.data.precheck import labels_kind, task_problem
    from ca_yolo.data.yamlio import load_checked

    for label in (data.parent / "labels" / "train").iterdir():
        label.write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    spec = load_checked(data, "val")
    assert labels_kind(spec) == "polygons" and task_problem("segment", spec) is None
    assert task_problem("detect", spec) is None
