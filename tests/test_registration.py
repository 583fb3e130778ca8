"""CoordAtt in Ultralytics model YAMLs: row forms, channel inference, scales, tasks, layer table."""

from __future__ import annotations

import pytest
import torch
import yaml
from conftest import ultralytics_log
from model_yamls import SMALL_CA
from ultralytics import YOLO
from ultralytics.nn.tasks import DetectionModel, OBBModel, PoseModel, SegmentationModel

import ca_yolo
from ca_yolo import CoordAtt


def write_yaml(tmp_path, name="net-n.yaml", ca_args="[]", head="Detect", head_args="[nc]", **extra) -> str:
    path = tmp_path / name
    text = SMALL_CA.format(ca_args=ca_args, head=head, head_args=head_args)
    for k, v in extra.items():
        text = f"{k}: {v}\n" + text
    path.write_text(text)
    return str(path)


def ca_layers(model: torch.nn.Module) -> list[CoordAtt]:
    return [m for m in model.modules() if isinstance(m, CoordAtt)]


@pytest.mark.parametrize(
    "ca_args, reduction",
    [("[]", 32), ("[16]", 16), ("[256]", 32), ("[256, 8]", 8)],
    ids=["empty", "reduction", "nominal-channels", "nominal-channels-reduction"],
)
def test_row_forms_get_real_input_channels(tmp_path, ca_args, reduction):
    model = DetectionModel(write_yaml(tmp_path, ca_args=ca_args), verbose=False)
    first, second = ca_layers(model)
    assert (first.c1, first.reduction) == (64, reduction)  # 256 * width 0.25
    assert (second.c1, second.reduction) == (64, 32)  # from=4, not -1
    assert model.model[5].c1 == 64 and model.model[11].f == 4
    out = model.eval()(torch.zeros(1, 3, 64, 64))
    assert out[0].shape[:2] == (1, 4 + 3)


def test_nominal_channel_mismatch_builds_and_warns_naming_row_and_channels(tmp_path, caplog):
    path = write_yaml(tmp_path, ca_args="[512]")
    with ultralytics_log(caplog) as lines:
        model = DetectionModel(path, verbose=False)
    assert model.model[5].c1 == 64  # the layer keeps its input's channels
    warnings = [s for s in lines if "model YAML row" in s]
    assert warnings == [  # Ultralytics' logger adds the "WARNING ⚠️" prefix
        "WARNING ⚠️ model YAML row 5 (CoordAtt): written channels 512 (128 at scale 'n'), real input 64 "
        "(nominal 256); built with 64 (an attention layer keeps its input's channels)"
    ]


@pytest.mark.parametrize("args", ["[0]", "[1, 2, 3]", "[abc]"])
def test_bad_args_are_rejected_with_the_row(tmp_path, args):
    with pytest.raises(ValueError, match=r"^model YAML row 5 \(CoordAtt\): args .* fit none of the forms \[\], \[r\]"):
        DetectionModel(write_yaml(tmp_path, ca_args=args), verbose=False)


def test_multi_input_row_is_rejected(tmp_path):
    path = tmp_path / "multi-n.yaml"
    path.write_text(open(write_yaml(tmp_path)).read().replace("[4, 1, CoordAtt", "[[4, 5], 1, CoordAtt"))
    with pytest.raises(ValueError, match=r"model YAML row 11 \(CoordAtt\): takes one input, got from=\[4, 5\]"):
        DetectionModel(str(path), verbose=False)


@pytest.mark.parametrize(
    "scale, width, max_ch", [("n", 0.25, 1024), ("s", 0.5, 1024), ("m", 0.75, 768), ("l", 1.0, 512), ("x", 1.25, 512)]
)
def test_every_scale_scales_channels_like_ultralytics(tmp_path, scale, width, max_ch):
    d = yaml.safe_load(open(write_yaml(tmp_path, ca_args="[256]")))
    model = DetectionModel({**d, "scale": scale}, verbose=False)
    c = -(-min(256, max_ch) * width // 8) * 8
    assert [m.c1 for m in ca_layers(model)] == [c, c]
    conv = model.model[4]  # the C2f feeding the CA row: Ultralytics' own channel count
    assert conv.cv2.conv.out_channels == c


@pytest.mark.parametrize(
    "cls, head, head_args, extra",
    [
        (SegmentationModel, "Segment", "[nc, 32, 64]", {}),
        (PoseModel, "Pose", "[nc, kpt_shape]", {"kpt_shape": "[17, 3]"}),
        (OBBModel, "OBB", "[nc, 1]", {}),
    ],
)
def test_segment_pose_obb_models(tmp_path, cls, head, head_args, extra):
    model = cls(write_yaml(tmp_path, head=head, head_args=head_args, **extra), verbose=False)
    assert [m.c1 for m in ca_layers(model)] == [64, 64]
    model.eval()(torch.zeros(1, 3, 64, 64))


@pytest.mark.parametrize("name", ca_yolo.shipped_models())
def test_shipped_yamls_build_at_scale_n_and_s_with_the_right_layers(name):
    from ca_yolo.nn import layer_names

    d = yaml.safe_load((ca_yolo.cfg.MODELS_DIR / name).read_text())
    ours = [r[2] for r in d["backbone"] + d["head"] if r[2] in layer_names()]
    assert ours, f"{name} has no ca-yolo layer"
    family, variant = name.split("-", 1)
    for scale in "ns":
        model = YOLO(f"{family}{scale}-{variant}").model
        assert sorted(type(m).__name__ for m in model.modules() if type(m).__name__ in layer_names()) == sorted(ours)
        assert model.yaml["scale"] == scale


def test_layer_table_and_info_show_true_parameter_counts(tmp_path, caplog):
    with ultralytics_log(caplog) as lines:
        model = DetectionModel(write_yaml(tmp_path, ca_args="[256, 8]"), verbose=True)
    ca = model.model[5]
    n = sum(p.numel() for p in ca.parameters())
    assert ca.np == n == (64 * 8 + 8) + 16 + 2 * (8 * 64 + 64)
    rows = [s for s in lines if "CoordAtt" in s]
    assert rows[0].split()[:4] == ["5", "-1", "1", str(n)] and rows[0].rstrip().endswith("[64, 8]")
    from ultralytics.utils.torch_utils import model_info

    n_layers, n_params, *_ = model_info(model)  # what model.info() prints
    assert n_params == sum(p.numel() for p in model.parameters())


def test_stock_models_are_built_unchanged():
    model = YOLO("yolov8n.yaml").model
    assert not ca_layers(model)
    assert sum(p.numel() for p in model.parameters()) == 3157200


def test_register_is_idempotent():
    import ultralytics.nn.tasks as tasks

    before = tasks.parse_model
    ca_yolo.register()
    ca_yolo.register()
    assert tasks.parse_model is before and ca_yolo.is_registered()
    assert tasks.parse_model.__wrapped__.__module__ == "ultralytics.nn.tasks"
