"""Sibling attentions (SE, CBAM, ECA, CoordAttH, CoordAttW) against references written from the papers' equations."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

import ca_yolo  # noqa: F401  (registers the plugin)
from ca_yolo.nn import CBAM, ECA, SE, CoordAttH, CoordAttW, create_layer, layer_names
from ca_yolo.nn.eca import eca_kernel_size

torch.manual_seed(0)


def _randomize(m: torch.nn.Module) -> torch.nn.Module:
    """Random weights and BatchNorm statistics, so a reference cannot pass by accident; eval mode."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for name, b in m.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
    return m.eval()


def _mlp(v: torch.Tensor, fc1: torch.nn.Linear, fc2: torch.nn.Linear) -> torch.Tensor:
    """W2 relu(W1 v + b1) + b2 for v (B, C), written out as sums."""
    hidden = (v[:, None, :] * fc1.weight[None]).sum(-1) + fc1.bias
    return (hidden.clamp(min=0)[:, None, :] * fc2.weight[None]).sum(-1) + fc2.bias


def ref_se(m: SE, x: torch.Tensor) -> torch.Tensor:
    """Hu et al. 2018, Eq. 2-4: z_c = 1/(HW) sum x_c; s = sigmoid(W2 relu(W1 z)); x_c * s_c."""
    h, w = x.shape[-2:]
    z = x.sum(dim=(2, 3)) / (h * w)
    s = 1 / (1 + torch.exp(-_mlp(z, m.fc1, m.fc2)))
    return x * s[:, :, None, None]


def ref_cbam(m: CBAM, x: torch.Tensor) -> torch.Tensor:
    """Woo et al. 2018, Eq. 1-3: channel gate from avg+max through the shared MLP, then 7x7 spatial gate."""
    b, c, h, w = x.shape
    avg = x.sum(dim=(2, 3)) / (h * w)
    mx = x.reshape(b, c, h * w).max(dim=2).values
    mc = 1 / (1 + torch.exp(-(_mlp(avg, m.fc1, m.fc2) + _mlp(mx, m.fc1, m.fc2))))
    xc = x * mc[:, :, None, None]
    pooled = torch.stack((xc.sum(dim=1) / c, xc.max(dim=1).values), dim=1)  # (B, 2, H, W): [avg; max]
    k = m.spatial.weight  # (1, 2, K, K)
    r = k.shape[-1] // 2
    padded = F.pad(pooled, (r, r, r, r))
    conv = torch.zeros(b, h, w)
    for u in range(k.shape[-2]):  # the convolution as an explicit sum over kernel taps
        for v in range(k.shape[-1]):
            conv += (padded[:, :, u : u + h, v : v + w] * k[0, :, u, v][None, :, None, None]).sum(1)
    ms = 1 / (1 + torch.exp(-conv))
    return xc * ms[:, None]


def ref_eca(m: ECA, x: torch.Tensor) -> torch.Tensor:
    """Wang et al. 2020, Eq. 9/12: s_c = sigmoid(sum_j w_j z_{c+j}) over k neighbouring channels (zero padded)."""
    b, c, h, w = x.shape
    z = x.sum(dim=(2, 3)) / (h * w)
    k = m.conv.weight.shape[-1]
    r = k // 2
    zp = torch.cat((torch.zeros(b, r), z, torch.zeros(b, r)), dim=1)
    y = sum(m.conv.weight[0, 0, j] * zp[:, j : j + c] for j in range(k))
    return x * (1 / (1 + torch.exp(-y)))[:, :, None, None]


def _ca_half(m, z: torch.Tensor) -> torch.Tensor:
    """CA's transform of one descriptor z (B, C, L): conv1 -> BN (eval) -> h-swish -> conv_gate -> sigmoid."""
    f = torch.einsum("mc,bcl->bml", m.conv1.weight[:, :, 0, 0], z) + m.conv1.bias[None, :, None]
    bn = m.bn1
    f = (f - bn.running_mean[None, :, None]) / torch.sqrt(bn.running_var[None, :, None] + bn.eps)
    f = f * bn.weight[None, :, None] + bn.bias[None, :, None]
    f = f * torch.clamp(f + 3, 0, 6) / 6  # h-swish
    g = torch.einsum("cm,bml->bcl", m.conv_gate.weight[:, :, 0, 0], f) + m.conv_gate.bias[None, :, None]
    return 1 / (1 + torch.exp(-g))


def ref_ca_h(m: CoordAttH, x: torch.Tensor) -> torch.Tensor:
    """CA paper: z^h_c(h) = 1/W sum_i x_c(h, i); y = x * g^h (gate indexed by height only)."""
    return x * _ca_half(m, x.sum(dim=3) / x.shape[3])[:, :, :, None]


def ref_ca_w(m: CoordAttW, x: torch.Tensor) -> torch.Tensor:
    """CA paper: z^w_c(w) = 1/H sum_j x_c(j, w); y = x * g^w (gate indexed by width only)."""
    return x * _ca_half(m, x.sum(dim=2) / x.shape[2])[:, :, None, :]


CASES = [
    (SE, {}, ref_se),
    (SE, {"reduction": 4}, ref_se),
    (CBAM, {}, ref_cbam),
    (CBAM, {"reduction": 8, "kernel_size": 3}, ref_cbam),
    (ECA, {}, ref_eca),
    (ECA, {"k_size": 5}, ref_eca),
    (CoordAttH, {}, ref_ca_h),
    (CoordAttW, {}, ref_ca_w),
]


