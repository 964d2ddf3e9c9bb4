"""Weight-normalised convolutions and HiFi-GAN residual blocks shared by encoder and generator.

The published checkpoints store old-style weight norm (``<name>.weight_g`` / ``<name>.weight_v``).
Instead of ``torch.nn.utils.weight_norm`` (deprecated, and its newer parametrisation renames the
keys) the two tensors are plain parameters here and the weight ``g * v / ||v||`` is formed in
``forward``, so checkpoints load with ``load_state_dict`` unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.1


def _wn_weight(weight_g: torch.Tensor, weight_v: torch.Tensor) -> torch.Tensor:
    """``g * v / ||v||`` with the norm over every dim but 0 (what ``weight_norm(dim=0)`` does)."""
    norm = weight_v.norm(2, dim=tuple(range(1, weight_v.dim())), keepdim=True)
    return weight_v * (weight_g / norm)


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    """'Same' padding of an odd kernel."""
    return (kernel_size * dilation - dilation) // 2


def _wn_parameters(conv: nn.Conv1d | nn.ConvTranspose1d) -> tuple[nn.Parameter, nn.Parameter, nn.Parameter]:
    """(weight_g, weight_v, bias) of a freshly initialised conv: the official checkpoint's names.

    ``weight_g`` is the norm over all but dim 0 (output channels for Conv1d, input channels for
    ConvTranspose1d, as ``torch.nn.utils.weight_norm`` with its default ``dim=0``).
    """
    v = conv.weight.detach().clone()
    assert conv.bias is not None  # built with bias=True, as the official layers
    bias = conv.bias.detach().clone()
    return nn.Parameter(v.norm(2, dim=(1, 2), keepdim=True)), nn.Parameter(v), nn.Parameter(bias)


class WNConv1d(nn.Module):
    """Conv1d with old-style weight norm. Input/output ``[B, C, T]``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 dilation: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.stride, self.dilation, self.padding = stride, dilation, padding
        conv = nn.Conv1d(in_channels, out_channels, kernel_size)  # for PyTorch's default init
        self.weight_g, self.weight_v, self.bias = _wn_parameters(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = _wn_weight(self.weight_g, self.weight_v)
        return F.conv1d(x, weight, self.bias, self.stride, self.padding, self.dilation)


class WNConvTranspose1d(nn.Module):
    """ConvTranspose1d with old-style weight norm (norm over dim 0 = input channels)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 padding: int) -> None:
        super().__init__()
        self.stride, self.padding = stride, padding
        conv = nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride, padding)
        self.weight_g, self.weight_v, self.bias = _wn_parameters(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = _wn_weight(self.weight_g, self.weight_v)
        return F.conv_transpose1d(x, weight, self.bias, self.stride, self.padding)


class ResBlock1(nn.Module):
    """HiFi-GAN ResBlock1: for each dilation, lrelu -> dilated conv -> lrelu -> conv, residual add."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, dilation=d, padding=get_padding(kernel_size, d))
            for d in dilations)
        self.convs2 = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, padding=get_padding(kernel_size))
            for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv1, conv2 in zip(self.convs1, self.convs2):
            y = conv1(F.leaky_relu(x, LRELU_SLOPE))
            x = x + conv2(F.leaky_relu(y, LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    """HiFi-GAN ResBlock2: one dilated conv per dilation, residual add."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, dilation=d, padding=get_padding(kernel_size, d))
            for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, LRELU_SLOPE))
        return x


def make_resblock(kind: str, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> nn.Module:
    """ResBlock1 for ``kind == "1"``, else ResBlock2 (the config's ``resblock`` key)."""
    cls = ResBlock1 if kind == "1" else ResBlock2
    return cls(channels, kernel_size, dilations)
