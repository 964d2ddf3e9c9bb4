"""apcodec.cpu_kernels: the numba per-frame kernels of a prepared ConvNeXt block against ATen and float64."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import erf

from apcodec import cpu_kernels
from apcodec.fused_layers import depthwise_along_time


def _exact_gelu(x: torch.Tensor) -> torch.Tensor:
    x64 = x.double()
    return 0.5 * x64 * (1.0 + torch.special.erf(x64 / math.sqrt(2.0)))


def test_rational_erf_is_accurate_to_float64_on_its_whole_range() -> None:
    x = np.linspace(1e-6, cpu_kernels.ERF_SATURATION, 200_001)
    u = x * x
    num = np.polynomial.polynomial.polyval(u, cpu_kernels.ERF_NUMERATOR)
    den = np.polynomial.polynomial.polyval(u, cpu_kernels.ERF_DENOMINATOR)
    assert np.max(np.abs(x * num / den / erf(x) - 1.0)) < 5e-9
    # beyond the clamp, float32 erf is +-1 already
    assert np.float32(erf(cpu_kernels.ERF_SATURATION)) == np.float32(1.0)


def test_gelu_is_as_close_to_exact_as_atens_and_energy_sums_its_squares() -> None:
    torch.manual_seed(0)
    pre = torch.cat([torch.randn(2, 300, 96) * 3.0, torch.linspace(-12, 12, 2 * 300 * 96).view(2, 300, 96)], dim=1)
    bias = torch.randn(96) * 0.5
    out = torch.empty_like(pre)
    energy = torch.full((2, 96), 0.25)                       # accumulates onto what is there
    cpu_kernels.bias_gelu_energy(pre, bias, out, energy)
    exact = _exact_gelu(pre + bias)                          # the bias add rounds in float32 in both paths
    ours = float((out.double() - exact).abs().max())
    aten = float((F.gelu(pre + bias).double() - exact).abs().max())
    assert ours <= max(2.0 * aten, 1e-6), (ours, aten)
    expected = 0.25 + (out.double() ** 2).sum(dim=1)
    assert torch.allclose(energy.double(), expected, rtol=1e-5)


def test_gelu_writes_into_a_strided_batch_of_outputs() -> None:
    torch.manual_seed(1)
    pre = torch.randn(3, 40, 32)
    hidden = torch.zeros(3, 100, 32)                         # the block's buffer: items are contiguous, the batch is not
    energy = torch.zeros(3, 32)
    cpu_kernels.bias_gelu_energy(pre, torch.zeros(32), hidden[:, 20:60], energy)
    assert torch.allclose(hidden[:, 20:60], F.gelu(pre), atol=1e-6)
    assert not hidden[:, :20].any() and not hidden[:, 60:].any()


@pytest.mark.parametrize(("frames", "channels", "taps"), [(1, 8, 3), (37, 96, 7), (300, 256, 7)])
def test_depthwise_layer_norm_matches_conv_then_layer_norm(frames: int, channels: int, taps: int) -> None:
    torch.manual_seed(frames)
    window = torch.randn(2, frames + taps - 1, channels) * 2.0 + 0.5
    weight = torch.randn(channels, 1, taps, 1).contiguous(memory_format=torch.channels_last)
    bias = torch.randn(channels)
    ref = F.layer_norm(depthwise_along_time(window, weight, bias), (channels,), None, None, 1e-6)
    ours = cpu_kernels.depthwise_layer_norm(window, weight[:, 0, :, 0].t().contiguous(), bias, 1e-6)
    assert ours.shape == ref.shape
    assert float((ours - ref).abs().max()) < 2e-6


def test_kernels_apply_to_float32_cpu_tensors_only() -> None:
    assert cpu_kernels.applies(torch.zeros(1))
    assert not cpu_kernels.applies(torch.zeros(1, dtype=torch.float64))
    assert not cpu_kernels.applies(torch.zeros(1, dtype=torch.bfloat16))
