"""Attention-map capture and figures (ca_yolo.viz): shapes, values, exactness, hooks, CLI."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn

os.environ.setdefault("YOLO_OFFLINE", "1")

import ca_yolo  # noqa: E402,F401  (registers CoordAtt and the shipped YAMLs)
from ca_yolo.viz import (  # noqa: E402
    NoAttentionLayersError,
    attention_for_images,
    attention_markdown,
    capture_attention,
    find_attention_layers,
    report_attention_figures,
    save_attention_figures,
    select_layers,
)
from ca_yolo.viz.cli import main as attn_main  # noqa: E402
from ca_yolo.viz.geometry import Letterbox  # noqa: E402

CA_LAYERS = [5, 8, 11, 19, 23, 27]  # CoordAtt rows of yolov8-ca.yaml
CA_STRIDES = [8, 16, 32, 8, 16, 32]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _net(cfg: str = "yolov8n-ca.yaml") -> nn.Module:
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(2)
    with ca_yolo.attention_init("paper"):  # random gate weights: the maps must respond to the input
        net = DetectionModel(cfg, nc=2, verbose=False).eval()
    # He init keeps activations from fading with depth (PyTorch's default init nearly flattens the
    # deep layers' gates), so the maps of a random model still respond to the input.
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net


@pytest.fixture(scope="module")
def ca_net() -> nn.Module:
    return _net()


@pytest.fixture(scope="module")
def ca_pt(tmp_path_factory) -> Path:
    """A yolov8n-ca checkpoint with random weights, saved the way Ultralytics saves best.pt."""
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("w") / "ca.pt"
    torch.manual_seed(0)
    YOLO("yolov8n-ca-paper.yaml").save(path)  # random gates, so the drawn maps are not uniform
    return path


def _image(seed: int, h: int = 96, w: int = 128) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 40, np.uint8)
    y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
    img[y : y + h // 3, x : x + w // 3] = rng.integers(0, 255, 3)
    return img


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("imgs")
    for i in range(2):
        cv2.imwrite(str(d / f"img{i}.jpg"), _image(i))
    (d / "notes.txt").write_text("not an image")
    return d


def _assert_same(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    else:
        assert a == b


def _hook_count(net: nn.Module) -> int:
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in net.modules())


# --- capture -------------------------------------------------------------------------------------


def test_finds_every_coordatt_layer_with_its_yaml_index(ca_net):
    layers = find_attention_layers(ca_net)
    assert [layer.index for layer in layers] == CA_LAYERS
    assert {layer.type for layer in layers} == {"CoordAtt"}
    assert [layer.name for layer in layers] == [f"model.{i}" for i in CA_LAYERS]


def _plain_and_captured(net, x):
    """``net``'s output on ``x`` without and with :func:`capture_attention` (no grad), and the capture."""
    with torch.no_grad():
        plain = net(x)
        with capture_attention(net) as cap:
            captured = net(x)
    return plain, captured, cap


def test_outputs_bit_identical_with_capture_and_hooks_removed(ca_net):
    x = torch.rand(2, 3, 64, 96)
    before = _hook_count(ca_net)
    plain, captured, cap = _plain_and_captured(ca_net, x)
    with torch.no_grad():
        after = ca_net(x)
    _assert_same(plain, captured)
    _assert_same(plain, after)
    assert _hook_count(ca_net) == before
    assert len(cap.input_shapes) == 1 and all(len(c) == 1 for c in cap.calls.values())


def test_training_mode_outputs_and_batchnorm_state_unchanged():
    net = _net().train()
    twin = copy.deepcopy(net)
    x = torch.rand(2, 3, 64, 64)
    with capture_attention(net):
        out = net(x)
    ref = twin(x)
    _assert_same(out, ref)
    for (k, a), (_, b) in zip(net.state_dict().items(), twin.state_dict().items()):
        assert torch.equal(a, b), k  # running stats / num_batches_tracked counted once, not twice


def test_hooks_removed_when_the_block_raises(ca_net):
    before = _hook_count(ca_net)
    with pytest.raises(KeyError, match="boom"):
        with capture_attention(ca_net):
            assert _hook_count(ca_net) == before + 1 + len(CA_LAYERS)
            raise KeyError("boom")
    assert _hook_count(ca_net) == before


