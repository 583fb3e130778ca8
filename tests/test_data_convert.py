"""VOC and COCO converters: exact labels, class mapping, difficult objects, bad input, atomicity."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from ca_yolo.data import files as files_mod
from ca_yolo.data.classes import COCO_CATEGORY_IDS, COCO_NAMES, VOC_NAMES
from ca_yolo.data.cli import main as data_main
from ca_yolo.data.coco import convert_coco
from ca_yolo.data.problems import DataError, OutputExistsError
from ca_yolo.data.voc import convert_voc

REPO = Path(__file__).resolve().parents[1]
VOC_SUBSET = REPO.parent / "shared" / "data" / "voc2007-subset" / "VOCdevkit"


def _jpeg(path: Path, w: int, h: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((h, w, 3), 127, np.uint8)
    cv2.imwrite(str(path), img)


def _voc_xml(w: int, h: int, objects: list[tuple], filename: str = "x.jpg") -> str:
    objs = "".join(
        f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{a}</xmin><ymin>{b}</ymin>"
        f"<xmax>{c}</xmax><ymax>{e}</ymax></bndbox></object>"
        for n, a, b, c, e, d in objects
    )
    size = f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size>"
    return f"<annotation><filename>{filename}</filename>{size}{objs}</annotation>"


def make_voc_year(root: Path, year: str, images: dict[str, tuple], splits: dict[str, list[str]]) -> Path:
    """VOC<year> with images {id: (w, h, [(name, xmin, ymin, xmax, ymax, difficult)])}."""
    d = root / f"VOC{year}"
    (d / "Annotations").mkdir(parents=True, exist_ok=True)
    (d / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    for vid, (w, h, objs) in images.items():
        _jpeg(d / "JPEGImages" / f"{vid}.jpg", w, h)
        (d / "Annotations" / f"{vid}.xml").write_text(_voc_xml(w, h, objs, f"{vid}.jpg"))
    for name, ids in splits.items():
        (d / "ImageSets" / "Main" / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
    return d


def voc_root(tmp_path: Path, images: dict[str, tuple], splits: dict[str, list[str]], year: str = "2007") -> Path:
    """``tmp_path/VOCdevkit`` holding VOC<year> with ``images`` and ``splits`` (see :func:`make_voc_year`)."""
    root = tmp_path / "VOCdevkit"
    make_voc_year(root, year, images, splits)
    return root


def standard_voc(tmp_path: Path) -> Path:
    """VOC2007 trainval (2 images) + test (1 image) and VOC2012 trainval (1 image)."""
    root = voc_root(
        tmp_path,
        {
            "000001": (100, 50, [("dog", 11, 6, 60, 45, 0), ("person", 1, 1, 100, 50, 1)]),
            "000002": (200, 100, [("tvmonitor", 1, 1, 101, 51, 0)]),
            "000003": (80, 40, [("aeroplane", 21, 11, 61, 31, 0), ("cat", 5, 5, 9, 9, 1)]),
        },
        {"trainval": ["000001", "000002"], "train": ["000001"], "val": ["000002"], "test": ["000003"]},
    )
    make_voc_year(root, "2012", {"2008_000007": (64, 64, [("bird", 33, 1, 64, 32, 0)])}, {"trainval": ["2008_000007"]})
    return root


def read_labels(out: Path, split: str) -> dict[str, list[str]]:
    return {p.stem: p.read_text().splitlines() for p in sorted((out / "labels" / split).glob("*.txt"))}


def no_leftovers(parent: Path) -> list[str]:
    """Hidden temporary folders the converters might have left."""
    return [p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name]


# ----------------------------------------------------------------------------------------- VOC


def test_voc_standard_protocol_exact_labels_and_gt(tmp_path):
    root = standard_voc(tmp_path)
    out = tmp_path / "out"
    logs: list[str] = []
    data_yaml = convert_voc(root, out, log=logs.append)

    assert data_yaml == out.resolve() / "data.yaml"
    data = yaml.safe_load(data_yaml.read_text())
    assert data["path"] == str(out.resolve())
    assert (data["train"], data["val"], data["coco_gt"]) == ("images/train", "images/val", "annotations/val.json")
    assert data["names"] == dict(enumerate(VOC_NAMES))
    assert data["protocol"] == "train = VOC2007 trainval + VOC2012 trainval; val = VOC2007 test"
    assert not any(line.startswith("NOTE") for line in logs)

    # dog (11,6)-(60,45) in 1-based pixels -> edges (10,5)-(59,44) in a 100x50 image; person is difficult.
    assert read_labels(out, "train") == {
        "000001": ["11 0.345000 0.490000 0.490000 0.780000"],
        "000002": ["19 0.250000 0.250000 0.500000 0.500000"],
        "2008_000007": ["2 0.742188 0.242188 0.484375 0.484375"],
    }
    assert read_labels(out, "val") == {"000003": ["0 0.500000 0.500000 0.500000 0.500000"]}
    assert sorted(p.name for p in (out / "images" / "train").iterdir()) == [
        "000001.jpg",
        "000002.jpg",
        "2008_000007.jpg",
    ]
    assert (out / "images" / "val" / "000003.jpg").read_bytes() == (root / "VOC2007/JPEGImages/000003.jpg").read_bytes()

    gt = json.loads((out / "annotations" / "val.json").read_text())
    assert gt["images"] == [{"id": 3, "file_name": "000003.jpg", "width": 80, "height": 40}]
    assert [c["name"] for c in gt["categories"]] == list(VOC_NAMES)
    assert [c["id"] for c in gt["categories"]] == list(range(1, 21))
    anns = [(a["category_id"], a["bbox"], a["iscrowd"], a["ignore"], a["id"]) for a in gt["annotations"]]
    assert anns == [(1, [20, 10, 40, 20], 0, 0, 1), (8, [4, 4, 4, 4], 1, 1, 2)]  # difficult cat kept, ignored

    summary = json.loads((out / "conversion.json").read_text())
    assert summary["splits"] == {
        "train": {"images": 3, "boxes": 3, "difficult": 1},
        "val": {"images": 1, "boxes": 1, "difficult": 1},
    }
    assert no_leftovers(tmp_path) == []


def test_voc_without_test_uses_val_split_and_says_so(tmp_path):
    root = voc_root(
        tmp_path,
        {"000001": (10, 10, [("cow", 1, 1, 10, 10, 0)]), "000002": (10, 10, [("cow", 1, 1, 5, 5, 0)])},
        {"train": ["000001"], "val": ["000002"]},
    )
    logs: list[str] = []
    convert_voc(root, tmp_path / "out", log=logs.append)
    note = "train = VOC2007 train; val = VOC2007 val (VOC2007 test not found; not the standard protocol)"
    assert logs[0] == f"NOTE: {note}"
    assert yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())["protocol"] == note
    assert read_labels(tmp_path / "out", "train") == {"000001": ["9 0.450000 0.450000 0.900000 0.900000"]}
    assert read_labels(tmp_path / "out", "val") == {"000002": ["9 0.200000 0.200000 0.400000 0.400000"]}


def test_voc_explicit_missing_year_is_an_error(tmp_path):
    root = standard_voc(tmp_path)
    with pytest.raises(DataError, match=r"VOC2010: folder for year 2010 does not exist"):
        convert_voc(root, tmp_path / "out", years=["2007", "2010"])
    data_yaml = convert_voc(root, tmp_path / "only07", years=["2007"])
    assert "VOC2012" not in yaml.safe_load(data_yaml.read_text())["protocol"]
    assert sorted(read_labels(tmp_path / "only07", "train")) == ["000001", "000002"]


@pytest.mark.parametrize(
    ("xml_text", "message"),
    [
        ("<annotation><size>", "malformed XML"),
        (_voc_xml(100, 50, [("unicorn", 1, 1, 5, 5, 0)]), "unknown class name 'unicorn'"),
        (_voc_xml(100, 50, [("dog", 1, 1, 150, 40, 0)]), "dog box (0,0,149,39) lies outside the 100x50 image"),
        (_voc_xml(100, 50, [("dog", 9, 1, 5, 40, 0)]), "dog box (8,0,4,39) has zero or negative size"),
        (_voc_xml(100, 50, [("dog", "a", 1, 5, 40, 0)]), "<xmin> is not a number: 'a'"),
        (_voc_xml(100, 50, [("dog", 1, 1, 5, 40, 2)]), "<difficult> must be 0 or 1, got '2'"),
    ],
)
def test_voc_bad_annotation_fails_naming_the_file_and_writes_nothing(tmp_path, xml_text, message):
    root = standard_voc(tmp_path)
    bad = root / "VOC2007" / "Annotations" / "000002.xml"
    bad.write_text(xml_text)
    out = tmp_path / "out"
    with pytest.raises(DataError) as e:
        convert_voc(root, out)
    assert f"{bad}: " in str(e.value) and message in str(e.value)
    assert "1 problem(s); nothing was written" in str(e.value)
    assert not out.exists() and no_leftovers(tmp_path) == []


def test_voc_missing_image_and_cli_exit_code(tmp_path, capsys):
    root = standard_voc(tmp_path)
    img = root / "VOC2007" / "JPEGImages" / "000003.jpg"
    img.unlink()
    assert data_main(["voc", "--root", str(root), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"{img}: image missing (annotated in 000003.xml)" in err
    assert not (tmp_path / "out").exists()


def test_voc_one_pixel_overshoot_is_clipped(tmp_path):
    # xmin=0 is one pixel left of the image in VOC's 1-based pixels: clipped, not an error.
    root = voc_root(
        tmp_path, {"1": (10, 10, [("cat", 0, 1, 11, 10, 0)]), "2": (10, 10, [])}, {"train": ["1"], "val": ["2"]}
    )
    convert_voc(root, tmp_path / "out")
    assert read_labels(tmp_path / "out", "train") == {"1": ["7 0.500000 0.450000 1.000000 0.900000"]}


def test_voc_skip_bad_counts_and_skips(tmp_path, capsys):
    root = standard_voc(tmp_path)
    (root / "VOC2007" / "Annotations" / "000001.xml").write_text("not xml")
    (root / "VOC2012" / "JPEGImages" / "2008_000007.jpg").unlink()
    out = tmp_path / "out"
    assert data_main(["voc", "--root", str(root), "--out", str(out), "--skip-bad"]) == 0
    assert "skipped 2 bad item(s)" in capsys.readouterr().err
    assert sorted(read_labels(out, "train")) == ["000002"]
    skipped = json.loads((out / "conversion.json").read_text())["skipped"]
    assert [s["item"] for s in skipped] == ["VOC2007/000001", "VOC2012/2008_000007"]


def test_voc_output_exists_needs_force_and_failures_keep_the_old_output(tmp_path, monkeypatch):
    root = standard_voc(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="already exists; pass --force to replace it"):
        convert_voc(root, out)
    assert (out / "mine.txt").read_text() == "keep me"

    # A failure half-way (here: Ctrl-C while copying the second image) leaves the old output as it was.
    calls = []

    def flaky(src, dst, mode="copy"):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt
        files_mod.shutil.copyfile(src, dst)

    monkeypatch.setattr(files_mod, "place_image", flaky)  # what write_split calls
    with pytest.raises(KeyboardInterrupt):
        convert_voc(root, out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    assert no_leftovers(tmp_path) == []

    monkeypatch.undo()
    convert_voc(root, out, force=True)
    assert not (out / "mine.txt").exists() and (out / "data.yaml").is_file()
    assert no_leftovers(tmp_path) == []


def test_output_inside_source_is_refused(tmp_path):
    root = standard_voc(tmp_path)
    with pytest.raises(DataError, match="overlaps the source"):
        convert_voc(root, root / "yolo", force=True)
    with pytest.raises(DataError, match="overlaps the source"):
        convert_voc(root, tmp_path, force=True)


def test_stale_partial_folder_of_a_dead_run_is_removed(tmp_path):
    root = standard_voc(tmp_path)
    stale = tmp_path / ".out.partial-999999999-abc"  # no such process
    stale.mkdir()
    convert_voc(root, tmp_path / "out")
    assert not stale.exists()


def test_symlinked_images_point_at_the_source(tmp_path):
    root = standard_voc(tmp_path)
    convert_voc(root, tmp_path / "out", images="symlink")
    link = tmp_path / "out" / "images" / "val" / "000003.jpg"
    assert link.is_symlink() and link.resolve() == (root / "VOC2007" / "JPEGImages" / "000003.jpg").resolve()


def test_voc_gt_json_makes_pycocotools_ignore_difficult(tmp_path):
    """A confident detection on a difficult object is neither a true nor a false positive."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    root = standard_voc(tmp_path)
    convert_voc(root, tmp_path / "out")
    gt = COCO(str(tmp_path / "out" / "annotations" / "val.json"))
    dets = [
        {"image_id": 3, "category_id": 8, "bbox": [4, 4, 4, 4], "score": 0.99},  # the difficult cat
        {"image_id": 3, "category_id": 1, "bbox": [20, 10, 40, 20], "score": 0.9},
    ]
    ev = COCOeval(gt, gt.loadRes(dets), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[1] == pytest.approx(1.0)  # AP50: the aeroplane found, the cat detection ignored


@pytest.mark.skipif(not VOC_SUBSET.is_dir(), reason="shared VOC2007 subset not present")
def test_voc_real_subset_box_count_matches_non_difficult_objects(tmp_path):
    expected = {"train": [0, 0, 0], "val": [0, 0, 0]}  # images, non-difficult, difficult
    voc07 = VOC_SUBSET / "VOC2007"
    for split in expected:
        for vid in (voc07 / "ImageSets" / "Main" / f"{split}.txt").read_text().split():
            expected[split][0] += 1
            for obj in ET.parse(voc07 / "Annotations" / f"{vid}.xml").getroot().iter("object"):
                expected[split][1 + (obj.findtext("difficult", "0").strip() == "1")] += 1
    convert_voc(VOC_SUBSET, tmp_path / "voc", images="symlink", log=lambda s: None)
    summary = json.loads((tmp_path / "voc" / "conversion.json").read_text())
    for split, (n_img, n_box, n_diff) in expected.items():
        labels = list((tmp_path / "voc" / "labels" / split).glob("*.txt"))
        assert len(labels) == n_img
        assert sum(len(p.read_text().splitlines()) for p in labels) == n_box
        assert summary["splits"][split] == {"images": n_img, "boxes": n_box, "difficult": n_diff}
    gt = json.loads((tmp_path / "voc" / "annotations" / "val.json").read_text())
    assert len(gt["images"]) == expected["val"][0]
    assert sum(a["iscrowd"] for a in gt["annotations"]) == expected["val"][2]
    assert len(gt["annotations"]) == expected["val"][1] + expected["val"][2]


# ---------------------------------------------------------------------------------------- COCO


def _coco_json(images: list[tuple], anns: list[tuple], cat_ids=(1, 13, 90)) -> dict:
    """images: (id, file_name, w, h); anns: (image_id, category_id, [x, y, w, h], iscrowd)."""
    return {
        "images": [{"id": i, "file_name": f, "width": w, "height": h} for i, f, w, h in images],
        "annotations": [
            {"id": k + 1, "image_id": i, "category_id": c, "bbox": b, "iscrowd": z, "area": 1.0}
            for k, (i, c, b, z) in enumerate(anns)
        ],
        "categories": [{"id": c, "name": COCO_NAMES[COCO_CATEGORY_IDS.index(c)]} for c in cat_ids],
    }


def make_coco(tmp_path: Path, layout: str = "official") -> Path:
    root = tmp_path / "coco"
    img_dir = {"official": root, "ultralytics": root / "images"}[layout]
    train = _coco_json(
        [(9, "000000000009.jpg", 100, 50), (25, "000000000025.jpg", 40, 40)],
        [
            (9, 1, [10, 5, 50, 40], 0),  # person -> 0
            (9, 90, [0, 0, 100, 50], 0),  # toothbrush -> 79
            (9, 1, [0, 0, 20, 20], 1),  # crowd: skipped
            (25, 13, [10.5, 10, 0, 5], 0),  # zero width: dropped and counted
        ],
    )
    val = _coco_json([(30, "000000000030.jpg", 64, 32)], [(30, 13, [16, 8, 32, 16], 0)])
    (root / "annotations").mkdir(parents=True)
    for split, data in (("train2017", train), ("val2017", val)):
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))
        for im in data["images"]:
            _jpeg(img_dir / split / im["file_name"], im["width"], im["height"])
    return root


