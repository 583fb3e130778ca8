"""The sample dataset: deterministic, idempotent, valid, and usable by Ultralytics without download."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from ca_yolo.data.check import check_dataset
from ca_yolo.data.cli import main as data_main
from ca_yolo.data.problems import OutputExistsError
from ca_yolo.data.sample import DEFAULTS, SAMPLE_NAMES, make_sample, render_sample_image

REPO = Path(__file__).resolve().parents[1]
SMALL = {"n_train": 12, "n_val": 4, "imgsz": 64}


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "data.yaml"
    }


def test_layout_labels_and_gt_agree(tmp_path):
    y = make_sample(tmp_path / "s", seed=3, **SMALL)
    assert y == (tmp_path / "s").resolve() / "data.yaml"
    data = yaml.safe_load(y.read_text())
    assert data["names"] == dict(enumerate(SAMPLE_NAMES)) and len(SAMPLE_NAMES) == 4
    assert data["sample"] == {"generator": 1, "seed": 3, "n_train": 12, "n_val": 4, "imgsz": 64}
    assert (data["path"], data["train"], data["val"], data["coco_gt"]) == (
        str(y.parent),
        "images/train",
        "images/val",
        "annotations/val.json",
    )
    assert len(list((y.parent / "images" / "train").glob("*.jpg"))) == 12
    assert sorted(p.name for p in (y.parent / "labels" / "val").iterdir()) == [f"{i:06d}.txt" for i in range(4)]

    report = check_dataset(y)
    assert report.errors == []
    assert {f.kind for f in report.warnings} <= {"label_empty"}  # a few background images are intended

    gt = json.loads((y.parent / "annotations" / "val.json").read_text())
    assert [im["id"] for im in gt["images"]] == [0, 1, 2, 3]
    for im in gt["images"]:
        lines = (y.parent / "labels" / "val" / im["file_name"].replace(".jpg", ".txt")).read_text().splitlines()
        anns = [a for a in gt["annotations"] if a["image_id"] == im["id"]]
        assert len(anns) == len(lines)
        for a, line in zip(anns, lines):
            c, cx, cy, w, h = map(float, line.split())
            assert a["category_id"] == int(c) + 1 and a["iscrowd"] == 0
            assert a["bbox"] == pytest.approx([(cx - w / 2) * 64, (cy - h / 2) * 64, w * 64, h * 64], abs=1e-3)


def test_deterministic_and_prefix_stable(tmp_path):
    a = make_sample(tmp_path / "a", **SMALL).parent
    b = make_sample(tmp_path / "b", **SMALL).parent
    assert _files(a) == _files(b)
    # Growing a split keeps the images it had.
    c = make_sample(tmp_path / "c", n_train=14, n_val=4, imgsz=64).parent
    assert (c / "images/train/000011.jpg").read_bytes() == (a / "images/train/000011.jpg").read_bytes()
    assert (c / "labels/val/000003.txt").read_bytes() == (a / "labels/val/000003.txt").read_bytes()
    d = make_sample(tmp_path / "d", seed=1, **SMALL).parent
    assert (d / "images/train/000000.jpg").read_bytes() != (a / "images/train/000000.jpg").read_bytes()


def test_idempotent_refuses_other_params_and_force_replaces(tmp_path):
    out = tmp_path / "s"
    y = make_sample(out, **SMALL)
    stamp = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert make_sample(out, **SMALL) == y
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == stamp  # nothing rewritten

    with pytest.raises(OutputExistsError, match="holds a sample made with .*'seed': 0.* not .*'seed': 5"):
        make_sample(out, seed=5, **SMALL)
    make_sample(out, seed=5, force=True, **SMALL)
    assert yaml.safe_load(y.read_text())["sample"]["seed"] == 5

    # An incomplete copy (a file deleted) is not taken as done; without force it is not overwritten.
    (out / "labels" / "train" / "000000.txt").unlink()
    with pytest.raises(OutputExistsError, match="already exists; pass --force"):
        make_sample(out, seed=5, **SMALL)
    make_sample(out, seed=5, force=True, **SMALL)
    assert (out / "labels" / "train" / "000000.txt").is_file()


def test_moved_dataset_gets_its_path_updated(tmp_path):
    make_sample(tmp_path / "s", **SMALL)
    shutil.move(tmp_path / "s", tmp_path / "moved")
    y = make_sample(tmp_path / "moved", **SMALL)
    assert yaml.safe_load(y.read_text())["path"] == str((tmp_path / "moved").resolve())


def test_images_vary_in_scale_classes_and_count():
    sides, classes, counts = [], set(), []
    for i in range(40):
        img, boxes = render_sample_image(0, "train", i, 160)
        assert img.shape == (160, 160, 3)
        counts.append(len(boxes))
        for c, x0, y0, x1, y1 in boxes:
            assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 160
            classes.add(c)
            sides.append(max(x1 - x0, y1 - y0))
    assert classes == {0, 1, 2, 3}
    assert min(sides) < 30 and max(sides) > 60  # small and large objects
    assert max(counts) >= 4 and min(counts) <= 1


def test_cli_sample(tmp_path, capsys):
    out = tmp_path / "s"
    args = ["sample", "--out", str(out), "--n-train", "3", "--n-val", "2", "--imgsz", "64"]
    assert data_main(args) == 0
    assert capsys.readouterr().out.splitlines()[-1] == str(out.resolve() / "data.yaml")
    assert data_main([*args[:-1], "96"]) == 1
    assert "pass force=True (--force) to replace it" in capsys.readouterr().err
    assert data_main([*args[:-1], "96", "--force"]) == 0


def test_repo_sample_yaml_makes_the_dataset_through_ultralytics(tmp_path, monkeypatch):
    """data/sample.yaml works from any folder and builds <repo>/datasets/sample on first use."""
    from ultralytics.data.utils import check_det_dataset

    monkeypatch.setenv("YOLO_OFFLINE", "1")
    fake_repo = tmp_path / "repo"
    (fake_repo / "data").mkdir(parents=True)
    shutil.copy(REPO / "data" / "sample.yaml", fake_repo / "data" / "sample.yaml")
    monkeypatch.chdir(tmp_path)
    data = check_det_dataset(str(fake_repo / "data" / "sample.yaml"))
    root = fake_repo / "datasets" / "sample"
    assert data["train"] == str(root / "images" / "train") and data["val"] == str(root / "images" / "val")
    assert data["names"] == dict(enumerate(SAMPLE_NAMES))
    made = yaml.safe_load((root / "data.yaml").read_text())["sample"]
    assert made == {"generator": 1, **DEFAULTS}
    assert len(os.listdir(root / "images" / "train")) == DEFAULTS["n_train"]
    # Second use: found, nothing rebuilt.
    assert check_det_dataset(str(fake_repo / "data" / "sample.yaml"))["val"] == str(root / "images" / "val")


def test_parallel_calls_for_the_same_folder_both_succeed(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    out = tmp_path / "s"
    with ThreadPoolExecutor(3) as pool:
        paths = list(pool.map(lambda _: make_sample(out, **SMALL), range(3)))
    assert paths == [out.resolve() / "data.yaml"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no temporary folders left
    assert check_dataset(paths[0]).errors == []
