"""The codec stage: encode + decode one reference, checked and cached by content.

The cache key covers the codec's identity (adapter, options, bitrate, checkpoint digests) and
the input audio's content hash, so unchanged work is never redone and changed work never reuses
stale audio. A cache entry is a FLOAT WAV plus a JSON sidecar written after it: the sidecar's
presence marks the entry complete, so a crash mid-write leaves no half entry behind.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from codecbench.audio import load_audio, save_audio
from codecbench.codecs.base import Codec, CodecError

LENGTH_TOLERANCE = 0.05  # relative; plus LENGTH_SLACK_S absolute: codec padding is normal
LENGTH_SLACK_S = 0.1


@dataclass
class Transcoded:
    """Decoded audio and what it cost."""

    audio: np.ndarray  # float32 [C, T] at sample_rate
    sample_rate: int
    measured_kbps: float
    encode_rtf: float
    decode_rtf: float
    path: Path
    cache_key: str
    cached: bool = False


def cache_key(codec_digest: str, input_hash: str) -> str:
    return hashlib.sha256(f"{codec_digest}:{input_hash}".encode()).hexdigest()


def _paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    folder = cache_dir / key[:2]
    return folder / f"{key}.wav", folder / f"{key}.json"


def load_cached(cache_dir: Path, key: str) -> Optional[Transcoded]:
    wav, meta = _paths(cache_dir, key)
    if not (wav.is_file() and meta.is_file()):
        return None
    try:
        info = json.loads(meta.read_text())
        audio, rate = load_audio(wav)
    except (ValueError, OSError):
        return None  # damaged entry: recompute
    return Transcoded(audio, rate, _nan(info.get("measured_kbps")), _nan(info.get("encode_rtf")),
                      _nan(info.get("decode_rtf")), wav, key, cached=True)


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def check_decoded(audio: Any, expected_samples: int, sample_rate: int, label: str) -> np.ndarray:
    """Validate an adapter's output: a finite float ``[C, T]`` array of about the input length."""
    if not isinstance(audio, np.ndarray):
        raise CodecError(f"{label}: decode returned {type(audio).__name__}, expected a numpy array [C, T]")
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise CodecError(f"{label}: decode returned shape {audio.shape}, expected [C, T] with T > 0")
    if not np.all(np.isfinite(audio)):
        raise CodecError(f"{label}: decoded audio contains NaN or inf; the adapter or its weights are broken")
    slack = LENGTH_TOLERANCE * expected_samples + LENGTH_SLACK_S * sample_rate
    if abs(audio.shape[1] - expected_samples) > slack:
        raise CodecError(f"{label}: decoded {audio.shape[1]} samples for an input of {expected_samples} "
                         f"at {sample_rate} Hz; the adapter must return about the input length")
    return np.ascontiguousarray(audio, dtype=np.float32)


def transcode(codec: Codec, label: str, reference: np.ndarray, sample_rate: int, utterance: Any,
              cache_dir: Path, key: str) -> Transcoded:
    """Run ``codec`` on one reference (``[C, T]`` at ``sample_rate``) and cache the result."""
    cached = load_cached(cache_dir, key)
    if cached is not None:
        return cached
    audio = codec.prepare(reference, sample_rate)
    duration = audio.shape[1] / codec.sample_rate
    start = time.perf_counter()
    payload = codec.encode(audio, utterance)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = codec.decode(payload)
    decode_s = time.perf_counter() - start
    decoded = check_decoded(decoded, audio.shape[1], codec.sample_rate, label)
    if codec.has_payload:
        kbps, encode_rtf, decode_rtf = payload.kbps(duration), encode_s / duration, decode_s / duration
    else:  # no bitstream (identity, precomputed): neither a bitrate nor a codec speed to report
        kbps = encode_rtf = decode_rtf = math.nan
    result = Transcoded(decoded, codec.sample_rate, kbps, encode_rtf, decode_rtf, _paths(cache_dir, key)[0], key)
    wav, meta = _paths(cache_dir, key)
    save_audio(wav, decoded, codec.sample_rate)
    info = {k: v for k, v in asdict(result).items() if k in ("measured_kbps", "encode_rtf", "decode_rtf")}
    info = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in info.items()}
    tmp = meta.with_name(meta.name + ".part")
    tmp.write_text(json.dumps({**info, "sample_rate": codec.sample_rate, "label": label}))
    tmp.replace(meta)
    return result