@pytest.mark.parametrize("layout", ["official", "ultralytics"])
def test_coco_conversion_exact_labels_and_mapping(tmp_path, layout):
    root = make_coco(tmp_path, layout)
    out = tmp_path / "out"
    data_yaml = convert_coco(root, out, log=lambda s: None)
    assert read_labels(out, "train2017") == {
        "000000000009": ["0 0.350000 0.500000 0.500000 0.800000", "79 0.500000 0.500000 1.000000 1.000000"],
        "000000000025": [],
    }
    assert read_labels(out, "val2017") == {"000000000030": ["11 0.500000 0.500000 0.500000 0.500000"]}
    data = yaml.safe_load(data_yaml.read_text())
    assert data["names"] == dict(enumerate(COCO_NAMES))
    assert (data["train"], data["val"]) == ("images/train2017", "images/val2017")
    assert data["coco_gt"] == "annotations/instances_val2017.json"
    assert data["coco_gt_cat_ids"] == list(COCO_CATEGORY_IDS)
    src_json = root / "annotations" / "instances_val2017.json"
    assert data["coco_gt_source"] == str(src_json)
    assert (out / data["coco_gt"]).read_bytes() == src_json.read_bytes()
    summary = json.loads((out / "conversion.json").read_text())["splits"]["train2017"]
    assert summary == {"images": 2, "boxes": 2, "crowd_skipped": 1, "degenerate_skipped": 1, "ids_not_from_stem": 0}


