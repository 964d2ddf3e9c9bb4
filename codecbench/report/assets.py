"""Audio files of a report folder: safe names, copy or lossless FLAC re-encoding, size accounting.

Names of copied files never contain user text verbatim: utterance ids and codec labels can hold
anything (slashes, quotes, markup), so they are reduced to ``[A-Za-z0-9._-]`` and suffixed with
a short hash of the original, which also keeps two ids that sanitise alike apart.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import soundfile as sf

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, max_len: int = 48) -> str:
    """A file-name-safe, collision-resistant stem for arbitrary ``text``."""
    stem = _UNSAFE.sub("_", str(text)).strip("._-")[:max_len] or "x"
    digest = hashlib.sha1(str(text).encode("utf-8")).hexdigest()[:8]
    return f"{stem}-{digest}"


def human_size(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n_bytes < 1024 or unit == "GiB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024.0
    return f"{n_bytes:.1f} GiB"


@dataclass
class AudioCopier:
    """Copies (or FLAC-encodes) source audio under ``root`` once each and counts the bytes.

    Attributes:
        root: the report folder; returned paths are relative to it, with forward slashes.
        audio_format: ``copy`` or ``flac``.
    """

    root: Path
    audio_format: str = "copy"
    source_bytes: int = 0
    written_bytes: int = 0
    clipped_files: list[str] = field(default_factory=list)
    _done: dict[str, str] = field(default_factory=dict)

    def add(self, source: Optional[str], folder: str, stem: str) -> Optional[str]:
        """Place ``source`` at ``folder/stem.<ext>`` and return its relative URL (None if missing)."""
        if not source or not Path(source).is_file():
            return None
        key = str(Path(source).resolve())
        if key in self._done:
            return self._done[key]
        src = Path(source)
        ext = ".flac" if self.audio_format == "flac" else src.suffix.lower()
        rel = f"{folder}/{stem}{ext}"
        dest = self.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if self.audio_format == "flac" and src.suffix.lower() != ".flac":
            self._encode_flac(src, dest)
        else:
            shutil.copyfile(src, dest)
        self.source_bytes += src.stat().st_size
        self.written_bytes += dest.stat().st_size
        self._done[key] = rel
        return rel

    def _encode_flac(self, src: Path, dest: Path) -> None:
        """FLAC holds integers only: float audio is quantised to 24 bits (clipped to [-1, 1))."""
        data, rate = sf.read(src, dtype="float64", always_2d=True)
        if np.abs(data).max(initial=0.0) >= 1.0:
            self.clipped_files.append(str(src))
        sf.write(dest, np.clip(data, -1.0, 1.0 - 2.0 ** -23), rate, subtype="PCM_24", format="FLAC")

    @property
    def n_files(self) -> int:
        return len(self._done)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
