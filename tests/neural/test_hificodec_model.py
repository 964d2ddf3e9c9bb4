"""HiFi-Codec model: golden vectors of the official code, parameter counts, configs, checkpoints."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch


from hificodec import PRESETS, CheckpointError, HiFiCodec, HiFiCodecConfig, HiFiCodecConfigError  # noqa: E402

TINY = dict(upsample_initial_channel=16, latent_dim=64, encoder_base_channels=4, groupnorm_channels=4, n_codes=32)


def test_golden_vectors_of_the_official_code(shared_fixtures: Path) -> None:
    import soundfile as sf

    folder = shared_fixtures / "hificodec_golden_tiny"
    config = HiFiCodecConfig.from_json(folder / "config.json")
    model = HiFiCodec.from_checkpoint(folder / "g_00000000", config, device="cpu")
    expected = np.load(folder / "expected.npz")
    audio, rate = sf.read(folder / "input.wav", dtype="float32")
    assert rate == config.sampling_rate
    with torch.inference_mode():
        wav = torch.from_numpy(audio)[None, None]
        latent = model.encoder(wav)
        vq = model.quantizer(latent)
        embedded = model.quantizer.embed(vq.codes)
        out = model.generator(embedded)
        encoded = model.encode(wav)
        decoded = model.decode(encoded.codes, encoded.num_samples)
    got = {"latent": latent, "quantized": vq.quantized, "codes": vq.codes, "embedded": embedded, "audio": out}
    for key, value in got.items():
        ref = expected[key]
        assert value.shape == ref.shape, key
        if key == "codes":
            np.testing.assert_array_equal(value.numpy(), ref)
        else:
            np.testing.assert_allclose(value.numpy(), ref, rtol=1e-4, atol=1e-5, err_msg=key)
    np.testing.assert_array_equal(encoded.codes.numpy(), expected["codes"])
    np.testing.assert_allclose(decoded.numpy(), expected["audio"], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_parameter_counts_of_the_published_16k_model() -> None:
    counts = HiFiCodec.from_config(PRESETS["16k-320d"]).parameter_counts()
    assert counts == {"encoder": 47_228_960, "generator": 15_353_346, "quantizer": 1_048_576}


def test_presets_and_derived_rates() -> None:
    assert [(c.sampling_rate, c.hop_length, c.frame_rate, c.bitrate_kbps) for c in PRESETS.values()] == [
        (16000, 320, 50.0, 2.0), (24000, 320, 75.0, 3.0), (24000, 240, 100.0, 4.0)]
    assert HiFiCodecConfig.preset("HiFi-Codec-24k-240d") is PRESETS["24k-240d"]
    with pytest.raises(HiFiCodecConfigError, match="choose one of 16k-320d, 24k-320d, 24k-240d"):
        HiFiCodecConfig.preset("48k-320d")


def test_official_style_json_loads_and_is_validated(tmp_path: Path) -> None:
    official = {"resblock": "1", "num_gpus": 8, "batch_size": 64, "learning_rate": 0.0002,
                "upsample_rates": [8, 5, 3, 2], "upsample_kernel_sizes": [16, 11, 7, 4],
                "upsample_initial_channel": 512, "resblock_kernel_sizes": [3, 7, 11],
                "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "segment_size": 12000,
                "sampling_rate": 24000, "n_code_groups": 2, "n_codes": 1024,
                "codebook_loss_lambda": 1.0, "commitment_loss_lambda": 0.25,
                "dist_config": {"dist_backend": "nccl"}}
    path = tmp_path / "config_24k_240d.json"
    path.write_text(json.dumps(official))
    assert HiFiCodecConfig.load(path) == PRESETS["24k-240d"]
    text = json.dumps({**official, "latent_dim": 256}, indent=1)
    path.write_text(text)
    line = text.splitlines().index(' "latent_dim": 256') + 1
    with pytest.raises(HiFiCodecConfigError, match=rf"config_24k_240d\.json:{line}: .*'latent_dim'"):
        HiFiCodecConfig.from_json(path)
    path.write_text(json.dumps({**official, "n_code_group": 4}, indent=1))
    with pytest.raises(HiFiCodecConfigError, match=r"\.json:\d+: unknown key 'n_code_group' \(did you mean 'n_code_groups'"):
        HiFiCodecConfig.from_json(path)
    with pytest.raises(HiFiCodecConfigError, match="not found"):
        HiFiCodecConfig.from_json(tmp_path / "missing.json")


def test_tiny_round_trip_lengths_and_checkpoint_format(tmp_path: Path) -> None:
    config = replace(PRESETS["24k-240d"], **TINY)
    torch.manual_seed(0)
    model = HiFiCodec.from_config(config).eval()
    path = tmp_path / "g_00000000"
    torch.save({"generator": model.generator.state_dict(), "encoder": model.encoder.state_dict(),
                "quantizer": model.quantizer.state_dict()}, path)
    loaded = HiFiCodec.from_checkpoint(path, config)
    audio = 0.1 * torch.randn(2, 4 * 240 + 17)
    with torch.inference_mode():
        encoded = loaded.encode(audio)
        again = model.encode(audio)
        out = loaded.decode(encoded.codes, encoded.num_samples)
    assert encoded.codes.shape == (2, 5, 4) and encoded.codes.max() < 32
    assert torch.equal(encoded.codes, again.codes)
    assert out.shape == (2, 1, audio.shape[1]) and out.abs().max() <= 1
    # batch == single items
    with torch.inference_mode():
        single = loaded.encode(audio[1:]).codes
    assert torch.equal(single[0], encoded.codes[1])
    # the quantized latent is the sum of the looked-up codes
    with torch.inference_mode():
        vq = loaded.quantizer(loaded.encoder(audio[:, None, : 4 * 240]))
        torch.testing.assert_close(vq.quantized, loaded.quantizer.embed(vq.codes), rtol=0, atol=1e-6)


def test_checkpoint_errors_are_one_line(tmp_path: Path) -> None:
    config = replace(PRESETS["16k-320d"], **TINY)
    model = HiFiCodec.from_config(config)
    bad = tmp_path / "bad"
    torch.save({"generator": model.generator.state_dict()}, bad)
    with pytest.raises(CheckpointError, match=r"expected keys \['encoder', 'quantizer', 'generator'\]"):
        HiFiCodec.from_checkpoint(bad, config)
    other = replace(config, n_codes=64)
    torch.save({"generator": model.generator.state_dict(), "encoder": model.encoder.state_dict(),
                "quantizer": model.quantizer.state_dict()}, bad)
    with pytest.raises(CheckpointError, match="'quantizer' does not match the config") as err:
        HiFiCodec.from_checkpoint(bad, other)
    assert "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="not found"):
        HiFiCodec.from_checkpoint(tmp_path / "absent", config)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_loads_and_matches_on_gpu(tmp_path: Path) -> None:
    config = replace(PRESETS["16k-320d"], **TINY)
    torch.manual_seed(0)
    model = HiFiCodec.from_config(config).eval()
    path = tmp_path / "g"
    torch.save({"generator": model.generator.state_dict(), "encoder": model.encoder.state_dict(),
                "quantizer": model.quantizer.state_dict()}, path)
    gpu = HiFiCodec.from_checkpoint(path, config, device="cuda")
    audio = 0.1 * torch.randn(1, 3200)
    with torch.inference_mode():
        ref = model.decode(model.encode(audio).codes)
        codes = gpu.encode(audio.cuda()).codes
        out = gpu.decode(codes).cpu()
    assert torch.equal(codes.cpu(), model.encode(audio).codes)
    torch.testing.assert_close(out, ref, rtol=1e-3, atol=1e-4)
