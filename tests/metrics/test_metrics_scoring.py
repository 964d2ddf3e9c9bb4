"""score_pair / build_metrics: NaN + reason, best values, option errors, process pools."""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from codecbench.metrics import METRICS, Metric, MetricInfo, MetricUnavailable
from codecbench.scoring import MetricConfigError, build_metrics, cached_metric, init_worker, score_pair


def speechlike(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Harmonic 'voiced' bursts with a syllable-rate envelope (PESQ's VAD accepts it)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None)
    return (0.2 * envelope * voiced + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def test_every_registered_metric_builds_and_declares_info() -> None:
    for metric in build_metrics(METRICS.names()):
        assert isinstance(metric.info, MetricInfo) and metric.info.unit is not None
        assert metric.identity()["metric"] == metric.name and metric.identity()["implementation"]


def test_identical_signals_give_best_values() -> None:
    ref = speechlike(2.0, 16000)
    names = ["si_sdr", "lsd", "mel_distance", "mrstft_distance", "stoi", "estoi", "pesq_wb"]
    scores = score_pair(ref[None], 16000, ref[None], 16000, names)
    values = scores.values()
    assert values["si_sdr"] >= 140
    assert values["lsd"] == 0.0 and values["mel_distance"] == 0.0 and values["mrstft_distance"] == 0.0
    assert values["stoi"] == pytest.approx(1.0) and values["estoi"] == pytest.approx(1.0)
    assert values["pesq_wb"] > 4.5
    noisy = ref + 0.05 * np.random.default_rng(1).standard_normal(len(ref)).astype(np.float32)
    worse = score_pair(ref[None], 16000, noisy[None], 16000, names).values()
    assert worse["si_sdr"] < 20 and worse["lsd"] > 0.1 and worse["stoi"] < 1.0 and worse["pesq_wb"] < 4.0


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # pesq divides silence by its zero peak
def test_silence_gives_nan_and_reason_for_pesq(monkeypatch: pytest.MonkeyPatch) -> None:
    silence = np.zeros((1, 32000), np.float32)
    scores = score_pair(silence, 16000, silence, 16000, ["pesq_wb", "pesq_nb", "lsd"])
    for name in ("pesq_wb", "pesq_nb"):
        assert math.isnan(scores.results[name].value) and "silent" in scores.results[name].reason
    # a silent reference gives no spectrum to compare against (issue 9): NaN + reason, not 0.0
    assert math.isnan(scores.results["lsd"].value) and "reference is silent" in scores.results["lsd"].reason
    # without the harness's own silence check, the library's NoUtterancesError is mapped too
    monkeypatch.setattr("codecbench.metrics.checks.SILENCE_PEAK", 0.0)
    with pytest.raises(MetricUnavailable, match="No utterances"):
        cached_metric("pesq_wb").compute(silence[0], silence[0], 16000)


def test_short_input_gives_nan_and_reason() -> None:
    short = speechlike(0.5, 48000)[None]
    scores = score_pair(short, 48000, short, 48000, ["visqol_audio", "visqol_speech", "pesq_wb"])
    for name in ("visqol_audio", "visqol_speech"):
        assert math.isnan(scores.results[name].value) and "shorter than the 1 s minimum" in scores.results[name].reason
    assert scores.results["pesq_wb"].ok
    tiny = speechlike(0.1, 16000)[None]
    assert "minimum" in score_pair(tiny, 16000, tiny, 16000, ["pesq_wb"]).results["pesq_wb"].reason
    # mostly silent: fewer than 30 active STOI frames
    sparse = np.zeros((1, 16000), np.float32)
    sparse[0, :2000] = speechlike(0.125, 16000)
    result = score_pair(sparse, 16000, sparse, 16000, ["stoi"]).results["stoi"]
    assert math.isnan(result.value) and "30 non-silent frames" in result.reason


class Broken(Metric):
    name = "broken"
    info = MetricInfo(sample_rate=None, higher_is_better=True)

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        raise RuntimeError("library crashed\nwith a traceback-like second line")


def test_metric_exception_is_recorded_not_raised() -> None:
    ref = speechlike(0.5, 16000)[None]
    scores = score_pair(ref, 16000, ref, 16000, [Broken(), "si_sdr"])
    assert scores.results["broken"].reason == "RuntimeError: library crashed"
    assert scores.results["si_sdr"].ok
    failed = score_pair(ref, 16000, np.zeros((1, 0), np.float32), 16000, ["si_sdr"])
    assert failed.alignment is None and "alignment failed" in failed.results["si_sdr"].reason


def test_build_metrics_errors_and_labels() -> None:
    with pytest.raises(MetricConfigError, match="allowed: n_fft, hop, n_mels"):
        build_metrics([("mel_distance", {"nfft": 512})])
    with pytest.raises(MetricConfigError, match="allowed: \\(none\\)"):
        build_metrics([("si_sdr", {"eps": 1})])
    with pytest.raises(MetricConfigError, match="did you mean 'pesq_wb'"):
        build_metrics(["pesq_wv"])
    with pytest.raises(MetricConfigError, match="positive integer"):
        build_metrics([("lsd", {"hop": 0})])
    with pytest.raises(MetricConfigError, match="listed twice"):
        build_metrics(["lsd", ("lsd", {"n_fft": 2048})])
    lsd, lsd_small = build_metrics(["lsd", ("lsd", {"n_fft": 512, "hop": 128})])
    assert lsd.label() == "lsd" and lsd_small.label() == "lsd[hop=128,n_fft=512]"
    assert cached_metric("lsd") is cached_metric("lsd", {})


def test_score_pair_in_a_process_pool() -> None:
    ref = speechlike(1.0, 16000)
    deg = np.concatenate([np.zeros(37, np.float32), 0.8 * ref])
    specs = [("si_sdr", {}), ("lsd", {"n_fft": 1024, "hop": 256})]
    local = score_pair(ref[None], 16000, deg[None], 16000, specs)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=init_worker, initargs=(specs,)) as pool:
        remote = pool.submit(score_pair, ref[None], 16000, deg[None], 16000, specs).result()
    assert remote.values() == local.values() and remote.alignment == local.alignment
    assert remote.alignment.lag_samples == 37 and local.values()["si_sdr"] >= 140
