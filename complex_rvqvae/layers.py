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

Two equivalent paths: ``forward`` takes and returns complex tensors (the reference, one module at
a time), and ``forward_cl`` works on the *stacked channels-last* layout ``[B, *S, 2C]`` (real
float: real parts of the ``C`` complex channels, then their imaginary parts, on the last,
contiguous axis). The network runs end to end in that layout: no complex<->real conversion per
layer, 1x1 convolutions become one ``linear``, k x k convolutions run on MKLDNN's faster NHWC
kernels, the norm's channel statistics reduce over the contiguous axis, and with autograd off
the folded block weights are cached and the elementwise math runs in place (large fresh
allocations cost page faults on CPU). Same arithmetic; results equal to float rounding.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Union

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


def to_cl(x: torch.Tensor) -> torch.Tensor:
    """Complex ``[B, C, *S]`` -> stacked channels-last real ``[B, *S, 2C]`` (contiguous)."""
    return torch.cat([x.real, x.imag], dim=1).movedim(1, -1).contiguous()


def from_cl(y: torch.Tensor) -> torch.Tensor:
    """Stacked channels-last ``[B, *S, 2C]`` -> complex ``[B, C, *S]`` (float32)."""
    y = y.float()
    c = y.shape[-1] // 2
    return torch.complex(y[..., :c], y[..., c:]).movedim(-1, 1).contiguous()


def _fresh() -> bool:
    """True when autograd records nothing, so cached weights and in-place updates are safe."""
    return not torch.is_grad_enabled()


