"""Audio files of a report folder: checked sources, FLAC/WAV re-encoding or copies, size accounting.

File names never contain user text verbatim: utterance ids and codec labels go through
:func:`codecbench.paths.safe_component`. Sources come from the run's database, so a source is
read only when it lies inside the run dir, its cache or the suite's data folders
(:class:`~codecbench.paths.AllowedRoots`); an unreadable (corrupt) file is left out with a
warning instead of stopping the whole report.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import soundfile as sf

from codecbench.paths import AllowedRoots, OwnedOutputDir

# Errors soundfile raises for a file it cannot decode (truncated, garbage, unknown format).
AUDIO_READ_ERRORS = (sf.LibsndfileError, RuntimeError, ValueError, EOFError, OSError)


def human_size(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n_bytes < 1024 or unit == "GiB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024.0
    return f"{n_bytes:.1f} GiB"


@dataclass
class AudioCopier:
    """Places source audio in the report folder once each and counts the bytes.

    Attributes:
        site: the owned report folder; returned paths are relative to it, with forward slashes.
        allowed: folders a source may come from.
        audio_format: ``flac`` or ``wav`` (re-encoded losslessly: 16-bit sources stay 16-bit, float
            and 24-bit sources become 24-bit) or ``copy`` (as is).
        warnings: one line per file left out (outside the allowed folders, or unreadable).
    """

    site: OwnedOutputDir
    allowed: AllowedRoots
    audio_format: str = "flac"
    source_bytes: int = 0
    written_bytes: int = 0
    clipped_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _done: dict[str, Optional[str]] = field(default_factory=dict)
    _why: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.site.root

    def usable(self, source: Optional[str]) -> bool:
        """True when ``source`` is an existing file inside the allowed folders (warns once if outside)."""
        if not source or not Path(source).is_file():
            return False
        if self.allowed.allows(source):
            return True
        key = str(Path(source).resolve())
        if key not in self._why:
            self._why[key] = "outside the run's folders, left out"
            self.warnings.append(f"warning: {source}: the database names a file outside the run dir, its cache "
                                 "and the suite's data folders; left out of the report")
        return False

    def reason(self, source: Optional[str]) -> str:
        """Why ``source`` has no player (for the cell's note)."""
        if source and str(Path(source).resolve()) in self._why:
            return self._why[str(Path(source).resolve())]
        return "audio not found"

    def add(self, source: Optional[str], folder: str, stem: str) -> Optional[str]:
        """Place ``source`` at ``folder/stem.<ext>`` and return its relative URL (None if left out)."""
        if source is None or not self.usable(source):
            return None
        src = Path(source)
        key = str(src.resolve())
        if key in self._done:
            return self._done[key]
        ext = {"flac": ".flac", "wav": ".wav"}.get(self.audio_format, src.suffix.lower())
        rel = f"{folder}/{stem}{ext}"
        try:
            if self.audio_format == "copy":
                sf.info(src)  # a file the browser cannot play either is left out, not copied
                dest = self.site.path(rel)
                shutil.copyfile(src, dest)
            else:
                subtype = sf.info(src).subtype
                data, rate = sf.read(src, dtype="float64", always_2d=True)
                dest = self.site.path(rel)
                self._encode(data, rate, dest, src, "PCM_16" if subtype in ("PCM_16", "PCM_S8", "PCM_U8") else "PCM_24")
        except AUDIO_READ_ERRORS as exc:
            self._done[key] = None
            self._why[key] = "audio file unreadable (damaged?), left out"
            self.warnings.append(f"warning: {src}: cannot read the audio ({str(exc).splitlines()[0] if str(exc) else exc!r}); "
                                 "left out of the report (rerun `codecbench run` to recompute damaged cache entries)")
            return None
        self.source_bytes += src.stat().st_size
        self.written_bytes += dest.stat().st_size
        self._done[key] = rel
        return rel

    def _encode(self, data: np.ndarray, rate: int, dest: Path, src: Path, subtype: str) -> None:
        """Lossless for 16-bit sources (kept at 16 bits); float and 24-bit audio go to 24 bits, and
        float beyond full scale is clipped to [-1, 1) (integer formats cannot hold it)."""
        if np.abs(data).max(initial=0.0) >= 1.0:
            self.clipped_files.append(str(src))
        fmt = "FLAC" if self.audio_format == "flac" else "WAV"
        sf.write(dest, np.clip(data, -1.0, 1.0 - 2.0 ** -23), rate, subtype=subtype, format=fmt)

    @property
    def n_files(self) -> int:
        return sum(1 for v in self._done.values() if v)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
