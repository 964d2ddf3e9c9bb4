"""`codecbench roundtrip`: one codec entry, one file, measured kbps and RTF printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

from codecbench.cli import main


def _speech(path: Path, rate: int = 48000) -> None:
    t = np.arange(rate) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 2 * t)).astype(np.float32), rate)


def test_roundtrip_opus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entry = tmp_path / "opus.yaml"
    entry.write_text("adapter: opus\nbitrate: 24\n")
    _speech(tmp_path / "in.wav")
    assert main(["roundtrip", str(entry), str(tmp_path / "in.wav"), str(tmp_path / "out.wav")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["measured_kbps"] == pytest.approx(24, rel=0.05) and report["encode_rtf"] > 0
    assert report["measured_kbps_is"] == "size of the encoded byte stream"
    out, rate = sf.read(tmp_path / "out.wav")
    assert rate == 48000 and len(out) == 48000


def test_roundtrip_official_checkpoints_reproduce_golden_audio(fixture_file: Callable[..., Path], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    golden = fixture_file("apcodec_golden_tiny")
    entry = tmp_path / "apcodec.yaml"
    entry.write_text(f"adapter: apcodec\nname: APCodec-tiny\noptions:\n  config: tiny\n"
                     f"  encoder: {golden / 'encoder_00000000'}\n  decoder: {golden / 'decoder_00000000'}\n")
    out = tmp_path / "out.wav"
    assert main(["roundtrip", str(entry), str(golden / "input.wav"), str(out), "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = np.load(golden / "expected.npz")
    decoded, rate = sf.read(out, dtype="float32")
    assert rate == 48000
    np.testing.assert_allclose(decoded, expected["audio"][0, 0, : len(decoded)], atol=1e-5)
    frames = expected["codes"].shape[-1]
    assert report["measured_kbps"] == pytest.approx(frames * 4 * 6 / report["seconds"] / 1000)
    assert report["measured_kbps_is"].startswith("nominal payload rate of the code array")


def test_roundtrip_missing_weights_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entry = tmp_path / "apcodec.yaml"
    entry.write_text("adapter: apcodec\nbitrate: 6\noptions: {config: 48k_6kbps, checkpoint: nope.pt}\n")
    _speech(tmp_path / "in.wav")
    assert main(["roundtrip", str(entry), str(tmp_path / "in.wav"), str(tmp_path / "out.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("codecbench: error: ") and "nope.pt" in err and len(err.splitlines()) == 1