@pytest.mark.parametrize(("cls", "kwargs", "ref"), CASES, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("shape", [(2, 64, 9, 13), (1, 48, 1, 7)])
def test_matches_reference_from_equations(cls, kwargs, ref, shape):
    m = _randomize(cls(shape[1], **kwargs))
    x = torch.randn(*shape)
    with torch.no_grad():
        out, expected = m(x), ref(m, x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_widths_follow_the_papers():
    assert SE(256).hidden == 16 and SE(256).fc1.out_features == 16  # C/r, r = 16
    assert SE(8).hidden == 1  # never zero
    assert CBAM(256).hidden == 16 and CBAM(256).spatial.kernel_size == (7, 7) and CBAM(256).spatial.bias is None
    assert CoordAttH(256).mip == 8 and CoordAttW(1024).mip == 32  # same rule as CoordAtt
    # psi(C) = |(log2 C + 1) / 2|_odd as in the authors' code
    assert [eca_kernel_size(c) for c in (16, 32, 64, 128, 256, 512, 1024)] == [3, 3, 3, 5, 5, 5, 5]
    assert ECA(64).k_size == 3 and ECA(64).conv.padding == (1,) and ECA(64).conv.bias is None
    assert sum(p.numel() for p in ECA(1024).parameters()) == 5


def test_single_direction_gates_vary_only_along_their_axis():
    x = torch.rand(2, 32, 6, 10) + 0.5  # positive, so out / x is the gate
    with torch.no_grad():
        gh = _randomize(CoordAttH(32))(x) / x
        gw = _randomize(CoordAttW(32))(x) / x
    torch.testing.assert_close(gh, gh[..., :1].expand_as(gh))  # constant along W
    torch.testing.assert_close(gw, gw[..., :1, :].expand_as(gw))  # constant along H
    assert gh[..., 0].std() > 0 and gw[:, :, 0].std() > 0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="CBAM kernel_size must be odd to keep H and W, got 4"):
        CBAM(64, kernel_size=4)
    with pytest.raises(ValueError, match="ECA k_size must be a positive odd number, got 2"):
        ECA(64, k_size=2)


def test_all_siblings_are_registered_and_built_by_name():
    assert layer_names()[:6] == ["CoordAtt", "SE", "CBAM", "ECA", "CoordAttH", "CoordAttW"]
    import ultralytics.nn.tasks as tasks

    for name in ("SE", "CBAM", "ECA", "CoordAttH", "CoordAttW"):
        assert getattr(tasks, name) is getattr(ca_yolo.nn, name)
        assert type(create_layer(name, 64)).__name__ == name


def test_cbam_name_shadows_nothing_in_ultralytics():
    """Our paper-faithful CBAM takes the YAML name: Ultralytics' own CBAM is not a YAML layer (8.4.x)."""
    import ultralytics
    from ultralytics.nn.modules import CBAM as UltralyticsCBAM

    assert UltralyticsCBAM is not CBAM  # theirs stays importable where it lives
    cfg = Path(ultralytics.__file__).parent / "cfg" / "models"
    users = []
    for p in cfg.rglob("*.yaml"):
        d = yaml.safe_load(p.read_text())
        rows = (d.get("backbone") or []) + (d.get("head") or [])
        users += [p.name for r in rows if str(r[2]) in {"CBAM", "ChannelAttention", "SpatialAttention"}]
    assert users == [], f"a stock YAML uses Ultralytics' CBAM; rename ours (see ca_yolo/nn/cbam.py): {users}"


@pytest.mark.parametrize(
    ("row_args", "expected"),
    [([], {"SE": 16, "CBAM": 16, "ECA": 5}), ([4], {"SE": 4, "CBAM": 4, "ECA": 4})],
)
def test_yaml_rows_get_channels_inferred(row_args, expected):
    """Same arg forms as CoordAtt: [] -> defaults, [n] -> second constructor argument (reduction; ECA: k)."""
    import ultralytics.nn.tasks as tasks

    from ca_yolo.yamlgen.derive import derive

    if row_args == [4]:
        expected["ECA"] = None  # an even kernel is refused
    for name, second in expected.items():
        if second is None:
            with pytest.raises(
                ValueError, match="yolov8.yaml \\+ ECA does not build: .*ECA k_size must be a positive odd"
            ):
                derive("yolov8.yaml", name, after=[8], args=row_args)
            continue
        model = derive("yolov8.yaml", name, after=[8], args=row_args).model  # P5: 256 channels at n
        model["scale"] = "n"
        with torch.device("meta"):  # builds the layers only: no memory, no arithmetic
            layers, _ = tasks.parse_model(model, 3, verbose=False)
        layer = layers[9]
        assert type(layer).__name__ == name and layer.c1 == 256 and layer.i == 9 and layer.f == -1
        assert (layer.k_size if name == "ECA" else layer.reduction) == second


def test_checkpoint_with_siblings_loads_in_restricted_mode(tmp_path):
    """Ultralytics' weights-only loading accepts every sibling (allow-listed at registration)."""
    from ultralytics.nn.tasks import torch_safe_load

    names = ["SE", "CBAM", "ECA", "CoordAttH", "CoordAttW"]
    net = torch.nn.Sequential(*(create_layer(n, 16) for n in names))
    path = tmp_path / "siblings.pt"
    torch.save({"model": net}, path)
    ckpt, _ = torch_safe_load(path, safe_only=True)
    assert [type(m).__name__ for m in ckpt["model"]] == names
    for a, b in zip(ckpt["model"].state_dict().values(), net.state_dict().values()):
        assert torch.equal(a, b)
