"""The one alignment policy applied to every (reference, degraded) pair before scoring.

Codecs pad, trim and delay their output, and metrics disagree on how to cope (PESQ and ViSQOL
align internally, STOI, SI-SDR and spectral distances do not). So the harness aligns every
pair once, the same way for every metric, and records what it did:

1. Downmix both signals to mono (channel average).
2. Estimate one constant delay at a common *analysis rate* (default: the reference's native
   rate, so a delay in reference samples is recovered exactly): the degraded signal is
   resampled to that rate and the lag is the peak of the FFT cross-correlation, searched only
   within ``+-max_lag_ms`` (a bound keeps periodic signals from locking onto a far peak).
3. For each metric rate, resample both mono signals with soxr VHQ directly from their native
   rates (one resampling step each; metrics sharing a rate share the prepared pair), apply the
   lag converted to that rate (``round(lag_seconds * rate)``) and bring both to a common length.

Lag sign: a positive lag means the degraded signal is late. Only the overlapping part is
scored: a late degraded signal loses its first ``lag`` samples, an early one makes the
reference lose its first ``-lag`` samples. Length policy ``"trim"`` (default) then cuts the
longer signal's tail to the shorter length; ``"pad"`` zero-pads the shorter tail instead.

Minimum lengths: a metric that needs at least ``min_seconds`` (PESQ 0.25 s) must not lose a
pair only because compensating a lag of a few samples cut it below that minimum (a 0.25 s clip
whose codec output is 0.25 s long but 2 samples late). When a rate's trimmed pair is shorter
than the minimum asked for it while both signals are long enough before the shift, the shorter
tail is zero-padded back up to exactly the minimum (at most ``|lag|`` samples; recorded in
:attr:`AlignmentInfo.min_length_padding`). Pairs that are too short before any shift stay as
they are and the metric reports their true length.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, Optional

import numpy as np

from codecbench.errors import MetricStageError
from codecbench.audio import RESAMPLER, resample, to_mono

LENGTH_POLICIES = ("trim", "pad")


class AlignmentError(MetricStageError):
    """Bad policy or unusable input. ``str()`` is one line saying what to change."""


@dataclass(frozen=True)
class AlignmentPolicy:
    """How pairs are aligned; recorded verbatim in the provenance manifest.

    Attributes:
        resampler: resampler name; only soxr VHQ (``codecbench.audio.RESAMPLER``) is implemented.
        max_lag_ms: largest delay searched in either direction; 0 disables delay compensation.
        length_policy: ``"trim"`` (cut the longer tail after delay compensation) or ``"pad"``
            (zero-pad the shorter tail).
        analysis_rate: rate (Hz) at which the lag is estimated; ``None`` = reference native rate.
    """

    resampler: str = RESAMPLER
    max_lag_ms: float = 50.0
    length_policy: str = "trim"
    analysis_rate: Optional[int] = None

    def __post_init__(self) -> None:
        if self.resampler != RESAMPLER:
            raise AlignmentError(f"alignment.resampler '{self.resampler}' is not supported; use '{RESAMPLER}'")
        if not np.isfinite(self.max_lag_ms) or self.max_lag_ms < 0:
            raise AlignmentError(f"alignment.max_lag_ms must be a finite number >= 0, got {self.max_lag_ms}")
        if self.length_policy not in LENGTH_POLICIES:
            raise AlignmentError(f"alignment.length_policy '{self.length_policy}' is unknown; "
                                 f"choose one of: {', '.join(LENGTH_POLICIES)}")
        if self.analysis_rate is not None and self.analysis_rate <= 0:
            raise AlignmentError(f"alignment.analysis_rate must be a positive rate or null, got {self.analysis_rate}")

    def describe(self) -> dict:
        """JSON-ready description for the provenance manifest."""
        return {
            **asdict(self),
            "analysis_rate": self.analysis_rate or "reference native rate",
            "downmix": "mean of channels",
            "lag_estimator": "argmax of FFT cross-correlation within +-max_lag_ms",
            "lag_applied": "round(lag_seconds * metric_rate); overlapping part scored",
            "min_length": "a pair cut below a metric's minimum only by the lag shift is zero-padded back "
                          "to that minimum (at most |lag| samples)",
        }


@dataclass(frozen=True)
class AlignmentInfo:
    """What the alignment did to one pair (stored by the runner next to the scores).

    Attributes:
        lag_samples: delay of the degraded signal at ``analysis_rate`` (positive = late).
        lag_ms: the same delay in milliseconds.
        lag_at_bound: the peak sat on the search bound (the true delay may be larger).
        analysis_rate: rate at which the lag was estimated.
        reference_samples / degraded_samples: lengths before alignment, at their native rates.
        reference_rate / degraded_rate: native rates.
        reference_channels / degraded_channels: channel counts before the downmix.
        aligned_samples: common length at ``analysis_rate`` after alignment.
        aligned_seconds: that length in seconds.
        rate_lengths: ``(rate, common length)`` for every prepared metric rate.
        resampler / length_policy: the policy that was applied.
        trimmed_reference_samples / trimmed_degraded_samples: samples dropped from each signal
            at ``analysis_rate`` (lag shift plus tail trim).
        min_length_padding: ``(rate, zero samples added)`` for rates whose pair was padded back
            up to a metric's minimum length (see the module docstring); empty when none was.
    """

    lag_samples: int
    lag_ms: float
    lag_at_bound: bool
    analysis_rate: int
    reference_samples: int
    degraded_samples: int
    reference_rate: int
    degraded_rate: int
    reference_channels: int
    degraded_channels: int
    aligned_samples: int
    aligned_seconds: float
    rate_lengths: tuple[tuple[int, int], ...]
    resampler: str
    length_policy: str
    trimmed_reference_samples: int = 0
    trimmed_degraded_samples: int = 0
    min_length_padding: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict:
        """Plain dict (``rate_lengths`` as a ``{rate: length}`` mapping) for tables and JSON."""
        out = asdict(self)
        out["rate_lengths"] = {str(rate): length for rate, length in self.rate_lengths}
        out["min_length_padding"] = {str(rate): padded for rate, padded in self.min_length_padding}
        return out


def estimate_lag(reference: np.ndarray, degraded: np.ndarray, max_lag: int) -> tuple[int, bool]:
    """Delay of ``degraded`` relative to ``reference`` (both mono ``[T]``, same rate).

    Returns ``(lag, at_bound)``: ``lag`` maximises ``sum_t ref[t] * deg[t + lag]`` over
    ``|lag| <= max_lag`` (computed for all lags at once by FFT), ``at_bound`` says the maximum
    sat on the edge of the search range. A silent signal gives lag 0.
    """
    n_ref, n_deg = len(reference), len(degraded)
    max_lag = int(min(max_lag, max(n_ref, n_deg) - 1))
    if max_lag <= 0 or not np.any(reference) or not np.any(degraded):
        return 0, False
    from scipy import fft as sp_fft  # here, not at import: the manifest reads the policy on every run

    n_fft = sp_fft.next_fast_len(n_ref + n_deg - 1, real=True)
    spec = sp_fft.rfft(degraded.astype(np.float64), n_fft) * np.conj(sp_fft.rfft(reference.astype(np.float64), n_fft))
    xcorr = sp_fft.irfft(spec, n_fft)  # xcorr[k] = sum_t ref[t] deg[t + k], negative k wrap to the end
    lags = np.arange(-max_lag, max_lag + 1)
    lags = lags[(lags > -n_ref) & (lags < n_deg)]
    best = int(lags[int(np.argmax(xcorr[lags % n_fft]))])
    return best, abs(best) == max_lag


def shift_and_fit(reference: np.ndarray, degraded: np.ndarray, lag: int,
                  length_policy: str = "trim") -> tuple[np.ndarray, np.ndarray]:
    """Apply a lag (positive = degraded late) and bring both mono signals to one length."""
    if lag > 0:
        degraded = degraded[lag:]
    elif lag < 0:
        reference = reference[-lag:]
    n_ref, n_deg = len(reference), len(degraded)
    if length_policy == "trim":
        n = min(n_ref, n_deg)
        return reference[:n], degraded[:n]
    n = max(n_ref, n_deg)
    return np.pad(reference, (0, n - n_ref)), np.pad(degraded, (0, n - n_deg))


def fit_to_minimum(reference: np.ndarray, degraded: np.ndarray, lag: int, min_samples: int,
                   length_policy: str = "trim") -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`shift_and_fit`, but never below ``min_samples`` when only the lag shift caused the loss.

    Returns ``(reference, degraded, padded)``; ``padded`` zero samples were appended to the
    shorter shifted tail to reach exactly ``min_samples`` (0 when no rescue was needed or
    possible, i.e. when one signal is shorter than ``min_samples`` before any shift).
    """
    ref, deg = shift_and_fit(reference, degraded, lag, length_policy)
    if len(ref) >= min_samples or min(len(reference), len(degraded)) < min_samples:
        return ref, deg, 0
    padded = min_samples - len(ref)
    ref_shifted = reference[-lag:] if lag < 0 else reference
    deg_shifted = degraded[lag:] if lag > 0 else degraded
    fit = [np.pad(x[:min_samples], (0, max(0, min_samples - len(x)))) for x in (ref_shifted, deg_shifted)]
    return fit[0], fit[1], padded


