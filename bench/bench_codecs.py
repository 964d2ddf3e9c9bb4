"""Encode/decode real-time factor of every codec adapter, classic and neural (no downloads).

Classic codecs (Opus, MP3, AAC through PyAV) run as they are. Neural speed does not depend on
the weights' values, so every model is built from its published architecture with random
initialisation, saved to a temporary folder in the format its adapter loads, and run end to end
through the adapter (``encode`` -> ``Payload`` -> ``decode``) on ``--seconds`` of audio.
RTF = processing time / audio duration (lower is faster; < 1 is faster than real time). Times
are the median of ``--repeat`` runs after one warm-up; the last columns are each codec's total
time as a ratio to Encodec 24 kHz measured in the same run (the usual reference neural codec).

``--batch`` measures the codec stage's GPU batching instead (neural adapters only): ``--items``
equal-length items of ``--seconds`` each, coded as a run's codec worker codes them, one at a time
(:func:`codecbench.transcode.transcode`) and in batches (:func:`codecbench.transcode.transcode_batch`,
under the worker's :func:`codecbench.batching.batch_limits`: on CUDA from the free GPU memory, or
``--batch-seconds``). RTF is what the rows record: coding seconds over audio seconds (a batch's
seconds over the batch's audio). It also checks that both give the same code histograms and reports
the largest decoded-sample difference.

    python bench/bench_codecs.py [--device cpu] [--seconds 10] [--repeat 3] [--threads N] [--only opus] [--json]
    python bench/bench_codecs.py --device cuda --batch [--items 16] [--seconds 10] [--batch-seconds S] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

# Run as a script from a checkout where `hificodec` is not installed yet: use the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclass(frozen=True)
class Case:
    """One adapter operating point: a label, how to build its weights, how to make the adapter."""

    label: str
    build: Callable[[Path], Path]
    make: Callable[[Path, str], object]


def _encodec(rate: int) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        from transformers import EncodecConfig, EncodecModel

        extra = {} if rate == 24000 else dict(sampling_rate=48000, audio_channels=2, normalize=True,
                                              chunk_length_s=1.0, overlap=0.01,
                                              target_bandwidths=[3.0, 6.0, 12.0, 24.0],
                                              use_causal_conv=False, norm_type="time_group_norm")
        model = EncodecModel(EncodecConfig(**extra))
        _record(folder, model)
        model.save_pretrained(folder)
        return folder
    return build


def _dac(rate: int) -> Callable[[Path], Path]:
    ratios, n_codebooks = {16000: ([2, 4, 5, 8], 12), 24000: ([2, 4, 5, 8], 32), 44100: ([2, 4, 8, 8], 9)}[rate]

    def build(folder: Path) -> Path:
        from transformers import DacConfig, DacModel

        config = DacConfig(sampling_rate=rate, downsampling_ratios=ratios, upsampling_ratios=ratios[::-1],
                           n_codebooks=n_codebooks)
        model = DacModel(config)
        _record(folder, model)
        model.save_pretrained(folder)
        return folder
    return build


def _hificodec(preset: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        from hificodec import PRESETS, HiFiCodec

        model = HiFiCodec.from_config(PRESETS[preset])
        _record(folder, model)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"HiFi-Codec-{preset}"
        torch.save({part: getattr(model, part).state_dict() for part in ("generator", "encoder", "quantizer")}, path)
        return path
    return build


_PARAMS: dict[Path, int] = {}  # model size recorded by each builder, keyed by its folder


def _record(folder: Path, model: torch.nn.Module) -> None:
    _PARAMS[folder] = sum(p.numel() for p in model.parameters())


def _nothing(folder: Path) -> Path:
    return folder


def _apcodec(config: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        from apcodec import APCodec, load_config
        from apcodec.checkpoint import save_checkpoint

        folder.mkdir(parents=True, exist_ok=True)
        model = APCodec.from_config(load_config(config).model)
        _record(folder, model)
        return save_checkpoint(model, folder / "apcodec.pt")
    return build


def _complex_rvqvae(config: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        from complex_rvqvae.checkpoint import save_checkpoint
        from complex_rvqvae.config import load_config
        from complex_rvqvae.model import ComplexRVQVAE

        folder.mkdir(parents=True, exist_ok=True)
        model_cfg, _, _ = load_config(config)
        model = ComplexRVQVAE.from_config(model_cfg)
        _record(folder, model)
        return save_checkpoint(model, folder / "crvq.pt")
    return build


def cases() -> list[Case]:
    from codecbench.codecs import CODECS
    from codecbench.codecs.dac import DacAdapter
    from codecbench.codecs.encodec import EncodecAdapter
    from codecbench.codecs.hificodec import HiFiCodecAdapter

    out = [
        Case("opus @12", _nothing, lambda p, d: CODECS.get("opus")(12.0, d)),
        Case("mp3 @32", _nothing, lambda p, d: CODECS.get("mp3")(32.0, d)),
        Case("aac @32", _nothing, lambda p, d: CODECS.get("aac")(32.0, d)),
        Case("apcodec 48k @6", _apcodec("48k_6kbps"),
             lambda p, d: CODECS.get("apcodec")(6.0, d, config="48k_6kbps", checkpoint=str(p))),
        Case("complex_rvqvae 48k @6", _complex_rvqvae("48k"),
             lambda p, d: CODECS.get("complex_rvqvae")(6.0, d, config="48k", checkpoint=str(p))),
        Case("encodec 24k @6", _encodec(24000), lambda p, d: EncodecAdapter(6.0, d, model_dir=str(p))),
        Case("encodec 48k @6", _encodec(48000),
             lambda p, d: EncodecAdapter(6.0, d, model="encodec_48khz", model_dir=str(p))),
        Case("dac 16k @6 (12 cb)", _dac(16000), lambda p, d: DacAdapter(None, d, model="dac_16khz", model_dir=str(p))),
        Case("dac 24k @24 (32 cb)", _dac(24000), lambda p, d: DacAdapter(None, d, model="dac_24khz", model_dir=str(p))),
        Case("dac 44.1k @7.75 (9 cb)", _dac(44100),
             lambda p, d: DacAdapter(None, d, model="dac_44khz", model_dir=str(p))),
    ]
    for preset, kbps in (("16k-320d", 2.0), ("24k-320d", 3.0), ("24k-240d", 4.0)):
        out.append(Case(f"hificodec {preset} @{kbps:g}", _hificodec(preset),
                        lambda p, d, preset=preset: HiFiCodecAdapter(None, d, config=preset, checkpoint=str(p))))
    return out


def _median_time(fn: Callable[[], object], repeat: int, device: str) -> tuple[float, object]:
    result = fn()  # warm-up
    times = []
    for _ in range(repeat):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _speech_like(n: int, rate: int, seed: int) -> np.ndarray:
    """A tone plus noise, ``[1, n]`` float32 (the content does not change the speed)."""
    t = np.arange(n) / rate
    noise = np.random.default_rng(seed).standard_normal(n)
    return (0.3 * np.sin(2 * np.pi * (220 + 20 * seed) * t) + 0.05 * noise).astype(np.float32)[None]


def run_table(args: argparse.Namespace) -> list[dict[str, Any]]:
    """RTF of every adapter on one input of ``--seconds`` (the default mode)."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases():
            if args.only and args.only not in case.label:
                continue
            folder = Path(tmp) / case.label.replace(" ", "_")
            path = case.build(folder)
            codec = case.make(path, args.device)
            rate = codec.sample_rate  # type: ignore[attr-defined]
            audio = _speech_like(int(args.seconds * rate), rate, 0)
            enc_s, payload = _median_time(lambda: codec.encode(audio), args.repeat, args.device)  # type: ignore
            dec_s, _ = _median_time(lambda: codec.decode(payload), args.repeat, args.device)  # type: ignore
            rows.append({"codec": case.label, "rate": rate,
                         "params_m": round(_PARAMS[folder] / 1e6, 1) if folder in _PARAMS else None,
                         "measured_kbps": payload.kbps(args.seconds),  # type: ignore[attr-defined]
                         "encode_rtf": enc_s / args.seconds, "decode_rtf": dec_s / args.seconds})
            print(f"  measured {case.label}", file=sys.stderr, flush=True)
    reference = next((r["encode_rtf"] + r["decode_rtf"] for r in rows if r["codec"].startswith("encodec 24k")),
                     float("nan"))
    for row in rows:
        row["vs_encodec_24k"] = (row["encode_rtf"] + row["decode_rtf"]) / reference
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| codec | rate | params (M) | measured kbps | encode RTF | decode RTF | enc+dec vs Encodec 24k |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        params = "-" if r["params_m"] is None else f"{r['params_m']:.1f}"
        print(f"| {r['codec']} | {r['rate']} | {params} | {r['measured_kbps']:.3f} | {r['encode_rtf']:.3f} | "
              f"{r['decode_rtf']:.3f} | {r['vs_encodec_24k']:.2f}x |")


