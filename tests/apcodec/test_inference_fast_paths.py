"""Inference fast paths: every fold of apcodec.inference against the module path it replaces."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from apcodec import cpu_kernels, fused_layers
from apcodec.config import load_config
from apcodec.fused_layers import (FusedConvNeXtBlock, TapConv, Workspace, fold_linear_into_taps, tap_bias,
                                  toom_cook_matrices)
from apcodec.inference import DecoderFront, _FoldedBias
from apcodec.model import APCodec
from apcodec.modules import ConvNeXtBlock, even_step
from apcodec.stft import (causal_istft_audio, causal_stft_spectra, istft_audio, overlap_add_segments, polar_spectrum,
                          stft_logamp_phase_frames, stft_spectra, synthesis_segments)


def _tiny_with_grn() -> APCodec:
    torch.manual_seed(0)
    model = APCodec.from_config(load_config("tiny").model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "grn" in name:
                p.normal_(0.0, 0.5)
    return model


def _close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-5) -> bool:
    return a.shape == b.shape and float((a - b).abs().max()) <= rel * max(1.0, float(b.abs().max()))


# ----------------------------------------------------------------------------- fused ConvNeXt block
@pytest.mark.parametrize("kernels", [True, False], ids=["numba", "aten"])
@pytest.mark.parametrize("frames", [1, 4, 37, 300])
def test_fused_block_matches_the_module_block(frames: int, kernels: bool, monkeypatch: pytest.MonkeyPatch,
                                             gemm_backend: str) -> None:
    torch.manual_seed(frames)
    if not kernels:
        monkeypatch.setattr(cpu_kernels, "applies", lambda x: False)
    block = ConvNeXtBlock(16, 32).eval()
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0.0, 0.3)   # LayerNorm affine, GRN gamma/beta all non-trivial
    x = torch.randn(2, frames, 16)
    with torch.no_grad():
        ref = block(x)
    monkeypatch.setattr(fused_layers, "BLOCK_CHUNK_BYTES", 1)   # 64-frame chunks: GRN sums across chunks
    with torch.inference_mode():
        fused = FusedConvNeXtBlock(block)
        assert _close(fused(x.clone()), ref)


def test_even_step_balances_two_halves() -> None:
    for total, most in ((2408, 1008), (12001, 2048), (5, 1008), (100, 64)):
        step = even_step(total, most)
        chunks = -(-total // step)
        assert step <= most and (chunks % 2 == 0 or chunks == 1)


# ----------------------------------------------------------------------------- Winograd / tap convolutions
@pytest.mark.parametrize(("tile", "taps"), [(2, 3), (2, 5), (2, 7), (4, 7)])
def test_toom_cook_matrices_give_the_correlation(tile: int, taps: int) -> None:
    a_t, g, b_t = toom_cook_matrices(tile, taps)
    kernel, signal = torch.randn(taps, dtype=torch.float64), torch.randn(taps + tile - 1, dtype=torch.float64)
    expected = torch.stack([(kernel * signal[j:j + taps]).sum() for j in range(tile)])
    assert torch.allclose(a_t @ ((g @ kernel) * (b_t @ signal)), expected, atol=1e-12)


@pytest.mark.parametrize(("winograd", "tile"), [(True, 2), (True, 4), (False, 2)])
@pytest.mark.parametrize("frames", [1, 2, 3, 5, 8, 101])
def test_tap_conv_matches_conv1d(winograd: bool, tile: int, frames: int, monkeypatch: pytest.MonkeyPatch,
                                 gemm_backend: str) -> None:
    torch.manual_seed(frames)
    weight, x = torch.randn(13, 6, 7), torch.randn(2, frames, 6)
    ref = F.conv1d(x.transpose(1, 2), weight, padding=3).transpose(1, 2)
    conv = TapConv(weight, winograd, tile)
    assert _close(conv(x), ref)
    monkeypatch.setattr(fused_layers, "CHUNK_BYTES", 1)   # chunks of 64 frames: chunk edges inside the signal
    assert _close(conv(x), ref)
    assert _close(conv.frames(x, frames // 3, frames), ref[:, frames // 3:])


# ----------------------------------------------------------------------------- Linear folded into a conv
@pytest.mark.parametrize("stride", [1, 8])
@pytest.mark.parametrize("frames", [1, 2, 4, 9, 17, 40])
def test_linear_folded_into_taps_is_exact_at_the_edges(stride: int, frames: int) -> None:
    torch.manual_seed(frames)
    norm, linear, conv = nn.LayerNorm(5), nn.Linear(5, 6), nn.Conv1d(6, 4, 7, stride=stride, padding=3)
    with torch.no_grad():
        for p in (norm.weight, norm.bias, conv.bias):
            p.normal_()
    x = torch.randn(2, frames, 5)
    with torch.no_grad():
        ref = conv(linear(norm(x)).transpose(1, 2)).transpose(1, 2)
        weight, taps = fold_linear_into_taps(conv.weight, linear, norm)
        folded = F.conv1d(F.layer_norm(x, (5,)).transpose(1, 2), weight, stride=stride, padding=3).transpose(1, 2)
        assert _close(_FoldedBias(taps, conv.bias, frames, stride).add_(folded.contiguous()), ref)
    _, index, _ = tap_bias(taps, conv.bias, frames, stride)
    assert index.numel() <= 2 * math.ceil(3 / stride) + 1   # only frames near the ends get their own bias


# ----------------------------------------------------------------------------- decoder front
@pytest.mark.parametrize("latent_frames", [1, 2, 3, 22, 23, 40])
def test_decoder_front_matches_the_module_chain(latent_frames: int, gemm_backend: str) -> None:
    dec = _tiny_with_grn().prepare_for_inference().decoder
    for up, embed in ((dec.AMP_Decoder_upsample_input_conv, dec.embed_logamp),
                      (dec.PHA_Decoder_upsample_input_conv, dec.embed_pha)):
        with torch.no_grad():
            up.bias.normal_()  # a non-zero upsampler bias shows up only at the edges
        front = DecoderFront(dec.latent_input_conv, up, embed, dec.cfg.ratio)
        z = torch.randn(2, dec.cfg.latent_dim, latent_frames)
        with torch.no_grad():
            ref = embed(up(dec.latent_input_conv(z))).transpose(1, 2)
            assert _close(front(z), ref)


# ----------------------------------------------------------------------------- spectra
@pytest.mark.parametrize("length", [513, 1000, 4001])
def test_frames_last_analysis_matches_stft_spectra(length: int) -> None:
    cfg = load_config("tiny").model
    audio = torch.randn(2, length) * 0.1
    ref = stft_spectra(audio, cfg)
    logamp, pha = stft_logamp_phase_frames(audio, cfg, chunk_frames=7)   # many chunk boundaries
    assert torch.equal(logamp.transpose(1, 2), ref.logamp)   # bit-identical: near-zero bins are ill-conditioned
    assert torch.allclose(pha.transpose(1, 2), ref.pha, atol=4e-7, rtol=0)   # within 1 ulp of pi


def test_causal_synthesis_reconstructs_the_causal_analysis() -> None:
    """Causal analysis then synthesis gives the input back, except the last ``win - hop`` samples,
    which wait for the next frames (a stream's flush; ``APCodec.encode`` pads for them)."""
    cfg = load_config("tiny_s").model
    torch.manual_seed(0)
    audio = torch.randn(2, cfg.hop_size * 50)
    spectra = causal_stft_spectra(audio, cfg)
    out = causal_istft_audio(spectra.rea, spectra.imag, cfg)
    done = audio.shape[-1] - (cfg.win_size - cfg.hop_size)
    assert out.shape == audio.shape
    assert torch.allclose(out[:, :done], audio[:, :done], atol=1e-5)


def test_polar_spectrum_matches_exp_cos_sin_of_atan2_including_zeros() -> None:
    logamp, rea, imag = torch.randn(2, 9, 5), torch.randn(2, 9, 5), torch.randn(2, 9, 5)
    rea[0, 0, :3], imag[0, 0, :3] = torch.tensor([0.0, -0.0, 0.0]), torch.tensor([0.0, 0.0, -0.0])
    pha = torch.atan2(imag, rea)
    spec = polar_spectrum(logamp, torch.cat([rea, imag], dim=-1))
    assert torch.allclose(spec.real, torch.exp(logamp) * torch.cos(pha), atol=1e-6)
    assert torch.allclose(spec.imag, torch.exp(logamp) * torch.sin(pha), atol=1e-6)


@pytest.mark.parametrize("hop", [40, 30])   # 30: the window is no multiple of the hop (fold path)
def test_frames_last_synthesis_matches_torch_istft(hop: int) -> None:
    cfg = load_config("tiny").model.replace(hop_size=hop)
    spec = torch.complex(torch.randn(2, 31, cfg.n_bins), torch.randn(2, 31, cfg.n_bins))
    ref = istft_audio(spec.real.transpose(1, 2), spec.imag.transpose(1, 2), cfg)
    assert torch.allclose(overlap_add_segments(synthesis_segments(spec, cfg), cfg), ref, atol=1e-6)


# ----------------------------------------------------------------------------- the prepared model
@pytest.mark.parametrize("chunked", [False, True])
def test_prepared_model_matches_module_path_on_odd_lengths_and_batches(chunked: bool, monkeypatch: pytest.MonkeyPatch,
                                                                       gemm_backend: str) -> None:
    if chunked:   # 64-frame chunks everywhere, as long inputs of the full-size model get
        monkeypatch.setattr(fused_layers, "BLOCK_CHUNK_BYTES", 1)
        monkeypatch.setattr(fused_layers, "CHUNK_BYTES", 1)
    model = _tiny_with_grn()
    inputs = [torch.randn(2, 5001) * 0.1, torch.randn(3, 7961) * 0.1, torch.randn(1, 48000) * 0.1,
              torch.randn(1, 513) * 0.1, torch.randn(1, 961) * 0.1]
    expected = [(model.encode(x), model.decode(model.encode(x))) for x in inputs]
    short = torch.randint(0, model.cfg.codebook_size, (2, model.cfg.n_codebooks, 3))
    short_audio = [model.decode(short[..., :n]) for n in (1, 2, 3)]
    model.prepare_for_inference()
    assert model.encoder.prepared is not None and model.decoder.prepared is not None
    for _ in range(2):   # the second round reuses the workspace buffers the first one left
        for x, (codes, audio) in zip(inputs, expected):
            assert torch.equal(model.encode(x), codes)
            assert _close(model.decode(codes), audio)
    same_shape = torch.randn(2, 5001) * 0.1   # a kept buffer of this shape now holds other data
    assert torch.equal(model.encode(same_shape), model.encode(same_shape.clone()))
    assert torch.equal(model.encode(inputs[0]), expected[0][0])
    for n, audio in zip((1, 2, 3), short_audio):   # 1-3 latent frames: edges everywhere
        assert _close(model.decode(short[..., :n]), audio)


def test_prepared_float64_model_stays_float64() -> None:
    """A float64 model (the exact reference of the accuracy figures) prepares and matches its module path."""
    model = _tiny_with_grn().double()
    x = torch.randn(2, 48000, dtype=torch.float64) * 0.1   # long enough for the decoder front's GEMM
    codes = model.encode(x)
    audio = model.decode(codes)
    model.prepare_for_inference()
    assert torch.equal(model.encode(x), codes)
    decoded = model.decode(codes)
    assert decoded.dtype == torch.float64 and _close(decoded, audio, rel=1e-10)


def test_workspace_keeps_one_buffer_per_name_and_shape_up_to_its_limit() -> None:
    workspace = Workspace(limit=4096)
    like = torch.zeros(1)
    first = workspace.get("a", (8, 16), like)
    assert workspace.get("a", (8, 16), like) is first
    assert workspace.get("b", (8, 16), like) is not first            # names are separate buffers
    other = workspace.get("a", (4, 16), like)
    assert other is not first and workspace.get("a", (4, 16), like) is other   # a new shape replaces it
    assert workspace.get("a", (8, 16), like.double()) is not first    # and so does another dtype
    big = workspace.get("c", (64, 64), like)                          # 16 KB > limit: not kept
    assert workspace.get("c", (64, 64), like) is not big


def test_prepared_model_keeps_its_state_dict() -> None:
    model = _tiny_with_grn().remove_weight_norm()
    keys = list(model.state_dict())
    assert list(model.prepare_for_inference().state_dict()) == keys


def test_causal_model_keeps_its_modules() -> None:
    model = APCodec.from_config(load_config("tiny_s").model).prepare_for_inference()
    assert model.encoder.prepared is None and model.decoder.prepared is None


def test_parallel_branches_match_sequential_and_restore_threads(gemm_backend: str) -> None:
    model = _tiny_with_grn()
    x = torch.randn(2, 6000) * 0.1
    codes, audio = model.encode(x), model.decode(model.encode(x))
    model.prepare_for_inference()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for parallel in (True, False):
            model.encoder.parallel_branches = model.decoder.parallel_branches = parallel
            assert torch.equal(model.encode(x), codes)
            assert torch.allclose(model.decode(codes), audio, atol=1e-5)
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_bf16_autocast_forward_gives_finite_audio() -> None:
    model = _tiny_with_grn()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(1, 7960) * 0.1)
    assert out.decoded.audio.dtype == torch.float32
    assert out.decoded.audio.shape == (1, 1, 7960) and torch.isfinite(out.decoded.audio).all()


def test_istft_fp32_is_plain_torch_istft() -> None:
    cfg = load_config("tiny").model
    rea, imag = torch.randn(2, cfg.n_bins, 30), torch.randn(2, cfg.n_bins, 30)
    ref = torch.istft(torch.complex(rea, imag), cfg.n_fft, hop_length=cfg.hop_size, win_length=cfg.win_size,
                      window=torch.hann_window(cfg.win_size), center=True)
    assert torch.equal(istft_audio(rea, imag, cfg), ref)
