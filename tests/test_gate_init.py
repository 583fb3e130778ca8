"""How fresh attention layers start (identity by default, 'paper' on request), and the stats callback."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from conftest import script_module

import ca_yolo
from ca_yolo import CBAM, ECA, SE, CoordAtt, CoordAttH, CoordAttW, attention_init
from ca_yolo.nn.gate_init import GATE_LOGIT

S = 1 / (1 + math.exp(-GATE_LOGIT))  # sigmoid(4) = 0.982

# Layer -> factor a fresh identity-initialised layer multiplies every input by.
START_SCALE = [
    (CoordAtt, S * S),  # two gates
    (CoordAttH, S),
    (CoordAttW, S),
    (SE, S),
    (CBAM, S * 0.5),  # channel gate sigmoid(4); the spatial conv has no bias: sigmoid(0)
    (ECA, 0.5),  # no bias: the gate can only start at sigmoid(0)
]


@pytest.mark.parametrize("cls,scale", START_SCALE, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_identity_init_starts_as_a_constant_scale(cls, scale, mode):
    torch.manual_seed(0)
    layer = cls(32)
    assert layer.init == "identity"
    layer.train(mode == "train")
    x = torch.randn(3, 32, 7, 5) * 3 + 1
    torch.testing.assert_close(layer(x), x * scale, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cls", [CoordAtt, CoordAttH, SE, CBAM, ECA])
def test_identity_init_still_learns(cls):
    """Zero gate weights get a non-zero gradient, so the gates leave their start on the first step."""
    from ca_yolo.diagnose import gate_parameters

    torch.manual_seed(0)
    layer = cls(64).train()
    x = torch.rand(4, 64, 6, 6) * 2  # non-negative, like the SiLU features the layers see in YOLO
    target = torch.randn(4, 64, 6, 6)
    ((layer(x) - target) ** 2).mean().backward()
    weights = {k: p for k, p in gate_parameters(layer).items() if k.endswith("weight")}
    assert weights and all(float(p.grad.abs().sum()) > 0 for p in weights.values())


def test_paper_init_is_pytorch_default():
    """attention_init('paper') leaves the gate convs at PyTorch's default (kaiming-uniform) init."""
    torch.manual_seed(0)
    with attention_init("paper"):
        layer = CoordAtt(64)
    assert layer.init == "paper"
    bound = 1 / math.sqrt(layer.mip)  # default bound of a 1x1 conv with mip input channels
    for conv in (layer.conv_h, layer.conv_w):
        w = conv.weight.detach()
        assert float(w.abs().max()) <= bound and float(w.std()) > bound / 3  # spread over the bound
        assert float(conv.bias.detach().abs().max()) <= bound
    x = torch.randn(2, 64, 8, 8)
    ratio = layer.eval()(x) / x
    assert float(ratio.std()) > 0.01  # input-dependent random modulation, around 0.25
    assert 0.15 < float(ratio.mean()) < 0.35


def test_unknown_init_mode_names_it():
    with pytest.raises(ValueError, match=r"^CoordAtt init: 'ident' is not one of identity, paper$"):
        CoordAtt(16, init="ident")


def test_building_attention_leaves_the_global_rng_alone():
    """Same seed -> a CA variant starts from exactly the baseline's weights plus its CA layers."""
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    before = torch.get_rng_state()
    CoordAtt(64)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(3)
    base = DetectionModel("yolov8n.yaml", nc=4, verbose=False)
    torch.manual_seed(3)
    variant = DetectionModel("yolov8n-ca.yaml", nc=4, verbose=False)
    base_params = [p for m in base.model for p in m.parameters()]
    variant_params = [p for m in variant.model if not isinstance(m, CoordAtt) for p in m.parameters()]
    assert len(base_params) == len(variant_params) == 184
    assert all(torch.equal(a, b) for a, b in zip(base_params, variant_params))


def test_yaml_key_selects_the_mode(tmp_path):
    from ultralytics.nn.tasks import DetectionModel

    from ca_yolo.cfg import MODELS_DIR

    paper = DetectionModel("yolov8n-ca-paper.yaml", nc=4, verbose=False)
    default = DetectionModel("yolov8n-ca.yaml", nc=4, verbose=False)
    assert {m.init for m in paper.model if isinstance(m, CoordAtt)} == {"paper"}
    assert {m.init for m in default.model if isinstance(m, CoordAtt)} == {"identity"}
    assert paper.yaml["attention_init"] == "paper"  # kept in model.yaml: every rebuild starts alike
    bad = tmp_path / "bad.yaml"
    bad.write_text((MODELS_DIR / "yolov8-ca.yaml").read_text() + "attention_init: zero\n")
    with pytest.raises(ValueError, match=r"model YAML key attention_init: 'zero' is not one of identity, paper"):
        DetectionModel(str(bad), nc=4, verbose=False)


def test_variant_from_baseline_computes_what_the_baseline_computed():
    """A CA variant with transferred baseline weights starts as the baseline, up to sigmoid(4)^2 scales."""
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    base = DetectionModel("yolov8n.yaml", nc=4, verbose=False)
    variant = DetectionModel("yolov8n-ca.yaml", nc=4, verbose=False)
    paper = DetectionModel("yolov8n-ca-paper.yaml", nc=4, verbose=False)
    ca_yolo.transfer_weights(variant, base)
    ca_yolo.transfer_weights(paper, base)
    x = torch.rand(2, 3, 96, 96)
    error = script_module("train_mode_change").train_mode_change(base, variant, x)
    assert error < 0.1
    assert script_module("train_mode_change").train_mode_change(base, paper, x) > 3 * error


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_attention_stats_callback(tiny_data, tmp_path):
    """attn stats: one row per layer, gate and epoch; epoch 0 is the identity start; training unchanged."""
    from ultralytics import YOLO

    from ca_yolo.diagnose import CSV_NAME, PNG_NAME, attach

    def train(name, stats):
        model = YOLO("yolov8n-ca.yaml")
        if stats:
            model.add_callback("on_train_start", attach)
        model.train(
            data=str(tiny_data), epochs=2, imgsz=64, batch=4, nbs=4, warmup_epochs=0, workers=0, device="cpu", seed=0,
            deterministic=True,
            project=str(tmp_path), name=name, plots=False, amp=False, verbose=False,
        )  # fmt: skip
        return tmp_path / name

    with_stats, without = train("stats", True), train("plain", False)
    rows = _read(with_stats / CSV_NAME)
    assert len(rows) == 3 * 6 * 2  # epochs 0..2 x 6 CA layers x (g_h, g_w)
    assert {r["layer"] for r in rows} == {"5", "8", "11", "19", "23", "27"}
    start = [r for r in rows if r["epoch"] == "0"]
    assert all(abs(float(r["mean"]) - S) < 1e-5 and float(r["std"]) < 1e-5 for r in start)
    assert all(float(r["gate_drift"]) == 0 for r in start)
    later = [r for r in rows if r["epoch"] == "2"]
    assert all(float(r["gate_drift"]) > 0 and float(r["grad_rms"]) > 0 for r in later)
    assert (with_stats / PNG_NAME).is_file()
    # Reading statistics changes nothing: same losses and metrics as the run without them.
    a, b = _read(with_stats / "results.csv"), _read(without / "results.csv")
    assert len(a) == len(b) == 2
    assert [{k: v for k, v in r.items() if k != "time"} for r in a] == [
        {k: v for k, v in r.items() if k != "time"} for r in b
    ]
