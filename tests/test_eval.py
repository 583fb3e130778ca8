"""COCO-standard evaluation: GT conversion, pycocotools parity, perfect predictions, the one validator pass,
``ca-yolo eval``."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from ca_yolo.evaluation import (
    COCO_METRICS,
    DatasetError,
    build_coco_gt,
    coco_metrics,
    ground_truth_for,
    load_coco_gt,
    read_split,
)
from ca_yolo.evaluation.cli import main as eval_main
from ca_yolo.evaluation.dataset import read_labels
from ca_yolo.evaluation.tide import format_tide_line, tide_errors


def _direct_pycocotools(gt: dict, dets: list[dict], tmp: Path) -> list[float]:
    """The 12 COCOeval stats computed the textbook way: JSON files, COCO(), loadRes, COCOeval."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    (tmp / "gt.json").write_text(json.dumps(gt))
    (tmp / "dt.json").write_text(json.dumps(dets))
    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO(str(tmp / "gt.json"))
        cd = cg.loadRes(str(tmp / "dt.json"))
        ev = COCOeval(cg, cd, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(x) for x in ev.stats]


def _fixture_detections(gt: dict, seed: int = 0) -> list[dict]:
    """Noisy copies of every GT box (some with the wrong class), plus random false positives."""
    rng = np.random.default_rng(seed)
    dets = []
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        for _ in range(2):
            jitter = rng.normal(0, 0.08, 4) * [w, h, w, h]
            cat = a["category_id"] if rng.random() > 0.2 else 3 - a["category_id"]
            dets.append({"image_id": a["image_id"], "category_id": int(cat),
                         "bbox": [float(v) for v in np.maximum([x, y, w, h] + jitter, 0.5)],
                         "score": float(rng.random())})  # fmt: skip
    for im in gt["images"]:
        for _ in range(3):
            dets.append({"image_id": im["id"], "category_id": int(rng.integers(1, 3)),
                         "bbox": [float(v) for v in rng.uniform(0, 30, 4) + [0, 0, 4, 4]],
                         "score": float(rng.random() * 0.5)})  # fmt: skip
    return dets


def test_gt_from_yolo_labels_is_exact(tmp_path):
    """Boxes in pixels (x, y, w, h), image ids from the stems (as 'ca-yolo data gt'), classes as index + 1.

    Names are kept.
    """
    import cv2

    root = tmp_path / "ds"
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    cv2.imwrite(str(root / "images/val/b.jpg"), np.zeros((50, 100, 3), np.uint8))  # w=100, h=50
    cv2.imwrite(str(root / "images/val/a.png"), np.zeros((40, 40, 3), np.uint8))
    cv2.imwrite(str(root / "images/train/t.jpg"), np.zeros((40, 40, 3), np.uint8))
    (root / "labels/val/b.txt").write_text("1 0.5 0.5 0.2 0.4\n0 0.1 0.2 0.3 0.3 0.2 0.6\n")  # box, then polygon
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames: [cat, dog]\n")

    from ca_yolo.data.cocojson import image_id_from_stem

    gt = build_coco_gt(read_split(root / "data.yaml", "val"))
    a, b = image_id_from_stem("a"), image_id_from_stem("b")
    assert [(i["id"], i["file_name"], i["width"], i["height"]) for i in gt.coco["images"]] == [
        (a, "a.png", 40, 40),
        (b, "b.jpg", 100, 50),
    ]
    assert [(c["id"], c["name"]) for c in gt.coco["categories"]] == [(1, "cat"), (2, "dog")]
    anns = gt.coco["annotations"]
    assert [(a["id"], a["image_id"], a["category_id"]) for a in anns] == [(1, b, 2), (2, b, 1)]
    assert anns[0]["bbox"] == [40.0, 15.0, 20.0, 20.0] and anns[0]["area"] == 400.0
    assert anns[1]["bbox"] == pytest.approx([10.0, 10.0, 20.0, 20.0]) and anns[1]["area"] == pytest.approx(400.0)
    assert gt.category_ids == [1, 2]


