"""Export of CA models: ONNX (standard ops only, dynamic sizes, ONNX Runtime == PyTorch) and TorchScript.

All offline: models are built from the shipped YAMLs, images are Ultralytics' bundled assets or
random. The ONNX checks run on three shipped models (one per family and insertion place); the
benchmark (``ca-yolo bench --parts onnx``) exports all nine.

Output parity is checked at three levels, because a random-weight detector is a poor witness:
- the whole model as Ultralytics initialises it (random weights): max abs <= 1e-4, any input size;
- the whole model with BatchNorm calibrated on photos (O(1) activations): its box outputs are
  ill-conditioned (float32 PyTorch is itself ~0.1 px off float64), so ONNX Runtime must stay
  within that float32 rounding;
- the CoordAtt layer alone, exported with dynamic sizes: max abs <= 1e-5 on random and real features.
"""

from __future__ import annotations

import collections
import copy
import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import ca_yolo  # noqa: F401
from ca_yolo.bench.ops import export_layer
from ca_yolo.nn import CoordAtt
from ca_yolo.nn.fuse import exporting_static_shapes, static_shape_export

TOL = 1e-4  # max abs difference ONNX Runtime / TorchScript vs PyTorch
# Ops a CA model may use: what the Ultralytics detectors themselves export to, plus ReduceMean.
# Nothing here has a data-dependent output size (no adaptive pooling), so TensorRT / OpenVINO take it.
ALLOWED_OPS = {
    "Add",
    "Cast",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Div",
    "Equal",
    "Expand",
    "Gather",
    "HardSwish",
    "Identity",
    "MaxPool",
    "Mul",
    "Range",
    "ReduceMean",
    "Reshape",
    "Resize",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Split",
    "Squeeze",
    "Sub",
    "Transpose",
    "Unsqueeze",
    "Where",
    "TopK",
    "GatherElements",
    "ReduceMax",
    "Tile",
    "Mod",
    "Flatten",
    "MatMul",
    "Sqrt",
    "Pow",
}
MODELS = ["yolov8n-ca.yaml", "yolo11n-ca-neck.yaml", "yolo26n-ca-backbone.yaml"]


def _assets() -> list[Path]:
    import ultralytics

    return sorted((Path(ultralytics.__file__).parent / "assets").glob("*.jpg"))


