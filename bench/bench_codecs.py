"""Encode/decode real-time factor of every codec adapter, classic and neural (no downloads).

Classic codecs (Opus, MP3, AAC through PyAV) run as they are. Neural speed does not depend on
the weights' values, so every model is built from its published architecture with random
initialisation, saved to a temporary folder in the format its adapter loads, and run end to end
through the adapter (``encode`` -> ``Payload`` -> ``decode``) on ``--seconds`` of audio.
RTF = processing time / audio duration (lower is faster; < 1 is faster than real time). Times
are the median of ``--repeat`` runs after one warm-up; the last columns are each codec's total
time as a ratio to Encodec 24 kHz measured in the same run (the usual reference neural codec).

    python bench/bench_codecs.py [--device cpu] [--seconds 10] [--repeat 3] [--threads N] [--only opus]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    parser.add_argument("--only", default="", help="substring filter on the case labels")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, {args.seconds:g} s of audio, "
          f"median of {args.repeat}")
    print("| codec | rate | params (M) | measured kbps | encode RTF | decode RTF | enc+dec vs Encodec 24k |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases():
            if args.only and args.only not in case.label:
                continue
            folder = Path(tmp) / case.label.replace(" ", "_")
            path = case.build(folder)
            codec = case.make(path, args.device)
            rate = codec.sample_rate  # type: ignore[attr-defined]
            n = int(args.seconds * rate)
            t = np.arange(n) / rate
            audio = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)[None]
            enc_s, payload = _median_time(lambda: codec.encode(audio), args.repeat, args.device)  # type: ignore
            dec_s, _ = _median_time(lambda: codec.decode(payload), args.repeat, args.device)  # type: ignore
            params = f"{_PARAMS[folder] / 1e6:.1f}" if folder in _PARAMS else "-"
            rows.append((case.label, rate, params, payload.kbps(args.seconds), enc_s / args.seconds,  # type: ignore
                         dec_s / args.seconds))
            print(f"  measured {case.label}", file=sys.stderr, flush=True)
    reference = next((r[4] + r[5] for r in rows if r[0].startswith("encodec 24k")), float("nan"))
    for label, rate, params, kbps, enc, dec in rows:
        print(f"| {label} | {rate} | {params} | {kbps:.3f} | {enc:.3f} | {dec:.3f} | {(enc + dec) / reference:.2f}x |")


if __name__ == "__main__":
    main()