def test_coco_class_table():
    assert len(COCO_CATEGORY_IDS) == 80 and COCO_CATEGORY_IDS[0] == 1 and COCO_CATEGORY_IDS[-1] == 90
    assert COCO_CATEGORY_IDS[11] == 13 and COCO_NAMES[11] == "stop sign"
    assert {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}.isdisjoint(COCO_CATEGORY_IDS)


def _edit_json(path: Path, fn) -> None:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def test_coco_bad_input_errors_name_the_file(tmp_path):
    root = make_coco(tmp_path)
    val_json = root / "annotations" / "instances_val2017.json"
    out = tmp_path / "out"

    val_json.write_text('{"images": [')
    with pytest.raises(DataError, match=rf"{val_json}: malformed JSON"):
        convert_coco(root, out)

    val_json.write_text(json.dumps(_coco_json([(30, "000000000030.jpg", 64, 32)], [])))
    _edit_json(val_json, lambda d: d.__setitem__("categories", [{"id": 12, "name": "street sign"}]))
    with pytest.raises(DataError, match=rf"{val_json}: category id 12 \('street sign'\) is not one of the 80"):
        convert_coco(root, out)
    _edit_json(val_json, lambda d: d.__setitem__("categories", [{"id": 1, "name": "human"}]))
    with pytest.raises(DataError, match="category id 1 is named 'human', COCO calls it 'person'"):
        convert_coco(root, out)
    assert not out.exists() and no_leftovers(tmp_path) == []