def _real_image(path: Path, h: int, w: int) -> torch.Tensor:
    """An RGB photo resized to (1, 3, h, w), values in [0, 1]."""
    import cv2

    img = cv2.resize(cv2.imread(str(path)), (w, h), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div(255)[None]


def _randomise_ca(model: torch.nn.Module) -> None:
    """Give every CoordAtt non-trivial BatchNorm statistics, as after training."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, CoordAtt):
                m.bn1.running_mean.copy_(torch.randn(m.mip, generator=g) * 0.2)
                m.bn1.running_var.copy_(torch.rand(m.mip, generator=g) + 0.5)


def _calibrate(model: torch.nn.Module) -> None:
    """Set the detector's BatchNorm statistics from two photos, so activations are O(1) as in a trained model.

    Ultralytics' random initialisation makes activations shrink layer by layer (to ~1e-12 at P5),
    which would make any comparison of outputs trivially pass. CoordAtt layers keep the
    statistics of :func:`_randomise_ca` and run in eval mode meanwhile.
    """
    _randomise_ca(model)
    ca_bn = {id(m.bn1) for m in model.modules() if isinstance(m, CoordAtt)}
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d) and id(m) not in ca_bn:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: the statistics of exactly this batch
    model.train()
    for m in model.modules():
        if isinstance(m, CoordAtt):
            m.eval()
    with torch.no_grad():
        model(torch.cat([_real_image(p, 96, 128) for p in _assets()]))
    model.eval()


def _calibrated_yolo():
    """(YOLO("yolov8n-ca.yaml") with BatchNorm calibrated on photos, its fused eval model), seed 0."""
    from ultralytics import YOLO

    torch.manual_seed(0)
    yolo = YOLO("yolov8n-ca.yaml")
    _calibrate(yolo.model)
    return yolo, copy.deepcopy(yolo.model).fuse(verbose=False).eval()


def _assert_float32_close(got: np.ndarray, torch_model: torch.nn.Module, x: torch.Tensor, floor: float) -> None:
    """``got`` is PyTorch's float32 output on x to within 10x PyTorch's own float32-vs-float64 error.

    With O(1) activations whole-model outputs are ill-conditioned (DFL softmax over random logits), so
    the bound is the model's own rounding, not a fixed tolerance; ``floor`` checks the output is not degenerate.
    """
    f32 = _torch_run(torch_model, x)
    f64 = _torch_run(copy.deepcopy(torch_model).double(), x.double())
    assert np.abs(f32).max() > floor
    assert np.abs(got - f32).max() <= 10 * np.abs(f32 - f64).max() + TOL


@pytest.fixture(scope="module", params=MODELS)
def exported(request, tmp_path_factory):
    """(fused eval PyTorch model, ONNX path) for one shipped CA model, exported with dynamic=True at 64."""
    from ultralytics import YOLO

    folder = tmp_path_factory.mktemp("onnx")
    yolo = YOLO(request.param)
    _randomise_ca(yolo.model)
    torch_model = copy.deepcopy(yolo.model).fuse(verbose=False).eval()
    import contextlib

    with contextlib.chdir(folder):
        out = yolo.export(format="onnx", imgsz=64, dynamic=True, simplify=False)
    return request.param, torch_model, folder / Path(out).name


def _ort_run(path: Path, x: torch.Tensor) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]


def _torch_run(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        y = model(x)
    return (y[0] if isinstance(y, (list, tuple)) else y).numpy()


def test_onnx_graph_uses_only_standard_ops(exported):
    name, torch_model, path = exported
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph, full_check=True)
    ops = collections.Counter(n.op_type for n in graph.graph.node)
    assert {n.domain for n in graph.graph.node} <= {"", "ai.onnx"}
    assert set(ops) <= ALLOWED_OPS, f"unexpected ops {set(ops) - ALLOWED_OPS}"
    assert not {"GlobalAveragePool", "AveragePool", "AdaptiveAvgPool2d"} & set(ops)
    n_ca = sum(isinstance(m, CoordAtt) for m in torch_model.modules())
    assert n_ca == {"yolov8n-ca.yaml": 6, "yolo11n-ca-neck.yaml": 3, "yolo26n-ca-backbone.yaml": 3}[name]
    assert ops["ReduceMean"] == 2 * n_ca  # CA's two poolings, nothing else in these detectors averages
    dims = [d.dim_param or d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]


@pytest.mark.parametrize("shape", [(1, 3, 64, 64), (2, 3, 96, 128), (1, 3, 160, 96)])
def test_onnxruntime_matches_pytorch_on_random_inputs_any_size(exported, shape):
    """Ultralytics' random initialisation, dynamic export at 64 run at other sizes and batches."""
    _, torch_model, path = exported
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    expected, got = _torch_run(torch_model, x), _ort_run(path, x)
    anchors = sum((shape[2] // s) * (shape[3] // s) for s in (8, 16, 32))
    assert got.shape == expected.shape and got.shape[0] == shape[0] and got.shape[-1] == anchors
    assert np.abs(got - expected).max() <= TOL


def test_onnxruntime_matches_pytorch_on_real_images(exported):
    _, torch_model, path = exported
    images = _assets()
    assert [p.name for p in images] == ["bus.jpg", "zidane.jpg"]
    for p, (h, w) in zip(images, [(128, 96), (96, 160)]):  # roughly each photo's aspect ratio
        x = _real_image(p, h, w)
        assert np.abs(_ort_run(path, x) - _torch_run(torch_model, x)).max() <= TOL


def test_onnxruntime_error_is_float32_rounding_on_a_calibrated_model(tmp_path, monkeypatch):
    """With O(1) activations, whole-model outputs are ill-conditioned (DFL softmax over random logits):
    PyTorch float32 itself is off from float64 by up to ~1 px. ONNX Runtime must not add more than that."""
    monkeypatch.chdir(tmp_path)
    yolo, torch_model = _calibrated_yolo()
    path = tmp_path / Path(yolo.export(format="onnx", imgsz=64, dynamic=True, simplify=False)).name
    for x in [
        torch.rand(2, 3, 96, 128, generator=torch.Generator().manual_seed(2)),
        _real_image(_assets()[0], 128, 96),
    ]:
        _assert_float32_close(_ort_run(path, x), torch_model, x, floor=100)  # boxes in pixels


@pytest.fixture(scope="module")
def ca_layer_onnx(tmp_path_factory):
    """(CoordAtt(64) with trained-like statistics, its ONNX file with dynamic batch / height / width)."""
    torch.manual_seed(0)
    m = CoordAtt(64)
    _randomise_ca(m)
    m.eval()
    path = tmp_path_factory.mktemp("layer") / "coordatt.onnx"
    export_layer(m, torch.randn(1, 64, 20, 20), str(path))
    return m, path


@pytest.mark.parametrize("shape", [(1, 64, 20, 20), (2, 64, 80, 80), (3, 64, 7, 33), (1, 64, 1, 1)])
def test_coordatt_alone_onnxruntime_matches_pytorch_to_1e5(ca_layer_onnx, shape):
    m, path = ca_layer_onnx
    x = torch.randn(shape, generator=torch.Generator().manual_seed(3)) * 3
    with torch.no_grad():
        expected = m(x).numpy()
    got = _ort_run(path, x)
    assert got.shape == shape and np.abs(got - expected).max() <= 1e-5
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "ReduceMean" in ops and not ops & {"GlobalAveragePool", "AveragePool"}


def test_coordatt_alone_on_real_image_features(ca_layer_onnx):
    """The P3 features of a photo (stem of a calibrated yolov8n) through CoordAtt: ONNX Runtime == PyTorch."""
    from ultralytics import YOLO

    m, path = ca_layer_onnx
    detector = YOLO("yolov8n.yaml").model
    _calibrate(detector)
    with torch.no_grad():
        feats = detector.model[:5](_real_image(_assets()[1], 96, 160))  # layers 0-4: 64 x 12 x 20 (P3)
        expected = m(feats).numpy()
    assert feats.shape == (1, 64, 12, 20) and feats.abs().max() > 1
    assert np.abs(_ort_run(path, feats) - expected).max() <= 1e-5


@pytest.mark.parametrize("shape", [(1, 64, 20, 20), (2, 64, 12, 7), (1, 64, 1, 9)])
def test_coordatt_fixed_size_export_form_matches_pytorch(ca_layer_onnx, shape):
    """Inside static_shape_export the layer bakes the traced size in: NCHWc-friendly ops only, same output."""
    m, _ = ca_layer_onnx  # the layer with trained-like statistics (its dynamic export is not used here)
    fused = copy.deepcopy(m).fuse()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(3)) * 3
    buf = io.BytesIO()
    with static_shape_export(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notices
        torch.onnx.export(fused, (x,), buf, input_names=["x"], opset_version=18, dynamo=False)
    assert not exporting_static_shapes()  # left as it was after the block
    nodes = collections.Counter(n.op_type for n in onnx.load_from_string(buf.getvalue()).graph.node)
    nodes.pop("Constant", None)
    assert nodes == collections.Counter(
        {"AveragePool": 2, "Conv": 4, "HardSwish": 2, "Sigmoid": 2, "Resize": 2, "Mul": 2}
    )
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = m(x).numpy()
    assert np.abs(sess.run(None, {"x": x.numpy()})[0] - expected).max() <= 1e-5


def test_ultralytics_fixed_size_onnx_export_uses_the_fixed_size_form(tmp_path, monkeypatch):
    """dynamic=False (Ultralytics' default): AveragePool/Resize per CA layer, output equal to PyTorch's at that
    size; dynamic=True and other formats keep the size-independent ReduceMean form."""
    monkeypatch.chdir(tmp_path)
    yolo, torch_model = _calibrated_yolo()
    path = Path(yolo.export(format="onnx", imgsz=96, dynamic=False, simplify=False))
    ops = collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)
    assert ops["ReduceMean"] == 0 and ops["AveragePool"] == 12 and ops["Resize"] == 2 + 12  # the neck's 2 upsamples
    assert not exporting_static_shapes()
    x = _real_image(_assets()[0], 96, 96)
    _assert_float32_close(_ort_run(path, x), torch_model, x, floor=10)
    dynamic = Path(yolo.export(format="onnx", imgsz=96, dynamic=True, simplify=False))
    ops = collections.Counter(n.op_type for n in onnx.load(str(dynamic)).graph.node)
    assert ops["ReduceMean"] == 12 and ops["AveragePool"] == 0


def test_torchscript_export_matches_pytorch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yolo, torch_model = _calibrated_yolo()
    out = Path(yolo.export(format="torchscript", imgsz=64))
    assert out.name == "yolov8n-ca.torchscript" and out.is_file()
    x = _real_image(_assets()[0], 64, 64)
    # The traced export form sums in another order than eager's inference form: float32 rounding apart.
    _assert_float32_close(_torch_run(torch.jit.load(str(out)), x), torch_model, x, floor=10)


def test_ca_yolo_export_command_works_offline(tmp_path, monkeypatch):
    """``ca-yolo export`` with Ultralytics' defaults (simplify=True asks for onnxslim, which is not needed)."""
    from ca_yolo.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    assert main(["export", "model=yolo11n-ca.yaml", "format=onnx", "imgsz=64", "dynamic=True"]) == 0
    path = tmp_path / "yolo11n-ca.onnx"
    out = _ort_run(path, torch.rand(1, 3, 96, 64))
    assert out.shape == (1, 84, 12 * 8 + 6 * 4 + 3 * 2)


def test_traced_layer_uses_conv_path_and_matches_eager():
    """Under tracing (TorchScript / ONNX export) CoordAtt runs its conv-module form: same numbers."""
    m = CoordAtt(32).eval()
    with torch.no_grad():
        m.bn1.running_var.uniform_(0.5, 1.5)
        x = torch.randn(2, 32, 12, 7)
        traced = torch.jit.trace(m, x)
        graph = str(traced.inlined_graph)
        assert "aten::_convolution" in graph and "aten::baddbmm" not in graph
        assert (traced(x) - m(x)).abs().max().item() <= 1e-6
        y = torch.randn(1, 32, 5, 9)  # another size through the same trace
        assert (traced(y) - m(y)).abs().max().item() <= 1e-6
