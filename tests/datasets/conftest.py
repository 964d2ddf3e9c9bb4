"""Helpers for dataset tests: tiny audio files and parquet tables built in tmp_path."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest
import soundfile as sf

RATE = 48_000


def tone(seconds: float, freq: float = 440.0, rate: int = RATE) -> np.ndarray:
    """A mono sine ``[T]`` (distinct freqs give distinct bytes, hence distinct hashes)."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_audio(path: Path, seconds: float = 0.5, freq: float = 440.0, rate: int = RATE,
                subtype: Optional[str] = None) -> Path:
    """Write a tone to ``path`` (format from the suffix), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(seconds, freq, rate), rate, subtype=subtype)
    return path


def audio_bytes(seconds: float = 0.5, freq: float = 440.0, fmt: str = "WAV") -> bytes:
    """Encoded bytes of a tone, as stored in a Hugging Face parquet ``audio`` column."""
    buf = io.BytesIO()
    sf.write(buf, tone(seconds, freq), RATE, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def write_parquet(path: Path, rows: list[dict], row_group_size: int = 2) -> Path:
    """Write rows (``audio`` given as bytes + file name) with the HF ``{bytes, path}`` struct."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    cols = {k: [r[k] for r in rows] for k in rows[0] if k not in ("audio", "audio_name")}
    cols["audio"] = pa.array([{"bytes": r["audio"], "path": r.get("audio_name")} for r in rows],
                             type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    pq.write_table(pa.table(cols), path, row_group_size=row_group_size)
    return path


@pytest.fixture
def make_audio() -> Callable[..., Path]:
    return write_audio


@pytest.fixture
def make_parquet() -> Callable[..., Path]:
    return write_parquet


@pytest.fixture
def encoded() -> Callable[..., bytes]:
    return audio_bytes
