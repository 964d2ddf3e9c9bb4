"""DNSMOS through speechmos: parity with the package on real codec output, one model call per pair."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from codecbench.alignment import align_pair
from codecbench.audio import load_audio
from codecbench.metrics import METRICS
from codecbench.scoring import score_pair

pytest.importorskip("speechmos", reason="speechmos is not installed (pip install 'codecbench[modern]')")
pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'codecbench[modern]')")

NAMES = ["dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808"]
KEYS = ["sig_mos", "bak_mos", "ovrl_mos", "p808_mos"]


def fixture_pair(shared_fixtures: Path, codec: str = "AP_48_6") -> tuple:
    root = shared_fixtures / "apcodec_demo" / "vctk48"
    ref, ref_sr = load_audio(root / "N_48" / "1.wav")
    deg, deg_sr = load_audio(root / codec / "1.wav")
    return ref, ref_sr, deg, deg_sr


def test_dnsmos_equals_speechmos_on_the_same_aligned_audio(shared_fixtures: Path) -> None:
    from speechmos import dnsmos

    ref, ref_sr, deg, deg_sr = fixture_pair(shared_fixtures)
    values = score_pair(ref, ref_sr, deg, deg_sr, NAMES).values()
    prepared, _ = align_pair(ref, ref_sr, deg, deg_sr, [16000])
    direct = dnsmos.run(prepared[16000][1], 16000)
    for name, key in zip(NAMES, KEYS, strict=True):
        assert values[name] == pytest.approx(float(direct[key]), abs=1e-6), name
        assert 1.0 < values[name] < 5.0  # a real prediction, not a placeholder


def test_dnsmos_of_a_16khz_file_equals_speechmos_on_the_file(shared_fixtures: Path) -> None:
    from speechmos import dnsmos

    path = shared_fixtures / "apcodec_demo" / "vctk16" / "AP_16_2" / "1.wav"
    audio, rate = load_audio(path)
    assert rate == 16000
    values = score_pair(audio, rate, audio, rate, NAMES).values()  # same length, lag 0: nothing trimmed
    direct = dnsmos.run(audio[0], 16000)
    for name, key in zip(NAMES, KEYS, strict=True):
        assert values[name] == pytest.approx(float(direct[key]), abs=1e-6), name


def test_one_model_call_serves_all_four_metrics(shared_fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import codecbench.metrics.dnsmos as module

    model = module.dnsmos_model()
    calls: list[int] = []
    real = type(model).__call__

    def counting(self: object, audio: np.ndarray, rate: int, personalized: bool) -> dict:
        calls.append(len(audio))
        return real(self, audio, rate, personalized)

    monkeypatch.setattr(type(model), "__call__", counting)
    ref, ref_sr, deg, deg_sr = fixture_pair(shared_fixtures, "En_48_6")
    first = score_pair(ref, ref_sr, deg, deg_sr, NAMES).values()
    assert len(calls) == 1
    other = score_pair(ref, ref_sr, ref, ref_sr, NAMES).values()  # a new signal is scored anew
    assert len(calls) == 2 and first != other


def test_dnsmos_is_non_intrusive(shared_fixtures: Path) -> None:
    ref, ref_sr, deg, deg_sr = fixture_pair(shared_fixtures)
    for name in NAMES:
        assert not METRICS.get(name).info.intrusive and METRICS.get(name).info.weights
    prepared, _ = align_pair(ref, ref_sr, deg, deg_sr, [16000])
    _, degraded = prepared[16000]
    metric = METRICS.get("dnsmos_ovrl")()
    noise = np.random.default_rng(0).standard_normal(len(degraded)).astype(np.float32) * 0.1
    assert metric.compute(noise, degraded, 16000) == metric.compute(np.zeros_like(degraded), degraded, 16000)


def test_overshoot_is_clipped_and_silence_is_unavailable() -> None:
    from speechmos import dnsmos

    rate = 16000
    t = np.arange(2 * rate) / rate
    loud = (1.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    value = score_pair(loud[None], rate, loud[None], rate, ["dnsmos_ovrl"]).results["dnsmos_ovrl"]
    assert value.ok and value.value == pytest.approx(float(dnsmos.run(np.clip(loud, -1, 1), rate)["ovrl_mos"]),
                                                     abs=1e-6)
    silence = np.zeros((1, 2 * rate), np.float32)
    result = score_pair(loud[None], rate, silence, rate, ["dnsmos_sig"]).results["dnsmos_sig"]
    assert math.isnan(result.value) and "degraded signal is silent" in result.reason
