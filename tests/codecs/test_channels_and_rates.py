"""Channels and coding rates of the classic codecs are explicit: stereo in, stereo out unless the
suite downmixes; the coding rate rule is reported; out-of-range bitrates are rejected up front."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecbench.audio import load_audio, resample
from codecbench.cli import main
from codecbench.codecs import CODECS, CodecError
from codecbench.codecs.aac import AacCodec
from codecbench.codecs.mp3 import Mp3Codec, coding_sample_rate
from codecbench.codecs.opus import OpusCodec
from codecbench.suite import SuiteError, load_codec_entry, suite_from_text
from codecbench.transcode import transcode



def voice(sample_rate: int, seconds: float, f0: float, syllables_hz: float) -> np.ndarray:
    """A harmonic voice gliding around ``f0`` with a syllable envelope, ``[T]`` float32."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    freq = f0 + 0.25 * f0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    harmonics = [k for k in range(1, 25) if k * f0 * 1.25 < min(sample_rate / 2, 7000)]
    x = sum(np.sin(k * phase) / k for k in harmonics) * (0.5 + 0.5 * np.sin(2 * np.pi * syllables_hz * t)) ** 2
    return (0.2 * x).astype(np.float32)


@pytest.fixture(scope="module")
def stereo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 44.1 kHz stereo WAV whose channels are different voices (nearly uncorrelated)."""
    rate = 44100
    audio = np.stack([voice(rate, 1.5, 120.0, 3.0), voice(rate, 1.5, 210.0, 4.3)])
    assert abs(np.corrcoef(audio[0], audio[1])[0, 1]) < 0.2
    path = tmp_path_factory.mktemp("stereo") / "stereo_44k.wav"
    sf.write(path, audio.T, rate, subtype="FLOAT")
    return path


def corr(x: np.ndarray, y: np.ndarray) -> float:
    n = min(len(x), len(y))
    return float(np.corrcoef(x[:n], y[:n])[0, 1])


@pytest.mark.parametrize("name,kbps", [("opus", 64), ("mp3", 128), ("aac", 128)])
def test_stereo_file_round_trips_as_stereo(stereo_file: Path, tmp_path: Path, name: str, kbps: int) -> None:
    reference, rate = load_audio(stereo_file)
    assert (reference.shape[0], rate) == (2, 44100)
    codec = CODECS.get(name)(bitrate=kbps)  # default options: the input's channel count
    out = transcode(codec, f"{name}_{kbps}", reference, rate, None, tmp_path, f"{name}{kbps}")
    assert out.audio.shape[0] == 2
    assert (out.coding_channels, out.input_channels) == (2, 2)
    assert out.coding_sample_rate == codec.sample_rate == codec.coding_format(2)[0]
    expected = resample(reference, rate, out.sample_rate)
    for ch, other in ((0, 1), (1, 0)):
        same, crossed = corr(expected[ch], out.audio[ch]), corr(expected[other], out.audio[ch])
        assert same > 0.9, f"{name} channel {ch}: correlation with its own input {same:.3f}"
        assert abs(crossed) < 0.3, f"{name} channel {ch} carries the other channel ({crossed:.3f})"


@pytest.mark.parametrize("name,kbps", [("opus", 24), ("mp3", 64), ("aac", 64)])
def test_channels_1_downmixes_and_says_so(stereo_file: Path, tmp_path: Path, name: str, kbps: int) -> None:
    reference, rate = load_audio(stereo_file)
    codec = CODECS.get(name)(bitrate=kbps, channels=1)
    assert codec.coding_format(2) == (codec.sample_rate, 1)
    out = transcode(codec, f"{name}_{kbps}", reference, rate, None, tmp_path, f"mono{name}{kbps}")
    assert out.audio.shape[0] == 1 and (out.coding_channels, out.input_channels) == (1, 2)
    downmix = resample(reference.mean(axis=0, keepdims=True), rate, out.sample_rate)
    assert corr(downmix[0], out.audio[0]) > 0.8


def test_mp3_coding_rate_follows_the_bitrate_and_is_reported() -> None:
    codec = Mp3Codec(bitrate=16)  # MP3_16
    assert coding_sample_rate(16) == 16000
    assert codec.coding_format(1) == (16000, 1) and codec.coding_format(2) == (16000, 2)
    assert codec.identity()["coding"] == {"1": [16000, 1], "2": [16000, 2]}
    assert Mp3Codec(bitrate=16, sample_rate=22050).coding_format(2) == (22050, 2)
    assert coding_sample_rate(144) == 24000 and coding_sample_rate(64, sample_rate=48000) == 48000


def test_aac_coding_rate_depends_on_kbps_per_channel() -> None:
    codec = AacCodec(bitrate=32)
    assert codec.coding_format(1) == (24000, 1)
    assert codec.coding_format(2) == (16000, 2)  # 16 kbps per channel
    stereo = np.zeros((2, 4410), np.float32)
    prepared = codec.prepare(stereo, 44100)
    assert prepared.shape == (2, 1600) and (codec.sample_rate, codec.channels) == (16000, 2)
    payload = codec.encode(prepared)
    codec.prepare(np.zeros((1, 4410), np.float32), 44100)  # a mono item in between
    assert codec.sample_rate == 24000
    assert codec.decode(payload).shape == (2, 1600)  # the payload says how it was coded


def test_payload_decodes_with_its_own_channel_count() -> None:
    codec = OpusCodec(bitrate=48)
    stereo = np.stack([voice(48000, 0.5, 120.0, 3.0), voice(48000, 0.5, 210.0, 4.3)])
    payload = codec.encode(codec.prepare(stereo, 48000))
    codec.prepare(stereo[:1], 48000)  # the instance now serves a mono item
    out = codec.decode(payload)
    assert out.shape == stereo.shape
    assert corr(stereo[0], out[0]) > 0.9 and corr(stereo[1], out[1]) > 0.9


def test_stereo_below_the_per_channel_range_names_the_fix() -> None:
    codec = AacCodec(bitrate=8)  # fine for mono inputs
    assert codec.prepare(np.zeros((1, 1600), np.float32), 16000).shape == (1, 1600)
    with pytest.raises(CodecError, match=r"8 kbps for 2 channel\(s\).*channels: 1"):
        codec.prepare(np.zeros((2, 1600), np.float32), 16000)


def test_more_than_two_channels_need_an_explicit_downmix() -> None:
    surround = np.zeros((6, 4800), np.float32)
    with pytest.raises(CodecError, match=r"codes 1 or 2 channels but the input has 6; set channels: 1"):
        OpusCodec(bitrate=24).prepare(surround, 48000)
    with pytest.raises(CodecError, match="channels: 1"):
        OpusCodec(bitrate=24).coding_format(6)
    assert OpusCodec(bitrate=24, channels=1).prepare(surround, 48000).shape == (1, 4800)


def test_identity_does_not_depend_on_the_last_item() -> None:
    codec = AacCodec(bitrate=32)
    before = codec.identity()
    codec.prepare(np.zeros((2, 1600), np.float32), 16000)
    assert codec.identity() == before
    assert before != AacCodec(bitrate=32, channels=1).identity()


@pytest.mark.parametrize("cls,bitrate,options,match", [
    (OpusCodec, 1000, {}, r"6-256 kbps for mono, 6-512 for stereo"),
    (OpusCodec, 300, {}, r"set channels: 2"),
    (OpusCodec, 600, {"channels": 2}, r"out of range"),
    (OpusCodec, 12.5, {}, r"whole number"),
    (Mp3Codec, 12, {}, r"MPEG-2 .*8, 16, 24"),
    (Mp3Codec, 8, {"sample_rate": 48000}, r"allowed: 32, 40"),
    (AacCodec, 300, {}, r"48000 Hz: 16-256"),
    (AacCodec, 8, {"channels": 2}, r"8 kbps for 2 channel"),
])
def test_check_bitrate_rejects_out_of_range(cls: type, bitrate: float, options: dict, match: str) -> None:
    problem = cls.check_bitrate(bitrate, options)
    assert problem is not None and problem.startswith(cls.name)
    assert re.search(match, problem), problem


@pytest.mark.parametrize("cls,grid,options", [
    (OpusCodec, (4, 6, 256, 257, 300, 512, 513, 1000), ({}, {"channels": 1}, {"channels": 2})),
    (Mp3Codec, (8, 12, 16, 32, 144, 192, 320, 384), ({}, {"sample_rate": 48000}, {"vbr": True})),
    (AacCodec, (4, 8, 12, 16, 64, 100, 256, 300, 512), ({}, {"channels": 2}, {"sample_rate": 16000})),
])
def test_check_bitrate_is_the_rule_the_adapter_applies(cls: type, grid: tuple, options: tuple) -> None:
    for opts in options:
        for kbps in grid:
            problem = cls.check_bitrate(kbps, opts)
            try:
                cls(bitrate=kbps, **opts)
                built = None
            except CodecError as exc:
                built = str(exc)
            assert (problem is None) == (built is None), (kbps, opts, problem, built)


def test_suite_validation_and_roundtrip_reject_opus_1000(tmp_path: Path) -> None:
    text = ("name: s\ndatasets: [{name: b, type: builtin}]\ncodecs:\n"
            "  - {name: Opus, adapter: opus, bitrates: [12, 1000]}\nmetrics: [si_sdr]\n")
    with pytest.raises(SuiteError, match=r"s\.yaml:4: codecs\[0\]\.bitrates\[1\]: .*6-256 kbps for mono"):
        suite_from_text(text, str(tmp_path / "s.yaml"))
    entry = tmp_path / "opus.yaml"
    entry.write_text("adapter: opus\nbitrate: 1000\n")
    with pytest.raises(SuiteError, match=r"6-512 for stereo"):
        load_codec_entry(entry)
    ok = suite_from_text(text.replace("1000", "512").replace("adapter: opus,", "adapter: opus, options: {channels: 2},"),
                         str(tmp_path / "s.yaml"))
    assert ok.codecs[0].bitrates == [12.0, 512.0]


def test_list_codecs_verbose_shows_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "codecs"]) == 0
    plain = capsys.readouterr().out
    assert "coding rate:" not in plain
    assert main(["list", "codecs", "-v"]) == 0
    out = capsys.readouterr().out
    blocks = {block.split()[0]: block for block in _blocks(out)}
    assert "6-256 for mono, 6-512 for stereo" in blocks["opus"]
    assert "<=16 kbps -> 16000 Hz" in blocks["mp3"] and "kbps per coded channel" in blocks["aac"]
    for name in ("opus", "mp3", "aac"):
        assert "bitrate:" in blocks[name] and "coding rate:" in blocks[name]
        assert "channels: 1 downmixes" in blocks[name] and "stereo is coded as stereo" in blocks[name]
    assert "the input's own channel count" in blocks["identity"]


def _blocks(out: str) -> list[str]:
    """Split ``list -v`` output into one block per adapter (continuation lines are indented)."""
    blocks: list[str] = []
    for line in out.splitlines():
        if line and not line[0].isspace():
            blocks.append(line)
        elif blocks:
            blocks[-1] += "\n" + line
    return blocks