def _code_all(codec: Any, label: str, items: list[np.ndarray], rate: int, cache: Path,
              limits: Optional[Any]) -> list[Any]:
    """Every item through the codec stage, one at a time (``limits`` None) or in the runner's batches."""
    from codecbench.transcode import CodingRequest, transcode, transcode_batch

    tag = next(_FRESH)  # fresh cache keys: nothing is read back from an earlier round
    requests = [CodingRequest(audio, rate, None, f"{tag:04d}{i:04d}") for i, audio in enumerate(items)]
    if limits is None:
        return [transcode(codec, label, r.reference, rate, None, cache, r.key) for r in requests]
    duration, per_batch = items[0].shape[1] / rate, 1
    while limits.admits(per_batch, per_batch * duration, duration):   # equal items, as the runner gathers them
        per_batch += 1
    out: list[Any] = []
    for start in range(0, len(requests), per_batch):
        outcome = transcode_batch(codec, label, requests[start: start + per_batch], cache)
        if outcome.fallback is not None:
            raise RuntimeError(f"{label}: the batch fell back to one item at a time: {outcome.fallback}")
        out += outcome.results
    return out


_FRESH = itertools.count()


def _rtfs(results: list[Any], seconds: float) -> tuple[float, float]:
    """Encode and decode RTF over all items (each item's recorded RTF weighted by its duration)."""
    total = seconds * len(results)
    return (sum(r.encode_rtf * seconds for r in results) / total, sum(r.decode_rtf * seconds for r in results) / total)


