"""Weight transfer from a baseline checkpoint into an attention variant (ca_yolo.transfer)."""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import yaml
from conftest import TINY_TRAIN, cli_args, train_cli

os.environ.setdefault("YOLO_OFFLINE", "1")

from ca_yolo.cfg import MODELS_DIR  # noqa: E402
from ca_yolo.plugin.load_hook import add_load_hook  # noqa: E402
from ca_yolo.transfer import TransferError, align, transfer_weights  # noqa: E402

add_load_hook()  # idempotent; register() installs it too once the lead wires it in


class _Stop(BaseException):
    """Raised from a trainer callback to end a run once the model is set up.

    A BaseException, not an Exception: the ca-yolo command line turns every Exception into one error line.
    """


def _stock(name: str) -> dict:
    from ultralytics.utils.checks import check_yaml

    return yaml.safe_load(Path(check_yaml(name)).read_text())


def _make_dataset(root: Path, n: int = 2) -> Path:
    """n 64x64 images, one box each; returns the data YAML (train = val)."""
    import cv2

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for k in range(n):
        img = (rng.random((64, 64, 3)) * 60).astype(np.uint8)
        img[16:48, 20:44] = 220
        cv2.imwrite(str(root / "images" / f"im{k}.jpg"), img)
        (root / "labels" / f"im{k}.txt").write_text("0 0.5 0.5 0.375 0.5\n")
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(root), "train": "images", "val": "images", "names": {0: "box"}}))
    return data


TRAIN = {**TINY_TRAIN, "epochs": 1, "batch": 2, "verbose": False, "exist_ok": True, "mosaic": 0.0, "warmup_epochs": 0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data YAML, baseline yolov8n checkpoint after one optimizer step on a 2-image dataset)."""
    from ultralytics import YOLO

    root = tmp_path_factory.mktemp("transfer")
    data = _make_dataset(root / "data")
    YOLO("yolov8n.yaml").train(data=str(data), project=str(root / "runs"), name="base", **TRAIN)
    ckpt = root / "runs" / "base" / "weights" / "last.pt"
    assert ckpt.is_file()
    return data, ckpt


def _base_state(ckpt: Path) -> dict[str, torch.Tensor]:
    from ultralytics.nn.tasks import load_checkpoint

    return {k: v.clone() for k, v in load_checkpoint(ckpt)[0].state_dict().items()}


def _assert_transferred(model: nn.Module, base: dict[str, torch.Tensor], index_map: list[int]) -> None:
    """Every baseline tensor sits, unchanged, at its layer's new index."""
    got = model.state_dict()
    for key, value in base.items():
        _, i, rest = key.split(".", 2)
        new = f"model.{index_map[int(i)]}.{rest}"
        assert torch.equal(got[new], value), new


def test_transfer_weights_moves_every_baseline_tensor(trained):
    from ultralytics.nn.tasks import DetectionModel

    _, ckpt = trained
    base = _base_state(ckpt)
    model = DetectionModel("yolov8n-ca.yaml", nc=1, verbose=False)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    result = transfer_weights(model, str(ckpt))

    assert (result.n_transferred, result.n_baseline) == (len(base), len(base)) == (355, 355)
    assert result.complete and result.skipped == [] and result.summary() == "Transferred 355/355 baseline tensors"
    assert result.inserted == [
        (5, "CoordAtt"),
        (8, "CoordAtt"),
        (11, "CoordAtt"),
        (19, "CoordAtt"),
        (23, "CoordAtt"),
        (27, "CoordAtt"),
    ]
    assert result.index_map == [0, 1, 2, 3, 4, 6, 7, 9, 10, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22, 24, 25, 26, 28]
    _assert_transferred(model, base, result.index_map)
    # the attention layers keep their initialisation, and they are all that is not baseline
    attn = {k for k in fresh if int(k.split(".")[1]) in {i for i, _ in result.inserted}}
    assert result.n_fresh == len(attn) == 66 and len(fresh) == result.n_baseline + result.n_fresh
    assert all(torch.equal(model.state_dict()[k], fresh[k]) for k in attn)
    assert model.names == {0: "box"}  # a full transfer also brings the class names


def test_without_the_plugin_almost_nothing_would_match(trained):
    """Ultralytics' own index-based load: the reason this module exists."""
    from ultralytics.nn.tasks import BaseModel, DetectionModel, intersect_dicts, load_checkpoint

    _, ckpt = trained
    src = load_checkpoint(ckpt)[0].state_dict()
    model = DetectionModel("yolov8n-ca.yaml", nc=1, verbose=False)
    assert len(intersect_dicts(src, model.state_dict())) == 92  # of 355: only rows 0-4 and coincidences
    assert BaseModel.load.__wrapped__ is not None


