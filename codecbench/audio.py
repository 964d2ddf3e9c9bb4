"""Audio I/O and conversions shared by datasets, adapters and metrics.

Everything is float32 ``[C, T]``. Resampling uses soxr at its "VHQ" quality (a named,
high-quality polyphase resampler) so the alignment policy recorded in the manifest is exact.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np
import soundfile as sf

from codecbench.errors import DataError

RESAMPLER = "soxr-VHQ"
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")


class AudioError(DataError):
    """Unreadable or unusable audio. The message is one line naming the file and what to do."""


def unreadable_file(path: Path) -> Optional[str]:
    """Why ``path`` cannot be opened at all (missing, a folder, no read permission), else None.

    Checked before decoding so that a permission problem is not reported as a bad format.
    """
    if not path.exists():
        return "file not found; check the path" + (" (a broken symlink)" if path.is_symlink() else "")
    if not path.is_file():
        return "not a regular file"
    if not os.access(path, os.R_OK):
        return "permission denied; make the file readable (e.g. chmod a+r) and rerun"
    return None


def undecodable(label: str, exc: BaseException) -> AudioError:
    """The one-line error for bytes soundfile cannot decode."""
    return AudioError(f"{label}: cannot decode audio ({str(exc).splitlines()[0]}); re-export it as WAV or FLAC")


def load_audio(source: Union[str, Path, bytes], name: str = "") -> tuple[np.ndarray, int]:
    """Read audio from a path or from encoded bytes; return float32 ``[C, T]`` and the rate.

    Integer formats (8/16/24/32-bit) are scaled to [-1, 1) by soundfile. Raises
    :class:`AudioError` for missing, corrupt, empty or non-finite audio.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    if not isinstance(source, bytes):
        problem = unreadable_file(Path(source))
        if problem:
            raise AudioError(f"{label}: {problem}")
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
        data, rate = sf.read(handle, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise undecodable(label, exc) from exc
    audio = np.ascontiguousarray(data.T)
    check_audio(audio, label)
    return audio, int(rate)


def check_audio(audio: np.ndarray, label: str) -> None:
    """Reject empty or non-finite audio with a one-line message."""
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise AudioError(f"{label}: audio is empty (0 samples); remove it or re-export it")
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{label}: audio contains NaN or infinite samples; re-export it")


def save_audio(path: Union[str, Path], audio: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> None:
    """Write ``[C, T]`` float audio; ``FLOAT`` WAV keeps decoded output bit-exact for re-scoring.

    The file appears complete or not at all (written beside it, then renamed). A failed write
    (disk full, quota, I/O error) raises :class:`OSError` with its errno and the file name and
    leaves no partial file: the audio is encoded in memory and written by Python, because
    libsndfile reports every system error as a bare "System error.".
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    encoded = io.BytesIO()
    sf.write(encoded, np.asarray(audio, dtype=np.float32).T, sample_rate, subtype=subtype,
             format=path.suffix.lstrip(".").upper() or "WAV")
    try:
        with open(tmp, "wb") as handle:
            handle.write(encoded.getbuffer())
    except OSError as exc:
        try:
            tmp.unlink()  # a partial file would only take more of a full disk
        except OSError:
            pass
        raise OSError(exc.errno, exc.strerror, str(tmp)) from None
    tmp.replace(path)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample ``[C, T]`` audio with soxr VHQ; returns the input unchanged when rates match."""
    if rate_in == rate_out:
        return np.asarray(audio, dtype=np.float32)
    import soxr

    out = soxr.resample(np.asarray(audio, dtype=np.float32).T, rate_in, rate_out, quality="VHQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, audio.shape[0]).T)


def convert_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Average to mono or repeat mono to ``channels``; other layouts are an error."""
    have = audio.shape[0]
    if have == channels:
        return audio
    if channels == 1:
        return audio.mean(axis=0, keepdims=True, dtype=np.float32)
    if have == 1:
        return np.repeat(audio, channels, axis=0)
    raise AudioError(f"cannot convert {have}-channel audio to {channels} channels")


def to_mono(audio: np.ndarray) -> np.ndarray:
    """``[C, T]`` -> ``[T]`` by averaging channels."""
    return audio.mean(axis=0, dtype=np.float32) if audio.ndim == 2 else np.asarray(audio, np.float32)


def array_digest(data: np.ndarray) -> bytes:
    """16-byte BLAKE2 digest of an array's dtype, shape and samples: equal only for identical arrays."""
    data = np.ascontiguousarray(data)
    hasher = hashlib.blake2b(f"{data.dtype.str}{data.shape}".encode(), digest_size=16)
    hasher.update(data.view(np.uint8).data)
    return hasher.digest()
