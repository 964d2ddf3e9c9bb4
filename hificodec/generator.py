"""HiFi-Codec decoder: the HiFi-GAN V1 generator fed with the quantized latent.

``conv_pre`` latent -> ``upsample_initial_channel`` (k7), then per stage lrelu(0.1) -> weight-normed
ConvTranspose1d halving the width (padding ``(k - u) // 2``, so each stage multiplies the length
by exactly ``u``) -> mean of the MRF ResBlocks; finally lrelu(0.1) -> ``conv_post`` (k7) -> tanh.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hificodec.config import HiFiCodecConfig
from hificodec.layers import LRELU_SLOPE, WNConv1d, WNConvTranspose1d, make_resblock


class Generator(nn.Module):
    """Latent ``[B, latent_dim, F]`` -> audio ``[B, 1, F * hop_length]`` in [-1, 1]."""

    def __init__(self, config: HiFiCodecConfig) -> None:
        super().__init__()
        width = config.upsample_initial_channel
        self.num_kernels = len(config.resblock_kernel_sizes)
        self.conv_pre = WNConv1d(config.latent_dim, width, 7, padding=3)
        self.ups = nn.ModuleList(
            WNConvTranspose1d(width // 2 ** i, width // 2 ** (i + 1), kernel, rate, (kernel - rate) // 2)
            for i, (rate, kernel) in enumerate(zip(config.upsample_rates, config.upsample_kernel_sizes)))
        self.resblocks = nn.ModuleList()
        channels = width
        for i in range(len(self.ups)):
            channels = width // 2 ** (i + 1)
            for kernel, dilation in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes):
                self.resblocks.append(make_resblock(config.resblock, channels, kernel, dilation))
        self.conv_post = WNConv1d(channels, 1, 7, padding=3)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(latent)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            acc = self.resblocks[i * self.num_kernels](x)
            for j in range(1, self.num_kernels):
                acc = acc + self.resblocks[i * self.num_kernels + j](x)
            x = acc / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x, LRELU_SLOPE)))
