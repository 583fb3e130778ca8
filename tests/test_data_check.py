"""`ca-yolo data check`: every kind of problem is found, named with its file, and sets the exit code."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ca_yolo.data.check import check_dataset, check_label_text
from ca_yolo.data.cli import main as data_main


def _img(path: Path, w: int = 32, h: int = 24) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((h, w, 3), np.uint8))
    return path


def _dataset(root: Path, train: dict[str, str | None], val: dict[str, str | None], names=("a", "b")) -> Path:
    """Images named by the keys; label text by the values (None: no label file)."""
    for split, items in (("train", train), ("val", val)):
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for name, label in items.items():
            _img(root / "images" / split / f"{name}.jpg")
            if label is not None:
                (root / "labels" / split / f"{name}.txt").write_text(label)
    y = root / "data.yaml"
    y.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames: {list(names)}\n")
    return y


def test_clean_dataset_passes(tmp_path, capsys):
    y = _dataset(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.2 0.2\n"}, {"b": "1 0.5 0.5 1 1\n"})
    report = check_dataset(y)
    assert report.findings == []
    assert report.counts == {"train": {"images": 1, "boxes": 2}, "val": {"images": 1, "boxes": 1}}
    assert data_main(["check", str(y)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 error(s), 0 warning(s): OK"


def test_every_problem_is_reported_with_its_file(tmp_path, capsys):
    train = {
        "good": "0 0.5 0.5 0.5 0.5\n",
        "malformed": "0 0.5 0.5 0.5\nx 0.1 0.1 0.1 0.1\n",
        "cls": "2 0.5 0.5 0.1 0.1\n-1 0.5 0.5 0.1 0.1\n0.5 0.5 0.5 0.1 0.1\n",
        "bounds": "0 1.2 0.5 0.1 0.1\n0 0.95 0.5 0.2 0.1\n",
        "zero": "1 0.5 0.5 0 0.1\n",
        "dup": "0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n",
        "poly": "1 0.1 0.1 0.4 0.1 0.4 0.5\n",
        "empty": "",
        "nolabel": None,
    }
    y = _dataset(tmp_path, train, {"v": "0 0.5 0.5 0.1 0.1\n"})
    (tmp_path / "images" / "val" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    (tmp_path / "labels" / "val" / "corrupt.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    good = (tmp_path / "images" / "train" / "good.jpg").read_bytes()
    (tmp_path / "images" / "val" / "noeoi.jpg").write_bytes(good + b"\x00\x00")  # decodes, but no end marker
    (tmp_path / "labels" / "val" / "noeoi.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (tmp_path / "labels" / "train" / "orphan.txt").write_text("0 0.5 0.5 0.1 0.1\n")

    report = check_dataset(y)
    got = {(f.kind, f.file, f.detail) for f in report.findings}
    assert got == {
        ("label_malformed", "labels/train/malformed.txt:1", "4 values, expected 5 (cls cx cy w h) or a polygon"),
        ("label_malformed", "labels/train/malformed.txt:2", "not numbers: 'x 0.1 0.1 0.1 0.1'"),
        ("class_out_of_range", "labels/train/cls.txt:1", "class 2 not in 0..1"),
        ("class_out_of_range", "labels/train/cls.txt:2", "class -1 not in 0..1"),
        ("class_not_integer", "labels/train/cls.txt:3", "class id 0.5 is not an integer"),
        ("box_out_of_bounds", "labels/train/bounds.txt:1", "value 1.2 outside [0,1]"),
        ("box_out_of_bounds", "labels/train/bounds.txt:2", "box reaches x 0.8500..1.0500, y 0.4500..0.5500"),
        ("box_zero_area", "labels/train/zero.txt:1", "w=0 h=0.1"),
        ("box_duplicate", "labels/train/dup.txt:2", "same as line 1"),
        ("label_empty", "labels/train/empty.txt", ""),
        ("label_missing", "images/train/nolabel.jpg", ""),
        ("label_orphan", "labels/train/orphan.txt", ""),
        ("image_corrupt", "images/val/corrupt.jpg", "not a decodable image (corrupt or unsupported format)"),
        ("jpeg_truncated", "images/val/noeoi.jpg", ""),
    }
    # valid boxes: good 1, dup 2, poly 1 in train; v, noeoi in val (corrupt's label still counts)
    assert report.counts == {"train": {"images": 9, "boxes": 4}, "val": {"images": 3, "boxes": 3}}
    assert len(report.errors) == 10 and len(report.warnings) == 4

    assert data_main(["check", str(y), "--max-listed", "1"]) == 1
    out = capsys.readouterr().out
    assert "ERROR duplicate box: 1\n  labels/train/dup.txt:2  same as line 1" in out
    assert "ERROR class id out of range: 2\n  labels/train/cls.txt:1  class 2 not in 0..1\n  ... and 1 more" in out
    assert "WARNING empty label file (image treated as background): 1\n  labels/train/empty.txt" in out
    assert out.splitlines()[-1] == "10 error(s), 4 warning(s): FAILED"


def test_warnings_only_pass_unless_strict(tmp_path):
    y = _dataset(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n", "bg": ""}, {"b": "1 0.5 0.5 1 1\n"})
    assert data_main(["check", str(y)]) == 0
    assert data_main(["check", str(y), "--strict"]) == 1


def test_missing_listed_image_and_missing_split(tmp_path):
    _img(tmp_path / "images" / "a.jpg")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (tmp_path / "train.txt").write_text("./images/a.jpg\n./images/gone.jpg\n")
    y = tmp_path / "d.yaml"
    y.write_text(f"path: {tmp_path}\ntrain: train.txt\nval: nowhere\nnames: [x]\n")
    got = {(f.kind, f.file, f.detail) for f in check_dataset(y).findings}
    assert got == {
        ("image_missing", "images/gone.jpg", ""),
        ("label_missing", "images/gone.jpg", ""),
        ("split_missing", str(y), f"val path {tmp_path / 'nowhere'} does not exist"),
    }


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("train: a\n", "'val' key missing (train and val are required)"),
        ("train: a\nval: b\n", "'names' key missing"),
        ("train: a\nval: b\nnames: [x]\nnc: 2\n", "'nc: 2' does not match the 1 names"),
        ("train: [a\n", "malformed YAML"),
    ],
)
def test_bad_data_yaml(tmp_path, text, detail):
    y = tmp_path / "d.yaml"
    y.write_text(text)
    (f,) = check_dataset(y).findings
    assert f.kind == "yaml" and f.file == str(y) and f.detail.startswith(detail)


def test_check_label_text_polygon_and_blank_lines():
    found, n = check_label_text("\n0 0.1 0.1 0.5 0.1 0.3 0.6\n\n1 0.1 0.1 0.1 0.1 0.1 0.1\n", nc=2)
    assert n == 1 and found == [(4, "box_zero_area", "polygon has no extent")]