def _refused_with_problems(root: Path, out: Path, count: int) -> str:
    """convert_coco's refusal message, after checking it counts ``count`` problems and wrote nothing."""
    with pytest.raises(DataError) as e:
        convert_coco(root, out)
    msg = str(e.value)
    assert f"{count} problem(s); nothing was written" in msg
    assert not out.exists()
    return msg


def test_coco_missing_image_and_box_outside_are_listed_together(tmp_path):
    root = make_coco(tmp_path)
    (root / "train2017" / "000000000025.jpg").unlink()
    _edit_json(
        root / "annotations" / "instances_val2017.json",
        lambda d: d["annotations"].append({"id": 7, "image_id": 30, "category_id": 13, "bbox": [60, 0, 10, 10]}),
    )
    msg = _refused_with_problems(root, tmp_path / "out", 2)
    assert f"{root / 'train2017' / '000000000025.jpg'}: image missing (listed in instances_train2017.json)" in msg
    assert (
        f"{root / 'val2017' / '000000000030.jpg'}: annotation 7: box (60,0,70,10) lies outside the 64x32 image" in msg
    )

    # --skip-bad: the val split would be empty, which is an error of its own
    with pytest.raises(DataError, match="the val2017 split has no usable images"):
        convert_coco(root, tmp_path / "out", skip_bad=True, log=lambda s: None)
    assert not (tmp_path / "out").exists()


