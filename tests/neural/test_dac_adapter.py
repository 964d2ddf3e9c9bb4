"""DAC adapter on tiny random transformers models (no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from codecbench.codecs import CODECS  # noqa: E402
from codecbench.codecs.dac import DacAdapter  # noqa: E402


def _save_tiny(path: Path, rate: int, ratios: list[int], seed: int) -> Path:
    torch.manual_seed(seed)
    config = transformers.DacConfig(encoder_hidden_size=4, decoder_hidden_size=16, hidden_size=16,
                                    downsampling_ratios=ratios, upsampling_ratios=ratios[::-1],
                                    n_codebooks=4, codebook_dim=4, sampling_rate=rate)
    transformers.DacModel(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("dac")
    return {16000: _save_tiny(root / "d16", 16000, [2, 4, 5, 8], 0),
            44100: _save_tiny(root / "d44", 44100, [2, 4, 8, 8], 1)}


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((1, n))).astype(np.float32)


def test_registry_and_summary() -> None:
    assert CODECS.get("dac") is DacAdapter
    assert "16k/24k/44.1k" in DacAdapter.summary()


@pytest.mark.parametrize("rate,hop", [(16000, 320), (44100, 512)])
def test_codebook_sweep_measured_equals_declared(models: dict[int, Path], rate: int, hop: int) -> None:
    per_codebook = 10 * rate / hop / 1000
    audio = _noise(25 * hop)
    previous = None
    for n_q in (1, 2, 4):
        codec = DacAdapter(bitrate=round(n_q * per_codebook, 2), model_dir=str(models[rate]))
        assert codec.n_q == n_q and codec.bitrate == pytest.approx(n_q * per_codebook, abs=1e-12)
        assert codec.sample_rate == rate
        payload = codec.encode(audio)
        assert payload.codes.shape == (n_q, 25)
        assert payload.kbps(audio.shape[1] / rate) == pytest.approx(codec.bitrate, abs=1e-12)
        if previous is not None:  # residual VQ: fewer codebooks = a prefix
            np.testing.assert_array_equal(payload.codes[: previous.shape[0]], previous)
        previous = payload.codes
        out = codec.decode(payload)
        assert out.shape == audio.shape and np.all(np.isfinite(out))
    assert DacAdapter(model_dir=str(models[rate])).n_q == 4  # no bitrate: all codebooks


def test_output_length_is_aligned_to_the_input(models: dict[int, Path]) -> None:
    codec = DacAdapter(bitrate=1.0, model_dir=str(models[16000]))
    audio = _noise(10 * 320 + 77)
    payload = codec.encode(audio)
    assert payload.codes.shape[1] == 11  # padded to whole frames
    assert payload.kbps(audio.shape[1] / 16000) == pytest.approx(1.0 * 11 * 320 / audio.shape[1])
    raw = codec._load().decode(audio_codes=torch.from_numpy(payload.codes.astype(np.int64))[None]).audio_values
    assert raw.shape[-1] != audio.shape[1]  # the model itself does not return the input length
    assert codec.decode(payload).shape == audio.shape


def test_bad_bitrate_lists_allowed_values(models: dict[int, Path]) -> None:
    with pytest.raises(ValueError, match=r"allowed: 0\.5, 1, 1\.5, 2$"):
        DacAdapter(bitrate=0.7, model_dir=str(models[16000]))
    with pytest.raises(ValueError, match="choose one of dac_16khz, dac_24khz, dac_44khz"):
        DacAdapter(model="dac_8khz")


def test_absent_weights_and_identity(models: dict[int, Path], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    reason = DacAdapter(model="dac_44khz").unavailable_reason()
    assert reason and "\n" not in reason and "codecbench weights fetch dac_44khz" in reason
    # the published 44.1 kHz model's bitrates are known before any weights exist
    assert DacAdapter(model="dac_44khz", bitrate=7.75).n_q == 9
    ident = DacAdapter(bitrate=1.0, model_dir=str(models[16000])).identity()
    assert ident["n_q"] == 2 and "model.safetensors" in ident["weights"]
