"""APCodec inference speed: the official code vs a faithful re-implementation vs our prepared model.

Three ways to run the same weights, timed interleaved in one process:

* **official** (``--official DIR``): the official repository (GitHub YangAi520/APCodec) imported at
  run time from an extracted checkout; nothing of it is part of codecbench. Encode is its
  ``amp_pha_specturm`` + ``Encoder.forward`` (which also runs the RVQ with its losses; the codes
  are read from the quantizer's output with a forward hook), decode is ``Decoder.forward`` on the
  quantized latent, with its ``torch.nn.utils.weight_norm`` recomputed on every call, all under
  ``torch.no_grad`` as its ``inference.py`` does. The models are built from the checkout's own
  ``config.json`` and get our weights through the official key layout (``weight_g``/``weight_v``).
* **reimpl**: :func:`official_encode` / :func:`official_decode` below, a line-by-line
  re-implementation of that forward on our modules (weight norm active, ``conv1d`` depthwise
  convolutions with transposes around every block, GRN via ``torch.norm``, two R/I heads); it
  keeps the comparison available without the checkout.
* **ours**: ``APCodec.prepare_for_inference()`` + ``encode(audio)`` (audio -> codes) and
  ``decode(codes)`` (codes -> audio, which also looks the codes up: strictly more work than the
  official decode from the latent).

Setup for the official column (outside the repository; its code has no licence and must not be
copied into codecbench)::

    mkdir -p /tmp/apcodec_official
    git clone https://github.com/YangAi520/APCodec /tmp/apcodec_official   # or git archive of a mirror
    python -m pip install einops      # its quantize.py imports it; not a codecbench dependency

Usage::

    python bench/bench_apcodec_inference.py [--official /tmp/apcodec_official] [--config 48k_6kbps]
        [--seconds 10] [--repeats 5] [--threads N] [--cpu-time] [--fp64] [--no-reimpl] [--json]

Reports encode/decode real-time factors (median processing time / audio duration; lower is
faster), the speed-ups, code mismatches and the largest audio differences against the official
output (or the re-implementation without ``--official``). The weights are random (no 48 kHz
weights were published) with non-trivial GRN parameters.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn.functional as F

from apcodec import gemm
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


# ---------------------------------------------------------------- the official code, imported at run time
_OFFICIAL_MODULES = ("utils", "quantize", "dataset", "models")


class OfficialCodec:
    """The official ``Encoder``/``Decoder`` of an extracted checkout, carrying ``model``'s weights.

    The checkout's modules are imported under their own top-level names (``models`` imports
    ``utils`` and ``quantize`` that way); nothing is patched. ``torch.stft(return_complex=False)``
    in its ``amp_pha_specturm`` still works in torch 2.13 (with a deprecation warning, silenced
    here).
    """

    def __init__(self, directory: Path, model: APCodec) -> None:
        from apcodec.checkpoint import official_state

        directory = Path(directory).resolve()
        if not (directory / "models.py").is_file() or not (directory / "config.json").is_file():
            raise SystemExit(f"--official {directory}: no models.py / config.json there (extract the checkout first)")
        clashes = [name for name in _OFFICIAL_MODULES if name in sys.modules]
        if clashes:
            raise SystemExit(f"modules named {clashes} are already imported; cannot import the official checkout")
        sys.path.insert(0, str(directory))
        try:
            modules = {name: importlib.import_module(name) for name in _OFFICIAL_MODULES}
        except ImportError as err:
            raise SystemExit(f"cannot import the official code ({err}); it needs einops, librosa and matplotlib: "
                             "python -m pip install einops") from None
        finally:
            sys.path.remove(str(directory))
        for name, module in modules.items():
            if Path(str(module.__file__)).resolve().parent != directory:
                raise SystemExit(f"'{name}' was imported from {module.__file__}, not from {directory}")
        h = modules["utils"].AttrDict(json.loads((directory / "config.json").read_text()))
        cfg = model.cfg
        ours = {"n_fft": cfg.n_fft, "hop_size": cfg.hop_size, "win_size": cfg.win_size, "ratio": cfg.ratio,
                "latent_dim": cfg.latent_dim, "sampling_rate": cfg.sample_rate}
        differ = {key: (h[key], value) for key, value in ours.items() if h[key] != value}
        if differ:
            raise SystemExit(f"the official config.json differs from the chosen config (official, ours): {differ}")
        with warnings.catch_warnings():  # torch.nn.utils.weight_norm is deprecated, still the official code
            warnings.simplefilter("ignore", FutureWarning)
            self.encoder = modules["models"].Encoder(h).eval()
            self.decoder = modules["models"].Decoder(h).eval()
        self.encoder.load_state_dict(official_state(model.encoder))  # strict: every key and shape must match
        self.decoder.load_state_dict(official_state(model.decoder))
        self.h = h
        self.spectrum = modules["dataset"].amp_pha_specturm
        self._codes: Optional[torch.Tensor] = None
        self.encoder.quantizer.register_forward_hook(self._keep_codes)

    def _keep_codes(self, module: torch.nn.Module, inputs: Any, output: Any) -> None:
        self._codes = output[1]  # ResidualVectorQuantize returns (z_q, codes, latents, losses...)

    def encode(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio [B, T] -> (codes [B, n_q, N'], quantized latent [B, D, N']), as its inference.py."""
        h = self.h
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*return_complex=False.*")
            logamp, pha, _, _ = self.spectrum(audio, h.n_fft, h.hop_size, h.win_size)
            latent, _, _ = self.encoder(logamp, pha)
        assert self._codes is not None
        return self._codes, latent

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Quantized latent [B, D, N'] -> audio [B, T]."""
        with torch.no_grad():
            return self.decoder(latent)[-1].squeeze(1)


# ---------------------------------------------------------------- measurement
def _timed(fn: Callable[[], Any], clock: Callable[[], float]) -> tuple[float, Any]:
    start = clock()
    out = fn()
    return clock() - start, out


def _random_model(config: str, seed: int) -> APCodec:
    torch.manual_seed(seed)
    cfg = load_config(config).model
    if cfg.causal:
        raise SystemExit("the official code is the centred APCodec; pick a non-causal config")
    model = APCodec.from_config(cfg).eval()
    with torch.no_grad():  # non-trivial GRN so that the comparison covers it (a fresh GRN is the identity)
        for name, p in model.named_parameters():
            if "grn" in name:
                p.normal_(0.0, 0.1)
    return model


def run(config: str = "48k_6kbps", seconds: float = 10.0, repeats: int = 5, threads: Optional[int] = None,
        seed: int = 0, cpu_time: bool = False, official_dir: Optional[Path] = None,
        reimpl: bool = True, variants: bool = True, fp64: bool = False) -> dict[str, Any]:
    """Time every path interleaved (median of ``repeats`` after one warm-up round) and compare outputs.

    ``cpu_time`` measures process CPU time instead of wall time: steadier on a shared machine
    (use with ``threads=1``; with more threads it also counts OpenMP spin-waiting). ``variants``
    also times our model with the other branch-concurrency choice (>= 2 threads only). ``fp64``
    also decodes the reference codes with the module path in float64 and reports every decoded
    audio's distance to it: how far each float32 path is from the exact result.
    """
    clock = time.process_time if cpu_time else time.perf_counter
    if threads:
        torch.set_num_threads(threads)
    baseline = _random_model(config, seed)
    official = OfficialCodec(official_dir, baseline) if official_dir is not None else None
    fast_model = APCodec.from_config(baseline.cfg)
    fast_model.load_state_dict(baseline.state_dict())
    fast_model.prepare_for_inference()
    audio = 0.1 * torch.randn(1, int(seconds * baseline.cfg.sample_rate))
    default_enc, default_dec = fast_model.encoder.parallel_branches, fast_model.decoder.parallel_branches

    if official is not None:
        ref_codes, ref_latent = official.encode(audio)
    else:
        with torch.no_grad():
            ref_codes = official_encode(baseline, audio)

    def ours(fn: Callable[[], torch.Tensor], parallel_enc: bool, parallel_dec: bool,
             library: Optional[str] = None) -> Callable[[], torch.Tensor]:
        def call() -> torch.Tensor:
            fast_model.encoder.parallel_branches, fast_model.decoder.parallel_branches = parallel_enc, parallel_dec
            with gemm.use_backend(library or gemm.backend()):
                return fn()
        return call

    def reimpl_enc() -> torch.Tensor:
        with torch.no_grad():
            return official_encode(baseline, audio)

    def reimpl_dec() -> torch.Tensor:
        with torch.no_grad():
            return official_decode(baseline, ref_codes)

    cases: list[tuple[str, Callable[[], Any]]] = []
    if official is not None:
        cases.append(("official_enc", lambda: official.encode(audio)[0]))
    if reimpl:
        cases.append(("reimpl_enc", reimpl_enc))
    cases.append(("ours_enc", ours(lambda: fast_model.encode(audio), default_enc, default_dec)))
    if official is not None:
        cases.append(("official_dec", lambda: official.decode(ref_latent)))
    if reimpl:
        cases.append(("reimpl_dec", reimpl_dec))
    cases.append(("ours_dec", ours(lambda: fast_model.decode(ref_codes), default_enc, default_dec)))
    if variants and torch.get_num_threads() > 1:  # the other concurrency choice of each, to show its effect
        cases += [("ours_other_enc", ours(lambda: fast_model.encode(audio), not default_enc, default_dec)),
                  ("ours_other_dec", ours(lambda: fast_model.decode(ref_codes), default_enc, not default_dec))]
    if variants:   # the GEMM library apcodec.gemm did not choose, to show what the choice gives
        for library in (name for name in gemm.available() if name != gemm.backend()):
            cases += [(f"ours_{library}_enc", ours(lambda: fast_model.encode(audio), default_enc, default_dec, library)),
                      (f"ours_{library}_dec", ours(lambda: fast_model.decode(ref_codes), default_enc, default_dec, library))]

    load_before, started = os.getloadavg(), datetime.datetime.now().isoformat(timespec="seconds")
    times: dict[str, list[float]] = {key: [] for key, _ in cases}
    outputs: dict[str, torch.Tensor] = {}
    for i in range(repeats + 1):  # the first round is the warm-up
        for key, fn in cases:
            elapsed, outputs[key] = _timed(fn, clock)
            if i:
                times[key].append(elapsed)
    load_after = os.getloadavg()
    rtf = {key: statistics.median(v) / seconds for key, v in times.items()}
    ref_audio = outputs["official_dec" if official is not None else "reimpl_dec"]
    res: dict[str, Any] = {
        "config": config, "seconds": seconds, "threads": torch.get_num_threads(), "repeats": repeats,
        "clock": "process_time" if cpu_time else "wall", "reference": "official" if official is not None else "reimpl",
        "date": started, "torch": torch.__version__,
        "load_average_before": list(load_before), "load_average_after": list(load_after),
        "encoder_parallel_branches": default_enc, "decoder_parallel_branches": default_dec,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "gemm_backend": gemm.backend(),
        "gemm_seconds": gemm.measure(),
    }
    for key, value in rtf.items():
        res[key.replace("_enc", "_encode_rtf").replace("_dec", "_decode_rtf")] = value
    for part in ("encode", "decode"):
        mine = res[f"ours_{part}_rtf"]
        for other in ("official", "reimpl"):
            if f"{other}_{part}_rtf" in res:
                res[f"{part}_speedup_vs_{other}"] = res[f"{other}_{part}_rtf"] / mine
    for key, out in outputs.items():
        name = key.rsplit("_", 1)[0]
        if name == res["reference"]:
            continue
        if key.endswith("_enc"):
            res[f"{name}_code_mismatches"] = int((out != ref_codes).sum())
        else:
            res[f"{name}_max_abs_audio_diff"] = float((out - ref_audio).abs().max())
    res["audio_peak"] = float(ref_audio.abs().max())
    if fp64:
        exact = APCodec.from_config(baseline.cfg).double().eval()
        exact.load_state_dict(baseline.state_dict())
        with torch.no_grad():
            audio64 = exact.decoder(exact.encoder.quantizer.from_codes(ref_codes)).audio[:, 0]
        for key, out in outputs.items():
            if key.endswith("_dec"):
                res[f"{key.rsplit('_', 1)[0]}_fp64_audio_diff"] = float((out.double() - audio64).abs().max())
    return res


#: the issue's acceptance: codes identical, audio within this of the official output
AUDIO_TOLERANCE = 1e-5


def outputs_match(res: dict[str, Any]) -> bool:
    """Every code identical to the reference and every audio within :data:`AUDIO_TOLERANCE` of it."""
    codes_ok = all(v == 0 for k, v in res.items() if k.endswith("_code_mismatches"))
    audio_ok = all(v <= AUDIO_TOLERANCE for k, v in res.items() if k.endswith("_max_abs_audio_diff"))
    return codes_ok and audio_ok


def _summary(res: dict[str, Any]) -> str:
    lines = [f"{res['config']}, {res['seconds']} s, {res['threads']} thread(s), {res['clock']} clock, "
             f"median of {res['repeats']}; load {res['load_average_before'][0]:.2f} -> {res['load_average_after'][0]:.2f}",
             f"CPU {res['cpu_capability']}, GEMMs through {res['gemm_backend']} ("
             + ", ".join(f"{name} {1e3 * s:.1f} ms" for name, s in res["gemm_seconds"].items()) + " per block-shaped product)"]
    for part in ("encode", "decode"):
        cols = [f"{name} {res[f'{name}_{part}_rtf']:.3f}" for name in ("official", "reimpl", "ours", "ours_mkl",
                                                                      "ours_onednn", "ours_other")
                if f"{name}_{part}_rtf" in res]
        ratios = [f"x{res[k]:.2f} vs {k.rsplit('_', 1)[1]}" for k in (f"{part}_speedup_vs_official",
                                                                      f"{part}_speedup_vs_reimpl") if k in res]
        lines.append(f"{part} RTF: " + ", ".join(cols) + " (" + ", ".join(ratios) + ")")
    diffs = {k: v for k, v in res.items() if k.endswith("_code_mismatches") or k.endswith("_max_abs_audio_diff")}
    lines.append(f"against {res['reference']}: " + ", ".join(f"{k} {v:.3g}" for k, v in diffs.items()))
    exact = {k: v for k, v in res.items() if k.endswith("_fp64_audio_diff")}
    if exact:
        lines.append("max |audio - float64 decode|: " + ", ".join(f"{k[:-len('_fp64_audio_diff')]} {v:.3g}" for k, v in exact.items()))
    lines.append("outputs match" if outputs_match(res) else "OUTPUTS DIFFER")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, default=None, metavar="DIR",
                        help="an extracted official APCodec checkout to time and compare against")
    parser.add_argument("--config", default="48k_6kbps")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cpu-time", action="store_true", help="time with process CPU time (shared machines)")
    parser.add_argument("--no-reimpl", action="store_true", help="leave out the re-implementation column")
    parser.add_argument("--no-variants", action="store_true", help="leave out the other branch-concurrency choice")
    parser.add_argument("--fp64", action="store_true", help="also measure each decode's distance to a float64 decode")
    parser.add_argument("--json", action="store_true", help="print only the results as one JSON object")
    args = parser.parse_args(argv)
    res = run(args.config, args.seconds, args.repeats, args.threads, cpu_time=args.cpu_time,
              official_dir=args.official, reimpl=not args.no_reimpl, variants=not args.no_variants, fp64=args.fp64)
    print(json.dumps(res, indent=None if args.json else 2))
    if not args.json:
        print(_summary(res))
    return 0 if outputs_match(res) else 1


if __name__ == "__main__":
    sys.exit(main())
