"""Complex layers: exact complex arithmetic, Trabelsi whitening, complex activations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from complex_rvqvae.layers import (Cardioid, ComplexConv1d, ComplexConv2d, ComplexConvTranspose2d, ComplexLinear,
                                   ComplexNorm, ModReLU, whiten)


def _cov(z: torch.Tensor, dims) -> torch.Tensor:
    """2x2 covariance of (re, im) over ``dims`` -> [..., 2, 2] (other dims kept)."""
    re, im = z.real - z.real.mean(dims, keepdim=True), z.imag - z.imag.mean(dims, keepdim=True)
    vrr, vii, vri = (re * re).mean(dims), (im * im).mean(dims), (re * im).mean(dims)
    return torch.stack([torch.stack([vrr, vri], -1), torch.stack([vri, vii], -1)], -2)


def test_block_real_convolutions_equal_native_complex_ones():
    x2 = torch.randn(2, 3, 8, 10, dtype=torch.cfloat)
    conv = ComplexConv2d(3, 5, (3, 3), stride=(2, 1), padding=(1, 2), dilation=(1, 2))
    ref = F.conv2d(x2, conv.weight, stride=(2, 1), padding=(1, 2), dilation=(1, 2)) + conv.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(conv(x2), ref, atol=1e-5, rtol=1e-5)
    up = ComplexConvTranspose2d(3, 4, (4, 3), stride=(2, 1), padding=(1, 1))
    ref = F.conv_transpose2d(x2, up.weight, stride=(2, 1), padding=(1, 1)) + up.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(up(x2), ref, atol=1e-5, rtol=1e-5)
    x1 = torch.randn(2, 3, 12, dtype=torch.cfloat)
    conv1 = ComplexConv1d(3, 4, 3, padding=1)
    ref = F.conv1d(x1, conv1.weight, padding=1) + conv1.bias.view(1, -1, 1)
    torch.testing.assert_close(conv1(x1), ref, atol=1e-5, rtol=1e-5)
    lin = ComplexLinear(3, 6)
    v = torch.randn(4, 7, 3, dtype=torch.cfloat)
    torch.testing.assert_close(lin(v), v @ lin.weight.T + lin.bias, atol=1e-5, rtol=1e-5)
    for module in (conv, up, conv1, lin):
        assert module.weight.dtype == torch.cfloat and module.bias.dtype == torch.cfloat


def test_gradients_reach_complex_weights():
    conv = ComplexConv2d(2, 2, 3, padding=1)
    out = conv(torch.randn(1, 2, 4, 4, dtype=torch.cfloat))
    out.abs().pow(2).sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.dtype == torch.cfloat
    assert conv.weight.grad.imag.abs().sum() > 0


def test_whitening_gives_identity_covariance_on_correlated_input():
    # (re, im) strongly correlated, unequal variances, non-zero mean; features differ per channel.
    n, c = 4096, 3
    a, b = torch.randn(n, c), torch.randn(n, c)
    re = 3.0 * a + 1.0
    im = 2.4 * a + 0.3 * b - 2.0  # corr(re, im) ~ 0.99
    z = torch.complex(re, im)
    assert _cov(z, 0)[0, 0, 1].abs() > 5.0  # the input really is correlated
    out = whiten(z, dims=(0,))
    cov = _cov(out, 0)  # [c, 2, 2]
    torch.testing.assert_close(cov, torch.eye(2).expand(c, 2, 2), atol=2e-3, rtol=0)
    torch.testing.assert_close(out.mean(0), torch.zeros(c, dtype=torch.cfloat), atol=1e-4, rtol=0)


def test_complex_norm_whitens_each_position_over_channels():
    # Channel vectors at each position: correlated re/im, shared offset per position.
    b, c, f, t = 2, 512, 3, 4
    a = torch.randn(b, c, f, t)
    z = torch.complex(2.0 * a + 5.0, -1.5 * a + 0.2 * torch.randn(b, c, f, t))
    norm = ComplexNorm(c)
    out = norm(z)
    cov = _cov(out, 1)  # [b, f, t, 2, 2]: gamma = I / sqrt(2) at init
    torch.testing.assert_close(cov, 0.5 * torch.eye(2).expand_as(cov), atol=1e-3, rtol=0)
    # A learned rotation-and-scale affine is applied after whitening.
    with torch.no_grad():
        norm.gamma_rr.fill_(1.0), norm.gamma_ii.fill_(1.0), norm.gamma_ri.fill_(0.0)
    torch.testing.assert_close(_cov(norm(z), 1), torch.eye(2).expand_as(cov), atol=1e-3, rtol=0)


def test_modrelu_keeps_phase_and_gates_modulus():
    act = ModReLU(1, init_bias=-0.5)
    z = torch.polar(torch.tensor([[0.2, 1.0, 3.0]]), torch.tensor([[0.3, -2.0, 2.5]]))
    out = act(z)
    assert out.dtype == torch.cfloat
    assert out[0, 0].abs() == 0  # |z| + b < 0 -> zero
    torch.testing.assert_close(out[0, 1:].abs(), torch.tensor([0.5, 2.5]), atol=1e-4, rtol=0)
    torch.testing.assert_close(out[0, 1:].angle(), z[0, 1:].angle(), atol=1e-5, rtol=0)


def test_cardioid_is_phase_dependent_gain():
    z = torch.polar(torch.full((3,), 2.0), torch.tensor([0.0, math.pi / 2, math.pi - 1e-3]))
    out = Cardioid()(z)
    assert out.dtype == torch.cfloat
    torch.testing.assert_close(out.abs(), torch.tensor([2.0, 1.0, 0.0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(out[:2].angle(), z[:2].angle(), atol=1e-5, rtol=0)


def test_unknown_activation_lists_allowed():
    from complex_rvqvae.layers import make_activation

    with pytest.raises(ValueError, match="cardioid"):
        make_activation("relu", 4)
