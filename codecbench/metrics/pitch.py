"""Pitch metrics from one DSP tracker: F0 error in cents, F0 correlation and voicing F1.

The tracker is Praat's autocorrelation pitch analysis (``Sound: To Pitch (ac)``, Boersma 1993)
through ``praat-parselmouth``, which ships manylinux wheels; ``pyworld`` only ships an sdist for
CPython 3.11 and needs a compiler (docs/metrics.md). Both signals of the aligned pair are
analysed with the same settings at 16 kHz, so their frames share times; a frame is voiced when
Praat reports a non-zero F0 for it. The harness's alignment (one constant lag) is the only time
alignment: there is no DTW, so a codec that changes timing is penalised here, as in the other
full-reference metrics.

* ``f0_rmse``: RMS of ``1200 log2(f0_deg / f0_ref)`` over the frames voiced in both (cents);
* ``f0_corr``: Pearson correlation of ``f0_ref`` and ``f0_deg`` (Hz) over the same frames;
* ``vuv_f1``: F1 of the degraded signal's voiced frames against the reference's (the reference
  voicing is the truth, "voiced" the positive class).

A constant-pitch reference makes the correlation undefined and a reference without voiced
frames makes all three undefined (a reference F0 spread under :data:`MIN_SPREAD_CENTS` counts as
constant): those become :class:`MetricUnavailable`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import numpy as np

from codecbench.metrics.base import Metric, MetricInfo, MetricUnavailable
from codecbench.metrics.checks import package_version, require_pair

PITCH_RATE = 16000

#: Below this standard deviation (cents) the reference pitch counts as constant: the tracker's own
#: jitter on a steady tone (hundredths of a cent) would otherwise decide the correlation's sign.
MIN_SPREAD_CENTS = 1.0

# The last pair's tracks: f0_rmse, f0_corr and vuv_f1 of one pair track it once, not three times.
_LAST: Optional[tuple[str, "PitchTracks"]] = None


@dataclass(frozen=True)
class PitchTracks:
    """F0 per frame of a pair (Hz, 0 where unvoiced), ``[frames]`` each, on the same frame times."""

    reference: np.ndarray
    degraded: np.ndarray

    @property
    def both_voiced(self) -> np.ndarray:
        return (self.reference > 0) & (self.degraded > 0)


def track_f0(signal: np.ndarray, sample_rate: int, f0_min: float, f0_max: float, time_step: float) -> np.ndarray:
    """Praat's autocorrelation F0 track of a mono ``[T]`` signal: ``[frames]`` Hz, 0 where unvoiced."""
    try:
        import parselmouth
    except ImportError as exc:
        raise MetricUnavailable(f"praat-parselmouth is not installed ({exc}); pip install 'codecbench[modern]'") from exc
    sound = parselmouth.Sound(signal.astype(np.float64), sampling_frequency=float(sample_rate))
    pitch = sound.to_pitch_ac(time_step=time_step, pitch_floor=f0_min, pitch_ceiling=f0_max)
    return np.asarray(pitch.selected_array["frequency"], dtype=np.float64)