class _BlockWeighted(nn.Module):
    """Mixin: the real block form of ``weight``/``bias``, cached while autograd is off.

    The cache key is the parameters' version counters and storage, so ``load_state_dict``,
    optimiser steps and ``.to()`` all invalidate it; with autograd on it is rebuilt every call so
    gradients reach the complex parameters.
    """

    _transposed = False
    weight: nn.Parameter
    bias: Optional[nn.Parameter]

    def _build(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        weight = block_weight(self.weight, self._transposed)
        if weight.dim() == 4:
            weight = weight.contiguous(memory_format=torch.channels_last)
        bias = None if self.bias is None else torch.cat([self.bias.real, self.bias.imag])
        return weight, bias

    def real_params(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``(block weight, stacked bias)`` for the real convolution/linear map."""
        if not _fresh():
            return self._build()
        try:
            key = tuple((p._version, p.data_ptr(), p.device) for p in (self.weight, self.bias) if p is not None)
        except RuntimeError:  # inference tensors carry no version counter: do not cache
            return self._build()
        cache = self.__dict__.get("_real_cache")
        if cache is None or cache[0] != key:
            cache = (key, self._build())
            self.__dict__["_real_cache"] = cache
        return cache[1]


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


class ComplexLinear(_BlockWeighted):
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

    def forward_cl(self, x: torch.Tensor) -> torch.Tensor:
        """Stacked ``[..., 2 in]`` -> ``[..., 2 out]``."""
        weight, bias = self.real_params()
        return F.linear(x.contiguous(), weight, bias).float()  # strided 3-D input would run as bmm


class ComplexConv1d(_BlockWeighted):
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

    def forward_cl(self, x: torch.Tensor) -> torch.Tensor:
        """Stacked ``[B, T, 2 Cin]`` -> ``[B, T', 2 Cout]``."""
        weight, bias = self.real_params()
        y = F.conv1d(x.transpose(1, 2), weight, bias, self.stride, self.padding, self.dilation)
        return y.float().transpose(1, 2).contiguous()


class ComplexConv2d(_BlockWeighted):
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

    def forward_cl(self, x: torch.Tensor) -> torch.Tensor:
        """Stacked channels-last ``[B, F, T, 2 Cin]`` -> ``[B, F', T', 2 Cout]``."""
        weight, bias = self.real_params()
        if weight.shape[-2:] == (1, 1) and self.stride == (1, 1) and self.padding == (0, 0):
            return F.linear(x, weight.flatten(1), bias).float()  # pointwise: one GEMM
        y = F.conv2d(x.permute(0, 3, 1, 2), weight, bias, self.stride, self.padding, self.dilation)
        return y.float().permute(0, 2, 3, 1).contiguous()


class ComplexConvTranspose2d(_BlockWeighted):
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

    _transposed = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else torch.cat([self.bias.real, self.bias.imag])
        return from_stacked(F.conv_transpose2d(to_stacked(x), block_weight(self.weight, transposed=True),
                                               bias, self.stride, self.padding))

    def forward_cl(self, x: torch.Tensor) -> torch.Tensor:
        """Stacked channels-last ``[B, F, T, 2 Cin]`` -> ``[B, F', T', 2 Cout]``."""
        weight, bias = self.real_params()
        y = F.conv_transpose2d(x.permute(0, 3, 1, 2), weight, bias, self.stride, self.padding)
        return y.float().permute(0, 2, 3, 1).contiguous()


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

    def forward_cl(self, x: torch.Tensor) -> torch.Tensor:
        """Stacked channels-last ``[..., 2C]`` -> same shape (statistics over the last axis).

        Same formulas as :func:`whiten` followed by the affine map, computed per position from
        2x2 coefficients; with autograd off the centred copy is the only full-size allocation.
        """
        c = x.shape[-1] // 2
        v = x.float().view(*x.shape[:-1], 2, c)
        xc = v - v.mean(dim=-1, keepdim=True)  # [..., 2, C]
        re, im = xc[..., 0, :], xc[..., 1, :]
        var = torch.linalg.vecdot(xc, xc, dim=-1) / c  # [..., 2]
        vrr, vii = (var[..., 0:1] + self.eps), (var[..., 1:2] + self.eps)  # [..., 1]
        vri = torch.linalg.vecdot(re, im, dim=-1).unsqueeze(-1) / c
        s = torch.sqrt(torch.clamp(vrr * vii - vri.pow(2), min=self.eps * self.eps))
        inv = 1.0 / (s * torch.sqrt(vrr + vii + 2.0 * s))
        wrr, wii, wri = (vii + s) * inv, (vrr + s) * inv, -vri * inv
        grr, gii, gri = self.gamma_rr, self.gamma_ii, self.gamma_ri
        br, bi = self.bias.real, self.bias.imag
        if not _fresh():
            yr, yi = torch.addcmul(wrr * re, wri, im), torch.addcmul(wii * im, wri, re)
            out_r = torch.addcmul(torch.addcmul(br, grr, yr), gri, yi)
            out_i = torch.addcmul(torch.addcmul(bi, gri, yr), gii, yi)
            return torch.cat([out_r, out_i], dim=-1)
        yr = (re * wrr).addcmul_(im, wri)  # whitened real part (one half-size buffer)
        im.mul_(wii).addcmul_(re, wri)  # whitened imaginary part, in place
        torch.mul(yr, grr, out=re).addcmul_(im, gri).add_(br)
        im.mul_(gii).addcmul_(yr, gri).add_(bi)
        return xc.view(x.shape)


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

    def forward_cl(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """Stacked channels-last ``[..., 2C]``; ``inplace`` overwrites ``x`` when autograd is off."""
        c = x.shape[-1] // 2
        v = x.view(*x.shape[:-1], 2, c)
        re, im = v[..., 0, :], v[..., 1, :]
        if not _fresh():
            magnitude = torch.sqrt(re.pow(2) + im.pow(2) + self.eps)
            return (v * (F.relu(magnitude + self.bias) / magnitude).unsqueeze(-2)).view(x.shape)
        magnitude = (re * re).addcmul_(im, im).add_(self.eps).sqrt_()
        scale = torch.add(magnitude, self.bias).relu_().div_(magnitude).unsqueeze(-2)
        return (v.mul_(scale) if inplace else v * scale).view(x.shape)


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

    def forward_cl(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """Stacked channels-last ``[..., 2C]``; ``inplace`` overwrites ``x`` when autograd is off."""
        c = x.shape[-1] // 2
        v = x.view(*x.shape[:-1], 2, c)
        re, im = v[..., 0, :], v[..., 1, :]
        if not _fresh():
            magnitude = torch.sqrt(re.pow(2) + im.pow(2) + self.eps)
            return (v * (0.5 * (1.0 + re / magnitude)).unsqueeze(-2)).view(x.shape)
        magnitude = (re * re).addcmul_(im, im).add_(self.eps).sqrt_()
        scale = torch.div(re, magnitude, out=magnitude).add_(1.0).mul_(0.5).unsqueeze(-2)
        return (v.mul_(scale) if inplace else v * scale).view(x.shape)


ACTIVATIONS: dict[str, Union[type[ModReLU], type[Cardioid]]] = {"modrelu": ModReLU, "cardioid": Cardioid}


def make_activation(name: str, channels: int) -> Union[ModReLU, Cardioid]:
    """Build a complex activation by name (``modrelu`` or ``cardioid``)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown complex activation {name!r}; allowed: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name](channels)
