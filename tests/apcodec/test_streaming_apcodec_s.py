"""APCodec-S: streaming equals offline decoding, causality, latency."""

from __future__ import annotations

import pytest
import torch

from apcodec.config import load_config
from apcodec.model import APCodec
from apcodec.streaming import APCodecStream, StreamingDecoder, StreamingEncoder


@pytest.fixture(scope="module")
def causal_model() -> APCodec:
    torch.manual_seed(0)
    model = APCodec.from_config(load_config("tiny_s").model).eval()
    with torch.no_grad():  # non-zero GRN so the cumulative statistics matter
        for name, p in model.named_parameters():
            if "grn" in name:
                p.normal_(0.0, 0.5)
    return model


@pytest.fixture(scope="module")
def audio() -> torch.Tensor:
    torch.manual_seed(1)
    return 0.1 * torch.randn(2, 2100)


def _stream(model: APCodec, audio: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    stream, outs, pos = APCodecStream(model), [], 0
    for size in sizes:
        outs.append(stream.push(audio[:, pos:pos + size]))
        pos += size
    outs.append(stream.push(audio[:, pos:]))
    outs.append(stream.flush())
    return torch.cat(outs, dim=-1)


@pytest.mark.parametrize("sizes", [[], [1, 39, 40, 41, 333, 7, 700], [320] * 5, [97] * 9])
def test_stream_equals_offline(causal_model: APCodec, audio: torch.Tensor, sizes: list[int]) -> None:
    offline = causal_model.decode(causal_model.encode(audio))
    streamed = _stream(causal_model, audio, sizes)
    assert streamed.shape == offline.shape
    assert offline.shape[-1] >= audio.shape[-1]
    assert torch.allclose(streamed, offline, atol=1e-5)


def test_stream_codes_equal_offline_codes(causal_model: APCodec, audio: torch.Tensor) -> None:
    enc = StreamingEncoder(causal_model)
    codes = torch.cat([enc.push(audio[:, :1234]), enc.push(audio[:, 1234:1235]), enc.push(audio[:, 1235:]),
                       enc.flush()], dim=-1)
    assert torch.equal(codes, causal_model.encode(audio))
    dec = StreamingDecoder(causal_model)
    out = torch.cat([dec.push(codes[..., :3]), dec.push(codes[..., 3:]), dec.flush()], dim=-1)
    assert torch.allclose(out, causal_model.decode(codes), atol=1e-5)


def test_changing_future_leaves_past_unchanged(causal_model: APCodec, audio: torch.Tensor) -> None:
    latency = causal_model.latency_samples
    reference = causal_model.decode(causal_model.encode(audio))
    for start in (900, 1281, 1599):
        changed = audio.clone()
        changed[:, start:] += torch.randn_like(changed[:, start:])
        out = causal_model.decode(causal_model.encode(changed))
        assert torch.equal(out[:, : start - latency + 1], reference[:, : start - latency + 1])
        assert not torch.equal(out, reference)


def test_latent_path_is_causal_without_quantization(causal_model: APCodec) -> None:
    """Finer than the codes test: the latent and the decoder output move only after the change."""
    cfg = causal_model.cfg
    x = 0.1 * torch.randn(1, 20 * cfg.samples_per_frame)
    with torch.no_grad():
        base = causal_model(x)
        y = x.clone()
        y[:, 10 * cfg.samples_per_frame:] += 1.0
        moved = causal_model(y)
    assert torch.equal(base.latent_pre_vq[..., :10], moved.latent_pre_vq[..., :10])
    assert not torch.equal(base.latent_pre_vq[..., 10], moved.latent_pre_vq[..., 10])


def test_latency_is_stated(causal_model: APCodec) -> None:
    stream = APCodecStream(causal_model)
    cfg = causal_model.cfg
    assert stream.latency_samples == cfg.hop_size * cfg.ratio + cfg.win_size - cfg.hop_size == 600
    assert stream.latency_ms == pytest.approx(12.5)
    assert load_config("apcodec_s_48k_6kbps").model.causal


def test_non_causal_model_refuses_to_stream() -> None:
    model = APCodec.from_config(load_config("tiny").model)
    with pytest.raises(ValueError, match="causal"):
        APCodecStream(model)
