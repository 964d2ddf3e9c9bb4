"""Discriminators of APCodec: multi-period (HiFi-GAN) and multi-resolution (UniVNet / Vocos).

Both take real and generated audio [B, 1, T] and return
``(real_logits, fake_logits, real_fmaps, fake_fmaps)``: one flattened logit tensor [B, K] and
one list of feature maps per sub-discriminator. Parameter counts at the default settings:
MPD 41,105,770, MRD 600,198 (equal to the official modules; state-dict layout
``discriminators.{i}.convs.{j}`` / ``conv_post`` with weight norm as parametrizations).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from apcodec.modules import weight_norm

LRELU_SLOPE = 0.1
DiscOutput = tuple[list[torch.Tensor], list[torch.Tensor], list[list[torch.Tensor]], list[list[torch.Tensor]]]


class PeriodDiscriminator(nn.Module):
    """2-D convolutions over the waveform folded to [B, 1, T / period, period]."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3,
                 channels: Sequence[int] = (32, 128, 512, 1024, 1024)) -> None:
        super().__init__()
        self.period = period
        pad = (kernel_size - 1) // 2
        chans = [1, *channels]
        layers = [weight_norm(nn.Conv2d(chans[i], chans[i + 1], (kernel_size, 1), (stride, 1), padding=(pad, 0)))
                  for i in range(len(channels) - 1)]
        layers.append(weight_norm(nn.Conv2d(chans[-2], chans[-1], (kernel_size, 1), 1, padding=(pad, 0))))
        self.convs = nn.ModuleList(layers)
        self.conv_post = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Audio [B, 1, T] -> (logits [B, K], feature maps)."""
        b, c, t = x.shape
        if t % self.period:
            pad = self.period - t % self.period
            x = F.pad(x, (0, pad), "reflect")
            t += pad
        x = x.view(b, c, t // self.period, self.period)
        return _conv_stack(self.convs, self.conv_post, x)


class ResolutionDiscriminator(nn.Module):
    """2-D convolutions over an STFT magnitude (rectangular window, as officially)."""

    def __init__(self, resolution: tuple[int, int, int], channels: int = 64) -> None:
        super().__init__()
        self.resolution = tuple(resolution)
        self.convs = nn.ModuleList([
            weight_norm(nn.Conv2d(1, channels, kernel_size=(7, 5), stride=(2, 2), padding=(3, 2))),
            weight_norm(nn.Conv2d(channels, channels, kernel_size=(5, 3), stride=(2, 1), padding=(2, 1))),
            weight_norm(nn.Conv2d(channels, channels, kernel_size=(5, 3), stride=(2, 2), padding=(2, 1))),
            weight_norm(nn.Conv2d(channels, channels, kernel_size=3, stride=(2, 1), padding=1)),
            weight_norm(nn.Conv2d(channels, channels, kernel_size=3, stride=(2, 2), padding=1)),
        ])
        self.conv_post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        """Audio [B, T] -> magnitude [B, n_fft // 2 + 1, frames]."""
        n_fft, hop, win = self.resolution
        # Official: window=None, i.e. ones of win_length zero-padded to n_fft (explicit here).
        window = torch.ones(win, device=x.device, dtype=x.dtype)
        return torch.stft(x, n_fft=n_fft, hop_length=hop, win_length=win, window=window,
                          center=True, return_complex=True).abs()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Audio [B, 1, T] -> (logits [B, K], feature maps)."""
        x = self.spectrogram(x.squeeze(1)).unsqueeze(1)
        return _conv_stack(self.convs, self.conv_post, x)


def _conv_stack(convs: nn.ModuleList, conv_post: nn.Module,
                x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """lrelu(conv) layers then ``conv_post``: (flattened logits [B, K], every layer's output)."""
    fmap = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        fmap.append(x)
    x = conv_post(x)
    fmap.append(x)
    return torch.flatten(x, 1, -1), fmap


def _run_pair(discs: nn.ModuleList, real: torch.Tensor, fake: torch.Tensor) -> DiscOutput:
    real_logits, fake_logits, real_fmaps, fake_fmaps = [], [], [], []
    for disc in discs:
        logit_r, fmap_r = disc(real)
        logit_f, fmap_f = disc(fake)
        real_logits.append(logit_r)
        fake_logits.append(logit_f)
        real_fmaps.append(fmap_r)
        fake_fmaps.append(fmap_f)
    return real_logits, fake_logits, real_fmaps, fake_fmaps


class MultiPeriodDiscriminator(nn.Module):
    """HiFi-GAN MPD with periods 2, 3, 5, 7, 11."""

    def __init__(self, periods: Sequence[int] = (2, 3, 5, 7, 11),
                 channels: Sequence[int] = (32, 128, 512, 1024, 1024)) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList([PeriodDiscriminator(p, channels=channels) for p in periods])

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> DiscOutput:
        """real, fake [B, 1, T] -> (real_logits, fake_logits, real_fmaps, fake_fmaps)."""
        return _run_pair(self.discriminators, real, fake)


class MultiResolutionDiscriminator(nn.Module):
    """MRD on STFT magnitudes at (n_fft, hop, win) = (512,20,160), (1024,40,320), (2048,80,640)."""

    def __init__(self, resolutions: Sequence[tuple[int, int, int]] = ((512, 20, 160), (1024, 40, 320), (2048, 80, 640)),
                 channels: int = 64) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList([ResolutionDiscriminator(r, channels) for r in resolutions])

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> DiscOutput:
        """real, fake [B, 1, T] -> (real_logits, fake_logits, real_fmaps, fake_fmaps)."""
        return _run_pair(self.discriminators, real, fake)
