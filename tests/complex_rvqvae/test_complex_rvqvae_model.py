"""Model structure: complex parameters and activations everywhere, shapes, RVQ behaviour."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from complex_rvqvae.layers import ComplexConv1d, ComplexConv2d, ComplexConvTranspose2d, ComplexLinear
from complex_rvqvae.model import ComplexRVQVAE
from complex_rvqvae.quantizer import ResidualVQ

WEIGHTED = (ComplexConv1d, ComplexConv2d, ComplexConvTranspose2d, ComplexLinear)


@pytest.mark.parametrize("activation", ["modrelu", "cardioid"])
def test_parameters_and_activations_are_complex(tiny_cfg, activation):
    cfg = dataclasses.replace(tiny_cfg[0], activation=activation)
    model = ComplexRVQVAE.from_config(cfg).train()
    weighted = [m for m in model.modules() if isinstance(m, WEIGHTED)]
    assert len(weighted) > 20
    for module in weighted:
        assert module.weight.dtype == torch.cfloat and module.bias.dtype == torch.cfloat
    # No real-valued conv/linear layer hides anywhere in the network.
    assert not any(isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) for m in model.modules())

    seen: dict[str, torch.dtype] = {}

    def hook(name):
        def record(module, inputs, output):
            seen[name] = output.dtype
        return record

    # The reference path calls every module on complex tensors (the fast path runs the same
    # arithmetic on their stacked [re; im] layout; test_fast_path_equals_complex_reference).
    handles = [m.register_forward_hook(hook(f"{part}.{n}"))
               for part in ("encoder", "decoder") for n, m in getattr(model, part).named_modules() if n]
    spec = model.analyze(model.pad(0.1 * torch.randn(1, 1760))).unsqueeze(1)
    latent = model.encoder.forward_complex(spec)
    decoded = model.decoder.forward_complex(model._quantize(latent, None).quantized)
    for h in handles:
        h.remove()
    assert len(seen) > 50
    real = {n: d for n, d in seen.items() if d != torch.cfloat}
    assert not real, f"real-valued intermediate activations: {sorted(real)[:5]}"
    assert latent.dtype == torch.cfloat and decoded.dtype == torch.cfloat
    out = model(0.1 * torch.randn(1, 1760))
    assert out.vq.quantized.dtype == torch.cfloat and out.spec.dtype == torch.cfloat


@pytest.mark.parametrize("activation", ["modrelu", "cardioid"])
def test_fast_path_equals_complex_reference(tiny_cfg, activation):
    """The stacked channels-last path (cached weights, in-place math when autograd is off) equals
    the module-by-module complex reference, in training (values and gradients) and inference."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(tiny_cfg[0], activation=activation)
    model = ComplexRVQVAE.from_config(cfg).train()
    with torch.no_grad():  # move every parameter off its init (gamma_ri = 0, zero biases)
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    spec = model.analyze(model.pad(0.1 * torch.randn(2, 1760))).unsqueeze(1)
    latent = torch.randn(2, cfg.latent_dim, 10, dtype=torch.cfloat)
    ref_enc, ref_dec = model.encoder.forward_complex(spec), model.decoder.forward_complex(latent)
    params = [p for p in model.parameters() if p.requires_grad]
    ref_grads = torch.autograd.grad(ref_enc.abs().pow(2).sum() + ref_dec.abs().pow(2).sum(), params)
    enc, dec = model.encoder(spec), model.decoder(latent)
    grads = torch.autograd.grad(enc.abs().pow(2).sum() + dec.abs().pow(2).sum(), params)
    torch.testing.assert_close(enc, ref_enc, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(dec, ref_dec, atol=1e-3, rtol=1e-3)
    # Per-position whitening amplifies float rounding in the backward pass (1e-7 input noise moves
    # the reference gradients by ~1e-3 relative), so compare gradients by relative norm.
    for (name, _), g, ref in zip(((n, p) for n, p in model.named_parameters() if p.requires_grad), grads, ref_grads):
        assert (g - ref).norm() <= 1e-2 * ref.norm() + 1e-6, name
    model.eval()
    for context in (torch.no_grad, torch.inference_mode):
        for _ in range(2):  # second pass runs on cached block weights
            with context():
                torch.testing.assert_close(model.encoder(spec), ref_enc.detach(), atol=1e-3, rtol=1e-3)
                torch.testing.assert_close(model.decoder(latent), ref_dec.detach(), atol=1e-3, rtol=1e-3)
    with torch.no_grad():  # the cache follows weight updates (load_state_dict, optimiser steps)
        model.decoder.head.weight.mul_(2.0)
        torch.testing.assert_close(model.decoder(latent), model.decoder.forward_complex(latent), atol=1e-3, rtol=1e-3)


def test_shapes_frame_rate_and_lengths(tiny_cfg):
    cfg = tiny_cfg[0]
    model = ComplexRVQVAE.from_config(cfg).eval()
    assert cfg.samples_per_frame == 176 and abs(cfg.frame_rate - 1000 / 11) < 1e-9
    audio = 0.1 * torch.randn(2, 1000)  # not a whole number of frames -> padded to 6 * 176
    out = model(audio, n_stages=3)
    assert out.audio.shape == (2, 1056) and out.spec.shape == (2, 64, 24)
    assert out.vq.codes.shape == (2, 3, 6)
    codes = model.encode(audio, 5)
    assert codes.shape == (2, 5, 6) and codes.dtype == torch.int64
    assert model.decode(codes).shape == (2, 1056)


def test_stft_round_trip_is_near_perfect(tiny_cfg):
    model = ComplexRVQVAE.from_config(tiny_cfg[0])
    t = torch.arange(1760) / 16000.0
    audio = (0.5 * torch.sin(2 * torch.pi * 440 * t) + 0.2 * torch.sin(2 * torch.pi * 3000 * t))[None]
    back = model.synthesize(model.analyze(audio))
    # Only the dropped Nyquist bin (window leakage, edge reflection) is lost.
    error = (back - audio).abs()
    assert error.max() < 5e-3 and error.mean() < 1e-3


def test_rvq_dropout_ema_and_dead_code_revival():
    torch.manual_seed(1)
    rvq = ResidualVQ(dim=4, n_stages=4, codebook_size=64, decay=0.9, dead_threshold=0.5, dropout=1.0,
                     dropout_stages=(1, 2)).train()
    latent = torch.randn(8, 4, 20, dtype=torch.cfloat)
    first = rvq(latent)  # initialises all codebooks from the batch
    assert all(bool(b.initialized) for b in rvq.codebooks)
    out = rvq(latent)
    # Dropout: every item used 1 or 2 stages; unused stages are marked -1.
    used = (out.codes >= 0).sum(1)[:, 0]
    assert set(used.tolist()) <= {1, 2} and out.codes.shape[1] <= 2
    assert (out.perplexity >= 1).all() and (out.usage > 0).all() and out.usage.max() <= 1
    # Never-used codes decay below the threshold (0.9^7 < 0.5) and are replaced by batch vectors.
    assert first.replaced == 0
    assert sum(rvq(latent).replaced for _ in range(8)) > 0
    book = rvq.codebooks[0]
    before = book.embed.clone()
    book.cluster_size[:10] = 0.0
    rvq(latent)
    assert not torch.equal(book.embed[:10], before[:10])
    assert (book.cluster_size >= 0.5 * 0.9).all()
    # Eval decodes the codes back to exactly the quantised latent.
    rvq.eval()
    q = rvq(latent, n_stages=3)
    torch.testing.assert_close(rvq.decode(q.codes), q.quantized, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="1..4"):
        rvq(latent, n_stages=5)


def test_more_stages_reconstruct_the_latent_better():
    torch.manual_seed(2)
    rvq = ResidualVQ(dim=8, n_stages=6, codebook_size=128, dropout=0.0).train()
    latent = torch.randn(4, 8, 50, dtype=torch.cfloat)
    for _ in range(20):
        rvq(latent)
    rvq.eval()
    errors = [float((rvq(latent, n_stages=n).quantized - latent).abs().pow(2).mean()) for n in (1, 3, 6)]
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize("length, window", [(50, 4), (33, 8), (7, 3)])
def test_banded_attention_equals_masked_full_attention(length, window):
    import torch.nn.functional as F

    from complex_rvqvae.blocks import banded_attention

    q, k, v = (torch.randn(2, 3, length, 6, dtype=torch.float64, requires_grad=True) for _ in range(3))
    idx = torch.arange(length)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=(idx[None] - idx[:, None]).abs() <= window)
    out = banded_attention(q, k, v, window)
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
