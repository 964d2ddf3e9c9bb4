"""The numpy STFT and mel filterbank behind the spectral distances, checked against torch/transformers."""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.metrics.base import MetricUnavailable
from codecbench.metrics.dsp import mel_filterbank, stft_magnitude
from codecbench.scoring import build_metrics


@pytest.mark.parametrize("n_fft,hop,win", [(1024, 120, 600), (512, 128, 512), (2048, 240, 1200)])
def test_stft_matches_torch(n_fft: int, hop: int, win: int) -> None:
    import torch

    x = np.random.default_rng(0).standard_normal(9000)
    ours = stft_magnitude(x, n_fft, hop, win)
    theirs = torch.stft(torch.from_numpy(x), n_fft, hop, win, torch.hann_window(win, dtype=torch.float64),
                        center=True, pad_mode="reflect", return_complex=True).abs().numpy().T
    assert ours.shape == theirs.shape == (1 + 9000 // hop, n_fft // 2 + 1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


def test_mel_filterbank_matches_transformers() -> None:
    from transformers.audio_utils import mel_filter_bank

    ours = mel_filterbank(22050, 1024, 80)
    theirs = mel_filter_bank(num_frequency_bins=513, num_mel_filters=80, min_frequency=0.0,
                             max_frequency=11025.0, sampling_rate=22050, norm="slaney", mel_scale="slaney").T
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-10)


def test_spectral_metrics_are_deterministic_and_reject_too_short_input() -> None:
    rng = np.random.default_rng(3)
    ref = rng.standard_normal(20000).astype(np.float32)
    deg = (ref + 0.1 * rng.standard_normal(20000)).astype(np.float32)
    for metric in build_metrics(["lsd", "mel_distance", "mrstft_distance", "si_sdr"]):
        first = metric.compute(ref, deg, 16000)
        assert first == metric.compute(ref.copy(), deg.copy(), 16000) and np.isfinite(first)
    with pytest.raises(MetricUnavailable, match="too short"):
        build_metrics(["lsd"])[0].compute(ref[:500], deg[:500], 16000)