def _mono(audio: np.ndarray, label: str) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise AlignmentError(f"{label} audio must be a non-empty [C, T] array, got shape {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise AlignmentError(f"{label} audio contains NaN or infinite samples; check the decoder output")
    return to_mono(audio)


def align_pair(reference: np.ndarray, ref_sr: int, degraded: np.ndarray, deg_sr: int,
               rates: Iterable[Optional[int]], policy: Optional[AlignmentPolicy] = None,
               min_seconds: Optional[Mapping[Optional[int], float]] = None,
               ) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], AlignmentInfo]:
    """Align one pair for every requested metric rate.

    Args:
        reference: ``[C, T]`` (or ``[T]``) float reference at ``ref_sr``.
        degraded: ``[C, T]`` (or ``[T]``) float codec output at ``deg_sr``.
        rates: metric rates; ``None`` means the reference's native rate. Duplicates are merged.
        policy: the alignment policy (default :class:`AlignmentPolicy()`).
        min_seconds: ``{rate: shortest duration a metric at that rate accepts}`` (``None`` key =
            native rate); the lag shift never takes a pair below it (see the module docstring).

    Returns:
        ``({rate: (reference [T], degraded [T])}, AlignmentInfo)`` with float32 mono arrays of
        equal length per rate.
    """
    policy = policy or AlignmentPolicy()
    requested = sorted({int(rate or ref_sr) for rate in rates})
    ref_mono, deg_mono = _mono(reference, "reference"), _mono(degraded, "degraded")
    natives = {"ref": (ref_mono, int(ref_sr)), "deg": (deg_mono, int(deg_sr))}
    cache: dict[tuple[str, int], np.ndarray] = {}

    def at(which: str, rate: int) -> np.ndarray:
        if (which, rate) not in cache:
            signal, native = natives[which]
            cache[(which, rate)] = resample(signal[None], native, rate)[0]
        return cache[(which, rate)]

    analysis_rate = int(policy.analysis_rate or ref_sr)
    max_lag = int(round(policy.max_lag_ms * analysis_rate / 1000.0))
    lag, at_bound = estimate_lag(at("ref", analysis_rate), at("deg", analysis_rate), max_lag)
    lag_seconds = lag / analysis_rate

    minimum: dict[int, int] = {}
    for rate, seconds in (min_seconds or {}).items():
        rate = int(rate or ref_sr)
        if seconds and seconds > 0:
            minimum[rate] = max(minimum.get(rate, 0), math.ceil(seconds * rate - 1e-9))
    prepared: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    padding: list[tuple[int, int]] = []
    for rate in sorted(set(requested) | {analysis_rate}):
        rate_lag = lag if rate == analysis_rate else int(round(lag_seconds * rate))
        ref_fit, deg_fit, padded = fit_to_minimum(at("ref", rate), at("deg", rate), rate_lag,
                                                  minimum.get(rate, 0), policy.length_policy)
        prepared[rate] = (ref_fit, deg_fit)
        if padded and rate in requested:
            padding.append((rate, padded))
    aligned = len(prepared[analysis_rate][0])
    kept_ref = min(aligned, len(at("ref", analysis_rate)) - max(0, -lag))
    kept_deg = min(aligned, len(at("deg", analysis_rate)) - max(0, lag))
    info = AlignmentInfo(
        lag_samples=lag, lag_ms=1000.0 * lag_seconds, lag_at_bound=at_bound, analysis_rate=analysis_rate,
        reference_samples=len(ref_mono), degraded_samples=len(deg_mono),
        reference_rate=int(ref_sr), degraded_rate=int(deg_sr),
        reference_channels=1 if np.ndim(reference) == 1 else int(np.shape(reference)[0]),
        degraded_channels=1 if np.ndim(degraded) == 1 else int(np.shape(degraded)[0]),
        aligned_samples=aligned, aligned_seconds=aligned / analysis_rate,
        rate_lengths=tuple((rate, len(prepared[rate][0])) for rate in requested),
        resampler=policy.resampler, length_policy=policy.length_policy,
        trimmed_reference_samples=len(at("ref", analysis_rate)) - kept_ref,
        trimmed_degraded_samples=len(at("deg", analysis_rate)) - kept_deg,
        min_length_padding=tuple(padding),
    )
    return {rate: prepared[rate] for rate in requested}, info
