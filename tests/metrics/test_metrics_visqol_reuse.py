"""Reference reuse in ViSQOL equals visqol-python's public API over many real pairs.

The reuse (codecbench.metrics.visqol_reuse) relies on visqol-python internals; these tests are
the guard for the pinned version range: an upgrade that changes a score fails here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codecbench.alignment import align_pair
from codecbench.audio import load_audio
from codecbench.metrics.visqol import visqol_api
from codecbench.reference_states import ReferenceStates
from codecbench.scoring import score_pair

AUDIO_CODECS = ["AP_48_6", "AP_48_12", "APS_48_6", "APS_48_12", "En_48_6", "DAC_48_6", "HC_48_6", "SS_48_6",
                "AD_48_6"]
SPEECH_CODECS = ["AP_16_2", "APS_16_4", "En_16_2", "HC_16_4", "SS_16_2"]


def _pairs(root: Path, ref_dir: str, codecs: list[str], names: list[str]) -> list[tuple]:
    pairs = []
    for name in names:
        ref, ref_sr = load_audio(root / ref_dir / name)
        for codec in codecs:
            deg, deg_sr = load_audio(root / codec / name)
            pairs.append((f"{codec}/{name}", ref, ref_sr, deg, deg_sr))
    return pairs


def _variants(pairs: list[tuple]) -> list[tuple]:
    """Same references against outputs cut 300 samples short and delayed 40 samples: other aligned
    segments of the same source (exercises prepare_related and memo misses)."""
    out = []
    for label, ref, ref_sr, deg, deg_sr in pairs[:3]:
        out.append((f"{label} short", ref, ref_sr, np.ascontiguousarray(deg[:, :-300]), deg_sr))
        late = np.concatenate([np.zeros((deg.shape[0], 40), deg.dtype), deg], axis=1)
        out.append((f"{label} late", ref, ref_sr, late, deg_sr))
    return out


def _check(pairs: list[tuple], name: str, mode: str, rate: int, monkeypatch: pytest.MonkeyPatch,
           spec: object) -> ReferenceStates:
    import codecbench.scoring as scoring

    states = ReferenceStates()
    monkeypatch.setattr(scoring, "_REFERENCE_STATES", states)
    api = visqol_api(mode, False)
    worst = 0.0
    for label, ref, ref_sr, deg, deg_sr in pairs:
        (got,) = score_pair(ref, ref_sr, deg, deg_sr, [spec]).results.values()
        assert got.ok, (label, got.reason)
        prepared, _ = align_pair(ref, ref_sr, deg, deg_sr, [rate])
        r, d = (x.astype(np.float64) for x in prepared[rate])
        expected = float(api.measure_from_arrays(r, d, rate).moslqo)
        worst = max(worst, abs(got.value - expected) / abs(expected))
        assert got.value == pytest.approx(expected, rel=1e-9, abs=0.0), label
    assert worst <= 1e-9
    return states


@pytest.mark.slow
def test_visqol_audio_reuse_equals_library(shared_fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = shared_fixtures / "apcodec_demo" / "vctk48"
    pairs = _pairs(root, "N_48", AUDIO_CODECS, ["1.wav", "2.wav"])
    pairs += _variants(pairs)
    diverse = shared_fixtures / "apcodec_demo" / "diverse"
    for kind in "CFO":
        for name in sorted(p.name for p in (diverse / f"N_{kind}").glob("*.wav"))[:1]:
            pairs += _pairs(diverse, f"N_{kind}", [f"AP_{kind}", f"DAC_{kind}", f"AD_{kind}"], [name])
    states = _check(pairs, "visqol_audio", "audio", 48000, monkeypatch, "visqol_audio")
    assert states.hits >= 10  # reuse really happened (most points of a reference share its segment)
    memos = {id(entry[0].memo): entry[0].memo for entry in states._states.values()}
    assert sum(memo.hits for memo in memos.values()) > len(pairs)


@pytest.mark.slow
def test_visqol_speech_reuse_equals_library(shared_fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = shared_fixtures / "apcodec_demo" / "vctk16"
    pairs = _pairs(root, "N_16", SPEECH_CODECS, ["1.wav", "2.wav"])
    pairs += _variants(pairs)
    states = _check(pairs, "visqol_speech", "speech", 16000, monkeypatch, ("visqol_speech", {"mapper": "polynomial"}))
    assert states.hits > 0


def test_gammatone_stretch_on_frame_grid_is_columns(shared_fixtures: Path) -> None:
    """The assumption behind sharing a trimmed reference's spectrogram, checked on the library."""
    from visqol.analysis_window import AnalysisWindow
    from visqol.audio_utils import AudioSignal

    from codecbench.metrics.visqol_reuse import ReferenceMemo, _MemoBuilder

    ref, rate = load_audio(shared_fixtures / "apcodec_demo" / "vctk48" / "N_48" / "1.wav")
    samples = ref[0].astype(np.float64)
    builder = visqol_api("audio", False)._manager.spect_builder
    window = AnalysisWindow(rate, 0.25)
    memo = ReferenceMemo()
    built: list[int] = []

    class Counting:
        def build(self, signal: AudioSignal, window: AnalysisWindow) -> object:
            built.append(len(signal.data))
            return builder.build(signal, window)

    memoised_builder = _MemoBuilder(Counting(), memo)
    memoised_builder.build(AudioSignal(samples, rate), window)
    hop = int(window.size * window.overlap)
    on_grid = [(0, 1), (0, 255), (0, 256), (0, 5000), (hop, 0), (7 * hop, 3 * hop + 5), (40 * hop, 60_000)]
    off_grid = [(1, 0), (hop + 3, 1000)]
    for start, cut in on_grid + off_grid:
        part = AudioSignal(samples[start:len(samples) - cut].copy(), rate)
        expected = builder.build(part, window)
        got = memoised_builder.build(part, window)
        assert got.data.shape == expected.data.shape and np.array_equal(got.data, expected.data), (start, cut)
    # every stretch on the frame grid came from the full signal's columns; the others were built
    assert built == [len(samples)] + [len(samples) - start - cut for start, cut in off_grid]


def test_memo_reuses_only_identical_samples() -> None:
    from codecbench.metrics.visqol_reuse import ReferenceMemo

    memo = ReferenceMemo()
    a = np.linspace(-1.0, 1.0, 101)
    b = a.copy()
    b[10] += 1e-12  # same length, first, middle and last sample: same fingerprint, other samples
    assert memo.get(("k",), a, lambda: "a") == "a"
    assert memo.get(("k",), a.copy(), lambda: "again") == "a"
    assert memo.get(("k",), b, lambda: "b") == "b"
    assert memo.get(("other",), a, lambda: "other") == "other"
    memo.end_call()
    memo.get(("k",), a, lambda: "a2")  # a reused, b not: b goes at the end of this call
    memo.end_call()
    assert memo.get(("k",), b, lambda: "b2") == "b2" and memo.get(("k",), a, lambda: "a3") == "a"


def test_memo_forgets_what_only_its_own_call_reused() -> None:
    """The degraded signal is found again for its own patches; that must not keep it."""
    from codecbench.metrics.visqol_reuse import ReferenceMemo

    memo = ReferenceMemo()
    deg = np.linspace(0.0, 1.0, 64)
    memo.get(("k",), deg, lambda: "first")
    assert memo.get(("k",), deg.copy(), lambda: "again") == "first"  # same call
    memo.end_call()
    memo.end_call()
    assert memo.get(("k",), deg, lambda: "recomputed") == "recomputed"