def _log_lines() -> tuple[logging.Handler, list[str]]:
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logging.getLogger("ultralytics").addHandler(handler)
    return handler, lines


def _capture_model_then_stop(store: dict):
    def callback(trainer):
        store["model"] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        store["ema"] = {k: v.detach().clone() for k, v in trainer.ema.ema.state_dict().items()}
        raise _Stop

    return callback


def test_train_with_pretrained_baseline_python(trained, tmp_path):
    from ultralytics import YOLO

    data, ckpt = trained
    base = _base_state(ckpt)
    model, store = YOLO("yolov8n-ca.yaml"), {}
    model.add_callback("on_pretrain_routine_end", _capture_model_then_stop(store))
    handler, lines = _log_lines()
    try:
        with pytest.raises(_Stop):
            model.train(data=str(data), pretrained=str(ckpt), project=str(tmp_path), name="ca", **TRAIN)
    finally:
        logging.getLogger("ultralytics").removeHandler(handler)
    assert "Transferred 355/355 baseline tensors" in lines
    index_map = [0, 1, 2, 3, 4, 6, 7, 9, 10, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22, 24, 25, 26, 28]
    for state in (store["model"], store["ema"]):  # the EMA starts from the transferred weights too
        for key, value in base.items():
            _, i, rest = key.split(".", 2)
            assert torch.equal(state[f"model.{index_map[int(i)]}.{rest}"], value), key


def test_train_with_pretrained_baseline_cli(trained, tmp_path):
    """``ca-yolo train model=yolov8n-se.yaml pretrained=base.pt`` (a sibling, through the CLI)."""
    from ultralytics.utils.callbacks.base import default_callbacks

    from ca_yolo.cli import main

    data, ckpt = trained
    store = {}
    callback = _capture_model_then_stop(store)
    default_callbacks["on_pretrain_routine_end"].append(callback)  # the CLI builds its own trainer
    handler, lines = _log_lines()
    try:
        with pytest.raises(_Stop):
            main(
                [
                    "train",
                    "model=yolov8n-se.yaml",
                    f"pretrained={ckpt}",
                    f"data={data}",
                    f"project={tmp_path}",
                    "name=se",
                    *cli_args(**TRAIN),
                ]
            )
    finally:
        default_callbacks["on_pretrain_routine_end"].remove(callback)
        logging.getLogger("ultralytics").removeHandler(handler)
    assert "Transferred 355/355 baseline tensors" in lines
    assert sum(k.startswith("model.5.") for k in store["model"]) == 4  # SE: fc1/fc2 weight+bias, fresh
    _assert = _base_state(ckpt)
    assert torch.equal(store["model"]["model.28.dfl.conv.weight"], _assert["model.22.dfl.conv.weight"])
    assert torch.equal(store["model"]["model.7.cv2.bn.running_var"], _assert["model.6.cv2.bn.running_var"])


def test_refuses_a_checkpoint_that_is_not_the_base(trained):
    from ultralytics.nn.tasks import DetectionModel

    _, ckpt = trained
    model = DetectionModel("yolov8n-ca.yaml", nc=1, verbose=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    other = nn.Module()
    refusals = {  # (stock YAML, scale) of the checkpoint's model -> the message
        ("yolo11.yaml", "n"): r"^checkpoint model is not the base of this model: variant row 2 "
        r"\[-1, 3, C2f, \[128, True\]\] differs from base row 2 \[-1, 2, C3k2, \[256, False, 0.25\]\]$",
        ("yolov8.yaml", "s"): r"it is scale 's' \[0.33, 0.5, 1024\], the model is scale 'n' "
        r"\[0.33, 0.25, 1024\]; use the baseline checkpoint of the same scale",
    }
    for (stock, scale), message in refusals.items():
        other.yaml = {**_stock(stock), "scale": scale}
        with pytest.raises(TransferError, match=message):
            transfer_weights(model, other)
    with pytest.raises(TransferError, match="has no model YAML"):
        transfer_weights(model, nn.Module())
    with pytest.raises(FileNotFoundError, match="checkpoint 'missing.pt' not found"):
        transfer_weights(model, "missing.pt")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())  # untouched on refusal
    # the training hook refuses the same way, instead of loading whatever keys match
    with pytest.raises(TransferError, match="not the base of this model"):
        model.load({"model": other, "ema": None})


def test_other_loads_are_left_to_ultralytics(trained):
    """No registered layers, or the same layers (fine-tuning a CA checkpoint): Ultralytics' own load."""
    from ultralytics.nn.tasks import DetectionModel, load_checkpoint

    _, ckpt = trained
    handler, lines = _log_lines()
    try:
        DetectionModel("yolov8n.yaml", nc=1, verbose=False).load(load_checkpoint(ckpt)[0])
        ca = DetectionModel("yolov8n-ca.yaml", nc=1, verbose=False)
        DetectionModel("yolov8n-ca.yaml", nc=1, verbose=False).load(ca)
    finally:
        logging.getLogger("ultralytics").removeHandler(handler)
    assert [x for x in lines if x.startswith("Transferred")] == [
        "Transferred 355/355 items from pretrained weights",  # plain model: Ultralytics' message
        "Transferred 421/421 items from pretrained weights",  # CA into CA: all 421, attention included
    ]