def test_coco_entries_without_integer_ids_are_listed(tmp_path):
    root = make_coco(tmp_path)

    def corrupt(d):
        d["images"].append({"id": "31", "file_name": "x.jpg", "width": 8, "height": 8})
        d["annotations"].append({"id": 8, "image_id": None, "category_id": 13, "bbox": [0, 0, 4, 4]})

    _edit_json(root / "annotations" / "instances_val2017.json", corrupt)
    msg = _refused_with_problems(root, tmp_path / "out", 2)
    image = "{'id': '31', 'file_name': 'x.jpg', 'width': 8, 'height': 8}"
    annotation = "{'id': 8, 'image_id': None, 'category_id': 13, 'bbox': [0, 0, 4, 4]}"
    assert f"instances_val2017.json: image entry {image} has no integer id" in msg
    assert f"instances_val2017.json: annotation {annotation} has no integer image_id" in msg


def test_coco_missing_annotation_file(tmp_path):
    root = make_coco(tmp_path)
    (root / "annotations" / "instances_train2017.json").unlink()
    assert data_main(["coco", "--root", str(root), "--out", str(tmp_path / "o")]) == 1


def test_data_cli_help(capsys):
    assert data_main(["--help"]) == 0
    assert "voc" in capsys.readouterr().out
    assert data_main(["voc", "--help"]) == 0
    assert "--skip-bad" in capsys.readouterr().out
    assert data_main(["voc"]) == 2  # --root is required
    assert data_main([]) == 2