class _Pitch(Metric):
    """Shared options and tracking of the three pitch metrics.

    Args:
        f0_min: pitch floor in Hz (Praat's default 75; the analysis window is 3 periods of it).
        f0_max: pitch ceiling in Hz (Praat's default 600).
        time_step: frame hop in seconds (Praat's default for a 75 Hz floor, 0.75 / floor).
    """

    def __init__(self, f0_min: float = 75.0, f0_max: float = 600.0, time_step: float = 0.01) -> None:
        if not 0 < f0_min < f0_max <= PITCH_RATE / 2:
            raise ValueError(f"{self.name} needs 0 < f0_min < f0_max <= {PITCH_RATE // 2} Hz, "
                             f"got f0_min={f0_min}, f0_max={f0_max}")
        if not 0 < time_step <= 0.1:
            raise ValueError(f"{self.name} option time_step must be in (0, 0.1] seconds, got {time_step}")
        self.f0_min = float(f0_min)
        self.f0_max = float(f0_max)
        self.time_step = float(time_step)

    def options(self) -> dict:
        return {"f0_min": self.f0_min, "f0_max": self.f0_max, "time_step": self.time_step}

    def implementation(self) -> str:
        return package_version("praat-parselmouth")

    def tracks(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> PitchTracks:
        if sample_rate != PITCH_RATE:
            raise ValueError(f"{self.name} needs {PITCH_RATE} Hz input, got {sample_rate} Hz")
        require_pair(reference, degraded, sample_rate, self.info.min_seconds, degraded_may_be_silent=True)
        global _LAST
        digest = hashlib.sha1(f"{self.f0_min}:{self.f0_max}:{self.time_step}:{reference.dtype}:{len(reference)}".encode())
        digest.update(np.ascontiguousarray(reference).tobytes())
        digest.update(np.ascontiguousarray(degraded).tobytes())
        key = digest.hexdigest()
        if _LAST is None or _LAST[0] != key:
            ref = track_f0(reference, sample_rate, self.f0_min, self.f0_max, self.time_step)
            deg = track_f0(degraded, sample_rate, self.f0_min, self.f0_max, self.time_step)
            assert ref.shape == deg.shape, "equal-length signals must give equal frame counts"
            _LAST = (key, PitchTracks(ref, deg))
        tracks = _LAST[1]
        if not np.any(tracks.reference > 0):
            raise MetricUnavailable(f"{self.name}: the reference has no voiced frames "
                                    f"(F0 {self.f0_min:g}-{self.f0_max:g} Hz)")
        return tracks

    def voiced_in_both(self, tracks: PitchTracks, need: int) -> tuple[np.ndarray, np.ndarray]:
        both = tracks.both_voiced
        if int(np.sum(both)) < need:
            raise MetricUnavailable(f"{self.name}: {int(np.sum(both))} frames voiced in both signals, need {need}")
        return tracks.reference[both], tracks.degraded[both]


class F0Rmse(_Pitch):
    """RMS F0 error in cents over frames voiced in both signals (0 = same pitch)."""

    name = "f0_rmse"
    info = MetricInfo(sample_rate=PITCH_RATE, higher_is_better=False, unit="cents", min_seconds=0.1,
                      description="RMS F0 error in cents over frames voiced in both (Praat ac, parselmouth), 16 kHz")

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        ref, deg = self.voiced_in_both(self.tracks(reference, degraded, sample_rate), need=1)
        return float(np.sqrt(np.mean((1200.0 * np.log2(deg / ref)) ** 2)))


class F0Correlation(_Pitch):
    """Pearson correlation of the F0 tracks (Hz) over frames voiced in both, -1..1."""

    name = "f0_corr"
    info = MetricInfo(sample_rate=PITCH_RATE, higher_is_better=True, unit="", min_seconds=0.1,
                      description="Pearson correlation of F0 over frames voiced in both (Praat ac, parselmouth), 16 kHz")

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        ref, deg = self.voiced_in_both(self.tracks(reference, degraded, sample_rate), need=2)
        spread = float(np.std(1200.0 * np.log2(ref / np.mean(ref))))
        if spread < MIN_SPREAD_CENTS:
            raise MetricUnavailable(f"{self.name}: the reference F0 is constant over the voiced frames "
                                    f"(spread {spread:.2f} cents < {MIN_SPREAD_CENTS:g}), correlation undefined")
        if float(np.std(deg)) == 0.0:
            raise MetricUnavailable(f"{self.name}: the degraded F0 is exactly constant, correlation undefined")
        return float(np.corrcoef(ref, deg)[0, 1])


class VoicingF1(_Pitch):
    """F1 of the degraded signal's voiced/unvoiced decisions against the reference's, 0..1."""

    name = "vuv_f1"
    info = MetricInfo(sample_rate=PITCH_RATE, higher_is_better=True, unit="", min_seconds=0.1,
                      description="F1 of voiced frames, degraded vs reference (Praat ac, parselmouth), 16 kHz")

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        tracks = self.tracks(reference, degraded, sample_rate)
        truth, guess = tracks.reference > 0, tracks.degraded > 0
        hits = float(np.sum(truth & guess))
        return 2.0 * hits / float(np.sum(truth) + np.sum(guess))
