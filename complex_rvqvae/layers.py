"""Complex-valued building blocks: linear maps, convolutions, normalisation and activations.

Parameters are stored as complex tensors (``torch.cfloat``) and activations between modules are
complex tensors. A complex convolution ``(a + ib) * (c + id) = (ac - bd) + i(ad + bc)`` is computed
as ONE real convolution over the stacked ``[re; im]`` channels with the block weight
``[[Wr, -Wi], [Wi, Wr]]``: the result is exactly the complex product, but it runs on the fast real
kernels (native complex conv2d is ~8x slower on CPU) and under bf16 autocast on GPUs, where complex
dtypes have no bf16 variant. Gradients reach the complex parameter through ``view_as_real``.

Normalisation follows Trabelsi et al. (2018, "Deep Complex Networks"): centre, then whiten each
complex feature with the inverse square root of its 2x2 real/imaginary covariance, then apply a
learnable 2x2 real affine map and a complex bias.
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

IntPair = Union[int, tuple[int, int]]


def _pair(value: IntPair) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def complex_init_(weight: torch.Tensor, fan_in: int) -> None:
    """Rayleigh magnitude, uniform phase (Trabelsi et al.) with ``E|w|^2 = 1 / fan_in``."""
    with torch.no_grad():
        sigma = 1.0 / math.sqrt(2.0 * fan_in)
        magnitude = torch.empty(weight.shape).exponential_(1.0).mul_(2.0).sqrt_().mul_(sigma)
        phase = torch.empty(weight.shape).uniform_(-math.pi, math.pi)
        weight.copy_(torch.polar(magnitude, phase))


def to_stacked(x: torch.Tensor) -> torch.Tensor:
    """Complex ``[B, C, ...]`` -> real ``[B, 2C, ...]`` (real parts, then imaginary parts)."""
    return torch.cat([x.real, x.imag], dim=1)


def from_stacked(y: torch.Tensor) -> torch.Tensor:
    """Real ``[B, 2C, ...]`` -> complex ``[B, C, ...]``; float32 (complex bf16 does not exist)."""
    real, imag = y.float().chunk(2, dim=1)
    return torch.complex(real.contiguous(), imag.contiguous())


def block_weight(weight: torch.Tensor, transposed: bool = False) -> torch.Tensor:
    """Real block form of a complex weight ``[A, B, ...]`` -> ``[2A, 2B, ...]``.

    For ``W = Wr + i Wi`` acting on stacked ``[xr; xi]``: ``[[Wr, -Wi], [Wi, Wr]]`` when the first
    axis is the output (conv, linear); its transpose-by-blocks when the first axis is the input
    (transposed convolution weights are ``[in, out, ...]``).
    """
    wr, wi = weight.real, weight.imag
    if transposed:
        top, bottom = torch.cat([wr, wi], dim=1), torch.cat([-wi, wr], dim=1)
    else:
        top, bottom = torch.cat([wr, -wi], dim=1), torch.cat([wi, wr], dim=1)
    return torch.cat([top, bottom], dim=0)


class ComplexLinear(nn.Module):
    """Complex affine map over the last axis: ``[..., in] -> [..., out]``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features, dtype=torch.cfloat))
        self.bias = nn.Parameter(torch.zeros(out_features, dtype=torch.cfloat)) if bias else None
        complex_init_(self.weight, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stacked = torch.cat([x.real, x.imag], dim=-1)
        bias = None if self.bias is None else torch.cat([self.bias.real, self.bias.imag])
        y = F.linear(stacked, block_weight(self.weight), bias).float()
        real, imag = y.chunk(2, dim=-1)
        return torch.complex(real.contiguous(), imag.contiguous())


class ComplexConv1d(nn.Module):
    """Complex 1-D convolution ``[B, Cin, T] -> [B, Cout, T']``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, dilation: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, dtype=torch.cfloat))
        self.bias = nn.Parameter(torch.zeros(out_channels, dtype=torch.cfloat)) if bias else None
        complex_init_(self.weight, in_channels * kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else torch.cat([self.bias.real, self.bias.imag])
        return from_stacked(F.conv1d(to_stacked(x), block_weight(self.weight), bias,
                                     self.stride, self.padding, self.dilation))


class ComplexConv2d(nn.Module):
    """Complex 2-D convolution ``[B, Cin, F, T] -> [B, Cout, F', T']``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair = 0, dilation: IntPair = 1, bias: bool = True) -> None:
        super().__init__()
        kh, kw = _pair(kernel_size)
        self.stride, self.padding, self.dilation = _pair(stride), _pair(padding), _pair(dilation)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kh, kw, dtype=torch.cfloat))
        self.bias = nn.Parameter(torch.zeros(out_channels, dtype=torch.cfloat)) if bias else None
        complex_init_(self.weight, in_channels * kh * kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else torch.cat([self.bias.real, self.bias.imag])
        return from_stacked(F.conv2d(to_stacked(x), block_weight(self.weight), bias,
                                     self.stride, self.padding, self.dilation))


class ComplexConvTranspose2d(nn.Module):
    """Complex transposed 2-D convolution (upsampling) ``[B, Cin, F, T] -> [B, Cout, F', T']``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair = 0, bias: bool = True) -> None:
        super().__init__()
        kh, kw = _pair(kernel_size)
        self.stride, self.padding = _pair(stride), _pair(padding)
        self.weight = nn.Parameter(torch.empty(in_channels, out_channels, kh, kw, dtype=torch.cfloat))
        self.bias = nn.Parameter(torch.zeros(out_channels, dtype=torch.cfloat)) if bias else None
        # Each output sees about in_channels * kh * kw / (stride area) inputs.
        fan_in = max(1, in_channels * kh * kw // (self.stride[0] * self.stride[1]))
        complex_init_(self.weight, fan_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else torch.cat([self.bias.real, self.bias.imag])
        return from_stacked(F.conv_transpose2d(to_stacked(x), block_weight(self.weight, transposed=True),
                                               bias, self.stride, self.padding))


# ----------------------------------------------------------------------------- normalisation
def whiten(x: torch.Tensor, dims: Sequence[int], eps: float = 1e-5) -> torch.Tensor:
    """Centre ``x`` and whiten its real/imaginary pair over ``dims`` (Trabelsi et al.).

    With ``V = [[Vrr, Vri], [Vri, Vii]]`` the covariance of ``(re, im)`` over ``dims``, the output is
    ``V^{-1/2} (x - E[x])``, whose 2x2 covariance is the identity. The inverse square root of an SPD
    2x2 matrix is closed-form: with ``s = sqrt(det V)`` and ``t = sqrt(Vrr + Vii + 2 s)``,
    ``V^{-1/2} = [[Vii + s, -Vri], [-Vri, Vrr + s]] / (s t)``.

    Args:
        x: complex tensor of any shape.
        dims: axes the statistics are taken over (the others index independent features).
        eps: added to the variances for numerical safety.

    Returns:
        complex tensor, same shape as ``x``.
    """
    dims = tuple(dims)
    real, imag = x.real.float(), x.imag.float()
    real = real - real.mean(dim=dims, keepdim=True)
    imag = imag - imag.mean(dim=dims, keepdim=True)
    vrr = real.pow(2).mean(dim=dims, keepdim=True) + eps
    vii = imag.pow(2).mean(dim=dims, keepdim=True) + eps
    vri = (real * imag).mean(dim=dims, keepdim=True)
    s = torch.sqrt(torch.clamp(vrr * vii - vri.pow(2), min=eps * eps))
    t = torch.sqrt(vrr + vii + 2.0 * s)
    inv = 1.0 / (s * t)
    wrr, wii, wri = (vii + s) * inv, (vrr + s) * inv, -vri * inv
    return torch.complex(wrr * real + wri * imag, wri * real + wii * imag)


class ComplexNorm(nn.Module):
    """Complex layer norm: whiten each position's channel vector, then a per-channel 2x2 affine.

    Statistics are taken over the channel axis (dim 1) of ``[B, C, ...]`` for every batch item and
    position separately (like ConvNeXt's channel LayerNorm), so training and inference behave the
    same and no running statistics have to be synchronised across GPUs. The affine map
    ``[[g_rr, g_ri], [g_ri, g_ii]]`` starts at ``I / sqrt(2)`` (Trabelsi et al.), giving outputs
    with ``E|z|^2 = 1``; the bias is complex.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gamma_rr = nn.Parameter(torch.full((channels,), 1.0 / math.sqrt(2.0)))
        self.gamma_ii = nn.Parameter(torch.full((channels,), 1.0 / math.sqrt(2.0)))
        self.gamma_ri = nn.Parameter(torch.zeros(channels))
        self.bias = nn.Parameter(torch.zeros(channels, dtype=torch.cfloat))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, ...]`` complex -> same shape."""
        z = whiten(x, dims=(1,), eps=self.eps)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        grr, gii, gri = (g.view(shape) for g in (self.gamma_rr, self.gamma_ii, self.gamma_ri))
        real = grr * z.real + gri * z.imag + self.bias.real.view(shape)
        imag = gri * z.real + gii * z.imag + self.bias.imag.view(shape)
        return torch.complex(real, imag)


# ----------------------------------------------------------------------------- activations
class ModReLU(nn.Module):
    """``modReLU(z) = ReLU(|z| + b) * z / |z|`` (Arjovsky et al.): keeps the phase, gates the modulus.

    ``b`` is a learnable real bias per channel, initialised slightly negative so the gate is active
    from the start.
    """

    def __init__(self, channels: int, init_bias: float = -0.1, eps: float = 1e-6) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.full((channels,), init_bias))
        self.eps = eps

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        magnitude = torch.sqrt(z.real.pow(2) + z.imag.pow(2) + self.eps)
        bias = self.bias.view((1, -1) + (1,) * (z.dim() - 2))
        scale = F.relu(magnitude + bias) / magnitude
        return z * scale


class Cardioid(nn.Module):
    """``cardioid(z) = 0.5 * (1 + cos(arg z)) * z`` (Virtue et al.): phase-dependent gain, keeps phase.

    ``cos(arg z) = Re(z) / |z|``, computed with a small epsilon so the gradient stays finite at 0.
    """

    def __init__(self, channels: int = 0, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        magnitude = torch.sqrt(z.real.pow(2) + z.imag.pow(2) + self.eps)
        return z * (0.5 * (1.0 + z.real / magnitude))


ACTIVATIONS: dict[str, type[nn.Module]] = {"modrelu": ModReLU, "cardioid": Cardioid}


def make_activation(name: str, channels: int) -> nn.Module:
    """Build a complex activation by name (``modrelu`` or ``cardioid``)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown complex activation {name!r}; allowed: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name](channels)
