"""Complex network blocks: dilated residual blocks, down/up-sampling stages, axial attention.

All blocks map complex ``[B, C, F, T]`` tensors (channels, frequency bins, STFT frames) to complex
tensors; nothing splits a spectrum into separate magnitude and phase streams.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from complex_rvqvae.layers import ComplexConv2d, ComplexConvTranspose2d, ComplexLinear, ComplexNorm, make_activation


class ComplexResidualBlock(nn.Module):
    """``x + Conv1x1(act(Conv3x3_dilated(act(norm(x)))))``; dilation along time only.

    Dilating along time (1, 3, 9...) widens the temporal receptive field cheaply; frequency
    context comes from the stride-2 stages and the frequency attention.
    """

    def __init__(self, channels: int, dilation: int, activation: str) -> None:
        super().__init__()
        self.norm = ComplexNorm(channels)
        self.act1 = make_activation(activation, channels)
        self.conv1 = ComplexConv2d(channels, channels, 3, padding=(1, dilation), dilation=(1, dilation))
        self.act2 = make_activation(activation, channels)
        self.conv2 = ComplexConv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act2(self.conv1(self.act1(self.norm(x)))))


def residual_stack(channels: int, dilations: Sequence[int], activation: str) -> nn.Sequential:
    """Dilated residual blocks, one per dilation."""
    return nn.Sequential(*(ComplexResidualBlock(channels, d, activation) for d in dilations))


class Downsample(nn.Module):
    """Halve the frequency axis and divide time by ``time_stride`` (1 or 2): ``[B, Cin, F, T] ->
    [B, Cout, F/2, T/s]`` (pre-activation strided complex convolution)."""

    def __init__(self, in_channels: int, out_channels: int, time_stride: int, activation: str) -> None:
        super().__init__()
        if time_stride not in (1, 2):
            raise ValueError(f"time stride must be 1 or 2, got {time_stride}")
        kt = 4 if time_stride == 2 else 3
        self.act = make_activation(activation, in_channels)
        self.conv = ComplexConv2d(in_channels, out_channels, (4, kt), stride=(2, time_stride), padding=(1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.act(x))


class Upsample(nn.Module):
    """Inverse of :class:`Downsample`: ``[B, Cin, F, T] -> [B, Cout, 2F, T*s]``."""

    def __init__(self, in_channels: int, out_channels: int, time_stride: int, activation: str) -> None:
        super().__init__()
        if time_stride not in (1, 2):
            raise ValueError(f"time stride must be 1 or 2, got {time_stride}")
        kt = 4 if time_stride == 2 else 3
        self.act = make_activation(activation, in_channels)
        self.conv = ComplexConvTranspose2d(in_channels, out_channels, (4, kt), stride=(2, time_stride),
                                           padding=(1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.act(x))


class ComplexAttention(nn.Module):
    """Multi-head self-attention with complex queries, keys and values along one sequence axis.

    Scores are ``Re(q^H k) / sqrt(2 d_head)``: the real part of the Hermitian inner product, i.e.
    the real dot product of the stacked ``[re, im]`` vectors, so rotating q and k by the same
    phase leaves the scores unchanged. The softmax weights are real and mix the complex values;
    computing it as one real ``scaled_dot_product_attention`` call over ``[re, im]`` stacks
    (values too) is exact and uses the fused kernels.

    Args:
        channels: complex model width ``C``.
        heads: attention heads (``C`` divisible by it).
        window: if > 0, each position attends only to positions within ``window`` steps (banded
            attention: long inputs behave like the short training segments).
    """

    def __init__(self, channels: int, heads: int, window: int = 0) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention: channels {channels} not divisible by heads {heads}")
        self.heads, self.window = heads, window
        self.qkv = ComplexLinear(channels, 3 * channels)
        self.out = ComplexLinear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Complex ``[N, L, C]`` -> ``[N, L, C]``."""
        n, length, channels = x.shape
        d = channels // self.heads
        q, k, v = self.qkv(x).view(n, length, 3, self.heads, d).permute(2, 0, 3, 1, 4)  # [N, H, L, d] each
        q, k, v = (torch.cat([t.real, t.imag], dim=-1) for t in (q, k, v))
        mask = None
        if self.window > 0 and length > self.window + 1:
            idx = torch.arange(length, device=x.device)
            mask = (idx[None, :] - idx[:, None]).abs() <= self.window
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).float()  # [N, H, L, 2d]
        y = torch.complex(y[..., :d].contiguous(), y[..., d:].contiguous())
        return self.out(y.transpose(1, 2).reshape(n, length, channels))


class AxialAttentionBlock(nn.Module):
    """Pre-norm axial transformer block on ``[B, C, F, T]``: time attention (per frequency row),
    frequency attention (per frame, with a learned complex frequency-position embedding), then a
    complex feed-forward layer; each with a residual connection."""

    def __init__(self, channels: int, n_freq: int, heads: int, time_window: int, activation: str) -> None:
        super().__init__()
        self.norm_t, self.norm_f, self.norm_ff = ComplexNorm(channels), ComplexNorm(channels), ComplexNorm(channels)
        self.time_attn = ComplexAttention(channels, heads, time_window)
        self.freq_attn = ComplexAttention(channels, heads, 0)
        self.freq_pos = nn.Parameter(0.02 * torch.randn(1, channels, n_freq, 1, dtype=torch.cfloat))
        self.ff = nn.Sequential(ComplexConv2d(channels, 2 * channels, 1), make_activation(activation, 2 * channels),
                                ComplexConv2d(2 * channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, f, t = x.shape
        h = self.norm_t(x).permute(0, 2, 3, 1).reshape(b * f, t, c)
        x = x + self.time_attn(h).view(b, f, t, c).permute(0, 3, 1, 2)
        h = (self.norm_f(x) + self.freq_pos).permute(0, 3, 2, 1).reshape(b * t, f, c)
        x = x + self.freq_attn(h).view(b, t, f, c).permute(0, 3, 2, 1)
        return x + self.ff(self.norm_ff(x))
