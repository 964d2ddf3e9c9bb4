"""Stimuli of a listening test: alignment, low-pass anchors, loudness matching, equal length.

ITU-R BS.1534 (MUSHRA) asks for a hidden reference, a 3.5 kHz low-pass "low anchor" and a
7 kHz "mid anchor", all stimuli loudness-aligned. Loudness is ITU-R BS.1770 integrated
loudness: pyloudnorm when installed, else the K-weighting + gating implemented here (both
agree to ~0.1 LU; a test checks it).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
from scipy import signal

ANCHORS = {"anchor_lp3500": 3500.0, "anchor_lp7000": 7000.0}
FADE_S = 0.02


def lowpass_anchor(audio: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """Zero-phase 8th-order Butterworth low-pass of mono ``audio`` [T] (no delay vs the reference)."""
    if cutoff_hz >= sample_rate / 2:
        return np.asarray(audio, dtype=np.float64).copy()
    sos = signal.butter(8, cutoff_hz, btype="low", fs=sample_rate, output="sos")
    return signal.sosfiltfilt(sos, np.asarray(audio, dtype=np.float64))


def _biquad_k_weighting(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """BS.1770 pre-filter (high shelf +4 dB @ 1.5 kHz) and RLB high-pass (38 Hz) for any rate."""
    def shelf(fc: float, gain_db: float, q: float) -> tuple[np.ndarray, np.ndarray]:
        a = 10 ** (gain_db / 40.0)
        w0 = 2 * math.pi * fc / sample_rate
        alpha = math.sin(w0) / (2 * q)
        cw, sa = math.cos(w0), 2 * math.sqrt(a) * alpha
        b = [a * ((a + 1) + (a - 1) * cw + sa), -2 * a * ((a - 1) + (a + 1) * cw), a * ((a + 1) + (a - 1) * cw - sa)]
        den = [(a + 1) - (a - 1) * cw + sa, 2 * ((a - 1) - (a + 1) * cw), (a + 1) - (a - 1) * cw - sa]
        return np.array(b) / den[0], np.array(den) / den[0]

    def highpass(fc: float, q: float) -> tuple[np.ndarray, np.ndarray]:
        w0 = 2 * math.pi * fc / sample_rate
        alpha = math.sin(w0) / (2 * q)
        cw = math.cos(w0)
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        den = [1 + alpha, -2 * cw, 1 - alpha]
        return np.array(b) / den[0], np.array(den) / den[0]

    return [shelf(1500.0, 4.0, 1 / math.sqrt(2)), highpass(38.0, 0.5)]


def k_weighted_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """BS.1770-4 integrated loudness (LUFS) of mono ``audio`` [T]: K-weighting, 400 ms blocks, two gates."""
    x = np.asarray(audio, dtype=np.float64)
    for b, a in _biquad_k_weighting(sample_rate):
        x = signal.lfilter(b, a, x)
    block, step = int(0.4 * sample_rate), int(0.1 * sample_rate)
    if x.size < block:
        power = np.array([np.mean(x ** 2)])
    else:
        starts = np.arange(0, x.size - block + 1, step)
        csum = np.concatenate([[0.0], np.cumsum(x ** 2)])
        power = (csum[starts + block] - csum[starts]) / block
    with np.errstate(divide="ignore"):
        level = -0.691 + 10 * np.log10(power)
    power = power[level > -70.0]
    if power.size == 0:
        return -math.inf
    relative = -0.691 + 10 * math.log10(power.mean()) - 10.0
    with np.errstate(divide="ignore"):
        kept = power[-0.691 + 10 * np.log10(power) > relative]
    return float(-0.691 + 10 * math.log10(kept.mean()))


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS) with pyloudnorm when available, else :func:`k_weighted_loudness`."""
    try:
        import pyloudnorm
    except ImportError:
        return k_weighted_loudness(audio, sample_rate)
    x = np.asarray(audio, dtype=np.float64)
    if x.size < int(0.4 * sample_rate) + 1:
        return k_weighted_loudness(x, sample_rate)
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(x))


def estimate_lag(reference: np.ndarray, degraded: np.ndarray, max_lag: int) -> int:
    """Samples by which ``degraded`` lags ``reference`` (positive = late), by FFT cross-correlation."""
    n = min(reference.size, degraded.size)
    corr = signal.correlate(degraded[:n], reference[:n], mode="full", method="fft")
    lags = np.arange(-n + 1, n)
    window = np.abs(lags) <= max_lag
    return int(lags[window][np.argmax(corr[window])])


def align(reference: np.ndarray, degraded: np.ndarray, sample_rate: int, max_lag_s: float = 0.25) -> np.ndarray:
    """Shift ``degraded`` so it starts in sync with ``reference`` (codec delays are not a quality cue)."""
    lag = estimate_lag(reference, degraded, int(max_lag_s * sample_rate))
    if lag > 0:
        return degraded[lag:]
    if lag < 0:
        return np.concatenate([np.zeros(-lag), degraded])
    return degraded


def prepare_trial(reference: np.ndarray, sample_rate: int, decoded: dict[str, np.ndarray],
                  anchors: bool = True, target_lufs: float = -23.0, max_seconds: Optional[float] = None) -> dict[str, np.ndarray]:
    """Equal-length, loudness-matched mono stimuli of one item, keyed by condition.

    ``decoded`` maps condition label -> audio [T] already at ``sample_rate``. Adds ``reference``
    (the open and hidden reference share one signal) and the two low-pass anchors. Every stimulus
    is gained to ``target_lufs``; if that would clip, all are lowered by the same amount so they
    stay matched. All are trimmed to the shortest and faded in/out over 20 ms so looping is click-free.
    """
    ref = np.asarray(reference, dtype=np.float64)
    stimuli: dict[str, np.ndarray] = {"reference": ref}
    for label, audio in decoded.items():
        stimuli[label] = align(ref, np.asarray(audio, dtype=np.float64), sample_rate)
    if anchors:
        for name, cutoff in ANCHORS.items():
            stimuli[name] = lowpass_anchor(ref, sample_rate, cutoff)
    length = min(s.size for s in stimuli.values())
    if max_seconds:
        length = min(length, int(max_seconds * sample_rate))
    out = {}
    for name, x in stimuli.items():
        x = x[:length]
        loud = integrated_loudness(x, sample_rate)
        gain = 10 ** ((target_lufs - loud) / 20.0) if math.isfinite(loud) else 1.0
        out[name] = x * gain
    peak = max(float(np.max(np.abs(x))) for x in out.values())
    if peak > 0.97:
        out = {k: v * (0.97 / peak) for k, v in out.items()}
    fade = min(int(FADE_S * sample_rate), length // 4)
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, fade))
        for v in out.values():
            v[:fade] *= ramp
            v[-fade:] *= ramp[::-1]
    return {k: v.astype(np.float32) for k, v in out.items()}
