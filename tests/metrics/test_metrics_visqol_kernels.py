"""The band-vectorised gammatone kernel gives visqol-python's spectrograms bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codecbench.audio import load_audio
from codecbench.metrics.visqol import visqol_api
from codecbench.metrics.visqol_kernels import LANES, banded_kernel


def _spectrograms(mode: str, samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The library builder's spectrogram without and with the banded kernel, and the band counts
    the banded kernel was called with (to prove it really ran)."""
    from visqol.analysis_window import AnalysisWindow
    from visqol.audio_utils import AudioSignal

    import codecbench.metrics.visqol_kernels as kernels

    builder = visqol_api(mode, False)._manager.spect_builder
    window = AnalysisWindow(rate, 0.25)
    library = builder.build(AudioSignal(samples, rate), window).data
    calls: list[int] = []
    real = kernels.banded_gammatone_spectrogram

    def counting(*args: object) -> np.ndarray:
        calls.append(int(args[6]))  # type: ignore[call-overload]
        return real(*args)

    kernels.banded_gammatone_spectrogram = counting
    try:
        with banded_kernel():
            banded = builder.build(AudioSignal(samples, rate), window).data
    finally:
        kernels.banded_gammatone_spectrogram = real
    return library, banded, calls


@pytest.mark.parametrize("mode, folder, ref", [("audio", "vctk48", "N_48"), ("speech", "vctk16", "N_16")])
def test_banded_kernel_equals_library_bit_for_bit(shared_fixtures: Path, mode: str, folder: str, ref: str) -> None:
    root = shared_fixtures / "apcodec_demo" / folder
    codec = "AP_48_6" if mode == "audio" else "AP_16_2"
    for path in (root / ref / "1.wav", root / codec / "2.wav"):
        audio, rate = load_audio(path)
        library, banded, calls = _spectrograms(mode, audio[0].astype(np.float64), rate)
        assert calls == [32 if mode == "audio" else 21]
        assert banded.shape == library.shape and np.array_equal(banded, library), path


def test_banded_kernel_on_noise_odd_lengths_and_extreme_values() -> None:
    import visqol.gammatone as gammatone

    rng = np.random.default_rng(3)
    for length, scale in ((48_000 + 17, 0.3), (3841, 1.0), (100_003, 1e-6)):
        samples = rng.standard_normal(length) * scale
        library, banded, _ = _spectrograms("audio", samples, 48000)
        assert np.array_equal(banded, library), length
    # the context restores the library's kernel
    from visqol.numba_accel import _gammatone_spectrogram_numba

    assert gammatone._gammatone_spectrogram_numba is _gammatone_spectrogram_numba


def test_more_bands_than_lanes_fall_back_to_the_library() -> None:
    import visqol.gammatone as gammatone

    sig = np.random.default_rng(0).standard_normal(640)
    bands = LANES + 3
    b_stages = np.random.default_rng(1).uniform(-0.1, 0.1, (4, bands, 3))
    a_denom = np.random.default_rng(2).uniform(-0.1, 0.1, (bands, 3))
    args = (sig, np.hanning(64), b_stages, a_denom, 64, 16, bands, 37)
    with banded_kernel():
        got = gammatone._gammatone_spectrogram_numba(*args)
    assert np.array_equal(got, gammatone._gammatone_spectrogram_numba(*args))
