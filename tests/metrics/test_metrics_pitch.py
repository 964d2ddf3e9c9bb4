"""Pitch metrics on synthetic tones whose F0 error, correlation and voicing are known in advance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codecbench.metrics.pitch import track_f0
from codecbench.scoring import MetricConfigError, build_metrics, cached_metric, score_pair

pytest.importorskip("parselmouth", reason="praat-parselmouth is not installed (pip install 'codecbench[modern]')")

RATE = 16000


def glide(f0: np.ndarray) -> np.ndarray:
    """A sine whose instantaneous frequency follows ``f0`` (Hz per sample)."""
    return (0.5 * np.sin(2 * np.pi * np.cumsum(f0) / RATE)).astype(np.float32)


def constant(hz: float, seconds: float = 2.0) -> np.ndarray:
    return glide(np.full(int(seconds * RATE), hz))


def score(name: str, reference: np.ndarray, degraded: np.ndarray) -> float:
    return cached_metric(name).compute(reference, degraded, RATE)


@pytest.mark.parametrize("cents", [0.0, 50.0, -100.0, 300.0])
def test_f0_rmse_of_a_transposed_tone_is_the_transposition(cents: float) -> None:
    reference = constant(200.0)
    degraded = constant(200.0 * 2.0 ** (cents / 1200.0))
    assert score("f0_rmse", reference, degraded) == pytest.approx(abs(cents), abs=0.2)


def test_f0_rmse_mixes_errors_as_a_root_mean_square() -> None:
    # first half 100 cents sharp, second half exact: RMS = sqrt(100^2 / 2) = 70.7 cents
    half = RATE
    reference = constant(220.0)
    degraded = np.concatenate([constant(220.0 * 2 ** (100 / 1200), 1.0), constant(220.0, 1.0)])
    assert score("f0_rmse", reference, degraded) == pytest.approx(100 / math.sqrt(2), abs=3.0)
    assert len(degraded) == 2 * half


def test_f0_corr_is_one_for_a_scaled_glide_and_minus_one_for_a_mirrored_one() -> None:
    rising = np.linspace(150.0, 300.0, 2 * RATE)
    reference = glide(rising)
    assert score("f0_corr", reference, glide(rising * 2 ** (50 / 1200))) == pytest.approx(1.0, abs=1e-4)
    assert score("f0_corr", reference, glide(rising[::-1])) == pytest.approx(-1.0, abs=1e-3)


def test_f0_corr_of_constant_pitch_is_unavailable_not_a_number() -> None:
    result = score_pair(constant(200.0)[None], RATE, constant(210.0)[None], RATE, ["f0_corr"]).results["f0_corr"]
    assert math.isnan(result.value) and "constant" in result.reason


def test_vuv_f1_counts_the_voiced_frames_the_output_lost() -> None:
    reference = constant(200.0)
    assert score("vuv_f1", reference, reference) == 1.0
    degraded = reference.copy()
    degraded[RATE:] = 0.0  # the second half unvoiced: precision 1, recall 1/2, F1 = 2/3
    assert score("vuv_f1", reference, degraded) == pytest.approx(2 / 3, abs=0.01)
    noise = (0.1 * np.random.default_rng(0).standard_normal(len(reference))).astype(np.float32)
    assert score("vuv_f1", reference, noise) == pytest.approx(0.0, abs=0.02)


def test_unvoiced_reference_and_silent_output_are_unavailable_with_a_reason() -> None:
    noise = (0.1 * np.random.default_rng(1).standard_normal(2 * RATE)).astype(np.float32)
    silence = np.zeros(2 * RATE, np.float32)
    results = score_pair(noise[None], RATE, constant(200.0)[None], RATE, ["f0_rmse", "vuv_f1"]).results
    assert all(math.isnan(r.value) and "no voiced frames" in r.reason for r in results.values())
    rmse = score_pair(constant(200.0)[None], RATE, silence[None], RATE, ["f0_rmse", "vuv_f1"]).results
    assert math.isnan(rmse["f0_rmse"].value) and "0 frames voiced in both" in rmse["f0_rmse"].reason
    assert rmse["vuv_f1"].value == 0.0  # a silent output misses every voiced frame: a real, bad score


def test_options_reach_the_tracker_and_the_label() -> None:
    (metric,) = build_metrics([("f0_rmse", {"f0_max": 300.0})])
    assert metric.label() == "f0_rmse[f0_max=300.0]"
    assert metric.identity()["implementation"].startswith("praat-parselmouth==")
    # above a 300 Hz ceiling Praat reports a 400 Hz tone an octave down: 1200 cents off a true 400 Hz track
    reference = constant(400.0)
    assert track_f0(reference, RATE, 75.0, 300.0, 0.01) == pytest.approx(200.0, abs=0.1)
    assert len(track_f0(reference, RATE, 75.0, 600.0, 0.02)) == 99  # 2 s at a 20 ms hop
    assert cached_metric("f0_rmse").compute(reference, constant(400.0 * 2 ** (10 / 1200)), RATE) == \
        pytest.approx(10.0, abs=0.2)
    with pytest.raises(MetricConfigError, match="f0_min < f0_max"):
        build_metrics([("f0_rmse", {"f0_min": 500.0, "f0_max": 300.0})])


def test_the_three_pitch_metrics_track_a_pair_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from codecbench.metrics import pitch

    calls: list[int] = []
    real = pitch.track_f0

    def counting(signal: np.ndarray, *args: float) -> np.ndarray:
        calls.append(len(signal))
        return real(signal, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(pitch, "track_f0", counting)
    monkeypatch.setattr(pitch, "_LAST", None)
    reference, degraded = constant(200.0), constant(200.0 * 2 ** (50 / 1200))
    alone = {name: score(name, reference, degraded) for name in ("f0_rmse", "vuv_f1")}
    assert len(calls) == 2  # reference and degraded, once for both metrics
    assert score("f0_rmse", reference, constant(220.0)) > alone["f0_rmse"] and len(calls) == 4  # a new pair
    assert build_metrics([("f0_rmse", {"f0_max": 300.0})])[0].compute(reference, degraded, RATE) == \
        pytest.approx(alone["f0_rmse"], abs=1.0) and len(calls) == 6  # other settings: tracked again
