"""Periodic validation: codec round trips of held-out clips scored by a mel distance and by
codecbench metrics (PESQ, STOI, ViSQOL...) exactly as the benchmark scores codecs."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from codecbench.errors import ConfigError
from codecbench.training.mel import LogMelSpectrogram
from codecbench.audio import resample

LOG = logging.getLogger(__name__)
MEL_DISTANCE = "mel_distance"


@dataclass
class ValidationResult:
    """Mean score per metric over the clips where it was defined, and per-metric failure counts."""

    scores: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)


def metric_direction(name: str) -> bool:
    """True when higher is better for ``name`` (the trainer's mel distance: lower is better)."""
    if name == MEL_DISTANCE:
        return False
    from codecbench.metrics import METRICS, Metric

    metric: type[Metric] = METRICS.get(name)
    return bool(metric.info.higher_is_better)


def check_metrics(names: Sequence[str], best_metric: str) -> None:
    """Fail fast on unknown metric names (before any training happens)."""
    if names:
        from codecbench.metrics import METRICS

        for name in names:
            if name not in METRICS:
                METRICS.get(name)  # raises the registry's did-you-mean error
    if best_metric != MEL_DISTANCE and best_metric not in names:
        raise ConfigError(f"train.best_metric={best_metric!r} must be 'mel_distance' or one of train.valid_metrics {list(names)}")


class Validator:
    """Scores codec round trips of fixed clips.

    Args:
        sample_rate: rate of the clips and of the codec.
        metric_names: codecbench metric names (each instantiated once).
    """

    def __init__(self, sample_rate: int, metric_names: Sequence[str] = ()) -> None:
        self.sample_rate = sample_rate
        # A codec-independent log-mel (~21 ms window / ~5 ms hop at any rate) so runs of different
        # codecs compare; the training mel loss uses the codec's own STFT instead.
        n_fft = 1 << max(8, int(round(math.log2(sample_rate * 0.0213))))
        self.mel = LogMelSpectrogram(sample_rate, n_fft, n_fft // 4, n_fft, n_mels=80)
        self.metrics = {}
        if metric_names:
            from codecbench.metrics import METRICS

            self.metrics = {name: METRICS.get(name)() for name in metric_names}

    def mel_distance(self, reference: torch.Tensor, degraded: torch.Tensor) -> float:
        """Mean absolute log-mel difference of two ``[T]`` signals."""
        mel = self.mel.to(reference.device)
        return float((mel(reference.view(1, -1)) - mel(degraded.view(1, -1))).abs().mean())

    @torch.no_grad()
    def run(self, reconstruct, raw: Mapping[str, nn.Module], clips: Sequence[tuple[str, torch.Tensor]],
            device: torch.device) -> ValidationResult:
        """Round-trip every clip with ``reconstruct(raw, audio [1, 1, T])`` and average the scores."""
        from codecbench.metrics import MetricUnavailable

        totals: dict[str, list[float]] = {MEL_DISTANCE: []}
        result = ValidationResult()
        for name, audio in clips:
            decoded = reconstruct(raw, audio.to(device)).float().reshape(-1)
            reference = audio.to(device).reshape(-1)
            n = min(reference.numel(), decoded.numel())
            reference, decoded = reference[:n], decoded[:n]
            totals[MEL_DISTANCE].append(self.mel_distance(reference, decoded))
            ref_np, deg_np = reference.cpu().numpy(), decoded.cpu().numpy()
            for metric_name, metric in self.metrics.items():
                rate = metric.info.sample_rate or self.sample_rate
                if n < metric.info.min_seconds * self.sample_rate:
                    result.failures[metric_name] = result.failures.get(metric_name, 0) + 1
                    LOG.info("validation: %s skipped for %s (shorter than %.2f s)", metric_name, name,
                             metric.info.min_seconds)
                    continue
                ref_m = resample(ref_np[None], self.sample_rate, rate)[0]
                deg_m = resample(deg_np[None], self.sample_rate, rate)[0]
                try:
                    totals.setdefault(metric_name, []).append(float(metric.compute(ref_m, deg_m, rate)))
                except MetricUnavailable as exc:
                    result.failures[metric_name] = result.failures.get(metric_name, 0) + 1
                    LOG.info("validation: %s unavailable for %s (%s)", metric_name, name, exc)
        result.scores = {k: float(np.mean(v)) for k, v in totals.items() if v}
        return result
