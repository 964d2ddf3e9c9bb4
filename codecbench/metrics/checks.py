"""Input checks shared by the metrics: undefined cases become :class:`MetricUnavailable`.

Libraries react to silence and short input in different ways (PESQ raises, pystoi returns
1e-5 with a warning, ViSQOL speech mode returns NaN or 5.0), so every metric rejects these
cases itself, with a reason, before calling its library.
"""

from __future__ import annotations

import math
import os
from importlib import metadata
from pathlib import Path
from typing import Optional

import numpy as np

from codecbench.metrics.base import MetricUnavailable

#: Peak level below which a signal counts as digitally silent: one LSB of 16-bit PCM.
SILENCE_PEAK = 2.0 ** -15


def require_pair(reference: np.ndarray, degraded: np.ndarray, sample_rate: int, min_seconds: float = 0.0,
                 *, degraded_may_be_silent: bool = False, reference_may_be_silent: bool = False) -> None:
    """Raise :class:`MetricUnavailable` for mismatched, too short or silent input.

    Args:
        reference, degraded: aligned mono ``[T]`` arrays.
        sample_rate: their rate (Hz).
        min_seconds: shortest duration the metric is defined for.
        degraded_may_be_silent / reference_may_be_silent: metrics that score silence
            meaningfully (e.g. log-spectral distances) pass True.
    """
    if reference.shape != degraded.shape or reference.ndim != 1:
        raise ValueError(f"metric inputs must be aligned mono [T] arrays of equal length, "
                         f"got {reference.shape} and {degraded.shape}")
    if len(reference) == 0 or len(reference) < min_seconds * sample_rate:
        raise MetricUnavailable(too_short(len(reference), sample_rate, min_seconds))
    if not reference_may_be_silent and float(np.max(np.abs(reference))) < SILENCE_PEAK:
        raise MetricUnavailable("reference is silent (peak below one 16-bit LSB)")
    if not degraded_may_be_silent and float(np.max(np.abs(degraded))) < SILENCE_PEAK:
        raise MetricUnavailable("degraded signal is silent (peak below one 16-bit LSB)")


def too_short(samples: int, sample_rate: int, min_seconds: float) -> str:
    """Reason for a pair below a metric's minimum, with exact lengths (a rounded "0.250 s" hid 0.2499 s)."""
    need = math.ceil(min_seconds * sample_rate - 1e-9)
    return (f"aligned pair is {samples} samples ({samples / sample_rate:.4f} s) at {sample_rate} Hz, shorter than "
            f"the {min_seconds:g} s minimum ({need} samples)")


def model_weights(name: str, explicit: Optional[str]) -> Path:
    """The local weights ``name`` (``explicit`` path, else the HF cache), or :class:`MetricUnavailable`
    with the one line naming what to fetch (the pair is NaN, the run goes on)."""
    from codecbench import weights

    path = weights.resolve(name, explicit)
    if path is None:
        raise MetricUnavailable(weights.missing_message(name, explicit, "weights"))
    return path


def package_version(distribution: str) -> str:
    """``name==version`` of an installed distribution, recorded in metric identities."""
    try:
        return f"{distribution}=={metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        return f"{distribution}==unknown"


#: Set by :func:`codecbench.scoring.init_worker`: threads one metric worker may use (0: library default).
THREADS_VARIABLE = "CODECBENCH_METRIC_THREADS"


def worker_threads() -> int:
    """Threads a model backend (onnxruntime, torch) may use in this process; 0 = its own default.

    Metric workers get one core each (``--jobs`` processes), so neural metrics size their
    intra-op thread pools from this instead of taking every core per process.
    """
    try:
        return max(0, int(os.environ.get(THREADS_VARIABLE, "0")))
    except ValueError:
        return 0
