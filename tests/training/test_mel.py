"""The log-mel spectrogram the training losses and validation use, on the metrics' filterbank."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from codecbench.metrics.dsp import mel_filterbank
from codecbench.training.mel import LogMelSpectrogram


@pytest.mark.parametrize("rate, n_fft, n_mels, fmax", [(48000, 1024, 80, None), (16000, 320, 80, None),
                                                        (24000, 2048, 128, 8000.0)])
def test_basis_is_the_metrics_filterbank(rate: int, n_fft: int, n_mels: int, fmax):
    """One Slaney filterbank in the tree: training mel losses and mel_distance weigh bins alike."""
    basis = LogMelSpectrogram(rate, n_fft, n_fft // 4, n_fft, n_mels=n_mels, fmax=fmax).basis
    assert basis.dtype == torch.float32 and basis.shape == (n_mels, n_fft // 2 + 1)
    assert torch.equal(basis, torch.from_numpy(mel_filterbank(rate, n_fft, n_mels, 0.0, fmax).astype(np.float32)))


def test_log_mel_spectrogram_of_tone_peaks_at_its_band():
    sr = 48000
    t = torch.arange(4800) / sr
    tone = torch.sin(2 * math.pi * 3000.0 * t).unsqueeze(0)
    module = LogMelSpectrogram(sr, 1024, 40, 320)
    mel = module(tone)
    assert mel.shape == (1, 80, 4800 // 40 + 1)
    band = int(mel[0, :, 60].argmax())
    bin_hz = sr / 1024
    nonzero = torch.nonzero(module.basis[band] > 0).flatten()
    assert float(nonzero.min()) * bin_hz <= 3000.0 <= float(nonzero.max()) * bin_hz
    silence = LogMelSpectrogram(sr, 1024, 40, 320)(torch.zeros(1, 800))
    assert torch.allclose(silence, torch.full_like(silence, math.log(1e-5)))


@pytest.mark.parametrize("fmin, fmax", [(0.0, 30000.0), (9000.0, 8000.0), (-1.0, None)])
def test_band_edges_outside_nyquist_are_rejected(fmin: float, fmax):
    with pytest.raises(ValueError, match=r"Nyquist \(24000 Hz\)"):
        LogMelSpectrogram(48000, 1024, 256, 1024, fmin=fmin, fmax=fmax)