def test_bad_label_row_names_file_and_row(tmp_path):
    lbl = tmp_path / "x.txt"
    lbl.write_text("0 0.5 0.5 0.1 0.1\n5 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError, match=r"x\.txt:2: class id 5 is not in 0\.\.1$"):
        read_labels(lbl, 2)
    lbl.write_text("0 0.5 0.5 0.1\n")
    with pytest.raises(DatasetError, match=r"x\.txt:1: 4 values, expected 5 \(cls cx cy w h\) or a polygon"):
        read_labels(lbl, 2)


def test_metrics_equal_direct_pycocotools(tiny_data, tmp_path):
    gt = build_coco_gt(read_split(tiny_data, "val"))
    dets = _fixture_detections(gt.coco)
    ours = coco_metrics(gt.coco, dets)
    direct = _direct_pycocotools(gt.coco, dets, tmp_path)
    assert list(ours) == list(COCO_METRICS)
    assert [(-1.0 if v is None else v) for v in ours.values()] == direct  # exactly the same numbers
    assert 0.05 < ours["AP50"] < 0.95  # the fixture is neither trivial nor hopeless


def test_perfect_predictions_give_ap_one(tiny_data):
    gt = build_coco_gt(read_split(tiny_data, "val"))
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
               for a in gt.coco["annotations"]]  # fmt: skip
    m = coco_metrics(gt.coco, perfect)
    assert m["AP"] == 1.0 and m["AP50"] == 1.0 and m["AP75"] == 1.0 and m["AR100"] == 1.0
    none = coco_metrics(gt.coco, [])  # no detections at all: zeros, not a crash
    assert none["AP"] == 0.0 and none["AR100"] == 0.0


def test_given_gt_matched_by_file_name_and_class_name(tiny_data, tmp_path):
    """A GT JSON with its own ids (e.g. from 'ca-yolo data voc') is used through name matching."""
    split = read_split(tiny_data, "val")
    ours = build_coco_gt(split).coco
    remap_img = {im["id"]: 1000 + 7 * im["id"] for im in ours["images"]}
    other = {
        "images": [{**im, "id": remap_img[im["id"]], "file_name": Path(im["file_name"]).name} for im in ours["images"]],
        "annotations": [
            {**a, "image_id": remap_img[a["image_id"]], "category_id": 20 if a["category_id"] == 1 else 10}
            for a in ours["annotations"]
        ],  # fmt: skip
        "categories": [{"id": 10, "name": "blue"}, {"id": 20, "name": "red"}],
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(other))
    gt = ground_truth_for(split, path)
    assert gt.category_ids == [20, 10]  # class 0 'red' -> 20, class 1 'blue' -> 10
    assert [gt.image_ids[p] for p in split.images] == [remap_img[im["id"]] for im in ours["images"]]
    bad = {**other, "categories": [{"id": 10, "name": "blue"}]}
    path.write_text(json.dumps(bad))
    with pytest.raises(DatasetError, match=r"class names \['red'\] from the data YAML are not among its categories"):
        load_coco_gt(path, split)


def test_eval_cli_on_a_checkpoint(ca_run, tiny_data, tmp_path, capsys):
    out = tmp_path / "ev"
    rc = eval_main([f"model={ca_run / 'weights' / 'best.pt'}", f"data={tiny_data}", "imgsz=64", f"save_dir={out}"])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "AP50 " in printed and "AP_small" in printed and "Ultralytics' validator: mAP50" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    dets = json.loads((out / "detections.json").read_text())
    assert metrics["images"] == 4 and metrics["detections"] == len(dets) > 0
    gt = build_coco_gt(read_split(tiny_data, "val")).coco
    direct = _direct_pycocotools(gt, dets, tmp_path)  # the saved detections reproduce the printed metrics
    assert [(-1.0 if v is None else v) for v in metrics["coco"].values()] == direct
    assert set(metrics["ultralytics"]) == {"mAP50", "mAP50-95", "precision", "recall"}
    # TIDE from the same detections (no second pass): what tide_errors gives on the saved file, printed in AP points
    assert metrics["tide"] == json.loads(json.dumps(tide_errors(gt, dets)))
    assert list(metrics["tide"]["dAP"]) == ["Cls", "Loc", "Both", "Dupe", "Bkg", "Missed", "FalsePos", "FalseNeg"]
    assert format_tide_line(metrics["tide"]) in printed


def _count_passes(monkeypatch) -> list[str]:
    """Record every validator run and refuse any predictor run (evaluation is the validator's one pass)."""
    from ultralytics.engine.model import Model
    from ultralytics.engine.validator import BaseValidator

    calls = []
    validate = BaseValidator.__call__

    def counted(self, *args, **kwargs):
        calls.append(type(self).__name__)
        return validate(self, *args, **kwargs)

    def no_predict(*args, **kwargs):
        raise AssertionError("evaluation must not run a separate prediction pass")

    monkeypatch.setattr(BaseValidator, "__call__", counted)
    monkeypatch.setattr(Model, "predict", no_predict)
    return calls


