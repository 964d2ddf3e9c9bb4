"""Each metric equals its library called directly on the same aligned arrays (real codec output)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codecbench.alignment import align_pair
from codecbench.audio import load_audio
from codecbench.scoring import build_metrics, score_pair

CODEC = "AP_48_6"


def aligned_fixture_pair(shared_fixtures: Path, rates: list) -> tuple[dict, object]:
    root = shared_fixtures / "apcodec_demo" / "vctk48"
    ref, ref_sr = load_audio(root / "N_48" / "1.wav")
    deg, deg_sr = load_audio(root / CODEC / "1.wav")
    return align_pair(ref, ref_sr, deg, deg_sr, rates)


def test_pesq_and_stoi_match_libraries(shared_fixtures: Path) -> None:
    from pesq import pesq
    from pystoi import stoi

    prepared, _ = aligned_fixture_pair(shared_fixtures, [16000, 8000, 10000])
    pesq_wb, pesq_nb, stoi_m, estoi_m = build_metrics(["pesq_wb", "pesq_nb", "stoi", "estoi"])
    assert pesq_wb.compute(*prepared[16000], 16000) == pesq(16000, *prepared[16000], "wb")
    assert pesq_nb.compute(*prepared[8000], 8000) == pesq(8000, *prepared[8000], "nb")
    ref10, deg10 = (x.astype(np.float64) for x in prepared[10000])
    # pystoi's matrix products go through multi-threaded BLAS: the last bit may vary between calls
    assert stoi_m.compute(*prepared[10000], 10000) == pytest.approx(stoi(ref10, deg10, 10000), rel=1e-12)
    assert estoi_m.compute(*prepared[10000], 10000) == pytest.approx(stoi(ref10, deg10, 10000, extended=True),
                                                                     rel=1e-12)
    assert 1.0 < pesq(16000, *prepared[16000], "wb") < 4.0  # a real 6 kbps codec, not a placeholder


@pytest.mark.slow
def test_visqol_matches_library(shared_fixtures: Path) -> None:
    from visqol import VisqolApi

    prepared, _ = aligned_fixture_pair(shared_fixtures, [48000, 16000])
    audio, speech, poly = build_metrics(["visqol_audio", "visqol_speech", ("visqol_speech", {"mapper": "polynomial"})])
    direct = VisqolApi()
    direct.create(mode="audio")
    expected = direct.measure_from_arrays(*(x.astype(np.float64) for x in prepared[48000]), 48000).moslqo
    # numba's parallel reductions may differ in the last bits between runs
    assert audio.compute(*prepared[48000], 48000) == pytest.approx(expected, rel=1e-9, abs=0)
    # speech mode: the default is the lattice mapper, as in Google's C++ ViSQOL v3.3+
    values = {}
    for lattice, metric in ((True, speech), (False, poly)):
        direct.create(mode="speech", use_lattice_model=lattice)
        expected = direct.measure_from_arrays(*(x.astype(np.float64) for x in prepared[16000]), 16000).moslqo
        values[lattice] = metric.compute(*prepared[16000], 16000)
        assert values[lattice] == pytest.approx(expected, rel=1e-9, abs=0)
        assert 2.0 < expected < 5.0
    assert values[True] != pytest.approx(values[False], abs=1e-3)  # the mappers really differ


def test_spectral_metrics_match_independent_formulas(shared_fixtures: Path) -> None:
    import torch

    prepared, _ = aligned_fixture_pair(shared_fixtures, [None])
    ref, deg = prepared[48000]
    si_sdr, lsd = build_metrics(["si_sdr", "lsd"])
    # SI-SDR via a least-squares projection
    r = ref.astype(np.float64) - ref.mean(dtype=np.float64)
    d = deg.astype(np.float64) - deg.mean(dtype=np.float64)
    gain = np.linalg.lstsq(r[:, None], d, rcond=None)[0][0]
    expected = 10 * np.log10(np.sum((gain * r) ** 2) / np.sum((d - gain * r) ** 2))
    assert si_sdr.compute(ref, deg, 48000) == pytest.approx(expected, rel=1e-9)
    # LSD via torch.stft (centre, reflect padding, periodic Hann)

    def power(x: np.ndarray) -> np.ndarray:
        spec = torch.stft(torch.from_numpy(x.astype(np.float64)), 2048, 512, 2048,
                          torch.hann_window(2048, dtype=torch.float64), center=True, pad_mode="reflect",
                          return_complex=True)
        return (spec.abs() ** 2).numpy().T

    expected = np.mean(np.sqrt(np.mean((np.log10(power(ref) + 1e-10) - np.log10(power(deg) + 1e-10)) ** 2, -1)))
    assert lsd.compute(ref, deg, 48000) == pytest.approx(expected, rel=1e-9)


def test_mel_and_mrstft_match_torch_formulas(shared_fixtures: Path) -> None:
    import torch
    from transformers.audio_utils import mel_filter_bank

    prepared, _ = aligned_fixture_pair(shared_fixtures, [None])
    ref, deg = (torch.from_numpy(x.astype(np.float64)) for x in prepared[48000])
    mel, mrstft = build_metrics(["mel_distance", "mrstft_distance"])

    def mag(x: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
        window = torch.hann_window(win, dtype=torch.float64)
        return torch.stft(x, n_fft, hop, win, window, center=True, pad_mode="reflect", return_complex=True).abs()

    bank = torch.from_numpy(mel_filter_bank(num_frequency_bins=513, num_mel_filters=80, min_frequency=0.0,
                                            max_frequency=24000.0, sampling_rate=48000, norm="slaney",
                                            mel_scale="slaney").T)
    log_mel = [torch.log(torch.clamp(bank @ mag(x, 1024, 256, 1024), min=1e-5)) for x in (ref, deg)]
    expected = float(torch.mean(torch.abs(log_mel[0] - log_mel[1])))
    assert mel.compute(*prepared[48000], 48000) == pytest.approx(expected, rel=1e-6)
    total = 0.0
    for n_fft, hop, win in [(1024, 120, 600), (2048, 240, 1200), (512, 50, 240)]:
        m_ref, m_deg = (torch.sqrt(torch.clamp(mag(x, n_fft, hop, win) ** 2, min=1e-7)) for x in (ref, deg))
        total += float(torch.linalg.norm(m_ref - m_deg) / torch.linalg.norm(m_ref))
        total += float(torch.mean(torch.abs(torch.log(m_ref) - torch.log(m_deg))))
    assert mrstft.compute(*prepared[48000], 48000) == pytest.approx(total / 3, rel=1e-9)


def test_score_pair_on_real_pair(shared_fixtures: Path) -> None:
    root = shared_fixtures / "apcodec_demo" / "vctk48"
    ref, ref_sr = load_audio(root / "N_48" / "1.wav")
    deg, deg_sr = load_audio(root / "En_48_6" / "1.wav")
    names = ["pesq_wb", "stoi", "si_sdr", "lsd", "mel_distance", "mrstft_distance"]
    scores = score_pair(ref, ref_sr, deg, deg_sr, names)
    assert all(result.ok for result in scores.results.values()), scores.results
    assert scores.alignment.reference_samples == 170955 and scores.alignment.degraded_samples == 171200
    assert scores.alignment.aligned_samples <= 170955
    same = score_pair(ref, ref_sr, ref, ref_sr, names)
    for metric in build_metrics(names):
        better = same.results[metric.name].value > scores.results[metric.name].value
        assert better == metric.info.higher_is_better, metric.name
