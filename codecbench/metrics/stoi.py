"""STOI and extended STOI via ``pystoi``, computed at its native 10 kHz.

Rate policy: the harness resamples the aligned pair to 10 kHz with soxr VHQ (the same
resampler as every other metric) and calls pystoi with ``fs=10000``, so pystoi's own internal
resampler is never used and STOI/ESTOI share one prepared pair.

pystoi drops silent frames and, when fewer than 30 frames (~0.4 s of active speech) remain,
warns and returns 1e-5. That value is a placeholder, so it becomes :class:`MetricUnavailable`.

STOI only looks at pystoi's 15 one-third-octave bands (centres 150 Hz to 3.8 kHz). A reference
with no energy there (DC only, hum, digital silence) leaves pystoi correlating window leakage and
rounding noise (DC against itself scored 0.05), so such a reference is unavailable too: after
removing its mean, its energy inside the bands (full-length Hann-windowed spectrum) must reach
one 16-bit LSB RMS and :data:`MIN_BAND_FRACTION` of its total energy.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from codecbench.metrics.base import Metric, MetricInfo, MetricUnavailable
from codecbench.metrics.checks import SILENCE_PEAK, package_version, require_pair

STOI_RATE = 10000

#: Smallest share of the (zero-mean) reference energy inside STOI's bands: -40 dB.
MIN_BAND_FRACTION = 1e-4


def speech_band_energy(reference: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """``(rms, fraction)`` of the zero-mean reference inside pystoi's one-third-octave bands.

    The band edges come from pystoi's own constants (lowest centre ``MINFREQ``, ``NUMBAND``
    bands); a full-length Hann window keeps a DC offset or 50 Hz hum from leaking into them.
    """
    import importlib

    constants = importlib.import_module("pystoi.stoi")  # the package re-exports stoi() under the same name
    low = constants.MINFREQ * 2.0 ** (-1.0 / 6.0)
    high = constants.MINFREQ * 2.0 ** ((2.0 * (constants.NUMBAND - 1) + 1.0) / 6.0)
    signal = reference.astype(np.float64) - np.mean(reference, dtype=np.float64)
    window = np.hanning(len(signal))
    power = np.abs(np.fft.rfft(signal * window)) ** 2
    freqs = np.fft.rfftfreq(len(signal), 1.0 / sample_rate)
    total = float(np.sum(power))
    band = float(np.sum(power[(freqs >= low) & (freqs <= high)]))
    # Parseval: one-sided power sums to about half of len * sum((w x)^2); normalise by the window energy.
    rms = float(np.sqrt(2.0 * band / (len(signal) * max(float(np.sum(window ** 2)), 1e-30))))
    return rms, (band / total if total > 0.0 else 0.0)


@dataclass(frozen=True)
class StoiReference:
    """An aligned reference at 10 kHz with its band-energy check (:func:`speech_band_energy`)."""

    samples: np.ndarray
    band_rms: float
    band_fraction: float


class _StoiBase(Metric):
    extended: ClassVar[bool] = False
    shares_reference = True

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        return self.compute_prepared(self.prepare_reference(reference, sample_rate), degraded, sample_rate)

    def prepare_reference(self, reference: np.ndarray, sample_rate: int) -> StoiReference:
        """The band-energy check of the reference, done once (pystoi itself is called per pair)."""
        rms, fraction = speech_band_energy(reference, sample_rate)
        return StoiReference(reference, rms, fraction)

    def compute_prepared(self, state: StoiReference, degraded: np.ndarray, sample_rate: int) -> float:
        from pystoi import stoi

        reference = state.samples
        if sample_rate != STOI_RATE:
            raise ValueError(f"{self.name} needs {STOI_RATE} Hz input, got {sample_rate} Hz")
        require_pair(reference, degraded, sample_rate, self.info.min_seconds, degraded_may_be_silent=True)
        rms, fraction = state.band_rms, state.band_fraction
        if rms < SILENCE_PEAK or fraction < MIN_BAND_FRACTION:
            share = f"{10.0 * np.log10(fraction):.0f} dB" if fraction > 0.0 else "none"
            raise MetricUnavailable(f"STOI: reference has no speech energy in STOI's 150 Hz-3.8 kHz bands "
                                    f"(band RMS {rms:.1e}, {share} of its energy; e.g. DC, hum or silence only)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = float(stoi(reference.astype(np.float64), degraded.astype(np.float64), sample_rate,
                               extended=self.extended))
        if any("Not enough STFT frames" in str(w.message) for w in caught):
            raise MetricUnavailable("STOI: fewer than 30 non-silent frames (about 0.4 s of active speech)")
        return value

    def implementation(self) -> str:
        return package_version("pystoi")


class Stoi(_StoiBase):
    """Short-time objective intelligibility (Taal et al. 2011), 0..1."""

    name = "stoi"
    extended = False
    info = MetricInfo(sample_rate=STOI_RATE, higher_is_better=True, unit="", min_seconds=0.4,
                      description="STOI (pystoi) at 10 kHz")


class ExtendedStoi(_StoiBase):
    """Extended STOI (Jensen & Taal 2016), robust to modulated maskers; roughly 0..1."""

    name = "estoi"
    extended = True
    info = MetricInfo(sample_rate=STOI_RATE, higher_is_better=True, unit="", min_seconds=0.4,
                      description="Extended STOI (pystoi) at 10 kHz")
