"""Listening-test stimuli: BS.1770 loudness, low-pass anchors, alignment, equal length."""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.listening.stimuli import (align, estimate_lag, integrated_loudness, k_weighted_loudness,
                                          lowpass_anchor, prepare_trial)


@pytest.mark.parametrize("rate", [16000, 48000])
def test_own_k_weighting_matches_bs1770_and_pyloudnorm(rate):
    t = np.arange(rate * 2) / rate
    sine = np.sin(2 * np.pi * 997 * t)
    # BS.1770: a full-scale 1 kHz sine in one channel reads -3.01 LUFS.
    assert k_weighted_loudness(sine, rate) == pytest.approx(-3.01, abs=0.1)
    noise = np.random.default_rng(0).standard_normal(rate * 2) * 0.05
    pyloudnorm = pytest.importorskip("pyloudnorm")
    assert k_weighted_loudness(noise, rate) == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(noise), abs=0.05)
    # Gating: doubling the length with silence changes integrated loudness by far less than 3 dB
    # (only the blocks straddling the edge pass the gates), exactly as pyloudnorm does.
    padded = np.concatenate([noise, np.zeros(rate * 2)])
    assert k_weighted_loudness(padded, rate) == pytest.approx(k_weighted_loudness(noise, rate), abs=0.5)
    assert k_weighted_loudness(padded, rate) == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(padded), abs=0.05)
    assert integrated_loudness(noise, rate) == pytest.approx(k_weighted_loudness(noise, rate), abs=0.05)


def _band_power(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    return float(spec[(freqs >= lo) & (freqs < hi)].sum())


def test_lowpass_anchors_remove_the_band_above_cutoff():
    rate = 48000
    x = np.random.default_rng(1).standard_normal(rate)
    for cutoff in (3500, 7000):
        y = lowpass_anchor(x, rate, cutoff)
        assert _band_power(y, rate, cutoff * 1.3, 20000) < 1e-4 * _band_power(x, rate, cutoff * 1.3, 20000)
        assert _band_power(y, rate, 100, cutoff * 0.7) == pytest.approx(_band_power(x, rate, 100, cutoff * 0.7), rel=0.05)


def test_alignment_recovers_codec_delay():
    rate = 16000
    x = np.random.default_rng(2).standard_normal(rate)
    late = np.concatenate([np.zeros(123), x])[: rate + 50]
    assert estimate_lag(x, late, 1000) == 123
    assert np.allclose(align(x, late, rate)[: rate - 200], x[: rate - 200])
    early = x[77:]
    assert estimate_lag(x, early, 1000) == -77


def test_prepare_trial_equal_length_loudness_matched():
    rate = 16000
    rng = np.random.default_rng(3)
    ref = rng.standard_normal(rate * 2) * 0.1
    quiet = np.concatenate([np.zeros(40), ref * 0.1])  # delayed and 20 dB quieter
    loud = ref[: rate + 5000] * 3 + 0.01 * rng.standard_normal(rate + 5000)
    stim = prepare_trial(ref, rate, {"quiet": quiet, "loud": loud}, anchors=True)
    assert set(stim) == {"reference", "quiet", "loud", "anchor_lp3500", "anchor_lp7000"}
    lengths = {v.size for v in stim.values()}
    assert lengths == {rate + 5000}
    levels = [k_weighted_loudness(v, rate) for v in stim.values()]
    assert max(levels) - min(levels) < 0.5
    assert max(float(np.abs(v).max()) for v in stim.values()) <= 0.97 + 1e-6
    # Alignment removed the 40-sample delay: "quiet" now matches the reference sample by sample.
    corr = np.corrcoef(stim["quiet"][1000:5000], stim["reference"][1000:5000])[0, 1]
    assert corr > 0.99
    # Fades: stimuli start and end at silence (click-free looping).
    assert all(abs(v[0]) < 1e-6 and abs(v[-1]) < 1e-6 for v in stim.values())
