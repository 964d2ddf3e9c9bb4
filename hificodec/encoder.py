"""HiFi-Codec encoder: a mirrored HiFi-GAN generator that downsamples audio to the latent.

Structure (official AcademiCodec ``Encoder``): weight-normed ``conv_pre`` 1 -> base (k7), then per
stage lrelu(0.1) -> strided weight-normed Conv1d doubling the width (strides/kernels are the
config's upsample rates/kernels reversed, padding ``(k - stride) // 2``) -> a multi-receptive-field
block of ResBlocks (kernels reversed) with GroupNorm, then lrelu with PyTorch's default slope 0.01
(not 0.1: the official code calls ``F.leaky_relu`` without a slope there) and a plain Conv1d
``latent -> latent`` (k3, no weight norm).

The GroupNorms are applied to the running sum, not to each ResBlock output: with ``r_j`` the
ResBlock outputs and ``n_j`` the norms, a stage computes ``n_2(n_1(n_0(r_0) + r_1) + r_2) / 3``.
That is what the published weights were trained with, so it is reproduced exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hificodec.config import HiFiCodecConfig
from hificodec.layers import LRELU_SLOPE, WNConv1d, make_resblock


class Encoder(nn.Module):
    """Audio ``[B, 1, T]`` -> latent ``[B, latent_dim, T // hop_length]``."""

    def __init__(self, config: HiFiCodecConfig) -> None:
        super().__init__()
        base = config.encoder_base_channels
        self.num_kernels = len(config.resblock_kernel_sizes)
        self.conv_pre = WNConv1d(1, base, 7, padding=3)
        stages = list(reversed(list(zip(config.upsample_rates, config.upsample_kernel_sizes))))
        self.ups = nn.ModuleList(
            WNConv1d(base * 2 ** i, base * 2 ** (i + 1), kernel, stride=rate, padding=(kernel - rate) // 2)
            for i, (rate, kernel) in enumerate(stages))
        self.resblocks = nn.ModuleList()
        self.normalize = nn.ModuleList()
        kernels = list(reversed(config.resblock_kernel_sizes))
        dilations = list(reversed(config.resblock_dilation_sizes))
        for i in range(len(self.ups)):
            channels = base * 2 ** (i + 1)
            for kernel, dilation in zip(kernels, dilations):
                self.resblocks.append(make_resblock(config.resblock, channels, kernel, dilation))
                self.normalize.append(nn.GroupNorm(channels // config.groupnorm_channels, channels,
                                                   eps=1e-6, affine=True))
        self.conv_post = nn.Conv1d(config.latent_dim, config.latent_dim, 3, padding=1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(audio)
        for i, down in enumerate(self.ups):
            x = down(F.leaky_relu(x, LRELU_SLOPE))
            acc = None
            for j in range(self.num_kernels):
                k = i * self.num_kernels + j
                out = self.resblocks[k](x)
                acc = self.normalize[k](out if acc is None else acc + out)
            assert acc is not None  # num_kernels >= 1 (config validation)
            x = acc / self.num_kernels
        return self.conv_post(F.leaky_relu(x))
