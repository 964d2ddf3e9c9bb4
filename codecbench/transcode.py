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

:func:`transcode_batch` codes several references in one ``encode_batch`` / ``decode_batch`` call
(GPU batching, :mod:`codecbench.batching`) through the same checks and cache entries.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from codecbench.audio import load_audio, save_audio
from codecbench.codebooks import CodeCounts, count_codes
from codecbench.codecs.base import Codec, CodecError, Payload
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
    batch_items: int = 1  # items coded together with this one (its RTFs are those of the whole batch)


def cache_key(codec_digest: str, input_hash: str) -> str:
    return hashlib.sha256(f"{codec_digest}:{input_hash}".encode()).hexdigest()


def _paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    folder = cache_dir / key[:2]
    return folder / f"{key}.wav", folder / f"{key}.json"


def samples_digest(audio: np.ndarray) -> str:
    """SHA-256 of float32 samples and shape: equal digests mean sample-identical audio."""
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    return hashlib.sha256(f"{audio.shape}".encode() + audio.tobytes()).hexdigest()


def is_cached(cache_dir: Path, key: str) -> bool:
    """Whether a complete cache entry of ``key`` exists (not checked: :func:`load_cached` does that)."""
    wav, meta = _paths(cache_dir, key)
    return wav.is_file() and meta.is_file()


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
                      codebooks=codebooks, payload_kind=info.get("payload_kind"),
                      batch_items=int(info.get("batch_items") or 1))


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


@dataclass(frozen=True)
class CodingRequest:
    """One item for :func:`transcode_batch`: a reference ``[C, T]`` at ``sample_rate`` and its cache key."""

    reference: np.ndarray
    sample_rate: int
    utterance: Any
    key: str


@dataclass
class BatchOutcome:
    """What :func:`transcode_batch` did: one :class:`Transcoded` or exception per request, in order.

    ``fallback`` is the error of the shared call when there was one (every item was then coded
    alone with :func:`transcode`).
    """

    results: list[Union[Transcoded, Exception]]
    fallback: Optional[Exception] = None


@dataclass(frozen=True)
class _Prepared:
    """A reference as the codec codes it (``audio``: ``[C, T]`` at the codec rate)."""

    audio: np.ndarray
    duration: float
    input_channels: int
    coding_rate: int
    coding_channels: int


@dataclass(frozen=True)
class _Timing:
    """Wall time of one encode and one decode call that coded ``items`` items, ``seconds`` of audio in all."""

    encode_s: float
    decode_s: float
    seconds: float
    items: int = 1


def _prepare(codec: Codec, reference: np.ndarray, sample_rate: int) -> _Prepared:
    input_channels = int(reference.shape[0])
    audio = codec.prepare(reference, sample_rate)  # prepare first: it may switch the item's coding format
    coding_rate, coding_channels = codec.coding_format(input_channels)
    return _Prepared(audio, audio.shape[1] / codec.sample_rate, input_channels, int(coding_rate),
                     int(coding_channels))


def transcode(codec: Codec, label: str, reference: np.ndarray, sample_rate: int, utterance: Any,
              cache_dir: Path, key: str) -> Transcoded:
    """Run ``codec`` on one reference (``[C, T]`` at ``sample_rate``) and cache the result."""
    cached = load_cached(cache_dir, key)
    if cached is not None:
        return cached
    prepared = _prepare(codec, reference, sample_rate)
    start = time.perf_counter()
    payload = codec.encode(prepared.audio, utterance)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = codec.decode(payload)
    decode_s = time.perf_counter() - start
    return _store(codec, label, prepared, payload, decoded, _Timing(encode_s, decode_s, prepared.duration),
                  cache_dir, key)


