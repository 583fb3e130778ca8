"""Reliability of the data commands: converter collisions and counts, what ``data check`` finds,
numbers read from labels/YAML/XML, write failures. Every input is made inside the test."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ca_yolo.data.classes import COCO_CATEGORY_IDS, COCO_NAMES
from ca_yolo.data.cli import main as data_main
from ca_yolo.data.coco import convert_coco
from ca_yolo.data.problems import DataError
from ca_yolo.data.voc import convert_voc


def _jpeg(path: Path, w: int, h: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 127, np.uint8))
    return path


def _coco(root: Path, split: str, images: list[tuple[int, str, int, int]], anns: list[tuple[int, list]]) -> None:
    """instances_<split>.json with images (id, file_name, w, h) and person boxes (image_id, [x, y, w, h])."""
    data = {
        "images": [{"id": i, "file_name": f, "width": w, "height": h} for i, f, w, h in images],
        "annotations": [
            {"id": k + 1, "image_id": i, "category_id": 1, "bbox": b, "iscrowd": 0} for k, (i, b) in enumerate(anns)
        ],
        "categories": [{"id": c, "name": n} for c, n in zip(COCO_CATEGORY_IDS, COCO_NAMES)],
    }
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))
    for _, f, w, h in images:
        if not (root / split / f).exists():
            _jpeg(root / split / f, w, h)


def _on_disk(out: Path, split: str) -> tuple[int, int]:
    """(images, boxes) actually in the output split."""
    images = len(list((out / "images" / split).iterdir()))
    boxes = sum(len(p.read_text().splitlines()) for p in (out / "labels" / split).glob("*.txt"))
    return images, boxes


def _coco_root(tmp_path: Path, train_images: list, train_anns: list) -> Path:
    root = tmp_path / "coco"
    _coco(root, "train2017", train_images, train_anns)
    _coco(root, "val2017", [(100, "000000000100.jpg", 40, 40)], [(100, [1, 1, 10, 10])])
    return root


# ------------------------------------------------------------------------ converters: collisions


def test_coco_file_listed_twice_with_two_ids_is_refused_then_skipped_and_counted(tmp_path, capsys):
    root = _coco_root(
        tmp_path,
        [(1, "a.jpg", 40, 40), (2, "b.jpg", 40, 40), (3, "c.jpg", 40, 40), (4, "a.jpg", 40, 40)],
        [
            (1, [1, 1, 5, 5]),
            (1, [2, 2, 5, 5]),
            (2, [1, 1, 5, 5]),
            (3, [1, 1, 5, 5]),
            (4, [3, 3, 5, 5]),
            (4, [4, 4, 5, 5]),
        ],
    )
    out = tmp_path / "out"
    assert data_main(["coco", "--root", str(root), "--out", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"ca-yolo data coco: error: COCO conversion of {root}: 1 problem(s); "
        "nothing was written (--skip-bad skips them)",
        f"  {root / 'train2017' / 'a.jpg'}: listed twice in instances_train2017.json (image ids 1 and 4); "
        "one output file cannot hold both ids' boxes",
    ]
    assert not out.exists()

    logs: list[str] = []
    convert_coco(root, out, skip_bad=True, log=logs.append)
    assert logs[0] == "train2017: 3 images, 4 boxes (0 crowd and 0 zero-size boxes left out)"
    assert _on_disk(out, "train2017") == (3, 4)
    summary = json.loads((out / "conversion.json").read_text())["splits"]["train2017"]
    assert (summary["images"], summary["boxes"]) == (3, 4)


def test_coco_two_folders_with_one_file_name_are_refused(tmp_path, capsys):
    root = _coco_root(
        tmp_path, [(1, "camA/frame0001.jpg", 40, 40), (2, "camB/frame0001.jpg", 40, 40)], [(1, [1, 1, 5, 5])]
    )
    assert data_main(["coco", "--root", str(root), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[1] == (
        f"  {root / 'train2017' / 'camB' / 'frame0001.jpg'}: same output name 'frame0001' as "
        f"{root / 'train2017' / 'camA' / 'frame0001.jpg'} (both listed in instances_train2017.json); rename one"
    )
    assert not (tmp_path / "out").exists()


def test_coco_jpg_and_png_of_one_stem_are_refused(tmp_path):
    root = _coco_root(tmp_path, [(1, "x.jpg", 40, 40), (2, "y.jpg", 40, 40)], [])
    _jpeg(root / "train2017" / "x.png", 40, 40)
    data = json.loads((root / "annotations" / "instances_train2017.json").read_text())
    data["images"][1]["file_name"] = "x.png"
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"x\.png: same output name 'x' as .*x\.jpg"):
        convert_coco(root, tmp_path / "out", log=lambda s: None)


def test_coco_nan_width_and_nan_bbox_are_named(tmp_path):
    root = _coco_root(tmp_path, [(1, "a.jpg", 40, 40), (2, "b.jpg", 40, 40)], [(2, [1, 1, 5, 5])])
    path = root / "annotations" / "instances_train2017.json"
    path.write_text(
        path.read_text().replace('"width": 40, "height": 40}, {"id": 2', '"width": NaN, "height": 40}, {"id": 2')
    )
    path.write_text(path.read_text().replace('"bbox": [1, 1, 5, 5]', '"bbox": [1, 1, NaN, 5]'))
    with pytest.raises(DataError) as e:
        convert_coco(root, tmp_path / "out", log=lambda s: None)
    assert str(e.value).splitlines()[1:] == [
        "  instances_train2017.json: image id 1 (a.jpg): width nan / height 40 are not positive numbers",
        f"  {root / 'train2017' / 'b.jpg'}: annotation 1: bbox [1, 1, nan, 5] "
        "holds a value that is not a finite number",
    ]


def _voc(root: Path, images: dict[str, tuple[int, int, str]], ids: list[str]) -> Path:
    """VOC2007 with {id: (w, h, <size> text)}, one dog each, train = val = ids."""
    d = root / "VOC2007"
    for sub in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    for vid, (w, h, size) in images.items():
        _jpeg(d / "JPEGImages" / f"{vid}.jpg", w, h)
        (d / "Annotations" / f"{vid}.xml").write_text(
            f"<annotation><filename>{vid}.jpg</filename><size>{size}</size><object><name>dog</name>"
            "<difficult>0</difficult><bndbox><xmin>2</xmin><ymin>2</ymin><xmax>8</xmax><ymax>8</ymax></bndbox>"
            "</object></annotation>"
        )
    for split in ("train", "val"):
        (d / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    return root


def test_voc_id_listed_in_train_and_val_is_reported_and_counts_match_disk(tmp_path, capsys):
    root = _voc(tmp_path / "VOCdevkit", {"a": (40, 40, "<width>40</width><height>40</height>")}, ["a"])
    (root / "VOC2007" / "ImageSets" / "Main" / "val.txt").write_text("a\n")
    _voc(root, {"b": (40, 40, "<width>40</width><height>40</height>")}, [])
    (root / "VOC2007" / "ImageSets" / "Main" / "train.txt").write_text("a\nb\n")
    (root / "VOC2007" / "ImageSets" / "Main" / "val.txt").write_text("a\nb\n")
    out = tmp_path / "out"
    with pytest.raises(DataError) as e:
        convert_voc(root, out, log=lambda s: None)
    assert str(e.value).splitlines()[1:] == [
        "  VOC2007/a: image name a already used by VOC2007 train",
        "  VOC2007/b: image name b already used by VOC2007 train",
    ]
    (root / "VOC2007" / "ImageSets" / "Main" / "val.txt").write_text("b\n")
    (root / "VOC2007" / "ImageSets" / "Main" / "train.txt").write_text("a\n")
    logs: list[str] = []
    convert_voc(root, out, log=logs.append)
    assert logs[1:3] == [
        "train: 1 images, 1 boxes (0 difficult left out)",
        "val: 1 images, 1 boxes (0 difficult left out)",
    ]
    assert _on_disk(out, "train") == (1, 1) and _on_disk(out, "val") == (1, 1)


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("<width>nan</width><height>40</height>", "<width> is not a finite number: 'nan'"),
        ("<width>40</width><height>1e999</height>", "<height> is not a finite number: '1e999'"),
        ("<width>40.5</width><height>40</height>", "<width> must be a whole number of pixels, got '40.5'"),
    ],
)
def test_voc_bad_size_numbers_name_the_file(tmp_path, capsys, size, message):
    root = _voc(tmp_path / "VOCdevkit", {"a": (40, 40, size), "b": (40, 40, "")}, ["a", "b"])
    (root / "VOC2007" / "ImageSets" / "Main" / "val.txt").write_text("b\n")
    (root / "VOC2007" / "ImageSets" / "Main" / "train.txt").write_text("a\n")
    assert data_main(["voc", "--root", str(root), "--out", str(tmp_path / "out")]) == 1
    xml = root / "VOC2007" / "Annotations" / "a.xml"
    assert capsys.readouterr().err.splitlines()[1] == f"  VOC2007/a: {xml}: {message}"
    assert not (tmp_path / "out").exists()


def test_voc_exif_rotated_jpeg_is_named_as_rotation(tmp_path):
    root = _voc(
        tmp_path / "VOCdevkit",
        {"a": (60, 30, "<width>60</width><height>30</height>"), "b": (40, 40, "")},
        ["a"],
    )
    (root / "VOC2007" / "ImageSets" / "Main" / "val.txt").write_text("b\n")
    img = root / "VOC2007" / "JPEGImages" / "a.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": loaded as 30x60
    Image.new("RGB", (60, 30), (127, 127, 127)).save(img, exif=exif)
    with pytest.raises(DataError) as e:
        convert_voc(root, tmp_path / "out", log=lambda s: None)
    assert str(e.value).splitlines()[1] == (
        f"  {img}: image is 30x60 but its annotation says 60x30 (its EXIF rotation turns the stored 60x30 pixels "
        "by 90 degrees when loaded; write the rotation into the pixels, or annotate the rotated image)"
    )


# ------------------------------------------------------------------------------- data check


def _yolo(root: Path, labels: dict[str, str], yaml_bytes: bytes | None = None) -> Path:
    """A YOLO dataset: one 32x24 image per split named 000000.jpg, label text per split (key: split)."""
    for split in ("train", "val"):
        _jpeg(root / "images" / split / "000000.jpg", 32, 24)
        if split in labels:
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
            (root / "labels" / split / "000000.txt").write_text(labels[split])
    y = root / "data.yaml"
    text = f"path: {root}\ntrain: images/train\nval: images/val\nnames: [a, b]\n"
    y.write_bytes(yaml_bytes if yaml_bytes is not None else text.encode())
    return y


def _check(y: Path, capsys) -> tuple[int, list[str]]:
    code = data_main(["check", str(y)])
    return code, capsys.readouterr().out.splitlines()


def _labels_beside_images(root: Path) -> None:
    for split in ("train", "val"):
        (root / "images" / split / "000000.txt").write_text("0 0.5 0.5 0.2 0.2\n")


def _png_beside_the_jpg(root: Path) -> None:
    _jpeg(root / "images" / "train" / "000000.png", 32, 24)


_NOT_INTEGER = "0 0.5 0.5 0.2 0.2\nnan 0.5 0.5 0.2 0.2\n1e999 0.5 0.5 0.2 0.2\n1.5 0.5 0.5 0.2 0.2\n0 nan 0.5 0.2 0.2\n"


@pytest.mark.parametrize(
    ("labels", "setup", "expected"),
    [
        pytest.param(
            {},
            _labels_beside_images,
            [
                "ERROR label files beside the images, where Ultralytics does not look: 2",
                "  images/train/000000.txt  Ultralytics reads labels/train/000000.txt; move it there",
                "  images/val/000000.txt  Ultralytics reads labels/val/000000.txt; move it there",
                "WARNING split without a single box (every image is background): 2",
                "  images/train  train split: 0 boxes found",
                "  images/val  val split: 0 boxes found",
                "2 error(s), 2 warning(s): FAILED",
            ],
            id="labels-placed-beside-the-images",
        ),
        pytest.param(
            {"train": "0 0.5 0.5 0.2 0.2\n", "val": "1 0.5 0.5 0.2 0.2\n"},
            _png_beside_the_jpg,
            [
                "ERROR label file shared by several images (Ultralytics gives each the same boxes): 1",
                "  labels/train/000000.txt  for images/train/000000.jpg, images/train/000000.png",
                "1 error(s), 0 warning(s): FAILED",
            ],
            id="one-label-file-shared-by-jpg-and-png",
        ),
        pytest.param(
            {"train": _NOT_INTEGER, "val": "1 0.5 0.5 0.2 0.2\n"},
            None,
            [
                "ERROR class id not an integer: 3",
                "  labels/train/000000.txt:2  class id nan is not an integer",
                "  labels/train/000000.txt:3  class id 1e999 is not an integer",
                "  labels/train/000000.txt:4  class id 1.5 is not an integer",
                "ERROR box outside [0,1]: 1",
                "  labels/train/000000.txt:5  value nan is not a number",
                "4 error(s), 0 warning(s): FAILED",
            ],
            id="non-integer-class-ids-and-nan-values-with-file-and-line",
        ),
    ],
)
def test_check_names_each_label_problem(tmp_path, capsys, labels, setup, expected):
    y = _yolo(tmp_path, labels)
    if setup is not None:
        setup(tmp_path)
    code, out = _check(y, capsys)
    assert code == 1
    assert out[3:] == expected


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig"])
def test_check_reads_a_utf16_data_yaml_as_powershell_writes_it(tmp_path, capsys, encoding):
    text = f"path: {tmp_path}\ntrain: images/train\nval: images/val\nnames: [a, b]\n"
    y = _yolo(tmp_path, {"train": "0 0.5 0.5 0.2 0.2\n", "val": "1 0.5 0.5 0.2 0.2\n"}, text.encode(encoding))
    code, out = _check(y, capsys)
    assert (code, out[-1]) == (0, "0 error(s), 0 warning(s): OK")


def test_check_names_a_yaml_that_is_no_text(tmp_path, capsys):
    y = _yolo(tmp_path, {"train": "0 0.5 0.5 0.2 0.2\n"}, b"train: \xe9t\xe9\n")  # Latin-1, not UTF-8
    code, out = _check(y, capsys)
    assert code == 1
    assert out[1] == "ERROR data YAML unusable: 1"
    assert out[2] == f"  {y}  not UTF-8 or UTF-16 text (byte 0xe9 at offset 7); save it as UTF-8"


# ---------------------------------------------------------------------------- write failures


def _full_disk(monkeypatch, module, name: str) -> None:
    """Make ``module.name`` fail as a write on a full disk does (naming the file it was writing)."""
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(args[1] if len(args) > 1 else args[0]))

    monkeypatch.setattr(module, name, full)


def test_voc_full_disk_midway_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    from ca_yolo.data import files

    root = _voc(tmp_path / "VOCdevkit", {"a": (40, 40, ""), "b": (40, 40, "")}, ["a"])
    (root / "VOC2007" / "ImageSets" / "Main" / "val.txt").write_text("b\n")
    _full_disk(monkeypatch, files, "place_image")
    out = tmp_path / "out"
    assert data_main(["voc", "--root", str(root), "--out", str(out)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"ca-yolo data voc: error: cannot write {out}: No space left on device; nothing was written"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["VOCdevkit"]


def test_voc_out_under_a_file_is_refused_by_the_converter_itself(tmp_path):
    root = _voc(tmp_path / "VOCdevkit", {"a": (40, 40, ""), "b": (40, 40, "")}, ["a"])
    (root / "VOC2007" / "ImageSets" / "Main" / "val.txt").write_text("b\n")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match=rf"^cannot write {tmp_path / 'file' / 'out'}: .*; nothing was written$"):
        convert_voc(root, tmp_path / "file" / "out", log=lambda s: None)


def test_sample_full_disk_midway_and_out_under_a_file(tmp_path, monkeypatch, capsys):
    from ca_yolo.data import sample

    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "sample"
    assert data_main(["sample", "--out", str(out), "--n-train", "2", "--n-val", "1", "--imgsz", "64"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"ca-yolo data sample: error: cannot write --out {out}: '{tmp_path / 'file'}' is a file, not a folder"
    )
    _full_disk(monkeypatch, sample, "write_label_file")
    out = tmp_path / "sample"
    assert data_main(["sample", "--out", str(out), "--n-train", "2", "--n-val", "1", "--imgsz", "64"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"ca-yolo data sample: error: cannot write {out}: No space left on device; nothing was written"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--n-train", "0", "argument --n-train: expected an integer >= 1, got '0'"),
        ("--imgsz", "16", "argument --imgsz: expected an integer >= 32, got '16'"),
        ("--seed", "x", "argument --seed: expected an integer >= 0, got 'x'"),
    ],
)
def test_sample_bad_numbers_are_usage_errors(tmp_path, capsys, flag, value, message):
    assert data_main(["sample", "--out", str(tmp_path / "s"), flag, value]) == 2
    assert capsys.readouterr().err.strip() == (
        f"ca-yolo data sample: error: {message} (see 'ca-yolo data sample --help')"
    )
    assert list(tmp_path.iterdir()) == []
