"""APCodec inference speed: official-style forward vs our optimised path, same weights, same process.

The baseline mirrors the official code's inference (YangAi520/APCodec ``models.py``/``inference.py``):
weight norm active (weights recomputed from g and v on every call), ConvNeXt blocks on [B, C, T]
with ``conv1d`` depthwise convolution and a transpose around every LayerNorm/Linear section, the
GRN written out term by term (``torch.norm`` over time), R and I heads as two convolutions, the
same STFT/iSTFT calls, all under ``torch.no_grad``. It is marginally leaner than the official
encoder, which also computes the VQ losses and keeps the projected latents (a few ms at most).

The optimised path is ``APCodec.prepare_for_inference()`` + ``encode``/``decode``
(``torch.inference_mode``); with >= 2 threads it is timed with the amplitude/phase branches run
concurrently (default) and sequentially (``fast_seq``), so the effect of branch parallelism shows.

Usage::

    python bench/bench_apcodec_inference.py [--config 48k_6kbps] [--seconds 10] [--repeats 5]
        [--threads N] [--cpu-time]

Prints encode/decode real-time factors (median processing time / audio duration; lower is
faster), the speed-up ratios, and the largest output differences (codes must be identical).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

from apcodec.config import load_config
from apcodec.model import APCodec


# ---------------------------------------------------------------- official-style baseline
def _official_block(block: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    residual = x
    x = block.dwconv(x).transpose(1, 2)
    x = block.act(block.pwconv1(block.norm(x)))
    gx = torch.norm(x, p=2, dim=1, keepdim=True)
    nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
    x = block.grn.gamma * (x * nx) + block.grn.beta + x
    x = block.pwconv2(x).transpose(1, 2)
    return residual + x


def _official_branch(embed, norm, blocks, final_norm, out, x: torch.Tensor) -> torch.Tensor:
    x = norm(embed(x).transpose(1, 2)).transpose(1, 2)
    for block in blocks:
        x = _official_block(block, x)
    return out(final_norm(x.transpose(1, 2))).transpose(1, 2)


def official_encode(model: APCodec, audio: torch.Tensor) -> torch.Tensor:
    """Audio [B, T] -> codes [B, n_q, N'] the way the official code computes them."""
    cfg, enc = model.cfg, model.encoder
    spec = torch.view_as_real(torch.stft(audio, cfg.n_fft, hop_length=cfg.hop_size, win_length=cfg.win_size,
                                         window=torch.hann_window(cfg.win_size), center=True, return_complex=True))
    rea, imag = spec[..., 0], spec[..., 1]
    logamp = torch.log(torch.abs(torch.sqrt(torch.pow(rea, 2) + torch.pow(imag, 2))) + 1e-5)
    pha = torch.atan2(imag, rea)
    a = enc.AMP_Encoder_downsample_output_conv(_official_branch(
        enc.embed_logamp, enc.norm_logamp, enc.convnext_logamp, enc.final_layer_norm_logamp, enc.out_logamp, logamp))
    p = enc.PHA_Encoder_downsample_output_conv(_official_branch(
        enc.embed_pha, enc.norm_pha, enc.convnext_pha, enc.final_layer_norm_pha, enc.out_pha, pha))
    residual = enc.latent_output_conv(torch.cat((a, p), -2))
    codes = []
    for q in enc.quantizer.quantizers:
        z_e = q.in_proj(residual)
        e = F.normalize(z_e.transpose(1, 2).reshape(-1, z_e.shape[1]))
        book = F.normalize(q.codebook.weight)
        dist = e.pow(2).sum(1, keepdim=True) - 2 * e @ book.t() + book.pow(2).sum(1, keepdim=True).t()
        idx = (-dist).max(1)[1].reshape(z_e.shape[0], -1)
        z_q = q.out_proj(F.embedding(idx, q.codebook.weight).transpose(1, 2))
        residual = residual - z_q
        codes.append(idx)
    return torch.stack(codes, dim=1)


def official_decode(model: APCodec, codes: torch.Tensor) -> torch.Tensor:
    """Codes [B, n_q, N'] -> audio [B, T] the way the official code computes it."""
    cfg, dec, quant = model.cfg, model.decoder, model.encoder.quantizer
    latent = 0.0
    for i in range(codes.shape[1]):
        q = quant.quantizers[i]
        latent = latent + q.out_proj(F.embedding(codes[:, i], q.codebook.weight).transpose(1, 2))
    latent = dec.latent_input_conv(latent)
    logamp = dec.AMP_Decoder_output_conv(_official_branch(
        dec.embed_logamp, dec.norm_logamp, dec.convnext_logamp, dec.final_layer_norm_logamp, dec.out_logamp,
        dec.AMP_Decoder_upsample_input_conv(latent)))
    pha = _official_branch(dec.embed_pha, dec.norm_pha, dec.convnext_pha, dec.final_layer_norm_pha, dec.out_pha,
                           dec.PHA_Decoder_upsample_input_conv(latent))
    pha = torch.atan2(dec.PHA_Decoder_output_I_conv(pha), dec.PHA_Decoder_output_R_conv(pha))
    rea = torch.exp(logamp) * torch.cos(pha)
    imag = torch.exp(logamp) * torch.sin(pha)
    return torch.istft(torch.complex(rea, imag), cfg.n_fft, hop_length=cfg.hop_size, win_length=cfg.win_size,
                       window=torch.hann_window(cfg.win_size), center=True)


# ---------------------------------------------------------------- measurement
def _timed(fn: Callable[[], torch.Tensor], clock: Callable[[], float] = time.perf_counter
           ) -> tuple[float, torch.Tensor]:
    start = clock()
    out = fn()
    return clock() - start, out


def run(config: str = "48k_6kbps", seconds: float = 10.0, repeats: int = 5, threads: Optional[int] = None,
        seed: int = 0, cpu_time: bool = False) -> dict[str, float]:
    """Measure both paths (interleaved, median of ``repeats`` after one warm-up) and compare outputs.

    ``cpu_time`` measures process CPU time instead of wall time: steadier on a shared machine
    (use with ``threads=1``; with more threads it also counts OpenMP spin-waiting).
    """
    clock = time.process_time if cpu_time else time.perf_counter
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    cfg = load_config(config).model
    if cfg.causal:
        raise SystemExit("the official-style baseline models the centred APCodec; pick a non-causal config")
    baseline = APCodec.from_config(cfg).eval()
    with torch.no_grad():  # non-trivial GRN so that the comparison covers it
        for name, p in baseline.named_parameters():
            if "grn" in name:
                p.normal_(0.0, 0.1)
    fast_model = APCodec.from_config(cfg)
    fast_model.load_state_dict(baseline.state_dict())
    fast_model.prepare_for_inference()
    audio = 0.1 * torch.randn(1, int(seconds * cfg.sample_rate))

    def base_enc() -> torch.Tensor:
        with torch.no_grad():
            return official_encode(baseline, audio)

    codes_ref = base_enc()

    def base_dec() -> torch.Tensor:
        with torch.no_grad():
            return official_decode(baseline, codes_ref)

    def timed_fast(fn: Callable[[], torch.Tensor], parallel: bool) -> Callable[[], torch.Tensor]:
        def call() -> torch.Tensor:
            fast_model.encoder.parallel_branches = fast_model.decoder.parallel_branches = parallel
            return fn()
        return call

    # The defaults of prepare_for_inference: concurrent branches in the encoder, not the decoder.
    cases = [("base_enc", base_enc), ("fast_enc", timed_fast(lambda: fast_model.encode(audio), True)),
             ("base_dec", base_dec), ("fast_dec", timed_fast(lambda: fast_model.decode(codes_ref), False))]
    if torch.get_num_threads() > 1:  # the other choice of each, to show the effect
        cases += [("fast_seq_enc", timed_fast(lambda: fast_model.encode(audio), False)),
                  ("fast_par_dec", timed_fast(lambda: fast_model.decode(codes_ref), True))]
    results: dict[str, list[float]] = {key: [] for key, _ in cases}
    outputs: dict[str, torch.Tensor] = {}
    for i in range(repeats + 1):  # first round is the warm-up
        for key, fn in cases:
            elapsed, outputs[key] = _timed(fn, clock)
            if i:
                results[key].append(elapsed)
    best = {k: statistics.median(v) / seconds for k, v in results.items()}
    code_mismatch = max(int((outputs[k] != outputs["base_enc"]).sum()) for k in outputs if k.endswith("_enc"))
    audio_diff = max(float((outputs[k] - outputs["base_dec"]).abs().max()) for k in outputs if k.endswith("_dec"))
    extra = {name: best[key] for name, key in (("prepared_sequential_encode_rtf", "fast_seq_enc"),
                                               ("prepared_concurrent_decode_rtf", "fast_par_dec")) if key in best}
    return {
        "config": config, "seconds": seconds, "threads": torch.get_num_threads(),
        "clock": "process_time" if cpu_time else "wall",
        "baseline_encode_rtf": best["base_enc"], "prepared_encode_rtf": best["fast_enc"],
        "encode_speedup": best["base_enc"] / best["fast_enc"],
        "baseline_decode_rtf": best["base_dec"], "prepared_decode_rtf": best["fast_dec"],
        "decode_speedup": best["base_dec"] / best["fast_dec"],
        **extra,
        "code_mismatches": code_mismatch, "max_abs_audio_diff": audio_diff,
        "audio_peak": float(outputs["base_dec"].abs().max()),
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="48k_6kbps")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cpu-time", action="store_true", help="time with process CPU time (shared machines)")
    args = parser.parse_args(argv)
    res = run(args.config, args.seconds, args.repeats, args.threads, cpu_time=args.cpu_time)
    print(json.dumps(res, indent=2))
    print(f"encode RTF {res['baseline_encode_rtf']:.3f} -> {res['prepared_encode_rtf']:.3f} "
          f"(x{res['encode_speedup']:.2f}); decode RTF {res['baseline_decode_rtf']:.3f} -> "
          f"{res['prepared_decode_rtf']:.3f} (x{res['decode_speedup']:.2f})")
    ok = res["code_mismatches"] == 0 and res["max_abs_audio_diff"] <= 1e-4 * max(1.0, res["audio_peak"])
    print("outputs match" if ok else "OUTPUTS DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