def test_map_shapes_strides_and_range(ca_net):
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad(), capture_attention(ca_net) as cap:
        ca_net(x)
    maps = cap.maps(item=1)
    assert [m.layer for m in maps] == CA_LAYERS
    assert [m.stride for m in maps] == CA_STRIDES
    chans = {layer.index: layer.module.c1 for layer in find_attention_layers(ca_net)}
    for m in maps:
        h, w = 64 // m.stride, 96 // m.stride
        assert m.channels == chans[m.layer]
        assert m.size == (h, w)
        assert m.g_h.shape == (m.channels, h) and m.g_w.shape == (m.channels, w)
        assert m.g_h.dtype == np.float32
        assert m.full().shape == (m.channels, h, w)
        assert m.mean().shape == (h, w)
        idx, top = m.topk(3)
        assert idx.shape == (3,) and top.shape == (3, h, w)
        for a in (m.g_h, m.g_w, m.full(), m.mean(), top):
            assert a.min() >= 0.0 and a.max() <= 1.0
        np.testing.assert_allclose(m.mean(), m.full().mean(0), rtol=1e-5)
        full = m.full()
        spread = full.reshape(m.channels, -1).max(1) - full.reshape(m.channels, -1).min(1)
        np.testing.assert_allclose(m.spread(), spread, rtol=1e-5, atol=1e-7)
        assert list(idx) == list(np.argsort(-spread, kind="stable")[:3])
        np.testing.assert_array_equal(top, full[idx])


def test_maps_are_exactly_what_the_layer_applied(ca_net):
    """The layer's output equals its input times the captured C x H x W map."""
    seen = {}
    layer = ca_net.model[8]
    handle = layer.register_forward_hook(lambda m, a, out: seen.update(x=a[0].clone(), out=out.clone()))
    try:
        with torch.no_grad(), capture_attention(ca_net, layers=[8]) as cap:
            ca_net(torch.rand(1, 3, 64, 64))
    finally:
        handle.remove()
    (m,) = cap.maps()
    expected = seen["x"][0] * torch.from_numpy(m.full())
    torch.testing.assert_close(seen["out"][0], expected, rtol=1e-6, atol=1e-7)


def test_maps_change_when_the_input_changes(ca_net):
    x = torch.full((2, 3, 64, 64), 0.2)
    x[0, :, 8:24, 8:24] = 1.0  # a bright square top-left in image 0, bottom-right in image 1
    x[1, :, 40:60, 30:60] = 1.0
    with torch.no_grad(), capture_attention(ca_net) as cap:
        ca_net(x)
    maps0, maps1 = cap.maps(item=0), cap.maps(item=1)
    for a, b in zip(maps0, maps1):
        assert np.abs(a.g_h - b.g_h).max() > 1e-5 and np.abs(a.g_w - b.g_w).max() > 1e-5, a.layer
    assert np.abs(maps0[0].mean() - maps1[0].mean()).max() > 1e-3  # layer 5: the mean map moves too
    with torch.no_grad(), capture_attention(ca_net) as again:
        ca_net(x)
    np.testing.assert_array_equal(again.maps(item=0)[0].g_h, maps0[0].g_h)  # same input, same map


def test_layer_selection_and_errors(ca_net):
    found = find_attention_layers(ca_net)
    assert [layer.index for layer in select_layers(found, "8,5")] == [8, 5]
    assert [layer.index for layer in select_layers(found, "all")] == CA_LAYERS
    with pytest.raises(ValueError) as e:
        select_layers(found, "3,5")
    assert str(e.value) == (
        "layer(s) [3] are not attention layers of this model; its attention layers are 5, 8, 11, 19, 23, 27 "
        "(or use layers=all)"
    )
    with pytest.raises(ValueError, match=r"layers='a,b' must be 'all' or comma-separated layer indices"):
        select_layers(found, "a,b")


def test_model_without_attention_gives_a_clear_error():
    plain = _net("yolov8n.yaml")
    assert find_attention_layers(plain) == []
    with pytest.raises(NoAttentionLayersError, match=r"the model has no Coordinate Attention layer"):
        with capture_attention(plain):
            pass
    assert _hook_count(plain) == 0


def test_maps_before_any_forward_is_an_error(ca_net):
    with capture_attention(ca_net) as cap:
        pass
    with pytest.raises(RuntimeError, match="no forward pass was recorded"):
        cap.maps()