def test_repo_data_yamls_list_the_standard_classes():
    voc = yaml.safe_load((REPO / "data" / "VOC.yaml").read_text())
    coco = yaml.safe_load((REPO / "data" / "coco.yaml").read_text())
    assert voc["names"] == dict(enumerate(VOC_NAMES))
    assert coco["names"] == dict(enumerate(COCO_NAMES))
    assert coco["coco_gt_cat_ids"] == list(COCO_CATEGORY_IDS)
    assert (voc["train"], voc["val"]) == ("../datasets/VOC/images/train", "../datasets/VOC/images/val")
    assert not os.path.isabs(coco["coco_gt"])


def test_sigterm_during_conversion_leaves_nothing(tmp_path):
    """A run killed with SIGTERM while writing removes its temporary folder; no output appears."""
    import signal
    import subprocess
    import sys

    root = standard_voc(tmp_path)
    out = tmp_path / "out"
    child = (
        "import sys, time\n"
        "from ca_yolo.data import files, voc\n"
        "def slow(src, dst, mode='copy'):\n"
        "    print('copying', flush=True)\n"
        "    time.sleep(60)\n"
        "files.place_image = slow\n"
        "voc.convert_voc(sys.argv[1], sys.argv[2], log=lambda s: None)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", child, str(root), str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "copying"
        assert any(".partial-" in p.name for p in tmp_path.iterdir())  # work in progress is hidden
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        proc.kill()
    assert not out.exists() and no_leftovers(tmp_path) == []


def test_coco_gt_from_yolo_matches_the_labels(tmp_path):
    """The GT writer for any YOLO dataset reproduces the converter's val GT (difficult aside)."""
    from ca_yolo.data.cocojson import coco_gt_from_yolo

    root = standard_voc(tmp_path)
    y = convert_voc(root, tmp_path / "out")
    path = coco_gt_from_yolo(y, "val", tmp_path / "gt.json")
    gt = json.loads(path.read_text())
    assert gt["images"] == [{"id": 3, "file_name": "000003.jpg", "width": 80, "height": 40}]
    ((ann,),) = [gt["annotations"]]
    assert ann["category_id"] == 1 and ann["bbox"] == pytest.approx([20, 10, 40, 20]) and ann["iscrowd"] == 0
    assert data_main(["gt", str(y), "--split", "train"]) == 0
    train_gt = json.loads((tmp_path / "out" / "annotations" / "train.json").read_text())
    assert sorted(im["id"] for im in train_gt["images"]) == [1, 2, 2008000007]


def test_converted_yaml_loads_in_ultralytics(tmp_path, monkeypatch):
    from ultralytics.data.utils import check_det_dataset

    monkeypatch.setenv("YOLO_OFFLINE", "1")
    y = convert_voc(standard_voc(tmp_path), tmp_path / "out")
    monkeypatch.chdir(tmp_path / "VOCdevkit")
    data = check_det_dataset(str(y))
    assert data["train"] == str(tmp_path / "out" / "images" / "train")
    assert data["nc"] == 20 and data["names"][19] == "tvmonitor"
