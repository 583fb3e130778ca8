"""One label-line parser, so 'data check', 'data gt' and evaluation accept the same lines."""

from __future__ import annotations

import json

import pytest

from ca_yolo.data.check import check_label_text
from ca_yolo.data.cli import main as data_main
from ca_yolo.data.labelline import LabelLineError, parse_label_line
from ca_yolo.evaluation import build_coco_gt, read_split
from ca_yolo.evaluation.dataset import DatasetError, read_labels

# Lines Ultralytics' loader accepts (float class ids with an integer value included) ...
GOOD = ["1 0.5 0.5 0.2 0.2", "1.0 0.5 0.5 0.2 0.2", "0 0.1 0.1 0.3 0.1 0.3 0.4", "  0   0.5 0.5 0.2 0.2  "]
# ... and lines it rejects.
BAD = ["0.5 0.5 0.5 0.2 0.2", "0 0.5 0.5 0.2", "x 0.5 0.5 0.2 0.2", "0 0.1 0.1 0.3 0.1 0.3"]


def test_parser_boxes_and_polygons():
    assert parse_label_line("1.0 0.5 0.5 0.2 0.2").cls == 1
    poly = parse_label_line("0 0.1 0.1 0.3 0.1 0.3 0.4")
    assert (poly.cx, poly.cy, poly.w, poly.h) == pytest.approx((0.2, 0.25, 0.2, 0.3)) and poly.is_polygon
    assert parse_label_line("   ") is None
    with pytest.raises(LabelLineError, match="class id 0.5 is not an integer"):
        parse_label_line("0.5 0.5 0.5 0.2 0.2")


@pytest.mark.parametrize("line", GOOD + BAD)
def test_check_gt_and_evaluation_agree_on_every_line(tmp_path, line):
    from conftest import make_tiny_dataset

    y = make_tiny_dataset(tmp_path / "ds", n_train=1, n_val=1)
    lbl = tmp_path / "ds" / "labels" / "val" / "val0.txt"
    lbl.write_text(line + "\n")
    ok_check = check_label_text(lbl.read_text(), 2)[0] == []
    try:
        read_labels(lbl, 2)
        ok_eval = True
    except DatasetError:
        ok_eval = False
    ok_gt = data_main(["gt", str(y), "--out", str(tmp_path / "gt.json")]) == 0
    assert ok_check == ok_eval == ok_gt == (line in GOOD), (ok_check, ok_eval, ok_gt)


def test_data_gt_and_eval_build_the_same_ground_truth(tmp_path):
    from conftest import make_tiny_dataset

    y = make_tiny_dataset(tmp_path / "ds", n_train=1, n_val=3)
    (tmp_path / "ds" / "labels" / "val" / "val1.txt").write_text("1.0 0.5 0.5 0.25 0.5\n0 0.1 0.1 0.3 0.1 0.3 0.4\n")
    assert data_main(["gt", str(y), "--out", str(tmp_path / "gt.json")]) == 0
    ours = json.loads((tmp_path / "gt.json").read_text())
    theirs = build_coco_gt(read_split(y, "val")).coco

    # one builder: the same image ids, file names, sizes, boxes and categories
    for key in ("images", "annotations"):
        assert ours[key] == theirs[key], key
    assert [(c["id"], c["name"]) for c in ours["categories"]] == [(c["id"], c["name"]) for c in theirs["categories"]]