class _HeightOnly(nn.Module):
    """A duck-typed single-direction attention layer: gates() gives g_h and None for g_w."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 1)

    def gates(self, x):
        return self.conv(x.mean(3, keepdim=True)).sigmoid(), None

    def forward(self, x):
        return x * self.gates(x)[0]


def test_single_direction_layers_are_supported():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), _HeightOnly(8))
    with torch.no_grad(), capture_attention(net) as cap:
        y = net(torch.rand(1, 3, 32, 48))
    (m,) = cap.maps()
    assert (m.layer, m.type, m.stride, m.size, m.channels) == (-1, "_HeightOnly", 2, (16, 24), 8)
    assert m.g_w is None and m.g_h.shape == (8, 16)
    # a missing direction attends uniformly: the map is g_h repeated along W
    np.testing.assert_array_equal(m.full(), np.repeat(m.g_h[:, :, None], 24, axis=2))
    assert m.profiles()[1] is None and m.profiles()[0].shape == (16,)
    assert y.shape == (1, 8, 16, 24)


@pytest.mark.parametrize(
    "cfg, kind, missing", [("yolov8n-ca-h.yaml", "CoordAttH", "g_w"), ("yolov8n-ca-w.yaml", "CoordAttW", "g_h")]
)
def test_coordatt_halves_from_their_yamls(cfg, kind, missing):
    net = _net(cfg)
    assert [(layer.index, layer.type) for layer in find_attention_layers(net)] == [(i, kind) for i in CA_LAYERS]
    seen = {}
    handle = net.model[5].register_forward_hook(lambda m, a, out: seen.update(x=a[0].clone(), out=out.clone()))
    x = torch.rand(1, 3, 64, 96)
    try:
        plain, captured, cap = _plain_and_captured(net, x)
    finally:
        handle.remove()
    _assert_same(plain, captured)
    m = cap.maps()[0]
    assert getattr(m, missing) is None
    kept = m.g_h if missing == "g_w" else m.g_w
    assert kept.shape == ((m.channels, 8) if missing == "g_w" else (m.channels, 12))
    torch.testing.assert_close(seen["out"][0], seen["x"][0] * torch.from_numpy(m.full()), rtol=1e-6, atol=1e-7)


def test_channel_only_attention_is_not_a_coordinate_map():
    with pytest.raises(NoAttentionLayersError, match="the model has no Coordinate Attention layer"):
        select_layers(find_attention_layers(_net("yolov8n-se.yaml")), None)


# --- letterbox geometry --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(96, 128), (128, 96), (50, 173), (173, 50), (64, 64), (37, 101)])
@pytest.mark.parametrize("auto", [False, True])
def test_letterbox_inverse_matches_ultralytics(shape, auto):
    from ultralytics.data.augment import LetterBox

    lb = LetterBox(128, auto=auto, stride=32)
    params = lb.get_params({"img": np.zeros((*shape, 3), np.uint8)})
    out = lb(image=np.zeros((*shape, 3), np.uint8))
    box = Letterbox.from_shapes(shape, out.shape[:2])
    assert (box.top, box.left) == (params["top"], params["left"])
    assert box.inner == params["new_unpad"][::-1]


def test_to_image_puts_the_map_where_the_image_is():
    """A grid that is 1 over the image area and 0 over the padding maps back to all ones."""
    from ultralytics.data.augment import LetterBox

    img = np.full((60, 128, 3), 255, np.uint8)
    lb = LetterBox(128, auto=False, stride=32, padding_value=0)
    padded = lb(image=img)[:, :, 0].astype(np.float32) / 255  # (128, 128): 1 inside, 0 in padding
    box = Letterbox.from_shapes(img.shape[:2], padded.shape)
    back = box.to_image(padded)
    assert back.shape == (60, 128)
    assert back[2:-2].min() > 0.99  # interior rows come only from the image area
    prof = box.profile_to_image(padded[:, 0], axis=0)
    assert prof.shape == (60,) and prof[2:-2].min() > 0.99


# --- predictor pass, figures, CLI ----------------------------------------------------------------


def test_attention_for_images_uses_the_prediction_pass(ca_pt, image_dir):
    from ultralytics import YOLO

    paths = sorted(image_dir.glob("*.jpg"))
    yolo = YOLO(str(ca_pt))
    atts = attention_for_images(yolo, paths, layers="5,27", imgsz=128, conf=0.01)
    plain = YOLO(str(ca_pt)).predict([str(p) for p in paths], imgsz=128, conf=0.01, verbose=False)
    assert [a.path for a in atts] == paths
    for att, ref in zip(atts, plain):
        assert att.image.shape == (96, 128, 3)
        assert [m.layer for m in att.maps] == [5, 27] and [m.stride for m in att.maps] == [8, 32]
        # rect letterbox of 96x128 at imgsz 128 is a 96x128 input: 12x16 cells at stride 8
        assert att.maps[0].size == (12, 16) and att.maps[1].size == (3, 4)
        assert att.on_image(att.maps[0].mean()).shape == (96, 128)
        _assert_same(att.result.boxes.data, ref.boxes.data)  # capturing changed no detection
    assert not np.array_equal(atts[0].maps[0].g_h, atts[1].maps[0].g_h)
    assert _hook_count(yolo.predictor.model.model) == 0


def test_save_attention_figures_writes_pngs(ca_pt, image_dir, tmp_path):
    paths = sorted(image_dir.glob("*.jpg"))
    out = save_attention_figures(ca_pt, paths, tmp_path / "figs", channels="topk", k=2, layers=[8], imgsz=64)
    assert out == [tmp_path / "figs" / "img0_attn.png", tmp_path / "figs" / "img1_attn.png"]
    for p in out:
        assert p.read_bytes()[:8] == PNG_MAGIC
        assert cv2.imread(str(p)).shape[0] > 200
    assert sorted(x.name for x in (tmp_path / "figs").iterdir()) == ["img0_attn.png", "img1_attn.png"]  # no temp left


def test_cli_writes_figures_and_increments_the_folder(ca_pt, image_dir, tmp_path, capsys):
    args = [f"model={ca_pt}", f"source={image_dir}", "imgsz=64", f"project={tmp_path}", "name=exp"]
    assert attn_main(args) == 0
    assert capsys.readouterr().out.strip() == f"Saved 2 attention figure(s) to {tmp_path / 'exp'}"
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == ["img0_attn.png", "img1_attn.png"]
    one = [a for a in args if not a.startswith("source=")] + [f"source={image_dir / 'img1.jpg'}"]
    assert attn_main(one) == 0
    second = capsys.readouterr().out.strip().rsplit(" ", 1)[1]
    assert Path(second) != tmp_path / "exp" and Path(second).name.startswith("exp") and Path(second).name.endswith("2")
    assert [p.name for p in Path(second).iterdir()] == ["img1_attn.png"]
    assert attn_main([*args, "exist_ok=True", "layers=5"]) == 0
    assert capsys.readouterr().out.strip().endswith(str(tmp_path / "exp"))


@pytest.fixture(scope="module")
def plain_pt(tmp_path_factory) -> Path:
    """A yolov8n checkpoint without attention layers."""
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("w") / "plain.pt"
    YOLO("yolov8n.yaml").save(path)
    return path


def test_report_figures_only_for_models_with_attention(ca_pt, plain_pt, image_dir, tmp_path):
    figs = report_attention_figures(
        {"yolov8n": plain_pt, "yolov8n-ca": ca_pt}, [image_dir / "img1.jpg"], tmp_path / "attention", imgsz=64
    )
    assert figs == {"yolov8n-ca": [tmp_path / "attention" / "yolov8n-ca" / "img1_attn.png"]}
    assert figs["yolov8n-ca"][0].read_bytes()[:8] == PNG_MAGIC
    md = attention_markdown(figs, tmp_path)
    assert md.startswith("## What the attention layers attend to\n")
    assert "### yolov8n-ca\n\n![yolov8n-ca: img1_attn](attention/yolov8n-ca/img1_attn.png)" in md
    assert attention_markdown({}, tmp_path) == ""


def test_cli_errors(ca_pt, plain_pt, image_dir, tmp_path, capsys):
    plain = plain_pt
    cases = [  # exit 1: a file named is unusable; exit 2: the command line is wrong
        ([f"model={plain}", f"source={image_dir}"], "the model has no Coordinate Attention layer", 1),
        ([f"model={ca_pt}", f"source={image_dir}", "layers=3"], "layer(s) [3] are not attention layers", 1),
        ([f"model={ca_pt}", f"source={tmp_path / 'nope.jpg'}"], f"source '{tmp_path / 'nope.jpg'}' not found", 1),
        ([f"model={ca_pt}", f"source={image_dir / 'notes.txt'}"], "is not an image", 1),
        ([f"model={tmp_path / 'x.pt'}", f"source={image_dir}"], f"checkpoint '{tmp_path / 'x.pt'}' not found", 1),
        ([f"model={ca_pt}", f"source={image_dir}", "channels=max"], "channels=max must be mean or topk", 2),
        ([f"model={ca_pt}"], "'source=' is required", 2),
        ([f"model={ca_pt}", f"source={image_dir}", "colour=red"], "unknown key(s) ['colour']", 2),
    ]
    for argv, message, code in cases:
        assert attn_main([*argv, f"out={tmp_path / 'o'}"]) == code, argv
        err = capsys.readouterr().err
        assert err.startswith("ca-yolo attn: error: ") and message in err, (argv, err)
    assert not (tmp_path / "o").exists()  # nothing written on error