def test_eval_is_one_validator_pass_with_yolo_vals_numbers(ca_run, tiny_data, tmp_path, monkeypatch):
    """One model.val pass gives all three metric families: its Ultralytics numbers equal a direct 'yolo val',
    its kept detections are the validator's own (its save_txt output of a direct run), pycocotools on them
    equals a direct pycocotools computation."""
    from ultralytics import YOLO

    from ca_yolo.evaluation import evaluate_checkpoint

    best = ca_run / "weights" / "best.pt"
    calls = _count_passes(monkeypatch)
    result = evaluate_checkpoint(best, tiny_data, imgsz=64, batch=2)  # batch 2: several rect batches
    assert calls == ["CapturingValidator"]  # one pass, and nothing else ran inference
    monkeypatch.undo()

    direct = YOLO(str(best)).val(
        data=str(tiny_data), imgsz=64, batch=2, conf=0.001, iou=0.7, max_det=300, plots=False, verbose=False,
        save_txt=True, save_conf=True, project=str(tmp_path), name="direct", exist_ok=True,
    )  # fmt: skip
    rd = direct.results_dict
    keys = {"mAP50": "mAP50(B)", "mAP50-95": "mAP50-95(B)", "precision": "precision(B)", "recall": "recall(B)"}
    assert result.ultralytics == {k: rd[f"metrics/{v}"] for k, v in keys.items()}

    # the validator's own per-image output of the direct pass (normalised xywh, conf): the same boxes
    gt = build_coco_gt(read_split(tiny_data, "val"))
    sizes = {im["id"]: (im["width"], im["height"]) for im in gt.coco["images"]}
    ids = {Path(p).stem: i for p, i in gt.image_ids.items()}
    theirs, ours = [], []
    for txt in sorted((tmp_path / "direct" / "labels").glob("*.txt")):
        for row in np.loadtxt(txt, ndmin=2):
            cls, cx, cy, w, h, score = row
            theirs.append([ids[txt.stem], gt.category_ids[int(cls)], score, cx, cy, w, h])
    for d in result.detections_list:
        (x, y, w, h), (iw, ih) = d["bbox"], sizes[d["image_id"]]
        ours.append([d["image_id"], d["category_id"], d["score"], (x + w / 2) / iw, (y + h / 2) / ih, w / iw, h / ih])
    assert len(ours) == len(theirs) == result.detections > 0
    left = np.asarray(ours)
    for row in theirs:  # each of its boxes is one of ours (its text keeps 6 digits, our JSON 3 for pixels)
        close = np.flatnonzero(np.all(np.abs(left - row) <= [0, 0, 2e-5, 1e-4, 1e-4, 1e-4, 1e-4], axis=1))
        assert close.size, row
        left = np.delete(left, close[0], axis=0)

    assert [(-1.0 if v is None else v) for v in result.coco.values()] == _direct_pycocotools(
        gt.coco, result.detections_list, tmp_path
    )


def test_eval_never_runs_the_validators_json_evaluation(ca_run, tiny_data, tmp_path, monkeypatch):
    """A val split at '.../coco/val2017.txt' makes Ultralytics switch save_json on and evaluate its own COCO
    JSON (installing faster-coco-eval): evaluation keeps it off, writes no predictions.json, installs nothing."""
    import shutil

    import ultralytics.models.yolo.detect.val as detect_val
    from ultralytics.engine.validator import BaseValidator

    from ca_yolo.evaluation import evaluate_checkpoint

    root = tmp_path / "coco"
    for sub in ("images", "labels"):
        shutil.copytree(tiny_data.parent / sub, root / sub)
    lines = "".join(f"./images/val/{p.name}\n" for p in sorted((root / "images" / "val").iterdir()))
    (root / "val2017.txt").write_text(lines)
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: val2017.txt\nnames: [red, blue]\n")
    required, seen = [], []
    validate = BaseValidator.__call__

    def watched(self, *args, **kwargs):
        out = validate(self, *args, **kwargs)
        seen.append((self.is_coco, self.args.save_json, self.jdict, sorted(self.save_dir.rglob("*"))))
        return out

    monkeypatch.setattr(detect_val, "check_requirements", lambda *a, **k: required.append(a))
    monkeypatch.setattr(BaseValidator, "__call__", watched)
    result = evaluate_checkpoint(ca_run / "weights" / "best.pt", root / "data.yaml", imgsz=64)
    assert seen == [(True, False, [], [])]  # taken for COCO, yet no JSON and no file written
    assert required == []
    assert result.images == 4 and {d["category_id"] for d in result.detections_list} <= {1, 2}


def test_eval_cli_errors(tiny_data, tmp_path, capsys):
    assert eval_main([f"model={tmp_path / 'nope.pt'}", f"data={tiny_data}"]) == 1  # a file problem
    assert capsys.readouterr().err.strip() == f"ca-yolo eval: error: checkpoint '{tmp_path / 'nope.pt'}' not found"
    assert eval_main(["model=x.pt"]) == 2
    assert capsys.readouterr().err.strip() == "ca-yolo eval: error: 'data=' is required"
    assert eval_main(["model=x.pt", "data=y.yaml", "foo=1"]) == 2
    assert "unknown key(s) ['foo']" in capsys.readouterr().err
