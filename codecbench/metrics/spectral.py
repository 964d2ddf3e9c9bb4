"""Cheap deterministic distances: SI-SDR, log-spectral distance, mel distance, multi-resolution STFT.

All four run in numpy (float64) on CPU and are scored at the reference's **native rate**
(``MetricInfo.sample_rate = None``): the degraded signal is resampled to the reference rate by
the alignment step, so nothing above the reference's Nyquist is invented or thrown away. STFT
sizes are therefore in samples at that rate (e.g. 2048 samples = 42.7 ms at 48 kHz); see
:mod:`codecbench.metrics.dsp` for the STFT conventions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codecbench.metrics.base import Metric, MetricInfo, MetricUnavailable
from codecbench.metrics.checks import require_pair
from codecbench.metrics.dsp import mel_filterbank, stft_magnitude

#: Bumped whenever a formula or constant below changes (part of each metric's identity).
SPECTRAL_VERSION = "codecbench-spectral-1"

#: SI-SDR ceiling: float64 cannot resolve a residual below ~1e-15 of the target energy.
SI_SDR_MAX_DB = 150.0


@dataclass(frozen=True)
class PreparedSpectrum:
    """An aligned reference ``[T]`` and its features, shared by the pairs scored against it."""

    reference: np.ndarray
    features: np.ndarray


class _Native(Metric):
    def implementation(self) -> str:
        return SPECTRAL_VERSION


def _positive_int(metric: str, key: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{metric} option {key} must be a positive integer, got {value!r}")
    return value


class SiSdr(_Native):
    """Scale-invariant SDR (Le Roux et al., 2019), in dB.

    Both signals are made zero-mean; the reference is scaled by the least-squares gain
    ``a = <d, r> / <r, r>``; SI-SDR = ``10 log10(|a r|^2 / |d - a r|^2)``. Identical signals
    reach the :data:`SI_SDR_MAX_DB` ceiling. Silent reference or degraded -> unavailable.
    """

    name = "si_sdr"
    info = MetricInfo(sample_rate=None, higher_is_better=True, unit="dB",
                      description="scale-invariant SDR, zero-mean, native reference rate")

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        require_pair(reference, degraded, sample_rate)
        ref = reference.astype(np.float64) - np.mean(reference, dtype=np.float64)
        deg = degraded.astype(np.float64) - np.mean(degraded, dtype=np.float64)
        ref_energy = float(np.dot(ref, ref))
        if ref_energy == 0.0:
            raise MetricUnavailable("reference is constant (zero energy after removing the mean)")
        target = (float(np.dot(deg, ref)) / ref_energy) * ref
        target_energy = float(np.dot(target, target))
        if target_energy == 0.0:
            raise MetricUnavailable("degraded signal is orthogonal to the reference (SI-SDR is -inf)")
        noise = deg - target
        noise_energy = max(float(np.dot(noise, noise)), target_energy * 10.0 ** (-SI_SDR_MAX_DB / 10.0))
        return float(10.0 * np.log10(target_energy / noise_energy))


class LogSpectralDistance(_Native):
    """Log-spectral distance, the bandwidth-extension convention (e.g. NU-Wave, AudioSR).

    ``LSD = mean_frames sqrt(mean_bins (log10 P_ref - log10 P_deg)^2)`` with power spectra
    ``P = |STFT|^2 + 1e-10`` (the floor is -100 dB re full scale, so silent frames compare
    equal instead of producing -inf). STFT: ``n_fft`` (default 2048) = Hann window length,
    hop ``hop`` (default 512), at the reference's native rate. Unit: log10 power ("Bel").
    A digitally silent reference (peak below one 16-bit LSB) is unavailable: against it the
    distance only measures how loud the output is relative to the floor, not its fidelity.
    A silent output against a real reference is scored (it is a legitimate, bad result).
    """

    name = "lsd"
    info = MetricInfo(sample_rate=None, higher_is_better=False, unit="",
                      description="log-spectral distance, n_fft 2048 / hop 512 Hann, native rate")
    floor = 1e-10
    shares_reference = True

    def __init__(self, n_fft: int = 2048, hop: int = 512) -> None:
        self.n_fft = _positive_int(self.name, "n_fft", n_fft)
        self.hop = _positive_int(self.name, "hop", hop)

    def options(self) -> dict:
        return {"n_fft": self.n_fft, "hop": self.hop}

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        return self.compute_prepared(self.prepare_reference(reference, sample_rate), degraded, sample_rate)

    def prepare_reference(self, reference: np.ndarray, sample_rate: int) -> PreparedSpectrum:
        """The reference's log power spectrogram ``[frames, n_fft // 2 + 1]``."""
        log_ref = np.log10(stft_magnitude(reference, self.n_fft, self.hop, self.n_fft) ** 2 + self.floor)
        return PreparedSpectrum(reference, log_ref)

    def compute_prepared(self, state: PreparedSpectrum, degraded: np.ndarray, sample_rate: int) -> float:
        require_pair(state.reference, degraded, sample_rate, degraded_may_be_silent=True)
        log_deg = np.log10(stft_magnitude(degraded, self.n_fft, self.hop, self.n_fft) ** 2 + self.floor)
        return float(np.mean(np.sqrt(np.mean((state.features - log_deg) ** 2, axis=-1))))


