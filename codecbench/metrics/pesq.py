"""PESQ (ITU-T P.862.2 wideband at 16 kHz, P.862 narrowband at 8 kHz) via the ``pesq`` package.

PESQ is only defined at 8 and 16 kHz, so the harness resamples the aligned pair to exactly that
rate (soxr VHQ) instead of letting each caller pick. The library raises ``NoUtterancesError``
when its voice-activity detector finds no speech and ``BufferTooShortError`` below 1/4 s;
harnesses disagree on what to record then (0, 1, skip), so this module turns both into
:class:`MetricUnavailable` with the library's reason and the result becomes NaN + reason.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from codecbench.metrics.base import Metric, MetricInfo, MetricUnavailable
from codecbench.metrics.checks import package_version, require_pair


class _Pesq(Metric):
    """Shared body: ``mode`` is ``"wb"`` or ``"nb"``; values are MOS-LQO (about 1.0 to 4.6)."""

    mode: ClassVar[str] = "wb"

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        import pesq as pesq_lib

        if sample_rate != self.info.sample_rate:
            raise ValueError(f"{self.name} needs {self.info.sample_rate} Hz input, got {sample_rate} Hz")
        require_pair(reference, degraded, sample_rate, self.info.min_seconds)
        try:
            return float(pesq_lib.pesq(sample_rate, reference, degraded, self.mode))
        except (pesq_lib.NoUtterancesError, pesq_lib.BufferTooShortError) as exc:
            raise MetricUnavailable(f"PESQ: {_message(exc)}") from exc

    def implementation(self) -> str:
        return package_version("pesq")


def _message(exc: Exception) -> str:
    """The pesq package stores its messages as bytes."""
    arg = exc.args[0] if exc.args else type(exc).__name__
    return arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)


class PesqWideband(_Pesq):
    """Wideband PESQ (P.862.2) at 16 kHz."""

    name = "pesq_wb"
    mode = "wb"
    info = MetricInfo(sample_rate=16000, higher_is_better=True, unit="MOS", min_seconds=0.25,
                      description="PESQ wideband (P.862.2), pesq package, 16 kHz")


class PesqNarrowband(_Pesq):
    """Narrowband PESQ (P.862 with the P.862.1 mapping) at 8 kHz."""

    name = "pesq_nb"
    mode = "nb"
    info = MetricInfo(sample_rate=8000, higher_is_better=True, unit="MOS", min_seconds=0.25,
                      description="PESQ narrowband (P.862), pesq package, 8 kHz")
