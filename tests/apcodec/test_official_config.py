"""The official repository's config.json and trainer state files in the APCodec adapter and trainer."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch

from apcodec.config import load_config
from codecbench.codecs.apcodec import APCodecAdapter
from codecbench.codecs.base import CodecError
from codecbench.errors import ConfigError

BRANCH = {"resblock_kernel_sizes": [3, 7, 11], "resblock_dilation_sizes": [[1, 3, 5]] * 3}


def official_tiny() -> dict[str, Any]:
    """An official-style config.json (the keys of the official repository, docs/reference.md and the
    golden fixture's README), shrunk like the golden-vector model (widths 32/64, 2 blocks, 64 codes)."""
    h: dict[str, Any] = {
        "test_wav_output_dir": "output_wav", "batch_size": 16, "learning_rate": 0.0002, "adam_b1": 0.8,
        "adam_b2": 0.99, "lr_decay": 0.999, "seed": 1234, "training_epochs": 3100, "stdout_interval": 5,
        "checkpoint_interval": 5000, "summary_interval": 100, "validation_interval": 5000,
        "checkpoint_path": "cp_Encoder_Decoder",
    }
    for branch in ("AMP_Encoder", "PHA_Encoder", "AMP_Decoder", "PHA_Decoder"):
        h[f"{branch}_channel"] = 32
        h.update({f"{branch}_{k}": v for k, v in BRANCH.items()})
    h.update({
        "AMP_Encoder_input_conv_kernel_size": 7, "AMP_Encoder_output_downconv_kernel_size": 7,
        "PHA_Encoder_input_conv_kernel_size": 7, "PHA_Encoder_output_downconv_kernel_size": 7,
        "AMP_Decoder_input_upconv_kernel_size": 16, "AMP_Decoder_output_conv_kernel_size": 7,
        "PHA_Decoder_input_upconv_kernel_size": 16, "PHA_Decoder_output_R_conv_kernel_size": 7,
        "PHA_Decoder_output_I_conv_kernel_size": 7, "latent_output_conv_kernel_size": 7,
        "latent_input_conv_kernel_size": 7, "ratio": 8, "latent_dim": 32, "segment_size": 7960, "num_mels": 80,
        "n_fft": 1024, "hop_size": 40, "win_size": 320, "num_mels_for_loss": 80, "sampling_rate": 48000,
        "num_workers": 4, "convnext_dim": 32, "convnext_intermediate_dim": 64, "convnext_layers": 2,
        "n_codebooks": 4, "codebook_size": 64,
    })
    return h


def _write(path: Path, h: dict[str, Any]) -> Path:
    path.write_text(json.dumps(h, indent=2))
    return path


def test_official_config_json_loads_in_the_adapter_as_the_same_model(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path / "config.json", official_tiny())
    with caplog.at_level(logging.INFO, logger="apcodec.config"):
        codec = APCodecAdapter(config=str(path))
    assert codec.cfg == load_config("tiny").model
    assert codec.bitrate == pytest.approx(3.6)
    notes = [r.getMessage() for r in caplog.records if r.name == "apcodec.config"]
    assert len(notes) == 1 and "\n" not in notes[0]
    assert "test_wav_output_dir" in notes[0] and "checkpoint_path" in notes[0] and "batch_size" not in notes[0]
    assert APCodecAdapter.check_bitrate(1.8, {"config": str(path)}) is None
    assert "allowed: 0.9, 1.8, 2.7, 3.6" in (APCodecAdapter.check_bitrate(6.0, {"config": str(path)}) or "")


def test_official_config_json_feeds_the_trainer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from apcodec.losses import LossConfig
    from apcodec.train import main
    from codecbench.training.config import TrainConfig

    path = _write(tmp_path / "config.json", official_tiny())
    exp = load_config(path)
    train = TrainConfig.from_dict(exp.train, exp.locate)
    assert (train.batch_size, train.learning_rate, train.betas, train.lr_decay) == (16, 2e-4, (0.8, 0.99), 0.999)
    assert (train.max_epochs, train.log_interval, train.segment_size, train.num_workers) == (3100, 5, 7960, 4)
    assert LossConfig.from_dict(exp.loss, exp.locate).n_mels == 80
    assert main(["--config", str(path), "--print-model"]) == 0
    official = json.loads(capsys.readouterr().out)
    tiny = json.loads(_print_model("tiny", capsys))
    assert official["encoder"] == tiny["encoder"] > 0 and official["decoder"] == tiny["decoder"] > 0


def _print_model(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    from apcodec.train import main

    assert main(["--config", name, "--print-model"]) == 0
    return capsys.readouterr().out


def test_official_config_with_golden_weights_reproduces_golden_audio(tmp_path: Path,
                                                                     fixture_file: Callable[..., Path]) -> None:
    import soundfile as sf

    golden = fixture_file("apcodec_golden_tiny")
    for config in (golden / "config.json", _write(tmp_path / "config.json", official_tiny())):
        codec = APCodecAdapter(config=str(config), encoder=str(golden / "encoder_00000000"),
                               decoder=str(golden / "decoder_00000000"))
        audio, _ = sf.read(golden / "input.wav", dtype="float32")
        payload = codec.encode(audio[None])
        expected = np.load(golden / "expected.npz")
        np.testing.assert_array_equal(payload.codes, expected["codes"][0])
        np.testing.assert_allclose(codec.decode(payload)[0], expected["audio"][0, 0, : audio.shape[0]], atol=1e-5)


def test_unknown_official_key_is_located_with_did_you_mean(tmp_path: Path) -> None:
    h = official_tiny()
    h["sampling_rte"] = h.pop("sampling_rate")
    path = _write(tmp_path / "config.json", h)
    line = path.read_text().splitlines().index('  "sampling_rte": 48000') + 1
    with pytest.raises(CodecError, match=rf"{path}:{line}: unknown key 'sampling_rte' \(did you mean 'sampling_rate'\?\)"):
        APCodecAdapter(config=str(path))
    with pytest.raises(ConfigError, match=rf"^{path}:{line}: unknown key 'sampling_rte'"):
        load_config(path)


def test_official_twin_keys_must_agree(tmp_path: Path) -> None:
    h = official_tiny()
    h["PHA_Decoder_channel"] = 64
    path = _write(tmp_path / "config.json", h)
    line = path.read_text().splitlines().index('  "PHA_Decoder_channel": 64,') + 1
    with pytest.raises(ConfigError, match=rf"^{path}:{line}: PHA_Decoder_channel: is 64 but AMP_Encoder_channel is 32"):
        load_config(path)
    h = official_tiny()
    h["convnext_layers"] = 0
    path = _write(tmp_path / "config.json", h)
    line = path.read_text().splitlines().index('  "convnext_layers": 0,') + 1
    with pytest.raises(ConfigError, match=rf"^{path}:{line}: model.num_layers must be a positive integer"):
        load_config(path)


@pytest.fixture
def tiny_run(tmp_path: Path, one_thread: None, write_tones: Any) -> Path:
    """A one-step training run of the tiny config through the CLI (state file + export)."""
    from apcodec.train import main

    write_tones(tmp_path / "data", 3)
    assert main(["--config", "tiny", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
                 "--steps", "1", "--device", "cpu"]) == 0
    return tmp_path / "run"


def test_trainer_state_file_loads_as_checkpoint(tiny_run: Path) -> None:
    state = tiny_run / "checkpoints" / "state_00000001.pt"
    export = tiny_run / "export" / "apcodec_00000001.pt"
    from_state = APCodecAdapter(checkpoint=str(state))
    from_export = APCodecAdapter(checkpoint=str(export))
    assert from_state.cfg == from_export.cfg == load_config("tiny").model
    assert from_state.unavailable_reason() is None
    audio = (0.1 * np.sin(np.arange(4800) / 7.0)).astype(np.float32)[None]
    payload = from_state.encode(audio)
    np.testing.assert_array_equal(payload.codes, from_export.encode(audio).codes)
    np.testing.assert_array_equal(from_state.decode(payload), from_export.decode(payload))


def test_unusable_state_file_names_the_export_to_use(tiny_run: Path) -> None:
    foreign = tiny_run / "checkpoints" / "state_00000009.pt"
    torch.save({"version": 1, "modules": {"model": {}}, "config": {}}, foreign)
    with pytest.raises(CodecError, match=r"training state without an APCodec generator \(modules \['model'\]\); "
                                         rf"give the exported {tiny_run / 'export' / 'apcodec_00000001.pt'} instead"):
        APCodecAdapter(checkpoint=str(foreign)).encode(np.zeros((1, 4800), np.float32))
    other = tiny_run / "checkpoints" / "state_00000008.pt"
    torch.save({"version": 1, "modules": {"generator": {}}, "config": {"model": {"hop": 132}}}, other)
    with pytest.raises(CodecError, match=r"training state of another model .*unknown key 'model.hop'.*give the exported"):
        APCodecAdapter(checkpoint=str(other))


def test_cli_roundtrip_with_official_config_prints_the_note_once(tmp_path: Path, fixture_file: Callable[..., Path],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from codecbench.cli import main

    golden = fixture_file("apcodec_golden_tiny")
    config = _write(tmp_path / "config.json", official_tiny())
    entry = tmp_path / "apcodec.yaml"
    entry.write_text(f"adapter: apcodec\nbitrate: 3.6\noptions:\n  config: {config}\n"
                     f"  encoder: {golden / 'encoder_00000000'}\n  decoder: {golden / 'decoder_00000000'}\n")
    assert main(["roundtrip", str(entry), str(golden / "input.wav"), str(tmp_path / "out.wav"), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("codecbench: note: ")]
    assert len(notes) == 1 and "ignoring" in notes[0] and "test_wav_output_dir" in notes[0], err
