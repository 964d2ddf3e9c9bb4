"""Encodec adapter on tiny random transformers models (no downloads)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from codecbench.suite import check_options
from codecbench.codecs import CODECS, CodecUnavailable  # noqa: E402
from codecbench.codecs.encodec import EncodecAdapter  # noqa: E402

HOP = 320


def _save_tiny(path: Path, seed: int, **kwargs: object) -> Path:
    torch.manual_seed(seed)
    config = transformers.EncodecConfig(num_filters=4, hidden_size=16, codebook_dim=16, num_lstm_layers=1, **kwargs)
    model = transformers.EncodecModel(config)
    with torch.no_grad():  # transformers initialises codebooks to zero: every code would be 0
        for layer in model.quantizer.layers:
            layer.codebook.embed.normal_()
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("encodec")
    return {
        "24": _save_tiny(root / "e24", 0),
        "48": _save_tiny(root / "e48", 1, sampling_rate=48000, audio_channels=2, normalize=True,
                         chunk_length_s=1.0, overlap=0.01, target_bandwidths=[3.0, 6.0, 12.0, 24.0],
                         use_causal_conv=False, norm_type="time_group_norm"),  # as the published 48k
    }


def _noise(n: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((channels, n))).astype(np.float32)


def test_registry_and_summary() -> None:
    assert CODECS.get("encodec") is EncodecAdapter
    text = EncodecAdapter.summary()
    assert "24k/48k" in text and "1.5, 3, 6, 12, 24" in text
    options = dict.fromkeys(("model", "model_dir", "weights", "channels", "chunk_seconds"))
    assert check_options(EncodecAdapter, options, ("bitrate", "device")) is None


def test_24k_sweep_measured_equals_declared_and_codes_are_nested(models: dict[str, Path]) -> None:
    audio = _noise(40 * HOP)  # whole frames: no padding residual
    previous = None
    for kbps in (1.5, 3.0, 6.0, 12.0, 24.0):
        codec = EncodecAdapter(bitrate=kbps, model_dir=str(models["24"]))
        assert codec.sample_rate == 24000 and codec.channels == 1
        payload = codec.encode(audio)
        n_q = int(kbps * 1000 / (75 * 10))
        assert payload.codes.shape == (n_q, 40)
        assert payload.kbps(audio.shape[1] / 24000) == pytest.approx(kbps, abs=1e-12)
        if previous is not None:  # residual VQ: a lower bandwidth sends a prefix of the codebooks
            np.testing.assert_array_equal(payload.codes[: previous.shape[0]], previous)
        previous = payload.codes
        out = codec.decode(payload)
        assert out.shape == audio.shape and out.dtype == np.float32 and np.all(np.isfinite(out))
    # a different bandwidth decodes differently
    low = EncodecAdapter(bitrate=1.5, model_dir=str(models["24"]))
    assert not np.allclose(low.decode(low.encode(audio)), out)


def test_24k_partial_last_frame_costs_one_frame(models: dict[str, Path]) -> None:
    codec = EncodecAdapter(bitrate=6.0, model_dir=str(models["24"]))
    audio = _noise(40 * HOP + 100)
    payload = codec.encode(audio)
    assert payload.codes.shape[1] == 41
    assert payload.kbps(audio.shape[1] / 24000) == pytest.approx(6.0 * 41 * HOP / audio.shape[1])
    assert codec.decode(payload).shape == audio.shape


def _chunk_frames(length: int, chunk: int = 48000, stride: int = 47520) -> list[int]:
    return [math.ceil(min(chunk, length - off) / HOP) for off in range(0, length, stride)]


def test_48k_single_chunk_is_exact_and_long_input_pays_the_overlap(models: dict[str, Path]) -> None:
    codec = EncodecAdapter(bitrate=12.0, model="encodec_48khz", model_dir=str(models["48"]))
    assert codec.sample_rate == 48000 and codec.channels == 1 and codec.model_channels == 2
    short = _noise(100 * HOP)  # one chunk of whole frames
    payload = codec.encode(short)
    assert payload.kbps(short.shape[1] / 48000) == pytest.approx(12.0, abs=1e-12)
    assert len(payload.side["scales"]) == 1
    long = _noise(48000 + 1000, seed=1)  # two chunks
    payload = codec.encode(long)
    frames = _chunk_frames(long.shape[1])
    assert payload.side["chunk_frames"] == frames and payload.codes.shape == (8, sum(frames))
    measured = payload.kbps(long.shape[1] / 48000)
    assert measured == pytest.approx(12.0 * sum(frames) * HOP / long.shape[1])
    assert 1.0 < measured / 12.0 < 1.02  # overlap (1.5 frames per boundary) + last-chunk padding
    out = codec.decode(payload)
    assert out.shape == long.shape and np.all(np.isfinite(out))


def test_48k_scales_are_side_info_and_stereo_passes_through(models: dict[str, Path]) -> None:
    mono = EncodecAdapter(bitrate=6.0, model="48khz", model_dir=str(models["48"]))
    audio = _noise(30 * HOP)
    quiet, loud = mono.encode(audio), mono.encode(4 * audio)
    np.testing.assert_array_equal(quiet.codes, loud.codes)  # normalised input: same codes
    assert loud.side["scales"][0] == pytest.approx(4 * quiet.side["scales"][0], rel=1e-5)
    assert quiet.bits == loud.bits
    np.testing.assert_allclose(mono.decode(loud), 4 * mono.decode(quiet), rtol=1e-4, atol=1e-6)
    stereo = EncodecAdapter(bitrate=6.0, model="48khz", model_dir=str(models["48"]), channels=2)
    both = _noise(30 * HOP, channels=2)
    assert stereo.decode(stereo.encode(both)).shape == both.shape
    # mono adapter == stereo model fed the duplicated signal, averaged back
    dup = stereo.decode(stereo.encode(np.repeat(audio, 2, axis=0)))
    np.testing.assert_allclose(mono.decode(quiet), dup.mean(axis=0, keepdims=True), atol=1e-6)


def test_bad_options_are_one_line_errors(models: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match=r"allowed: 1\.5, 3, 6, 12, 24$"):
        EncodecAdapter(bitrate=5.0, model_dir=str(models["24"]))
    with pytest.raises(ValueError, match="allowed: 3, 6, 12, 24"):
        EncodecAdapter(bitrate=1.5, model="encodec_48khz", model_dir=str(models["48"]))
    with pytest.raises(ValueError, match="choose one of encodec_24khz, encodec_48khz"):
        EncodecAdapter(model="encodec_32khz")
    with pytest.raises(ValueError, match="'channels'"):
        EncodecAdapter(model_dir=str(models["24"]), channels=2)


def test_identity_hashes_the_weights(models: dict[str, Path]) -> None:
    a = EncodecAdapter(bitrate=6.0, model_dir=str(models["24"])).identity()
    b = EncodecAdapter(bitrate=6.0, model="48khz", model_dir=str(models["48"])).identity()
    assert set(a["weights"]) == {"config.json", "model.safetensors"}
    assert a["weights"] != b["weights"] and a["bitrate"] == 6.0


def test_absent_weights_skip_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    codec = EncodecAdapter(bitrate=3.0)
    reason = codec.unavailable_reason()
    assert reason and "\n" not in reason
    assert "codecbench weights fetch encodec_24khz" in reason and "empty-cache" in reason
    with pytest.raises(CodecUnavailable):
        codec.encode(_noise(HOP))
    missing = EncodecAdapter(model_dir=str(tmp_path / "nowhere")).unavailable_reason()
    assert missing and "nowhere" in missing and "model_dir" in missing
