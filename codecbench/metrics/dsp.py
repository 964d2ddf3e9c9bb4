"""Deterministic numpy STFT and mel filterbank used by the spectral distances.

Conventions (stated once so every distance uses the same ones): periodic Hann window of
``win_length`` samples, centred and zero-padded to ``n_fft``; the signal is reflect-padded by
``n_fft // 2`` on both sides (frame ``i`` is centred on sample ``i * hop``), giving
``1 + T // hop`` frames; one-sided magnitude ``|X|`` of shape ``[frames, n_fft // 2 + 1]``,
computed in float64.
"""

from __future__ import annotations

import functools
from typing import Optional

import numpy as np

from codecbench.metrics.base import MetricUnavailable


@functools.lru_cache(maxsize=32)
def _window(n_fft: int, win_length: int) -> np.ndarray:
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(win_length) / win_length)
    left = (n_fft - win_length) // 2
    window = np.zeros(n_fft)
    window[left:left + win_length] = hann
    return window


def stft_magnitude(signal: np.ndarray, n_fft: int, hop: int, win_length: int) -> np.ndarray:
    """Magnitude STFT of a mono ``[T]`` signal -> ``[frames, n_fft // 2 + 1]`` float64."""
    if win_length > n_fft:
        raise ValueError(f"win_length {win_length} exceeds n_fft {n_fft}")
    if len(signal) <= n_fft // 2:
        raise MetricUnavailable(f"signal of {len(signal)} samples is too short for an STFT with n_fft={n_fft}")
    padded = np.pad(np.asarray(signal, dtype=np.float64), n_fft // 2, mode="reflect")
    n_frames = 1 + (len(padded) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    return np.abs(np.fft.rfft(frames * _window(n_fft, win_length), axis=-1))


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above (librosa's default, htk=False)."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3.0, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep,
                    hz / f_sp)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3.0, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                   fmax: Optional[float] = None) -> np.ndarray:
    """Triangular Slaney-scale, Slaney-normalised (unit area) mel filters ``[n_mels, n_fft // 2 + 1]``."""
    fmax = sample_rate / 2.0 if fmax is None else fmax
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    mel_freqs = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    weights.setflags(write=False)
    return weights
