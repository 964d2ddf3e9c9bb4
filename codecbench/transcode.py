"""The codec stage: encode + decode one reference, checked and cached by content.

The cache key covers the codec's identity (adapter, options, bitrate, checkpoint digests) and
the input audio's content hash, so unchanged work is never redone and changed work never reuses
stale audio. A cache entry is a FLOAT WAV plus a JSON sidecar written after it: the sidecar's
presence marks the entry complete, so a crash mid-write leaves no half entry behind. The sidecar
holds the WAV's SHA-256, checked on every reuse: a truncated, damaged or deleted file is
recomputed, never re-scored. For code-array payloads the sidecar also keeps the histogram of the
codes (:class:`codecbench.codebooks.CodeCounts`), so a row rebuilt from the cache keeps its
codebook statistics.

Decoder output is checked before anything is stored (:func:`check_decoded`): a float array
``[C, T]`` with the channel count the codec declared, finite samples, about the input length,
and a peak below :data:`PEAK_LIMIT` (12 dB over full scale; more means a mis-scaled decoder,
e.g. int16 values returned as floats).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from codecbench.audio import load_audio, save_audio
from codecbench.codebooks import CodeCounts, count_codes
from codecbench.codecs.base import Codec, CodecError
from codecbench.paths import file_digest

LENGTH_TOLERANCE = 0.05  # relative; plus LENGTH_SLACK_S absolute: codec padding is normal
LENGTH_SLACK_S = 0.1
PEAK_LIMIT = 4.0  # linear; 12 dB above full scale


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
    coding_sample_rate: Optional[int] = None
    coding_channels: Optional[int] = None
    input_channels: Optional[int] = None
    decoded_sha256: Optional[str] = None
    codebooks: Optional[CodeCounts] = None  # code histogram of a code-array payload
    payload_kind: Optional[str] = None  # Payload.kind ("bytes" | "codes"); None when nothing is transmitted


def cache_key(codec_digest: str, input_hash: str) -> str:
    return hashlib.sha256(f"{codec_digest}:{input_hash}".encode()).hexdigest()


def _paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    folder = cache_dir / key[:2]
    return folder / f"{key}.wav", folder / f"{key}.json"


def samples_digest(audio: np.ndarray) -> str:
    """SHA-256 of float32 samples and shape: equal digests mean sample-identical audio."""
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    return hashlib.sha256(f"{audio.shape}".encode() + audio.tobytes()).hexdigest()


def load_cached(cache_dir: Path, key: str) -> Optional[Transcoded]:
    """The cache entry of ``key``, or ``None`` when it is absent, incomplete or damaged."""
    wav, meta = _paths(cache_dir, key)
    if not (wav.is_file() and meta.is_file()):
        return None
    try:
        info = json.loads(meta.read_text())
        if info.get("wav_sha256") != file_digest(wav):
            return None  # truncated or altered since it was written: recompute
        audio, rate = load_audio(wav)
        codebooks = CodeCounts.from_json(info["codebooks"]) if info.get("codebooks") else None
    except (ValueError, OSError, KeyError, TypeError):
        return None  # damaged entry: recompute
    return Transcoded(audio, rate, _nan(info.get("measured_kbps")), _nan(info.get("encode_rtf")),
                      _nan(info.get("decode_rtf")), wav, key, cached=True,
                      coding_sample_rate=info.get("coding_sample_rate"), coding_channels=info.get("coding_channels"),
                      input_channels=info.get("input_channels"), decoded_sha256=samples_digest(audio),
                      codebooks=codebooks,
                      payload_kind=info.get("payload_kind"))


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def check_decoded(audio: Any, expected_samples: int, sample_rate: int, label: str,
                  channels: Optional[int] = None) -> np.ndarray:
    """Validate an adapter's output: a finite float ``[C, T]`` array of about the input length.

    ``channels``: the channel count the codec declared for this item (checked when given).
    """
    if not isinstance(audio, np.ndarray):
        raise CodecError(f"{label}: decode returned {type(audio).__name__}, expected a numpy array [C, T]")
    if not np.issubdtype(audio.dtype, np.floating):
        raise CodecError(f"{label}: decode returned {audio.dtype} samples; adapters must return float32 "
                         "audio in [-1, 1]")
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise CodecError(f"{label}: decode returned shape {audio.shape}, expected [C, T] with T > 0")
    if channels is not None and audio.shape[0] != channels:
        raise CodecError(f"{label}: decode returned {audio.shape[0]} channel(s) but the codec codes {channels}; "
                         "the adapter must return its declared channel count")
    if not np.all(np.isfinite(audio)):
        raise CodecError(f"{label}: decoded audio contains NaN or inf; the adapter or its weights are broken")
    peak = float(np.max(np.abs(audio)))
    if peak > PEAK_LIMIT:
        raise CodecError(f"{label}: decoded peak {peak:.4g} is far above full scale (limit {PEAK_LIMIT:g}); "
                         "the decoder output is mis-scaled (e.g. integer PCM values returned as floats)")
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
    input_channels = int(reference.shape[0])
    audio = codec.prepare(reference, sample_rate)  # prepare first: it may switch the item's coding format
    coding_rate, coding_channels = codec.coding_format(input_channels)
    duration = audio.shape[1] / codec.sample_rate
    start = time.perf_counter()
    payload = codec.encode(audio, utterance)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = codec.decode(payload)
    decode_s = time.perf_counter() - start
    decoded = check_decoded(decoded, audio.shape[1], codec.sample_rate, label, channels=audio.shape[0])
    codebooks = None
    if codec.has_payload:
        kbps, encode_rtf, decode_rtf = payload.kbps(duration), encode_s / duration, decode_s / duration
        if payload.codes is not None and payload.bits_per_code:
            try:
                codebooks = count_codes(payload.codes, payload.bits_per_code, duration, label)
            except ValueError as exc:
                raise CodecError(str(exc)) from None
    else:  # no bitstream (identity, precomputed): neither a bitrate nor a codec speed to report
        kbps = encode_rtf = decode_rtf = math.nan
    result = Transcoded(decoded, codec.sample_rate, kbps, encode_rtf, decode_rtf, _paths(cache_dir, key)[0], key,
                        coding_sample_rate=int(coding_rate), coding_channels=int(coding_channels),
                        input_channels=input_channels, decoded_sha256=samples_digest(decoded),
                        codebooks=codebooks,
                        payload_kind=payload.kind if codec.has_payload else None)
    wav, meta = _paths(cache_dir, key)
    save_audio(wav, decoded, codec.sample_rate)
    keep = ("measured_kbps", "encode_rtf", "decode_rtf", "coding_sample_rate", "coding_channels", "input_channels",
            "payload_kind")
    info = {k: getattr(result, k) for k in keep}  # not asdict: it would deep-copy the audio
    info = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in info.items()}
    tmp = meta.with_name(meta.name + ".part")
    tmp.write_text(json.dumps({**info, "sample_rate": codec.sample_rate, "label": label,
                               "wav_sha256": file_digest(wav),
                               "codebooks": codebooks.to_json() if codebooks is not None else None}))
    tmp.replace(meta)
    return result
