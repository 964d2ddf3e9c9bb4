"""Round trips of the PyAV adapters (opus, mp3, aac) on a synthetic speech-like signal."""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.suite import check_options
from codecbench.codecs import CODECS, CodecError, Payload
from codecbench.codecs.aac import AacCodec
from codecbench.codecs.mp3 import Mp3Codec
from codecbench.codecs.opus import OpusCodec



def speech_like(sample_rate: int, seconds: float = 2.0, channels: int = 1, voiced_only: bool = False,
                seed: int = 0) -> np.ndarray:
    """[C, T] float32: a gliding 24-harmonic voice with syllable envelope plus noise bursts."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    harmonics = [k for k in range(1, 25) if k * 150 < sample_rate / 2]
    voiced = sum(np.sin(k * phase) / k for k in harmonics) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2
    if voiced_only:
        x = 0.2 * voiced
    else:
        burst = np.sin(2 * np.pi * 1.3 * t) > 0.6
        x = np.where(burst, 0.1 * rng.standard_normal(t.size), 0.2 * voiced)
    out = np.tile(x.astype(np.float32)[None], (channels, 1))
    if channels == 2:  # make the channels distinguishable: right is quieter and delayed 1 ms
        out[1] = 0.5 * np.roll(out[1], sample_rate // 1000)
    return out


def xcorr_lag(x: np.ndarray, y: np.ndarray, max_lag: int = 3000) -> int:
    """Lag (samples) maximising the cross-correlation; positive when ``y`` is late."""
    n = len(x) + len(y)
    c = np.fft.irfft(np.fft.rfft(y, n) * np.conj(np.fft.rfft(x, n)), n)
    window = np.concatenate([c[-max_lag:], c[:max_lag + 1]])
    return int(np.argmax(window)) - max_lag


def snr_db(x: np.ndarray, y: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(x ** 2) / np.sum((x - y) ** 2)))


def round_trip(codec, audio: np.ndarray) -> tuple[Payload, np.ndarray, float]:
    payload = codec.encode(audio)
    out = codec.decode(payload)
    return payload, out, payload.kbps(audio.shape[1] / codec.sample_rate)


# (adapter, kbps, relative tolerance of measured vs declared, max |lag|)
CASES = [
    ("opus", 8, 0.02, 4), ("opus", 24, 0.02, 1), ("opus", 64, 0.02, 1),
    ("mp3", 16, 0.06, 1), ("mp3", 64, 0.06, 1), ("mp3", 128, 0.06, 1),
    ("aac", 24, 0.05, 1), ("aac", 64, 0.05, 1), ("aac", 128, 0.05, 1),
]


@pytest.mark.parametrize("name,kbps,tol,max_lag", CASES)
def test_round_trip_length_delay_and_bitrate(name: str, kbps: int, tol: float, max_lag: int) -> None:
    codec = CODECS.get(name)(bitrate=kbps)
    audio = speech_like(codec.sample_rate)
    payload, out, measured = round_trip(codec, audio)
    assert isinstance(payload.data, bytes) and len(payload.data) > 0
    assert out.dtype == np.float32 and out.shape == audio.shape
    assert np.all(np.isfinite(out))
    assert abs(xcorr_lag(audio[0], out[0])) <= max_lag
    assert abs(measured / kbps - 1) <= tol, f"{name} {kbps} kbps measured {measured:.2f}"
    # the side information is small framing data, not a hidden second bitstream
    assert sum(payload.side["packet_bytes"]) == len(payload.data)


@pytest.mark.parametrize("name,kbps,min_snr", [("opus", 64, 15.0), ("mp3", 128, 18.0), ("aac", 128, 18.0)])
def test_high_bitrate_waveform_snr(name: str, kbps: int, min_snr: float) -> None:
    codec = CODECS.get(name)(bitrate=kbps)
    audio = speech_like(codec.sample_rate, voiced_only=True)
    _, out, _ = round_trip(codec, audio)
    assert snr_db(audio[0], out[0]) > min_snr


@pytest.mark.parametrize("name,rates", [("opus", (8, 24, 64)), ("mp3", (32, 64, 128)), ("aac", (32, 64, 128))])
def test_payload_grows_with_bitrate(name: str, rates: tuple[int, ...]) -> None:
    sizes = []
    for kbps in rates:
        codec = CODECS.get(name)(bitrate=kbps, sample_rate=48000)
        sizes.append(len(codec.encode(speech_like(48000, seconds=1.0)).data))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)


def test_opus_cbr_packets_are_constant_size() -> None:
    payload = OpusCodec(bitrate=24).encode(speech_like(48000, seconds=1.0))
    assert set(payload.side["packet_bytes"]) == {24_000 * 20 // 1000 // 8}  # 60 bytes per 20 ms
    assert payload.side["priming"] == 312


def test_opus_options_change_framing_and_delay() -> None:
    audio = speech_like(48000, seconds=1.0)
    short = OpusCodec(bitrate=24, frame_duration=10).encode(audio)
    assert len(short.side["packet_bytes"]) > 1.9 * len(OpusCodec(bitrate=24).encode(audio).side["packet_bytes"])
    low = OpusCodec(bitrate=32, application="lowdelay")
    payload = low.encode(audio)
    assert payload.side["priming"] < 312
    assert xcorr_lag(audio[0], low.decode(payload)[0]) == 0
    vbr = OpusCodec(bitrate=24, vbr="on", complexity=5, application="voip").encode(audio)
    assert len(set(vbr.side["packet_bytes"])) > 1


def test_opus_at_16k_is_resampled_back_without_delay() -> None:
    codec = OpusCodec(bitrate=16, sample_rate=16000)
    audio = speech_like(16000)
    _, out, measured = round_trip(codec, audio)
    assert out.shape == audio.shape
    assert abs(xcorr_lag(audio[0], out[0])) <= 1
    assert abs(measured / 16 - 1) < 0.02


@pytest.mark.parametrize("name", ["opus", "mp3", "aac"])
def test_stereo_keeps_channels_apart(name: str) -> None:
    codec = CODECS.get(name)(bitrate=128, channels=2, sample_rate=48000)
    audio = speech_like(48000, channels=2, voiced_only=True)
    _, out, _ = round_trip(codec, audio)
    assert out.shape == audio.shape
    assert snr_db(audio[0], out[0]) > 10 and snr_db(audio[1], out[1]) > 10
    assert abs(xcorr_lag(audio[1], out[1])) <= 1


@pytest.mark.parametrize("name", ["opus", "mp3", "aac"])
def test_one_instance_serves_many_items(name: str) -> None:
    codec = CODECS.get(name)(bitrate=32)
    first, second = speech_like(codec.sample_rate, 1.0, seed=1), speech_like(codec.sample_rate, 0.7, seed=2)
    codec.encode(first)
    again = codec.encode(second)
    fresh = CODECS.get(name)(bitrate=32).encode(second)
    assert again.data == fresh.data  # no state carried over from the previous item
    assert codec.decode(again).shape == second.shape


def test_mp3_rejects_unsupported_bitrates_listing_allowed() -> None:
    with pytest.raises(CodecError, match=r"MPEG-2 .*8, 16, 24.*MPEG-1 .*32, 40.*320"):
        Mp3Codec(bitrate=12)
    with pytest.raises(CodecError, match=r"8 kbps is not supported at 48000 Hz; allowed: 32, 40, 48"):
        Mp3Codec(bitrate=8, sample_rate=48000)
    with pytest.raises(CodecError, match=r"allowed: 8-160"):
        Mp3Codec(bitrate=192, sample_rate=24000, vbr=True)
    with pytest.raises(CodecError, match="sample_rate"):
        Mp3Codec(bitrate=64, sample_rate=11025)


def test_mp3_picks_sample_rate_from_bitrate() -> None:
    assert Mp3Codec(bitrate=8).sample_rate == 16000
    assert Mp3Codec(bitrate=32).sample_rate == 24000
    assert Mp3Codec(bitrate=64).sample_rate == 32000
    assert Mp3Codec(bitrate=128).sample_rate == 48000
    assert Mp3Codec(bitrate=144).sample_rate == 24000  # MPEG-2 only
    assert Mp3Codec(bitrate=320).sample_rate == 48000


def test_mp3_abr_is_close_to_target() -> None:
    codec = Mp3Codec(bitrate=96, vbr=True, sample_rate=48000)
    _, out, measured = round_trip(codec, speech_like(48000))
    assert abs(measured / 96 - 1) < 0.15 and out.shape[1] == 96000


def test_aac_range_and_rate_matching() -> None:
    with pytest.raises(CodecError, match="16000 Hz: 8-64"):
        AacCodec(bitrate=8, sample_rate=48000)
    assert AacCodec(bitrate=16).sample_rate == 16000 and AacCodec(bitrate=64).sample_rate == 48000
    audio = speech_like(48000)
    loose = AacCodec(bitrate=128, match_bitrate=False).encode(audio)
    matched = AacCodec(bitrate=128).encode(audio)
    assert matched.bits <= loose.bits
    assert matched.kbps(2.0) <= 128 * 1.02


@pytest.mark.parametrize("kwargs,match", [
    ({"bitrate": 4}, "6-256"), ({"bitrate": 24.5}, "whole number"), ({"application": "music"}, "audio, voip"),
    ({"vbr": "yes"}, "off, on, constrained"), ({"frame_duration": 30}, "2.5, 5.0"), ({"complexity": 11}, "0-10"),
    ({"sample_rate": 44100}, "48000, 24000"), ({"channels": 3}, "1 or 2"),
])
def test_opus_rejects_bad_options(kwargs: dict, match: str) -> None:
    with pytest.raises(CodecError, match=match):
        OpusCodec(**kwargs)


def test_identity_names_versions_and_options() -> None:
    ident = OpusCodec(bitrate=24).identity()
    assert ident["encoder_library"].startswith("libopus")
    assert ident["av"] and ident["libavcodec"] and ident["options"]["vbr"] == "off"
    assert ident != OpusCodec(bitrate=24, complexity=5).identity()
    assert ident != OpusCodec(bitrate=32).identity()
    assert Mp3Codec(bitrate=64).identity()["encoder_library"][0].isdigit()  # LAME "3.100"
    assert AacCodec(bitrate=64).identity()["options"]["match_bitrate"] is True
    opus_options = dict.fromkeys(("application", "complexity", "vbr", "frame_duration", "channels"))
    assert check_options(OpusCodec, opus_options, ("bitrate", "device")) is None
    assert "compexity" in (check_options(OpusCodec, {"compexity": 5}, ("bitrate", "device")) or "")


def test_bad_input_and_corrupt_payload_raise_codec_error() -> None:
    codec = OpusCodec(bitrate=24)
    with pytest.raises(CodecError, match="expected float32"):
        codec.encode(np.zeros((3, 4800), np.float32))  # opus codes 1 or 2 channels
    with pytest.raises(CodecError, match="NaN"):
        codec.encode(np.full((1, 4800), np.nan, np.float32))
    payload = codec.encode(speech_like(48000, seconds=0.5))
    broken = Payload(data=payload.data[:-5], num_samples=payload.num_samples, side=payload.side)
    with pytest.raises(CodecError, match="corrupt"):
        codec.decode(broken)


@pytest.mark.parametrize("name", ["opus", "mp3", "aac"])
def test_backend_available(name: str) -> None:
    assert CODECS.get(name)().unavailable_reason() is None