def _rows(d: dict) -> list:
    return d["backbone"] + d["head"]


def test_align_maps_rows_and_names_the_first_mismatch():
    base, variant = _stock("yolov8.yaml"), yaml.safe_load((MODELS_DIR / "yolov8-ca.yaml").read_text())
    a = align(base, variant)
    assert a.inserted == (5, 8, 11, 19, 23, 27) and a.index_map[22] == 28 and not a.identity
    assert align(base, base).identity

    broken = copy.deepcopy(variant)
    broken["head"][1][0] = [-1, 7]  # reads base row 6's output, skipping its attention layer
    with pytest.raises(
        TransferError,
        match=r"variant row 14 \[\[-1, 7\], 1, Concat, \[1\]\] reads rows \[13, 7\], "
        r"but base row 11 \[\[-1, 6\], 1, Concat, \[1\]\] maps to rows \[13, 8\]",
    ):
        align(base, broken, "x.pt")
    broken = copy.deepcopy(variant)
    broken["backbone"][5][2] = "Conv"  # an unregistered layer is never "inserted"
    with pytest.raises(
        TransferError, match=r"^x.pt is not the base of this model: variant row 5 \[-1, 1, Conv, \[\]\]"
    ):
        align(base, broken, "x.pt")


def test_align_handles_inserted_layers_next_to_base_attention():
    """A CA model as the base of a CA + SE model: rows with the same module are told apart by the graph."""
    from ca_yolo.yamlgen.insert import insert_after

    base = yaml.safe_load((MODELS_DIR / "yolov8-ca.yaml").read_text())
    variant, _ = insert_after(base, [4, 5, 17], module="SE")  # SE before and after the first CoordAtt
    a = align(base, variant)
    assert a.inserted == (5, 7, 20) and [_rows(variant)[i][2] for i in a.inserted] == ["SE", "SE", "SE"]
    assert all(_rows(variant)[a.index_map[b]][2] == r[2] for b, r in enumerate(_rows(base)))
    # a second CoordAtt right before the base's: either reading is the same graph; one row is new
    variant, _ = insert_after(base, [4], module="CoordAtt")
    a = align(base, variant)
    assert len(a.inserted) == 1 and a.inserted[0] in (5, 6) and len(a.index_map) == len(_rows(base))
    assert all(_rows(variant)[a.index_map[b]][2] == r[2] for b, r in enumerate(_rows(base)))


@pytest.mark.parametrize(
    ("base", "variant", "counts"),
    [
        ("yolo11n.yaml", "yolo11n-ca.yaml", (499, 66)),  # C3k2 / C2PSA
        ("yolo26n.yaml", "yolo26n-ca.yaml", (708, 66)),  # end-to-end head with one-to-one branches
        ("yolov8n.yaml", "yolov8n-ca-h.yaml", (355, 54)),  # 6 layers x 9 tensors
    ],
)
def test_transfer_other_families_in_memory(base, variant, counts):
    """A model object (not a file) as the checkpoint; every family's tensors all arrive."""
    from ultralytics.nn.tasks import DetectionModel

    src, dst = DetectionModel(base, verbose=False), DetectionModel(variant, verbose=False)
    result = transfer_weights(dst, {"model": src, "ema": None}, verbose=False)
    assert (result.n_transferred, result.n_baseline, result.n_fresh) == (counts[0], counts[0], counts[1])
    _assert_transferred(dst, src.state_dict(), result.index_map)


def test_wrong_scale_pretrained_leaves_no_run_folder(tiny_data, tmp_path):
    """``ca-yolo train model=yolov8n-ca.yaml pretrained=<yolov8s>``: one line, and no run folder left."""
    from ultralytics import YOLO

    ckpt = tmp_path / "yolov8s.pt"
    YOLO("yolov8s.yaml").save(ckpt)
    project = tmp_path / "runs"
    p = train_cli("yolov8n-ca.yaml", tiny_data, project, "wrong", cwd=tmp_path, pretrained=ckpt)
    assert p.returncode == 1, p.stderr[-2000:]
    errors = [line for line in p.stderr.splitlines() if line.startswith("ca-yolo train: error:")]
    assert len(errors) == 1 and "is not the base of this model" in errors[0] and "scale 's'" in errors[0], p.stderr[
        -2000:
    ]
    assert "Traceback" not in p.stderr
    assert not (project / "wrong").exists()
