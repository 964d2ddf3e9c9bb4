"""STOI and extended STOI via ``pystoi``, computed at its native 10 kHz.

Rate policy: the harness resamples the aligned pair to 10 kHz with soxr VHQ (the same
resampler as every other metric) and calls pystoi with ``fs=10000``, so pystoi's own internal
resampler is never used and STOI/ESTOI share one prepared pair.

pystoi drops silent frames and, when fewer than 30 frames (~0.4 s of active speech) remain,
warns and returns 1e-5. That value is a placeholder, so it becomes :class:`MetricUnavailable`.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np

from codecbench.metrics.base import Metric, MetricInfo, MetricUnavailable
from codecbench.metrics.checks import package_version, require_pair

STOI_RATE = 10000


class _StoiBase(Metric):
    extended: ClassVar[bool] = False

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        from pystoi import stoi

        if sample_rate != STOI_RATE:
            raise ValueError(f"{self.name} needs {STOI_RATE} Hz input, got {sample_rate} Hz")
        require_pair(reference, degraded, sample_rate, self.info.min_seconds, degraded_may_be_silent=True)
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
