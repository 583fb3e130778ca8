"""CoordAtt against an independent reference written from the paper's equations."""

from __future__ import annotations

import pytest
import torch

from ca_yolo import CoordAtt, create_layer


def reference_coord_att(m: CoordAtt, x: torch.Tensor, training: bool) -> torch.Tensor:
    """Hou et al. 2021, eqs. (4)-(9), with the weights of ``m``, written with explicit sums.

    z^h_c(h) = 1/W sum_i x_c(h, i);  z^w_c(w) = 1/H sum_j x_c(j, w)
    f = h_swish(BN(F1([z^h, z^w])));  g^h = sigmoid(F_h(f^h));  g^w = sigmoid(F_w(f^w))
    y_c(i, j) = x_c(i, j) * g^h_c(i) * g^w_c(j)
    """
    x = x.double()
    b, c, h, w = x.shape
    z_h = x.sum(dim=3) / w  # (B, C, H)
    z_w = x.sum(dim=2) / h  # (B, C, W)
    z = torch.cat([z_h, z_w], dim=2)  # (B, C, H+W): the spatial concatenation

    w1 = m.conv1.weight.double()[:, :, 0, 0]  # (mip, C)
    f = torch.einsum("mc,bcl->bml", w1, z) + m.conv1.bias.double()[None, :, None]
    bn = m.bn1
    if training:  # batch statistics over the batch and all H+W positions, biased variance
        mean = f.mean(dim=(0, 2))
        var = ((f - mean[None, :, None]) ** 2).mean(dim=(0, 2))
    else:
        mean, var = bn.running_mean.double(), bn.running_var.double()
    f = (f - mean[None, :, None]) / torch.sqrt(var[None, :, None] + bn.eps)
    f = f * bn.weight.double()[None, :, None] + bn.bias.double()[None, :, None]
    f = f * torch.clamp(f + 3, 0, 6) / 6  # h-swish

    f_h, f_w = f[:, :, :h], f[:, :, h:]
    wh, ww = m.conv_h.weight.double()[:, :, 0, 0], m.conv_w.weight.double()[:, :, 0, 0]
    g_h = torch.sigmoid(torch.einsum("cm,bml->bcl", wh, f_h) + m.conv_h.bias.double()[None, :, None])
    g_w = torch.sigmoid(torch.einsum("cm,bml->bcl", ww, f_w) + m.conv_w.bias.double()[None, :, None])
    return x * g_h[:, :, :, None] * g_w[:, :, None, :]


def randomise(m: CoordAtt) -> CoordAtt:
    torch.manual_seed(1)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
        m.bn1.running_mean.copy_(torch.randn_like(m.bn1.running_mean) * 0.1)
        m.bn1.running_var.copy_(torch.rand_like(m.bn1.running_var) + 0.5)
    return m


def random_layer_and_input(shape: tuple[int, int, int, int], training: bool = False) -> tuple[CoordAtt, torch.Tensor]:
    """A randomised CoordAtt for ``shape``'s channels in training or eval mode, and a random input of ``shape``."""
    m = randomise(CoordAtt(shape[1])).train(training)
    return m, torch.randn(shape)


@pytest.mark.parametrize("shape", [(2, 64, 7, 11), (3, 16, 20, 5), (2, 40, 1, 1), (1, 32, 1, 9)])
@pytest.mark.parametrize("training", [False, True])
def test_matches_paper_equations(shape, training):
    b, c, h, w = shape
    if training and b * (h + w) < 2:
        pytest.skip("BatchNorm needs more than one value per channel in training")
    m, x = random_layer_and_input(shape, training)
    expected = reference_coord_att(m, x, training)
    with torch.set_grad_enabled(training):
        out = m(x.requires_grad_(training))
    assert out.shape == x.shape
    assert torch.allclose(out.double(), expected, atol=1e-5, rtol=0)


def test_eval_in_place_path_equals_autograd_path():
    m, x = random_layer_and_input((2, 24, 9, 6))
    with torch.no_grad():
        fast = m(x)
    slow = m(x.clone().requires_grad_(True))
    assert torch.equal(fast, slow.detach())


def test_gradients_flow_to_every_parameter():
    # Paper init: with ca-yolo's identity init the gate weights start at zero, so conv1/bn1 get their
    # first gradient only after one step (test_gate_init covers that start).
    m = CoordAtt(32, init="paper").train()
    x = torch.randn(2, 32, 6, 5, requires_grad=True)
    m(x).square().sum().backward()
    assert x.grad is not None and all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


@pytest.mark.parametrize("c, reduction, mip", [(64, 32, 8), (256, 32, 8), (512, 32, 16), (1024, 32, 32), (256, 16, 16)])
def test_reduced_width_is_max_8_c_over_reduction(c, reduction, mip):
    m = CoordAtt(c, reduction)
    assert m.mip == mip
    assert m.conv1.weight.shape == (mip, c, 1, 1) and m.conv_h.weight.shape == (c, mip, 1, 1)
    n_params = (c * mip + mip) + 2 * mip + 2 * (mip * c + c)  # conv1, bn affine, conv_h + conv_w
    assert sum(p.numel() for p in m.parameters()) == n_params


def test_factory_builds_by_name_and_rejects_unknown_names():
    assert isinstance(create_layer("CoordAtt", 64, reduction=16), CoordAtt)
    with pytest.raises(KeyError, match=r"unknown layer 'Nope'; registered layers: .*CoordAtt"):
        create_layer("Nope", 64)
