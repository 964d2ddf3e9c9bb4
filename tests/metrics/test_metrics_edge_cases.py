"""Metric edge cases: minimum lengths kept through the lag shift, silent references, no speech energy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codecbench.alignment import align_pair, fit_to_minimum
from codecbench.scoring import build_metrics, score_pair

RATE = 48_000


def voiced(seconds: float, rate: int = RATE) -> np.ndarray:
    """Continuously voiced harmonic tone with an 8 Hz envelope: PESQ's VAD finds speech even in 0.25 s."""
    t = np.arange(int(round(seconds * rate))) / rate
    phase = 2 * np.pi * np.cumsum(140 + 20 * np.sin(2 * np.pi * 2 * t)) / rate
    harmonics = sum(np.sin(k * phase) / k for k in range(1, 12))
    return (0.3 * (0.5 + 0.5 * np.sin(2 * np.pi * 8 * t)) * harmonics).astype(np.float32)


def shifted(signal: np.ndarray, lag: int) -> np.ndarray:
    """Same length, ``lag`` samples late (positive) or early (negative): a codec's constant delay."""
    if lag >= 0:
        return np.concatenate([np.zeros(lag, np.float32), signal[:len(signal) - lag]])
    return np.concatenate([signal[-lag:], np.zeros(-lag, np.float32)])


@pytest.mark.parametrize("lag", [2, -2, 5])
def test_quarter_second_clip_keeps_pesq_through_a_small_lag(lag: int) -> None:
    """0.25 s in, 0.25 s out, a few samples late: the lag shift must not push PESQ below its 0.25 s minimum."""
    ref = voiced(0.25)
    scores = score_pair(ref[None], RATE, shifted(ref, lag)[None], RATE, ["pesq_wb", "pesq_nb"])
    for name in ("pesq_wb", "pesq_nb"):
        result = scores.results[name]
        assert result.reason is None and 4.0 < result.value <= 4.65, (name, result)
    info = scores.alignment
    assert info.lag_samples == lag and info.rate_lengths == ((8000, 2000), (16000, 4000))
    padded = dict(info.min_length_padding)
    assert set(padded) <= {8000, 16000} and padded.get(16000, 0) >= 1 and all(n <= abs(lag) for n in padded.values())
    assert info.trimmed_reference_samples == abs(lag) and info.trimmed_degraded_samples == abs(lag)
    assert info.to_dict()["min_length_padding"] == {str(rate): n for rate, n in info.min_length_padding}


def test_padding_is_only_used_when_the_lag_caused_the_loss() -> None:
    ref = np.arange(1.0, 11.0)
    a, b, padded = fit_to_minimum(ref, shifted(ref, 2), 2, min_samples=10)
    assert padded == 2 and len(a) == len(b) == 10 and list(b[-2:]) == [0.0, 0.0]
    np.testing.assert_array_equal(b[:8], ref[:8])
    a, b, padded = fit_to_minimum(ref, ref[:9], 0, min_samples=10)  # too short before any shift
    assert padded == 0 and len(a) == 9
    a, b, padded = fit_to_minimum(ref, shifted(ref, 2), 2, min_samples=6)  # long enough after the shift
    assert padded == 0 and len(a) == 8
    noise = np.random.default_rng(1).standard_normal(16000).astype(np.float32)
    for minimum, length in ((None, 15997), ({None: 1.0}, 16000), ({None: 0.5}, 15997)):
        prepared, info = align_pair(noise[None], 16000, shifted(noise, 3)[None], 16000, [None], min_seconds=minimum)
        assert info.lag_samples == 3 and len(prepared[16000][0]) == len(prepared[16000][1]) == length
        assert info.min_length_padding == (((16000, 3),) if length == 16000 else ())


def test_truly_short_pair_reason_states_exact_lengths() -> None:
    ref = voiced(0.2499)
    result = score_pair(ref[None], RATE, ref[None], RATE, ["pesq_wb"]).results["pesq_wb"]
    assert math.isnan(result.value)
    assert result.reason == ("aligned pair is 3998 samples (0.2499 s) at 16000 Hz, "
                             "shorter than the 0.25 s minimum (4000 samples)")


@pytest.mark.parametrize("name", ["lsd", "mel_distance"])
def test_spectral_distance_on_silent_reference_is_nan_with_reason(name: str) -> None:
    silent = np.zeros(RATE, np.float32)
    noise = (0.01 * np.random.default_rng(0).standard_normal(RATE)).astype(np.float32)
    for degraded in (silent, noise):
        result = score_pair(silent[None], RATE, degraded[None], RATE, [name]).results[name]
        assert math.isnan(result.value) and "reference is silent" in result.reason
    speech = voiced(1.0)
    (metric,) = build_metrics([name])
    assert math.isfinite(metric.compute(speech, np.zeros_like(speech), RATE))  # silent output: still scored


@pytest.mark.parametrize("name", ["stoi", "estoi"])
def test_stoi_without_speech_energy_is_nan_with_reason(name: str) -> None:
    dc = np.full(RATE, 0.5, np.float32)
    result = score_pair(dc[None], RATE, dc[None], RATE, [name]).results[name]
    assert math.isnan(result.value) and "no speech energy" in result.reason
    hum = (0.3 * np.sin(2 * np.pi * 50.3 * np.arange(RATE) / RATE + 0.4)).astype(np.float32)  # below the bands
    result = score_pair(hum[None], RATE, hum[None], RATE, [name]).results[name]
    assert math.isnan(result.value) and "no speech energy" in result.reason
    speech = voiced(1.0)
    assert score_pair(speech[None], RATE, speech[None], RATE, [name]).results[name].value > 0.99


def test_stoi_scores_quiet_speech_on_a_large_dc_offset() -> None:
    """The DC offset is removed before the band-energy check, so it cannot hide real speech."""
    speech = (0.02 * voiced(1.0) + 0.9).astype(np.float32)
    result = score_pair(speech[None], RATE, speech[None], RATE, ["stoi"]).results["stoi"]
    assert result.reason is None and result.value > 0.99