class MelDistance(_Native):
    """Mean absolute difference of natural-log mel magnitude spectrograms.

    STFT ``n_fft`` (default 1024) = Hann window length, hop ``hop`` (default 256); ``n_mels``
    (default 80) Slaney-scale, Slaney-normalised filters from 0 Hz to the reference's Nyquist,
    applied to the magnitude; ``log(max(mel, 1e-5))`` (HiFi-GAN's mel-loss convention).
    A digitally silent reference is unavailable (the value would measure the floor), a silent
    output is scored.
    """

    name = "mel_distance"
    info = MetricInfo(sample_rate=None, higher_is_better=False, unit="",
                      description="L1 of log-mel (80 mels, n_fft 1024, hop 256), native rate")
    floor = 1e-5
    shares_reference = True

    def __init__(self, n_fft: int = 1024, hop: int = 256, n_mels: int = 80) -> None:
        self.n_fft = _positive_int(self.name, "n_fft", n_fft)
        self.hop = _positive_int(self.name, "hop", hop)
        self.n_mels = _positive_int(self.name, "n_mels", n_mels)

    def options(self) -> dict:
        return {"n_fft": self.n_fft, "hop": self.hop, "n_mels": self.n_mels}

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        return self.compute_prepared(self.prepare_reference(reference, sample_rate), degraded, sample_rate)

    def prepare_reference(self, reference: np.ndarray, sample_rate: int) -> PreparedSpectrum:
        """The reference's log mel spectrogram ``[frames, n_mels]``."""
        bank = mel_filterbank(int(sample_rate), self.n_fft, self.n_mels)
        mel_ref = stft_magnitude(reference, self.n_fft, self.hop, self.n_fft) @ bank.T
        return PreparedSpectrum(reference, np.log(np.maximum(mel_ref, self.floor)))

    def compute_prepared(self, state: PreparedSpectrum, degraded: np.ndarray, sample_rate: int) -> float:
        require_pair(state.reference, degraded, sample_rate, degraded_may_be_silent=True)
        bank = mel_filterbank(int(sample_rate), self.n_fft, self.n_mels)
        mel_deg = stft_magnitude(degraded, self.n_fft, self.hop, self.n_fft) @ bank.T
        return float(np.mean(np.abs(state.features - np.log(np.maximum(mel_deg, self.floor)))))


class MultiResolutionStftDistance(_Native):
    """Multi-resolution STFT distance (Parallel WaveGAN's auxiliary loss, evaluated as a metric).

    For each resolution ``(n_fft, hop, win_length)`` in :attr:`RESOLUTIONS` (PWG's
    (1024, 120, 600), (2048, 240, 1200), (512, 50, 240)), with magnitudes
    ``M = sqrt(max(|X|^2, 1e-7))``: spectral convergence ``||M_ref - M_deg||_F / ||M_ref||_F``
    plus log-magnitude distance ``mean |log M_ref - log M_deg|``. The result is the mean over
    resolutions of that sum. Silent reference -> unavailable (convergence is relative to it).
    """

    name = "mrstft_distance"
    info = MetricInfo(sample_rate=None, higher_is_better=False, unit="",
                      description="multi-resolution STFT (SC + log-mag), PWG resolutions, native rate")
    RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))
    floor = 1e-7

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        require_pair(reference, degraded, sample_rate, degraded_may_be_silent=True)
        total = 0.0
        for n_fft, hop, win in self.RESOLUTIONS:
            mag_ref = np.sqrt(np.maximum(stft_magnitude(reference, n_fft, hop, win) ** 2, self.floor))
            mag_deg = np.sqrt(np.maximum(stft_magnitude(degraded, n_fft, hop, win) ** 2, self.floor))
            convergence = np.linalg.norm(mag_ref - mag_deg) / np.linalg.norm(mag_ref)
            log_mag = np.mean(np.abs(np.log(mag_ref) - np.log(mag_deg)))
            total += float(convergence + log_mag)
        return total / len(self.RESOLUTIONS)
