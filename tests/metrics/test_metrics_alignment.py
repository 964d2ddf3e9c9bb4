"""Alignment policy: delay recovery, length policy, downmix, rates, validation."""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.alignment import AlignmentError, AlignmentPolicy, align_pair, estimate_lag, shift_and_fit


def speechlike(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Amplitude-modulated noise bursts: broadband, non-periodic, with pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    envelope = np.clip(np.sin(2 * np.pi * 2.3 * t), 0, None) ** 2
    return (0.3 * envelope * rng.standard_normal(n)).astype(np.float32)


def delayed(signal: np.ndarray, lag: int) -> np.ndarray:
    """Positive lag = late (zeros prepended); negative = early (head dropped)."""
    return np.concatenate([np.zeros(lag, np.float32), signal]) if lag >= 0 else signal[-lag:].copy()


@pytest.mark.parametrize("lag", [123, -123, 0, 7])
def test_synthetic_delay_is_recovered_exactly(lag: int) -> None:
    ref = speechlike(1.0, 48000)
    deg = delayed(ref, lag)
    prepared, info = align_pair(ref[None], 48000, deg[None], 48000, [None, 16000])
    assert info.lag_samples == lag
    assert info.lag_ms == pytest.approx(lag / 48.0)
    assert not info.lag_at_bound
    a, b = prepared[48000]
    assert len(a) == len(b) == len(ref) - max(0, -lag)  # late: degraded head dropped; early: reference head
    np.testing.assert_array_equal(a, b)  # same samples after compensation
    assert dict(info.rate_lengths)[16000] == len(prepared[16000][0]) == len(prepared[16000][1])


def test_lag_is_applied_consistently_at_other_rates() -> None:
    ref = speechlike(1.0, 48000)
    deg = delayed(ref, 123)
    prepared, _ = align_pair(ref[None], 48000, deg[None], 48000, [16000])
    a, b = prepared[16000]
    # 123 samples at 48 kHz = 41 at 16 kHz: the pair is aligned there too (resampler edges aside).
    assert np.corrcoef(a[200:-200], b[200:-200])[0, 1] > 0.999


def test_degraded_at_another_rate() -> None:
    ref = speechlike(1.0, 48000)
    from codecbench.audio import resample

    deg24 = resample(delayed(ref, 96)[None], 48000, 24000)
    prepared, info = align_pair(ref[None], 48000, deg24, 24000, [None])
    assert info.lag_samples == 96 and info.degraded_rate == 24000
    a, b = prepared[48000]
    assert len(a) == len(b)


def test_length_mismatch_trim_and_pad() -> None:
    ref = speechlike(0.5, 16000)
    longer = np.concatenate([ref, 0.1 * np.ones(300, np.float32)])
    prepared, info = align_pair(ref[None], 16000, longer[None], 16000, [None])
    assert info.lag_samples == 0 and info.aligned_samples == len(ref) == len(prepared[16000][1])
    shorter = ref[:-500]
    prepared, info = align_pair(ref[None], 16000, shorter[None], 16000, [None],
                                AlignmentPolicy(length_policy="pad"))
    a, b = prepared[16000]
    assert len(a) == len(b) == len(ref) and not np.any(b[-500:])
    a, b = shift_and_fit(np.ones(10), np.ones(7), 2, "trim")
    assert len(a) == len(b) == 5


def test_stereo_is_downmixed() -> None:
    ref = speechlike(0.5, 16000)
    stereo = np.stack([ref, 0.5 * ref])
    prepared, info = align_pair(stereo, 16000, ref[None], 16000, [None])
    assert info.reference_channels == 2 and info.degraded_channels == 1
    np.testing.assert_allclose(prepared[16000][0], 0.75 * ref, rtol=1e-6)


def test_bound_and_silence() -> None:
    ref = speechlike(1.0, 16000)
    deg = delayed(ref, 1600)  # 100 ms, beyond the 50 ms default search
    _, info = align_pair(ref[None], 16000, deg[None], 16000, [None])
    assert abs(info.lag_samples) <= 800
    _, info = align_pair(ref[None], 16000, deg[None], 16000, [None], AlignmentPolicy(max_lag_ms=150))
    assert info.lag_samples == 1600
    assert estimate_lag(np.zeros(100), ref[:100], 10) == (0, False)
    _, info = align_pair(ref[None], 16000, deg[None], 16000, [None], AlignmentPolicy(max_lag_ms=0))
    assert info.lag_samples == 0


def test_policy_validation_and_description() -> None:
    with pytest.raises(AlignmentError, match="trim, pad"):
        AlignmentPolicy(length_policy="stretch")
    with pytest.raises(AlignmentError, match="max_lag_ms"):
        AlignmentPolicy(max_lag_ms=-1)
    with pytest.raises(AlignmentError, match="soxr-VHQ"):
        AlignmentPolicy(resampler="sinc")
    desc = AlignmentPolicy().describe()
    assert desc["resampler"] == "soxr-VHQ" and desc["max_lag_ms"] == 50.0 and desc["length_policy"] == "trim"
    with pytest.raises(AlignmentError, match="NaN"):
        align_pair(np.full((1, 10), np.nan), 16000, np.zeros((1, 10)), 16000, [None])
    _, info = align_pair(np.ones((1, 100)), 16000, np.ones((1, 90)), 16000, [None])
    assert info.to_dict()["rate_lengths"] == {"16000": 90}
