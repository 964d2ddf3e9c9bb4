"""Batched and chunked encode/decode of the five PyTorch adapters (tiny random models, no downloads).

``encode_batch`` must give exactly the payloads of one-by-one ``encode`` (items of different
lengths, some sharing a forward pass), and ``chunk_seconds`` must cut long inputs into whole-frame
chunks, each coded exactly like a separate input, with honest bit accounting.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from codecbench.suite import check_options
from codecbench.codecs._torch import TorchCodec  # noqa: E402
from codecbench.codecs.apcodec import APCodecAdapter  # noqa: E402
from codecbench.codecs.complex_rvqvae import ComplexRVQVAEAdapter  # noqa: E402
from codecbench.codecs.dac import DacAdapter  # noqa: E402
from codecbench.codecs.encodec import EncodecAdapter  # noqa: E402
from codecbench.codecs.hificodec import HiFiCodecAdapter  # noqa: E402

NAMES = ["dac", "encodec", "hificodec", "complex_rvqvae", "apcodec"]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _save_dac(path: Path) -> dict[str, Any]:
    torch.manual_seed(0)
    config = transformers.DacConfig(encoder_hidden_size=4, decoder_hidden_size=16, hidden_size=16,
                                    downsampling_ratios=[2, 4, 5, 8], upsampling_ratios=[8, 5, 4, 2],
                                    n_codebooks=4, codebook_dim=4, sampling_rate=16000)
    transformers.DacModel(config).save_pretrained(path)
    return {"model": "dac_16khz", "model_dir": str(path)}


def _save_encodec(path: Path, **kwargs: Any) -> dict[str, Any]:
    torch.manual_seed(0)
    config = transformers.EncodecConfig(num_filters=4, hidden_size=16, codebook_dim=16, num_lstm_layers=1, **kwargs)
    model = transformers.EncodecModel(config)
    with torch.no_grad():  # transformers initialises codebooks to zero: every code would be 0
        for layer in model.quantizer.layers:
            layer.codebook.embed.normal_()
    model.save_pretrained(path)
    return {"bitrate": 6.0, "model_dir": str(path)}


def _save_hificodec(path: Path) -> dict[str, Any]:
    from hificodec import PRESETS, HiFiCodec

    config = replace(PRESETS["24k-240d"], upsample_initial_channel=16, latent_dim=64, encoder_base_channels=4,
                     groupnorm_channels=4, n_codes=1024)
    torch.manual_seed(0)
    model = HiFiCodec.from_config(config)
    torch.save({"generator": model.generator.state_dict(), "encoder": model.encoder.state_dict(),
                "quantizer": model.quantizer.state_dict()}, path)
    path.with_suffix(".json").write_text(json.dumps(asdict(config)))
    return {"config": str(path.with_suffix(".json")), "checkpoint": str(path)}


def _save_complex(path: Path) -> dict[str, Any]:
    from complex_rvqvae.checkpoint import save_checkpoint
    from complex_rvqvae.config import load_config
    from complex_rvqvae.model import ComplexRVQVAE

    torch.manual_seed(0)
    model = ComplexRVQVAE.from_config(load_config("tiny")[0])
    with torch.no_grad():
        for stage, book in enumerate(model.quantizer.codebooks):
            book.embed.copy_(torch.randn_like(book.embed) * 0.5 / (stage + 1))
            book.initialized.fill_(True)
    return {"bitrate": 6.0, "checkpoint": str(save_checkpoint(model.eval(), path, step=1))}


ADAPTERS: dict[str, type[TorchCodec]] = {"dac": DacAdapter, "encodec": EncodecAdapter,
                                         "hificodec": HiFiCodecAdapter, "complex_rvqvae": ComplexRVQVAEAdapter,
                                         "apcodec": APCodecAdapter}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("torch_batch")
    return {"dac": _save_dac(root / "dac"), "encodec": _save_encodec(root / "encodec"),
            "hificodec": _save_hificodec(root / "g_tiny"), "complex_rvqvae": _save_complex(root / "complex.pt")}


@pytest.fixture
def make(request: pytest.FixtureRequest, saved: dict[str, dict[str, Any]]) -> Callable[..., TorchCodec]:
    """``make(name, **options)``: the adapter ``name`` on its tiny model (APCodec: the golden checkpoint)."""

    def build(name: str, **options: Any) -> TorchCodec:
        if name == "apcodec":
            golden = request.getfixturevalue("fixture_file")("apcodec_golden_tiny")
            kwargs: dict[str, Any] = {"config": "tiny", "encoder": str(golden / "encoder_00000000"),
                                      "decoder": str(golden / "decoder_00000000")}
        else:
            kwargs = dict(saved[name])
        codec = ADAPTERS[name](**kwargs, **options)
        assert codec.unavailable_reason() is None
        return codec

    return build


def _noise(n: int, seed: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((1, n))).astype(np.float32)


def _count_calls(codec: TorchCodec, method: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """Record the input shape of every call of ``codec.<method>`` (one entry per forward pass)."""
    shapes: list[tuple[int, ...]] = []
    original = getattr(codec, method)

    def wrapped(model: Any, tensor: Any) -> Any:
        shapes.append(tuple(tensor.shape))
        return original(model, tensor)

    monkeypatch.setattr(codec, method, wrapped)
    return shapes


@pytest.mark.parametrize("name", NAMES)
def test_batch_equals_single(name: str, make: Callable[..., TorchCodec], monkeypatch: pytest.MonkeyPatch) -> None:
    codec = make(name)
    frame = codec._frame_samples()
    # Two equal lengths (always one forward pass), a partial frame (DAC, HiFi-Codec and the complex
    # model pad it to the same whole frames, so it joins them), and a longer item (alone).
    lengths = [6 * frame, 6 * frame, 6 * frame - 17, 9 * frame]
    audios = [_noise(n, seed) for seed, n in enumerate(lengths)]
    single = [codec.encode(a) for a in audios]
    encodes = _count_calls(codec, "_encode_tensor", monkeypatch)
    batch = codec.encode_batch(audios)
    assert 1 <= len(encodes) < len(audios) and max(s[0] for s in encodes) >= 2   # really batched
    for one, many, audio in zip(single, batch, audios):
        np.testing.assert_array_equal(many.codes, one.codes)
        assert many.num_samples == audio.shape[1] and many.bits == one.bits and many.side == one.side
    decodes = _count_calls(codec, "_decode_tensor", monkeypatch)
    decoded = codec.decode_batch(batch)
    assert len(decodes) < len(audios)
    for payload, out in zip(single, decoded):
        assert out.shape == (1, payload.num_samples) and out.dtype == np.float32
        np.testing.assert_allclose(out, codec.decode(payload), atol=1e-5, rtol=0)
    assert codec.encode_batch([]) == [] and codec.decode_batch([]) == []


@pytest.mark.parametrize("name", NAMES)
def test_chunks_are_whole_frames_coded_like_separate_inputs(name: str, make: Callable[..., TorchCodec],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    codec = make(name, chunk_seconds=0.1)
    whole = make(name, chunk_seconds=0)
    chunk, frame = codec.chunk_samples(), codec._frame_samples()
    assert chunk is not None and chunk % frame == 0 and whole.chunk_samples() is None
    assert chunk <= 0.1 * codec.sample_rate < chunk + frame
    n = 2 * chunk + chunk // 2 + 7
    audio = _noise(n, 7)
    encodes = _count_calls(codec, "_encode_tensor", monkeypatch)
    payload = codec.encode(audio)
    assert max(s[-1] for s in encodes) <= chunk   # never the whole input at once
    assert payload.side["chunk_samples"] == [chunk, chunk, n - 2 * chunk]
    frames = payload.side["chunk_frames"]
    assert len(frames) == 3 and payload.codes.shape[-1] == sum(frames) and payload.num_samples == n
    # each chunk is coded exactly as that piece of audio alone
    starts = np.cumsum([0, *frames])
    for i, (a, b) in enumerate(((0, chunk), (chunk, 2 * chunk), (2 * chunk, n))):
        alone = whole.encode(audio[:, a:b])
        np.testing.assert_array_equal(payload.codes[:, starts[i]: starts[i + 1]], alone.codes)
    # bits: whole frames per chunk, counted exactly
    unchunked = whole.encode(audio)
    duration = n / codec.sample_rate
    assert payload.kbps(duration) == pytest.approx(
        payload.codes.shape[-1] * payload.codes.shape[0] * payload.bits_per_code / duration / 1000, rel=1e-12)
    extra = 2 if name == "apcodec" else 0   # centred STFT: T // hop + 1 frames, one more per extra chunk
    assert payload.codes.shape[-1] == unchunked.codes.shape[-1] + extra
    decoded = codec.decode(payload)
    assert decoded.shape == (1, n)
    pieces = [whole.decode(whole.encode(audio[:, a:b])) for a, b in ((0, chunk), (chunk, 2 * chunk), (2 * chunk, n))]
    np.testing.assert_allclose(decoded, np.concatenate(pieces, axis=-1), atol=1e-5, rtol=0)
    # full chunks share a pass, within the memory bound
    assert [s[0] for s in encodes] == [2, 1]
    codec.max_batch_seconds = 1.5 * chunk / codec.sample_rate
    encodes.clear()
    np.testing.assert_array_equal(codec.encode(audio).codes, payload.codes)
    assert [s[0] for s in encodes] == [1, 1, 1]
    codec.max_batch_seconds = 60.0
    # a batch mixing a chunked and a short input is still exact
    short = _noise(chunk // 2, 8)
    both = codec.encode_batch([audio, short])
    np.testing.assert_array_equal(both[0].codes, payload.codes)
    np.testing.assert_array_equal(both[1].codes, codec.encode(short).codes)
    assert "chunk_samples" not in both[1].side


@pytest.mark.parametrize("name", NAMES)
def test_chunk_seconds_is_an_option_in_the_identity(name: str, make: Callable[..., TorchCodec]) -> None:
    assert check_options(ADAPTERS[name], {"chunk_seconds": 1.0}, ("bitrate", "device")) is None
    default, short, off = make(name), make(name, chunk_seconds=0.1), make(name, chunk_seconds=0)
    assert default.identity()["chunk_seconds"] == 30.0 and off.identity()["chunk_seconds"] is None
    assert len({json.dumps(c.identity(), sort_keys=True) for c in (default, short, off)}) == 3
    with pytest.raises(ValueError, match="chunk_seconds"):
        make(name, chunk_seconds=-1)


def test_inconsistent_chunk_side_info_is_one_line(make: Callable[..., TorchCodec]) -> None:
    from codecbench.codecs import CodecError, Payload

    codec = make("dac", chunk_seconds=0.1)
    payload = codec.encode(_noise(4 * codec.chunk_samples(), 0))
    broken = Payload.from_codes(payload.codes, 1024, payload.num_samples,
                                chunk_samples=payload.side["chunk_samples"], chunk_frames=[1, 2])
    with pytest.raises(CodecError, match="chunk_frames"):
        codec.decode(broken)


def test_encodec_48k_keeps_its_own_chunks(tmp_path: Path) -> None:
    options = _save_encodec(tmp_path / "e48", sampling_rate=48000, audio_channels=2, normalize=True,
                            chunk_length_s=1.0, overlap=0.01, target_bandwidths=[3.0, 6.0, 12.0, 24.0],
                            use_causal_conv=False, norm_type="time_group_norm")
    codec = EncodecAdapter(**options, chunk_seconds=0.1)
    assert codec.chunk_seconds is None and codec.identity()["chunk_seconds"] is None
    audios = [_noise(48000 + 4000, 0), _noise(3000, 1)]
    batch = codec.encode_batch(audios)
    for audio, payload in zip(audios, batch):
        one = codec.encode(audio)
        np.testing.assert_array_equal(payload.codes, one.codes)
        assert payload.side == one.side and "chunk_samples" not in payload.side
    assert len(batch[0].side["chunk_frames"]) == 2   # the official 1 s chunks, not 0.1 s ones
    for payload, out in zip(batch, codec.decode_batch(batch)):
        np.testing.assert_array_equal(out, codec.decode(payload))


def test_default_protocol_loops(tmp_path: Path) -> None:
    from codecbench.codecs import CODECS

    codec = CODECS.get("identity")()
    audios = [_noise(100, 0), _noise(57, 1)]
    payloads = codec.encode_batch(audios)
    for audio, out in zip(audios, codec.decode_batch(payloads)):
        np.testing.assert_array_equal(out, audio)
    with pytest.raises(ValueError, match="items"):
        codec.encode_batch(audios, items=[None])
