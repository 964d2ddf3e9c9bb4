"""Log-mel spectrogram (torch, differentiable) for the training losses and validation distance.

The filterbank is the one the spectral metrics use, :func:`codecbench.metrics.dsp.mel_filterbank`
(Slaney-style, librosa's default: ``htk=False``, ``norm="slaney"``; checked against transformers
there), cast to float32. The official APCodec training code calls librosa with these defaults,
so mel losses computed here match it without depending on librosa.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

from codecbench.errors import ConfigError
from codecbench.metrics.dsp import mel_filterbank


class LogMelSpectrogram(nn.Module):
    """``log(clamp(mel(|STFT|), 1e-5))`` with a Hann window zero-padded to ``n_fft``, center=True.

    The magnitude is ``sqrt(re^2 + im^2 + 1e-9)`` so its gradient stays finite at zero.
    Computed in float32 whatever the autocast state (FFTs in bf16 are unsupported or lossy).
    """

    basis: torch.Tensor  # [n_mels, n_fft // 2 + 1] buffer
    window: torch.Tensor  # [win_length] buffer

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, win_length: int,
                 n_mels: int = 80, fmin: float = 0.0, fmax: Optional[float] = None,
                 clamp: float = 1e-5) -> None:
        super().__init__()
        top = sample_rate / 2.0 if fmax is None else float(fmax)
        if not 0.0 <= fmin < top <= sample_rate / 2.0:
            raise ConfigError(f"mel filterbank: need 0 <= fmin < fmax <= Nyquist ({sample_rate / 2.0:g} Hz), "
                             f"got fmin={fmin}, fmax={fmax}")
        self.n_fft, self.hop_length, self.win_length, self.clamp = n_fft, hop_length, win_length, clamp
        basis = mel_filterbank(sample_rate, n_fft, n_mels, float(fmin), None if fmax is None else float(fmax))
        self.register_buffer("basis", torch.from_numpy(basis.astype(np.float32)), persistent=False)
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` or ``[B, 1, T]`` audio -> ``[B, n_mels, frames]`` log-mel."""
        if audio.dim() == 3:
            audio = audio.squeeze(1)
        with torch.autocast(device_type=audio.device.type, enabled=False):
            spec = torch.stft(audio.float(), self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                              window=self.window, center=True, return_complex=True)
            magnitude = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)
            mel = torch.matmul(self.basis, magnitude)
            return torch.log(torch.clamp(mel, min=self.clamp))
