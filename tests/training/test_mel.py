"""The Slaney mel filterbank and the log-mel spectrogram the training losses and validation use."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from codecbench.training.mel import LogMelSpectrogram, hz_to_mel, mel_filterbank, mel_to_hz


def test_slaney_mel_scale_and_filterbank():
    assert hz_to_mel(np.array([1000.0]))[0] == pytest.approx(15.0)
    assert hz_to_mel(np.array([200.0]))[0] == pytest.approx(3.0)
    freqs = np.array([0.0, 500.0, 1000.0, 4000.0, 24000.0])
    assert np.allclose(mel_to_hz(hz_to_mel(freqs)), freqs)
    bank = mel_filterbank(48000, 1024, 80)
    assert bank.shape == (80, 513) and bank.dtype == np.float32 and (bank >= 0).all()
    assert (bank.sum(axis=1) > 0).all()  # no empty band at 1024 points / 48 kHz
    # Slaney normalisation: each triangle has unit area in Hz (approximately, on the FFT grid).
    df = 48000 / 1024
    areas = bank.sum(axis=1) * df
    assert np.allclose(areas, 1.0, rtol=0.1)  # grid effects on narrow low bands
    # Peak of band k sits at the (k+1)-th mel edge.
    edges = mel_to_hz(np.linspace(0, hz_to_mel(np.array([24000.0]))[0], 82))
    assert abs(np.argmax(bank[40]) * df - edges[41]) <= df


def test_log_mel_spectrogram_of_tone_peaks_at_its_band():
    sr = 48000
    t = torch.arange(4800) / sr
    tone = torch.sin(2 * math.pi * 3000.0 * t).unsqueeze(0)
    mel = LogMelSpectrogram(sr, 1024, 40, 320)(tone)
    assert mel.shape == (1, 80, 4800 // 40 + 1)
    band = int(mel[0, :, 60].argmax())
    edges = mel_to_hz(np.linspace(hz_to_mel(np.array([0.0]))[0], hz_to_mel(np.array([24000.0]))[0], 82))
    assert edges[band] <= 3000.0 <= edges[band + 2]
    silence = LogMelSpectrogram(sr, 1024, 40, 320)(torch.zeros(1, 800))
    assert torch.allclose(silence, torch.full_like(silence, math.log(1e-5)))
