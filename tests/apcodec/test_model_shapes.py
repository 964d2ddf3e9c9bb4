"""Shapes, training outputs, gradients and inference preparation of the tiny model."""

from __future__ import annotations

import pytest
import torch

from apcodec.config import load_config
from apcodec.discriminators import MultiPeriodDiscriminator, MultiResolutionDiscriminator
from apcodec.model import APCodec, CodecOutput


@pytest.fixture(scope="module")
def tiny() -> APCodec:
    torch.manual_seed(0)
    return APCodec.from_config(load_config("tiny").model)


def test_training_crop_round_trips_exactly(tiny: APCodec) -> None:
    out = tiny(torch.randn(2, 7960) * 0.1)
    assert isinstance(out, CodecOutput)
    assert out.logamp.shape == (2, 513, 200) and out.latent_pre_vq.shape == (2, 32, 25)
    assert out.quantized.codes.shape == (2, 4, 25) and out.quantized.codes.dtype == torch.long
    assert out.decoded.logamp.shape == (2, 513, 200) and out.decoded.audio.shape == (2, 1, 7960)
    assert out.audio.shape == (2, 1, 7960)
    assert out.quantized.codebook_loss.dim() == 0 and out.quantized.commitment_loss.dim() == 0


def test_gradients_reach_encoder_and_codebooks(tiny: APCodec) -> None:
    out = tiny(torch.randn(1, 7960) * 0.1)
    loss = out.decoded.audio.pow(2).mean() + out.quantized.codebook_loss + out.quantized.commitment_loss
    loss.backward()
    assert tiny.encoder.embed_logamp.weight.grad is not None
    assert tiny.quantizer.quantizers[0].codebook.weight.grad is not None
    tiny.zero_grad()


def test_one_second_lengths(tiny: APCodec) -> None:
    codes = tiny.encode(torch.zeros(1, 48000))
    assert codes.shape == (1, 4, 151)
    assert tiny.decode(codes).shape == (1, 48280)


def test_fewer_codebooks(tiny: APCodec) -> None:
    x = torch.randn(1, 4000) * 0.1
    assert tiny.encode(x, n_codebooks=2).shape[1] == 2
    assert tiny.decode(tiny.encode(x, n_codebooks=2)).shape[-1] == tiny.decode(tiny.encode(x)).shape[-1]
    with pytest.raises(ValueError, match="1..4"):
        tiny.encode(x, n_codebooks=5)


def test_prepare_for_inference_keeps_outputs() -> None:
    torch.manual_seed(0)
    model = APCodec.from_config(load_config("tiny").model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "grn" in name:
                p.normal_(0.0, 0.5)
    x = torch.randn(2, 5000) * 0.1
    codes = model.encode(x)
    audio = model.decode(codes)
    model.prepare_for_inference()
    assert not any(p.requires_grad for p in model.parameters())
    assert torch.equal(model.encode(x), codes)
    assert torch.allclose(model.decode(codes), audio, atol=1e-5)


def test_causal_forward_pads_to_blocks() -> None:
    model = APCodec.from_config(load_config("tiny_s").model)
    out = model(torch.randn(1, 7960) * 0.1)
    assert out.audio.shape == (1, 1, 8000) and out.decoded.audio.shape == (1, 1, 8000)
    assert out.logamp.shape[-1] == 200 and out.latent_pre_vq.shape[-1] == 25


def test_discriminators_output_structure() -> None:
    real, fake = torch.randn(2, 1, 3000), torch.randn(2, 1, 3000)
    for disc, count in ((MultiPeriodDiscriminator(periods=(2, 3)), 2), (MultiResolutionDiscriminator(), 3)):
        r_logits, f_logits, r_maps, f_maps = disc(real, fake)
        assert len(r_logits) == len(f_logits) == len(r_maps) == len(f_maps) == count
        assert all(t.shape[0] == 2 and t.dim() == 2 for t in r_logits)
        assert all(len(m) == 6 for m in r_maps)