def run_batch(args: argparse.Namespace) -> list[dict[str, Any]]:
    """RTF of the neural adapters at batch 1 and batched, as a run's codec worker codes them.

    A case that fails (e.g. out of GPU memory) is a row with its ``error``; the others still run.
    """
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases():
            if args.only and args.only not in case.label or case.build is _nothing:
                continue
            try:
                rows.append(_measure_batching(case, args, Path(tmp)))
            except Exception as exc:  # noqa: BLE001 - one case's failure is its row
                rows.append({"codec": case.label, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"})
            print(f"  measured {case.label}", file=sys.stderr, flush=True)
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
    return rows


def _peak_mb(device: str) -> Optional[float]:
    return torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None


def _measure_batching(case: Case, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from codecbench.batching import batch_limits

    codec: Any = case.make(case.build(tmp / case.label.replace(" ", "_")), args.device)
    limits = batch_limits(codec, args.batch_seconds)
    limits.apply(codec)  # as the codec worker does
    rate = codec.sample_rate
    items = [_speech_like(int(args.seconds * rate), rate, seed) for seed in range(args.items)]
    timings: dict[str, list[tuple[float, float]]] = {"single": [], "batched": []}
    outputs: dict[str, list[Any]] = {}
    peaks: dict[str, Optional[float]] = {}
    for mode in ("single", "batched"):
        chosen = None if mode == "single" else limits
        _code_all(codec, case.label, items[:2], rate, tmp / "cache", chosen)  # warm-up
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        for _ in range(args.repeat):
            outputs[mode] = _code_all(codec, case.label, items, rate, tmp / "cache", chosen)
            timings[mode].append(_rtfs(outputs[mode], args.seconds))
        peaks[mode] = _peak_mb(args.device)
    (enc1, dec1), (encb, decb) = ((statistics.median(t[0] for t in timings[m]),
                                   statistics.median(t[1] for t in timings[m])) for m in ("single", "batched"))
    batch = outputs["batched"][0].batch_items
    per_sample = None  # activation bytes per input sample and channel: what codecbench.batching estimates
    if peaks["single"] is not None and peaks["batched"] is not None and batch > 1:
        extra_samples = (batch - 1) * items[0].shape[1] * codec.channels
        per_sample = (peaks["batched"] - peaks["single"]) * 2**20 / extra_samples
    return {"codec": case.label, "rate": rate, "device": args.device, "items": args.items, "seconds": args.seconds,
            "batch_items": batch, "limit_items": limits.items, "limit_seconds": limits.seconds,
            "encode_rtf_batch1": enc1, "encode_rtf_batched": encb, "decode_rtf_batch1": dec1,
            "decode_rtf_batched": decb, "speedup": (enc1 + dec1) / (encb + decb),
            "same_code_counts": all(a.codebooks.to_json() == b.codebooks.to_json()
                                    for a, b in zip(outputs["single"], outputs["batched"])),
            "max_abs_decoded_difference": max(float(np.max(np.abs(a.audio - b.audio)))
                                              for a, b in zip(outputs["single"], outputs["batched"])),
            "peak_mb_batch1": peaks["single"], "peak_mb_batched": peaks["batched"],
            "activation_bytes_per_sample": per_sample}


def print_batch_table(rows: list[dict[str, Any]]) -> None:
    print("| codec | rate | items x s | batch | encode RTF b=1 | encode RTF batched | decode RTF b=1 | "
          "decode RTF batched | enc+dec speed-up | same code counts | max abs diff | peak MiB b=1 / batched |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['codec']} | failed: {r['error']} |")
            continue
        peaks = ("-" if r["peak_mb_batched"] is None
                 else f"{r['peak_mb_batch1']:.0f} / {r['peak_mb_batched']:.0f}")
        print(f"| {r['codec']} | {r['rate']} | {r['items']} x {r['seconds']:g} | {r['batch_items']} | "
              f"{r['encode_rtf_batch1']:.4f} | {r['encode_rtf_batched']:.4f} | {r['decode_rtf_batch1']:.4f} | "
              f"{r['decode_rtf_batched']:.4f} | {r['speedup']:.2f}x | {'yes' if r['same_code_counts'] else 'NO'} | "
              f"{r['max_abs_decoded_difference']:.1e} | {peaks} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of audio per item")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    parser.add_argument("--only", default="", help="substring filter on the case labels")
    parser.add_argument("--batch", action="store_true", help="RTF at batch 1 vs batched (neural adapters)")
    parser.add_argument("--items", type=int, default=16, help="--batch: equal-length items per codec")
    parser.add_argument("--batch-seconds", type=float, default=None,
                        help="--batch: the codec entry's batch_seconds (default: the worker's own budget)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    mode = "batch 1 vs batched" if args.batch else "one input"
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, {args.seconds:g} s of audio per item, "
          f"median of {args.repeat}, {mode}", file=sys.stderr if args.json else sys.stdout)
    rows = run_batch(args) if args.batch else run_table(args)
    if args.json:  # strict JSON: NaN (e.g. no Encodec 24k row to compare with) becomes null
        print(json.dumps([{k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
                          for row in rows], indent=1))
    elif args.batch:
        print_batch_table(rows)
    else:
        print_table(rows)


if __name__ == "__main__":
    main()
