"""Inference fast paths: branch parallelism, fused heads, and bf16 autocast through the iSTFT."""

from __future__ import annotations

import torch

from apcodec.config import load_config
from apcodec.model import APCodec
from apcodec.stft import istft_audio


def _tiny_with_grn() -> APCodec:
    torch.manual_seed(0)
    model = APCodec.from_config(load_config("tiny").model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "grn" in name:
                p.normal_(0.0, 0.5)
    return model


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


def test_parallel_branches_match_sequential_and_restore_threads() -> None:
    model = _tiny_with_grn()
    x = torch.randn(2, 6000) * 0.1
    codes, audio = model.encode(x), model.decode(model.encode(x))
    model.prepare_for_inference()
    assert model.decoder.ri_conv is not None
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
