"""HiFi-Codec adapter: golden checkpoint through the Codec protocol, presets, offline behaviour."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch


from codecbench.codecs import CODECS, CodecError, CodecUnavailable  # noqa: E402
from codecbench.codecs.hificodec import HiFiCodecAdapter  # noqa: E402
from hificodec import PRESETS, HiFiCodec  # noqa: E402


def test_registry_and_summary() -> None:
    assert CODECS.get("hificodec") is HiFiCodecAdapter
    assert HiFiCodecAdapter.summary().startswith("16k/24k Hz; kbps: 2, 3, 4;")


def test_golden_checkpoint_round_trip(shared_fixtures: Path) -> None:
    import soundfile as sf

    folder = shared_fixtures / "hificodec_golden_tiny"
    codec = HiFiCodecAdapter(config=str(folder / "config.json"), checkpoint=str(folder / "g_00000000"))
    assert codec.unavailable_reason() is None
    assert codec.sample_rate == 16000 and codec.bitrate == pytest.approx(50 * 4 * 6 / 1000)  # 64 codes: 6 bits
    audio, _ = sf.read(folder / "input.wav", dtype="float32", always_2d=True)
    audio = audio.T
    expected = np.load(folder / "expected.npz")
    payload = codec.encode(audio)
    np.testing.assert_array_equal(payload.codes, expected["codes"][0].T)   # [4, T]
    assert payload.kbps(audio.shape[1] / 16000) == pytest.approx(codec.bitrate, abs=1e-12)
    out = codec.decode(payload)
    np.testing.assert_allclose(out, expected["audio"][0], rtol=1e-4, atol=1e-5)
    ident = codec.identity()
    assert ident["weights"] and ident["config"]["latent_dim"] == 128


def _tiny_checkpoint(path: Path, preset: str) -> tuple[Path, Path]:
    config = replace(PRESETS[preset], upsample_initial_channel=16, latent_dim=64, encoder_base_channels=4,
                     groupnorm_channels=4, n_codes=1024)
    torch.manual_seed(0)
    model = HiFiCodec.from_config(config)
    torch.save({"generator": model.generator.state_dict(), "encoder": model.encoder.state_dict(),
                "quantizer": model.quantizer.state_dict()}, path)
    config_path = path.with_suffix(".json")
    config_path.write_text(json.dumps(asdict(config)))
    return path, config_path


def test_custom_config_round_trip_and_measured_bitrate(tmp_path: Path) -> None:
    ckpt, config = _tiny_checkpoint(tmp_path / "g_tiny", "24k-240d")
    codec = HiFiCodecAdapter(config=str(config), checkpoint=str(ckpt))
    assert codec.sample_rate == 24000 and codec.bitrate == 4.0
    audio = (0.1 * np.random.default_rng(0).standard_normal((1, 8 * 240))).astype(np.float32)
    payload = codec.encode(audio)
    assert payload.codes.shape == (4, 8) and payload.bits_per_code == 10
    assert payload.kbps(audio.shape[1] / 24000) == pytest.approx(4.0, abs=1e-12)
    assert codec.decode(payload).shape == audio.shape
    odd = audio[:, :-31]  # partial last frame: padded, one frame's worth of extra bits, trimmed output
    payload = codec.encode(odd)
    assert payload.codes.shape == (4, 8)
    assert codec.decode(payload).shape == odd.shape


def test_bitrate_picks_the_preset_and_is_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert [HiFiCodecAdapter(bitrate=b).preset for b in (2, 3, 4)] == ["16k-320d", "24k-320d", "24k-240d"]
    assert HiFiCodecAdapter().sample_rate == 16000
    with pytest.raises(ValueError, match=r"allowed: 2 \(16k-320d\), 3 \(24k-320d\), 4 \(24k-240d\)"):
        HiFiCodecAdapter(bitrate=6)
    with pytest.raises(ValueError, match="runs at 3 kbps, not 2"):
        HiFiCodecAdapter(bitrate=2, config="24k-320d")
    with pytest.raises(ValueError, match="option 'config'"):
        HiFiCodecAdapter(config="48k")


def test_absent_weights_skip_and_wrong_checkpoint_is_one_line(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    codec = HiFiCodecAdapter(bitrate=3)
    reason = codec.unavailable_reason()
    assert reason and "\n" not in reason and "codecbench weights fetch hificodec_24k_320d" in reason
    with pytest.raises(CodecUnavailable):
        codec.encode(np.zeros((1, 320), np.float32))
    ckpt, config = _tiny_checkpoint(tmp_path / "g_tiny", "16k-320d")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**json.loads(config.read_text()), "n_codes": 512}))
    wrong = HiFiCodecAdapter(config=str(other), checkpoint=str(ckpt))  # codebooks of 1024 vs 512
    assert wrong.unavailable_reason() is None
    with pytest.raises(CodecError, match="does not match the config") as err:
        wrong.encode(np.zeros((1, 320), np.float32))
    assert "\n" not in str(err.value)
