"""Encode/decode real-time factor of the neural codec adapters (random weights, no downloads).

Speed does not depend on the weights' values, so every model is built from its published
architecture with random initialisation, saved to a temporary folder in the format its adapter
loads, and run end to end through the adapter (``encode`` -> ``Payload`` -> ``decode``) on
``--seconds`` of audio. RTF = processing time / audio duration (lower is faster; < 1 is faster
than real time). Times are the median of ``--repeat`` runs after one warm-up.

    python bench/bench_neural_codecs.py [--device cpu] [--seconds 10] [--repeat 3] [--threads N]
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
        EncodecModel(EncodecConfig(**extra)).save_pretrained(folder)
        return folder
    return build


def _dac(rate: int) -> Callable[[Path], Path]:
    ratios, n_codebooks = {16000: ([2, 4, 5, 8], 12), 24000: ([2, 4, 5, 8], 32), 44100: ([2, 4, 8, 8], 9)}[rate]

    def build(folder: Path) -> Path:
        from transformers import DacConfig, DacModel

        config = DacConfig(sampling_rate=rate, downsampling_ratios=ratios, upsampling_ratios=ratios[::-1],
                           n_codebooks=n_codebooks)
        DacModel(config).save_pretrained(folder)
        return folder
    return build


def _hificodec(preset: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        from hificodec import PRESETS, HiFiCodec

        model = HiFiCodec.from_config(PRESETS[preset])
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"HiFi-Codec-{preset}"
        torch.save({part: getattr(model, part).state_dict() for part in ("generator", "encoder", "quantizer")}, path)
        return path
    return build


def cases() -> list[Case]:
    from codecbench.codecs.dac import DacAdapter
    from codecbench.codecs.encodec import EncodecAdapter
    from codecbench.codecs.hificodec import HiFiCodecAdapter

    out = [
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
    print("| codec | rate | params (M) | measured kbps | encode RTF | decode RTF |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases():
            if args.only and args.only not in case.label:
                continue
            path = case.build(Path(tmp) / case.label.replace(" ", "_"))
            codec = case.make(path, args.device)
            rate = codec.sample_rate  # type: ignore[attr-defined]
            n = int(args.seconds * rate)
            t = np.arange(n) / rate
            audio = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)[None]
            enc_s, payload = _median_time(lambda: codec.encode(audio), args.repeat, args.device)  # type: ignore
            dec_s, _ = _median_time(lambda: codec.decode(payload), args.repeat, args.device)  # type: ignore
            model = codec._load()  # type: ignore[attr-defined]
            params = sum(p.numel() for p in model.parameters()) / 1e6
            print(f"| {case.label} | {rate} | {params:.1f} | {payload.kbps(args.seconds):.3f} | "  # type: ignore
                  f"{enc_s / args.seconds:.3f} | {dec_s / args.seconds:.3f} |", flush=True)
            del codec, model


if __name__ == "__main__":
    main()
