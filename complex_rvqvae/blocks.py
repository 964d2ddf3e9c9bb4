"""Complex network blocks: dilated residual blocks, down/up-sampling stages, axial attention.

All blocks map complex ``[B, C, F, T]`` tensors (channels, frequency bins, STFT frames) to complex
tensors; nothing splits a spectrum into separate magnitude and phase streams. ``forward`` is the
complex reference; ``forward_cl`` computes the same on the stacked channels-last layout
``[B, F, T, 2C]`` of :mod:`complex_rvqvae.layers` (what the encoder and decoder run).
"""

from __future__ import annotations

from typing import Protocol, Sequence, Union, cast

import torch
import torch.nn.functional as F
from torch import nn

from complex_rvqvae.layers import (Cardioid, ComplexConv2d, ComplexConvTranspose2d, ComplexLinear, ComplexNorm,
                                   ModReLU, _fresh, make_activation)


class ChannelsLast(Protocol):
    """A block with a stacked channels-last path (every layer and block of this package has one)."""

    def forward_cl(self, x: torch.Tensor) -> torch.Tensor: ...


def run_cl(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply ``module`` (or each child of an ``nn.Sequential``) on the stacked channels-last layout."""
    if isinstance(module, nn.Sequential):
        for child in module:
            x = run_cl(child, x)
        return x
    return cast(ChannelsLast, module).forward_cl(x)


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

    def forward_cl(self, x: torch.Tensor) -> torch.Tensor:
        """Stacked channels-last ``[B, F, T, 2C]``."""
        h = self.act1.forward_cl(self.norm.forward_cl(x), inplace=True)
        h = self.conv2.forward_cl(self.act2.forward_cl(self.conv1.forward_cl(h), inplace=True))
        return h.add_(x) if _fresh() else x + h


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

    def forward_cl(self, x: torch.Tensor) -> torch.Tensor:
        """Stacked channels-last ``[B, F, T, 2C]``."""
        return self.conv.forward_cl(self.act.forward_cl(x))


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

    def forward_cl(self, x: torch.Tensor) -> torch.Tensor:
        """Stacked channels-last ``[B, F, T, 2C]``."""
        return self.conv.forward_cl(self.act.forward_cl(x))


def banded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int) -> torch.Tensor:
    """Attention where position i sees positions j with ``|i - j| <= window``, in O(L * window).

    The sequence is cut into query blocks of ``2 * window`` positions; each block attends to its
    own span widened by ``window`` on both sides, with the exact band mask. Equal to full attention
    with a band mask, without the ``L x L`` score matrix (long files at inference).

    Args:
        q, k, v: real ``[N, H, L, E]``.
        window: half-width of the band.

    Returns:
        ``[N, H, L, E]``.
    """
    n, h, length, e = q.shape
    block = 2 * window
    n_blocks = -(-length // block)
    extra = n_blocks * block - length
    span = block + 2 * window
    q = F.pad(q, (0, 0, 0, extra)).view(n, h, n_blocks, block, e)
    k, v = (F.pad(t, (0, 0, window, extra + window)).unfold(2, span, block).transpose(-1, -2) for t in (k, v))
    a = torch.arange(block, device=q.device)
    c = torch.arange(span, device=q.device)
    starts = torch.arange(n_blocks, device=q.device) * block
    in_band = ((c[None, :] - window) - a[:, None]).abs() <= window  # [block, span]
    key_pos = starts[:, None] - window + c[None, :]  # [n_blocks, span]
    key_ok = (key_pos >= 0) & (key_pos < length)
    query_pad = (starts[:, None] + a[None, :]) >= length  # [n_blocks, block]: padded rows see zeros
    mask = in_band[None] & (key_ok[:, None, :] | query_pad[:, :, None])  # [n_blocks, block, span]
    fold = lambda t: t.permute(0, 2, 1, 3, 4).reshape(n * n_blocks, h, t.shape[-2], e)  # noqa: E731
    mask = mask.unsqueeze(1).repeat(n, 1, 1, 1)  # [n * n_blocks, 1, block, span]
    y = F.scaled_dot_product_attention(fold(q), fold(k), fold(v), attn_mask=mask)
    y = y.view(n, n_blocks, h, block, e).permute(0, 2, 1, 3, 4).reshape(n, h, n_blocks * block, e)
    return y[:, :, :length]


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
        y = self._attend(q, k, v)  # [N, H, L, 2d]
        y = torch.complex(y[..., :d].contiguous(), y[..., d:].contiguous())
        return self.out(y.transpose(1, 2).reshape(n, length, channels))

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attention of stacked ``[N, H, L, 2d]`` q/k/v within ``±window`` frames (all when 0)."""
        length = q.shape[-2]
        if self.window > 0 and length > 4 * self.window:
            return banded_attention(q, k, v, self.window).float()
        mask = None
        if self.window > 0 and length > self.window + 1:
            idx = torch.arange(length, device=q.device)
            mask = (idx[None, :] - idx[:, None]).abs() <= self.window
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask).float()

    def forward_cl(self, x: torch.Tensor) -> torch.Tensor:
        """Stacked ``[N, L, 2C]`` -> ``[N, L, 2C]`` (same scores and values as :meth:`forward`)."""
        n, length, c2 = x.shape
        d = c2 // 2 // self.heads
        qkv = self.qkv.forward_cl(x).view(n, length, 2, 3, self.heads, d)  # [re | im] x (q, k, v) x heads
        q, k, v = qkv.permute(3, 0, 4, 1, 2, 5).reshape(3, n, self.heads, length, 2 * d).unbind(0)
        y = self._attend(q, k, v)  # [N, H, L, 2d]
        y = y.view(n, self.heads, length, 2, d).permute(0, 2, 3, 1, 4).reshape(n, length, c2)
        return self.out.forward_cl(y)


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

    def forward_cl(self, x: torch.Tensor) -> torch.Tensor:
        """Stacked channels-last ``[B, F, T, 2C]``."""
        b, f, t, c2 = x.shape
        fresh = _fresh()
        h = self.time_attn.forward_cl(self.norm_t.forward_cl(x).reshape(b * f, t, c2)).view(b, f, t, c2)
        x = h.add_(x) if fresh else x + h
        pos = torch.cat([self.freq_pos.real, self.freq_pos.imag], dim=1).permute(0, 2, 3, 1)  # [1, F, 1, 2C]
        h = (self.norm_f.forward_cl(x) + pos).transpose(1, 2).reshape(b * t, f, c2)
        h = self.freq_attn.forward_cl(h).view(b, t, f, c2).transpose(1, 2)
        x = x.add_(h) if fresh else (x + h).contiguous()
        expand, act, project = cast("tuple[ComplexConv2d, Union[ModReLU, Cardioid], ComplexConv2d]", tuple(self.ff))
        h = project.forward_cl(act.forward_cl(expand.forward_cl(self.norm_ff.forward_cl(x)), inplace=True))
        return h.add_(x) if fresh else x + h