def transcode_batch(codec: Codec, label: str, requests: list[CodingRequest], cache_dir: Path) -> BatchOutcome:
    """Code several references with one ``encode_batch`` and one ``decode_batch`` call; cache each.

    Each item is checked, counted and cached exactly as :func:`transcode` does it; its RTFs are the
    call's seconds over the audio duration of all items coded together (every item of a batch has
    the same RTFs), and its cache entry records how many items that was. An item whose output fails
    its checks fails alone. Any error of the shared call itself codes every item again alone with
    :func:`transcode`, so only the guilty item fails, with its own reason.
    """
    results: list[Any] = [load_cached(cache_dir, request.key) for request in requests]
    todo: list[tuple[int, _Prepared]] = []
    for index, request in enumerate(requests):
        if results[index] is None:
            try:
                todo.append((index, _prepare(codec, request.reference, request.sample_rate)))
            except Exception as exc:  # noqa: BLE001 - this item's failure, reported with it
                results[index] = exc
    if not todo:
        return BatchOutcome(results)
    try:
        start = time.perf_counter()
        payloads = codec.encode_batch([prepared.audio for _, prepared in todo],
                                      [requests[index].utterance for index, _ in todo])
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        decoded = codec.decode_batch(payloads)
        decode_s = time.perf_counter() - start
        if len(payloads) != len(todo) or len(decoded) != len(todo):
            raise CodecError(f"{label}: encode_batch/decode_batch returned {len(payloads)}/{len(decoded)} "
                             f"results for {len(todo)} inputs")
    except Exception as exc:  # noqa: BLE001 - the shared call failed: find the guilty item alone
        for index, _ in todo:
            request = requests[index]
            results[index] = _attempt(functools.partial(transcode, codec, label, request.reference,
                                                        request.sample_rate, request.utterance, cache_dir,
                                                        request.key))
        return BatchOutcome(results, exc)
    timing = _Timing(encode_s, decode_s, sum(prepared.duration for _, prepared in todo), len(todo))
    for (index, prepared), payload, audio in zip(todo, payloads, decoded):
        results[index] = _attempt(functools.partial(_store, codec, label, prepared, payload, audio, timing,
                                                    cache_dir, requests[index].key))
    return BatchOutcome(results)


def _attempt(code: Callable[[], Transcoded]) -> Union[Transcoded, Exception]:
    """``code()``, or the exception it raised (one item's failure must not stop the others)."""
    try:
        return code()
    except Exception as exc:  # noqa: BLE001 - reported per item by the codec worker
        return exc


def _store(codec: Codec, label: str, prepared: _Prepared, payload: Payload, decoded: Any, timing: _Timing,
           cache_dir: Path, key: str) -> Transcoded:
    """Check one item's decoder output, measure its payload and write its cache entry."""
    decoded = check_decoded(decoded, prepared.audio.shape[1], codec.sample_rate, label,
                            channels=prepared.audio.shape[0])
    codebooks = None
    if codec.has_payload:
        kbps = payload.kbps(prepared.duration)
        encode_rtf, decode_rtf = timing.encode_s / timing.seconds, timing.decode_s / timing.seconds
        if payload.codes is not None and payload.bits_per_code:
            try:
                codebooks = count_codes(payload.codes, payload.bits_per_code, prepared.duration, label)
            except ValueError as exc:
                raise CodecError(str(exc)) from None
    else:  # no bitstream (identity, precomputed): neither a bitrate nor a codec speed to report
        kbps = encode_rtf = decode_rtf = math.nan
    result = Transcoded(decoded, codec.sample_rate, kbps, encode_rtf, decode_rtf, _paths(cache_dir, key)[0], key,
                        coding_sample_rate=prepared.coding_rate, coding_channels=prepared.coding_channels,
                        input_channels=prepared.input_channels, decoded_sha256=samples_digest(decoded),
                        codebooks=codebooks,
                        payload_kind=payload.kind if codec.has_payload else None, batch_items=timing.items)
    wav, meta = _paths(cache_dir, key)
    save_audio(wav, decoded, codec.sample_rate)
    keep = ("measured_kbps", "encode_rtf", "decode_rtf", "coding_sample_rate", "coding_channels", "input_channels",
            "payload_kind", "batch_items")
    info = {k: getattr(result, k) for k in keep}  # not asdict: it would deep-copy the audio
    info = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in info.items()}
    tmp = meta.with_name(meta.name + ".part")
    tmp.write_text(json.dumps({**info, "sample_rate": codec.sample_rate, "label": label,
                               "wav_sha256": file_digest(wav),
                               "codebooks": codebooks.to_json() if codebooks is not None else None}))
    tmp.replace(meta)
    return result
