"""Mel filterbank and log-mel spectrogram for the training losses and validation distance.

The filterbank is the Slaney-style one (librosa's default: ``htk=False``, ``norm="slaney"``):
the mel scale is linear below 1 kHz and logarithmic above, and each triangle is scaled to unit
area (2 / bandwidth in Hz). The official APCodec training code calls librosa with these
defaults, so mel losses computed here match it without depending on librosa.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from torch import nn

_F_SP = 200.0 / 3.0  # Hz per mel in the linear part of the Slaney scale
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # = 15 mels
_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(freq: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear (3 mels / 200 Hz) below 1 kHz, logarithmic above."""
    freq = np.asarray(freq, dtype=np.float64)
    mel = freq / _F_SP
    log_part = freq >= _MIN_LOG_HZ
    mel[log_part] = _MIN_LOG_MEL + np.log(freq[log_part] / _MIN_LOG_HZ) / _LOG_STEP
    return mel


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    freq = mel * _F_SP
    log_part = mel >= _MIN_LOG_MEL
    freq[log_part] = _MIN_LOG_HZ * np.exp(_LOG_STEP * (mel[log_part] - _MIN_LOG_MEL))
    return freq


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int = 80, fmin: float = 0.0,
                   fmax: Optional[float] = None) -> np.ndarray:
    """Slaney-normalised triangular mel filterbank.

    Args:
        sample_rate: audio rate in Hz.
        n_fft: FFT size; the bank covers its ``n_fft // 2 + 1`` bins.
        n_mels: number of mel bands.
        fmin: lowest band edge in Hz.
        fmax: highest band edge in Hz; ``None`` means Nyquist.

    Returns:
        float32 array ``[n_mels, n_fft // 2 + 1]``.
    """
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    if not 0.0 <= fmin < fmax <= sample_rate / 2.0:
        raise ValueError(f"mel filterbank: need 0 <= fmin < fmax <= Nyquist, got fmin={fmin}, fmax={fmax}")
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(np.array([fmin]))[0], hz_to_mel(np.array([fmax]))[0], n_mels + 2))
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_freqs[None, :]
    weights = np.zeros((n_mels, fft_freqs.size))
    for band in range(n_mels):
        rising = -ramps[band] / widths[band]
        falling = ramps[band + 2] / widths[band + 1]
        weights[band] = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights.astype(np.float32)


class LogMelSpectrogram(nn.Module):
    """``log(clamp(mel(|STFT|), 1e-5))`` with a Hann window zero-padded to ``n_fft``, center=True.

    The magnitude is ``sqrt(re^2 + im^2 + 1e-9)`` so its gradient stays finite at zero.
    Computed in float32 whatever the autocast state (FFTs in bf16 are unsupported or lossy).
    """

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, win_length: int,
                 n_mels: int = 80, fmin: float = 0.0, fmax: Optional[float] = None,
                 clamp: float = 1e-5) -> None:
        super().__init__()
        self.n_fft, self.hop_length, self.win_length, self.clamp = n_fft, hop_length, win_length, clamp
        self.register_buffer("basis", torch.from_numpy(mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)),
                             persistent=False)
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
