"""Prepared reference states: reused only for identical aligned segments, values unchanged, bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codecbench.audio import load_audio
from codecbench.metrics import Metric, MetricInfo
from codecbench.metrics.dsp import mel_filterbank, stft_magnitude
from codecbench.reference_states import ReferenceStates
from codecbench.scoring import score_pair

CODECS = ["AP_48_6", "AP_48_12", "APS_48_12", "En_48_6", "DAC_48_6", "HC_48_6", "SS_48_6", "AD_48_6"]


class Counting(Metric):
    """Records which hook built each state."""

    name = "counting"
    info = MetricInfo(sample_rate=None, higher_is_better=True)
    shares_reference = True

    def __init__(self) -> None:
        self.calls: list[str] = []

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        return float(len(reference))

    def prepare_reference(self, reference: np.ndarray, sample_rate: int) -> Any:
        self.calls.append("prepare")
        return np.zeros(10_000)  # 80 kB each

    def prepare_related(self, state: Any, reference: np.ndarray, sample_rate: int) -> Any:
        self.calls.append("related")
        return np.zeros(10_000)


def _get(states: ReferenceStates, metric: Metric, source: bytes, reference: np.ndarray) -> Any:
    return states.state(metric, ("counting",), 16000, source, reference)


def test_state_reused_only_for_identical_segment() -> None:
    metric, states = Counting(), ReferenceStates(budget=10 ** 7)
    ref = np.arange(100, dtype=np.float32)
    first = _get(states, metric, b"a", ref)
    assert _get(states, metric, b"a", ref.copy()) is first
    assert _get(states, metric, b"a", ref[:-1]) is not first  # another trim of the same source
    assert _get(states, metric, b"b", ref) is not first  # same samples, another source
    assert metric.calls == ["prepare", "related", "prepare"]
    assert (states.hits, states.misses) == (1, 3)


def test_budget_evicts_unused_first_then_most_recent() -> None:
    metric, states = Counting(), ReferenceStates(budget=3 * 80_000 + 100)
    refs = [np.full(50, i, np.float32) for i in range(5)]
    for i in range(3):
        _get(states, metric, str(i).encode(), refs[i])
    _get(states, metric, b"0", refs[0])  # 0 and 1 reused, 2 never
    _get(states, metric, b"1", refs[1])
    _get(states, metric, b"3", refs[3])  # over budget: the never-reused 2 goes
    assert len(states) == 3 and states.used <= states.budget
    calls = len(metric.calls)
    _get(states, metric, b"3", refs[3])  # now 0, 1, 3 are all reused; 3 most recently
    _get(states, metric, b"4", refs[4])  # cyclic order: the most recent (3) goes, not the oldest (0)
    _get(states, metric, b"0", refs[0])
    _get(states, metric, b"1", refs[1])
    assert len(metric.calls) == calls + 1  # only 4 was prepared; 0 and 1 were kept
    _get(states, metric, b"3", refs[3])
    assert len(metric.calls) == calls + 2
    assert ReferenceStates(budget=0).state(metric, ("counting",), 16000, b"0", refs[0]) is not None


def _lsd(ref: np.ndarray, deg: np.ndarray) -> float:
    log_ref = np.log10(stft_magnitude(ref, 2048, 512, 2048) ** 2 + 1e-10)
    log_deg = np.log10(stft_magnitude(deg, 2048, 512, 2048) ** 2 + 1e-10)
    return float(np.mean(np.sqrt(np.mean((log_ref - log_deg) ** 2, axis=-1))))


def _mel(ref: np.ndarray, deg: np.ndarray, rate: int) -> float:
    bank = mel_filterbank(rate, 1024, 80)
    mel_ref = stft_magnitude(ref, 1024, 256, 1024) @ bank.T
    mel_deg = stft_magnitude(deg, 1024, 256, 1024) @ bank.T
    return float(np.mean(np.abs(np.log(np.maximum(mel_ref, 1e-5)) - np.log(np.maximum(mel_deg, 1e-5)))))


def test_spectral_and_stoi_bit_identical_with_reuse(shared_fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pystoi import stoi

    import codecbench.scoring as scoring
    from codecbench.alignment import align_pair

    states = ReferenceStates(budget=10 ** 9)
    monkeypatch.setattr(scoring, "_REFERENCE_STATES", states)
    root = shared_fixtures / "apcodec_demo" / "vctk48"
    for name in ["1.wav", "2.wav"]:
        ref, rate = load_audio(root / "N_48" / name)
        for codec in CODECS:
            deg, deg_rate = load_audio(root / codec / name)
            got = score_pair(ref, rate, deg, deg_rate, ["lsd", "mel_distance", "stoi", "estoi"]).values()
            (aligned, _), = [align_pair(ref, rate, deg, deg_rate, [None, 10000])]
            r, d = aligned[rate]
            assert got["lsd"] == _lsd(r, d), (codec, name)
            assert got["mel_distance"] == _mel(r, d, rate), (codec, name)
            r10, d10 = (x.astype(np.float64) for x in aligned[10000])
            # pystoi is not bit-reproducible itself: two calls on the same arrays can differ in the
            # last bit (numpy's SIMD reductions depend on where temporaries land), so 1e-12 relative
            assert got["stoi"] == pytest.approx(stoi(r10, d10, 10000), rel=1e-12, abs=0.0), (codec, name)
            assert got["estoi"] == pytest.approx(stoi(r10, d10, 10000, extended=True), rel=1e-12, abs=0.0), \
                (codec, name)
    assert states.hits >= 4 * 8  # most codec points of one reference share its aligned segment
