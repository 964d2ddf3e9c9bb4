"""The ``apcodec`` codec adapter with the tiny golden checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

from codecbench.codecs.apcodec import APCodecAdapter
from codecbench.codecs.base import CodecError


@pytest.fixture
def golden_dir(fixture_file: Callable[..., Path]) -> Path:
    return fixture_file("apcodec_golden_tiny")


def test_round_trip_reproduces_golden_audio(golden_dir: Path) -> None:
    codec = APCodecAdapter(config="tiny", encoder=str(golden_dir / "encoder_00000000"),
                           decoder=str(golden_dir / "decoder_00000000"))
    assert codec.unavailable_reason() is None and codec.sample_rate == 48000
    audio, _ = sf.read(golden_dir / "input.wav", dtype="float32")
    payload = codec.encode(audio[None])
    expected = np.load(golden_dir / "expected.npz")
    np.testing.assert_array_equal(payload.codes, expected["codes"][0])
    frames = expected["codes"].shape[-1]
    assert payload.bits == frames * 4 * 6  # tiny model: 64-entry codebooks, 6 bits per code
    assert codec.bitrate == pytest.approx(3.6)
    decoded = codec.decode(payload)
    assert decoded.shape == (1, audio.shape[0]) and decoded.dtype == np.float32
    np.testing.assert_allclose(decoded[0], expected["audio"][0, 0, : audio.shape[0]], atol=1e-5)
    ident = codec.identity()
    assert set(ident["weights"]) == {"encoder_00000000", "decoder_00000000"}
    assert ident["n_codebooks"] == 4


def test_bitrate_selects_codebooks(golden_dir: Path) -> None:
    kwargs = dict(config="tiny", encoder=str(golden_dir / "encoder_00000000"), decoder=str(golden_dir / "decoder_00000000"))
    codec = APCodecAdapter(bitrate=1.8, **kwargs)
    assert codec.n_codebooks == 2
    payload = codec.encode(np.zeros((1, 4800), dtype=np.float32))
    assert payload.codes.shape[0] == 2 and payload.bits == payload.codes.shape[1] * 2 * 6
    assert APCodecAdapter(bitrate=4.5, config="apcodec_plus_48k_4.5kbps").n_codebooks == 3


def test_bad_bitrate_lists_allowed() -> None:
    with pytest.raises(CodecError, match=r"allowed: 1.5, 3, 4.5, 6"):
        APCodecAdapter(bitrate=5.0)


def test_missing_weights_give_one_line(tmp_path: Path) -> None:
    reason = APCodecAdapter().unavailable_reason()
    assert reason and "\n" not in reason and "checkpoint" in reason
    reason = APCodecAdapter(checkpoint=str(tmp_path / "missing.pt")).unavailable_reason()
    assert reason and "does not exist" in reason
    with pytest.raises(CodecError, match="both"):
        APCodecAdapter(encoder=str(tmp_path / "e"))


def test_own_checkpoint_format(golden_dir: Path, tmp_path: Path) -> None:
    from apcodec.checkpoint import load_official_checkpoint, save_checkpoint
    from apcodec.config import load_config

    model = load_official_checkpoint(load_config("tiny").model, golden_dir / "encoder_00000000",
                                     golden_dir / "decoder_00000000")
    path = save_checkpoint(model, tmp_path / "tiny.pt")
    codec = APCodecAdapter(checkpoint=str(path))  # config read from the checkpoint
    assert codec.cfg == load_config("tiny").model and codec.bitrate == pytest.approx(3.6)
    audio, _ = sf.read(golden_dir / "input.wav", dtype="float32")
    decoded = codec.decode(codec.encode(audio[None]))
    expected = np.load(golden_dir / "expected.npz")["audio"][0, 0, : audio.shape[0]]
    np.testing.assert_allclose(decoded[0], expected, atol=1e-5)
