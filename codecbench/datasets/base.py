"""The dataset protocol: a dataset lists :class:`Utterance` objects; an utterance loads itself.

Utterances are small, picklable descriptions (a path, or a locator of bytes inside a parquet
file) so the runner can send them to worker processes; audio is read only in ``load()``.
"""

from __future__ import annotations

import hashlib
import io
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Optional, Protocol, Union

import numpy as np
import soundfile as sf

from codecbench.errors import DataError
from codecbench.audio import AudioError, check_audio, load_audio, undecodable, unreadable_file


class DatasetError(DataError):
    """A dataset cannot be listed. The message is one line: which path/option is wrong and what to do."""


class ByteSource(Protocol):
    """Encoded audio held outside the file system (e.g. one row of a parquet file). Must pickle."""

    @property
    def name(self) -> str:
        """Human-readable location used in error messages."""

    def cache_key(self) -> tuple:
        """A key that changes whenever the bytes may have changed (used to cache hashes)."""

    def read_bytes(self) -> bytes:
        """Return the encoded audio (WAV/FLAC/... bytes)."""


_HASH_CACHE: dict[tuple, str] = {}  # per process; source sha256 by file identity


def _file_key(path: Path) -> tuple:
    stat = path.stat()
    return ("file", str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def source_sha256(path: Optional[Path], source: Optional[ByteSource]) -> str:
    """SHA-256 hex of the encoded source bytes, cached per process by file identity."""
    if path is not None:
        try:
            key = _file_key(path)
        except OSError as exc:
            raise AudioError(f"{path}: file not found; check the dataset path") from exc
        if key not in _HASH_CACHE:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            _HASH_CACHE[key] = digest.hexdigest()
        return _HASH_CACHE[key]
    if source is None:
        raise AudioError("utterance has neither a path nor a byte source")
    try:
        key = ("bytes", *source.cache_key())
        if key not in _HASH_CACHE:
            _HASH_CACHE[key] = hashlib.sha256(source.read_bytes()).hexdigest()
    except (OSError, KeyError, IndexError, ValueError) as exc:
        raise AudioError(f"{source.name}: cannot read audio bytes ({str(exc).splitlines()[0]}); "
                         "re-download the parquet files") from exc
    return _HASH_CACHE[key]


@dataclass(frozen=True)
class Utterance:
    """One item of a dataset.

    Attributes:
        dataset: dataset label from the suite (e.g. ``"vctk"``).
        id: relative path without extension, POSIX separators (``"p360/p360_001_mic1"``);
            unique within the dataset. Segments of a longer file carry ``__{start}-{end}``.
        path: local audio file, or ``None`` when the audio comes from ``source`` (parquet).
        metadata: JSON-serialisable facts (speaker, style, transcript, ...).
        max_seconds: ``load()`` keeps only the first ``max_seconds`` (of the segment, if any).
        source: locator of encoded bytes when ``path`` is ``None``.
        segment: ``(start, end)`` seconds inside the source file (``end=None``: to the end);
            applied before ``max_seconds``. Used for Expresso's longform split segments.
    """

    dataset: str
    id: str
    path: Optional[Path]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    max_seconds: Optional[float] = None
    source: Optional[ByteSource] = None
    segment: Optional[tuple[float, Optional[float]]] = None

    def __hash__(self) -> int:  # metadata is a dict: hash on the identity fields only
        return hash((self.dataset, self.id, self.max_seconds, self.segment))

    @property
    def label(self) -> str:
        """Where the audio lives, for error messages."""
        if self.path is not None:
            return str(self.path)
        return self.source.name if self.source is not None else f"{self.dataset}:{self.id}"

    def load(self) -> tuple[np.ndarray, int]:
        """Read the audio as float32 ``[C, T]`` and its rate, applying ``segment`` then ``max_seconds``.

        Raises:
            AudioError: one line naming the file when it is missing, corrupt, empty or non-finite.
        """
        data: Union[Path, bytes]
        data = self.path if self.path is not None else self._bytes()
        if self.segment is None and self.max_seconds is None:
            return load_audio(data, name=self.label)
        return self._load_span(data)

    def _bytes(self) -> bytes:
        if self.source is None:
            raise AudioError(f"{self.dataset}:{self.id}: utterance has neither a path nor a byte source")
        try:
            return self.source.read_bytes()
        except (OSError, KeyError, IndexError, ValueError) as exc:
            raise AudioError(f"{self.label}: cannot read audio bytes ({str(exc).splitlines()[0]}); "
                             "re-download the parquet files") from exc

    def _load_span(self, data: Union[Path, bytes]) -> tuple[np.ndarray, int]:
        """Seek-and-read only the needed frames (long Expresso files are minutes long)."""
        if isinstance(data, Path):
            problem = unreadable_file(data)
            if problem:
                raise AudioError(f"{self.label}: {problem}")
        start_s, end_s = self.segment if self.segment is not None else (0.0, None)
        try:
            with sf.SoundFile(io.BytesIO(data) if isinstance(data, bytes) else data) as handle:
                rate = handle.samplerate
                start = min(int(round(start_s * rate)), handle.frames)
                stop = handle.frames if end_s is None else min(int(round(end_s * rate)), handle.frames)
                if self.max_seconds is not None:
                    stop = min(stop, start + int(round(self.max_seconds * rate)))
                handle.seek(start)
                frames = handle.read(max(stop - start, 0), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise undecodable(self.label, exc) from exc
        audio = np.ascontiguousarray(frames.T)
        check_audio(audio, self.label)
        return audio, int(rate)

    def content_hash(self) -> str:
        """SHA-256 hex of the source bytes; segment and crop are folded in when set.

        Uncropped files hash to exactly ``sha256sum <file>``. Cached per process.
        """
        base = source_sha256(self.path, self.source)
        if self.segment is None and self.max_seconds is None:
            return base
        extra = f"{base}|segment={self.segment}|max_seconds={self.max_seconds}"
        return hashlib.sha256(extra.encode()).hexdigest()


class Dataset(ABC):
    """A named, ordered list of utterances.

    Subclasses set ``name`` (the registry name) and take their options as keyword arguments
    of ``__init__`` (the suite validator reads that signature to reject unknown options).
    They implement :meth:`_collect`; :meth:`utterances` sorts by id, checks ids are unique,
    and keeps the first ``max_utterances`` in that order (a deterministic, documented choice:
    the same suite always scores the same files).
    """

    name: ClassVar[str] = ""

    def __init__(self, *, label: str, max_utterances: Optional[int] = None,
                 max_seconds: Optional[float] = None) -> None:
        if not label:
            raise DatasetError(f"{self.name}: label must be a non-empty string")
        if max_utterances is not None and (not isinstance(max_utterances, int) or max_utterances < 1):
            raise DatasetError(f"{label}: max_utterances must be a positive integer, got {max_utterances!r}")
        if max_seconds is not None and not (isinstance(max_seconds, (int, float)) and max_seconds > 0):
            raise DatasetError(f"{label}: max_seconds must be a positive number, got {max_seconds!r}")
        self.label = label
        self.max_utterances = max_utterances
        self.max_seconds = float(max_seconds) if max_seconds is not None else None
        self._cache: Optional[list[Utterance]] = None
        #: One line per input passed over while listing (broken link, unreadable folder, link
        #: loop); the planner reports them as ``dataset '<label>': skipped <line>``.
        self.skipped: list[str] = []

    @abstractmethod
    def _collect(self) -> list[Utterance]:
        """All utterances before sorting and ``max_utterances`` (raise DatasetError on bad input)."""

    def utterances(self) -> list[Utterance]:
        """Utterances sorted by id, at most ``max_utterances``; raises :class:`DatasetError`."""
        if self._cache is None:
            self.skipped = []
            items = sorted(self._collect(), key=lambda u: u.id)
            if not items:
                raise DatasetError(f"{self.label}: no utterances found ({self.describe()}){self.skipped_note()}; "
                                   "check the path and filter options")
            for prev, cur in zip(items, items[1:]):
                if prev.id == cur.id:
                    raise DatasetError(f"{self.label}: duplicate utterance id '{cur.id}' "
                                       f"({prev.label} and {cur.label}); keep one of them")
            self._cache = items[: self.max_utterances] if self.max_utterances else items
        return list(self._cache)

    def describe(self) -> str:
        """Short description of the source, used in messages."""
        return self.name

    def skipped_note(self) -> str:
        """``" (2 inputs skipped, first: ...)"`` for error messages, or ``""`` when nothing was skipped.

        An empty listing is often caused by what was skipped (an unreadable folder), so the
        "nothing found" errors name it instead of hiding it.
        """
        if not self.skipped:
            return ""
        count = len(self.skipped)
        return f" ({count} input{'s' if count > 1 else ''} skipped, first: {self.skipped[0]})"

    def make(self, id: str, path: Optional[Path], metadata: Mapping[str, Any], *,
             source: Optional[ByteSource] = None,
             segment: Optional[tuple[float, Optional[float]]] = None) -> Utterance:
        """Build an utterance of this dataset (label and crop filled in)."""
        return Utterance(dataset=self.label, id=id, path=path, metadata=dict(metadata),
                         max_seconds=self.max_seconds, source=source, segment=segment)


def walk_files(root: Path, skipped: list[str], *, recursive: bool = True,
               accept: Optional[Callable[[str], bool]] = None) -> list[Path]:
    """Files under ``root`` (a folder), following symlinked files and folders like real ones.

    ``Path.rglob`` on Python < 3.13 neither follows symlinked folders nor says when a folder
    cannot be read, so inputs vanished silently. This walk follows links but never
    enters a folder already on the current path (a link back to an ancestor is a loop: it is
    reported and not followed, so the walk terminates), and appends one line to ``skipped`` for every input it passes
    over: a broken symlink, a folder it cannot list, a link loop. Names starting with ``.``
    are ignored (hidden files, macOS ``._x.wav``). ``accept(name)`` filters file names; broken
    links are reported only when their name would have been accepted or looks like a folder
    (no suffix). Returned paths keep the link names (lexically under ``root``).
    """
    files: list[Path] = []

    def visit(folder: Path, rel: str, ancestors: frozenset[tuple[int, int]]) -> None:
        try:
            stat = folder.stat()
            with os.scandir(folder) as handle:
                entries = sorted(handle, key=lambda e: e.name)
        except OSError as exc:
            skipped.append(f"{rel or '.'}/ in {root}: cannot read folder ({exc.strerror or exc}); "
                           "fix its permissions or remove it")
            return
        ancestors = ancestors | {(stat.st_dev, stat.st_ino)}
        for entry in entries:
            if entry.name.startswith("."):
                continue
            sub = f"{rel}/{entry.name}" if rel else entry.name
            path = Path(entry.path)
            try:
                is_dir, is_file = entry.is_dir(), entry.is_file()
            except OSError as exc:
                skipped.append(f"{sub} in {root}: cannot inspect ({exc.strerror or exc}); fix or remove it")
                continue
            if not is_dir and not is_file:
                if entry.is_symlink():
                    wanted = accept is None or accept(entry.name) or "." not in entry.name
                    if wanted:
                        skipped.append(f"{sub} in {root}: broken symlink to {os.readlink(path)} "
                                       "(target missing); restore the target or remove the link")
                continue
            if is_file:
                if accept is None or accept(entry.name):
                    files.append(path)
                continue
            if not recursive:
                continue
            try:
                target = path.stat()
            except OSError as exc:
                skipped.append(f"{sub}/ in {root}: cannot read folder ({exc.strerror or exc}); "
                               "fix its permissions or remove it")
                continue
            if (target.st_dev, target.st_ino) in ancestors:
                skipped.append(f"{sub} in {root}: symlink loop (links back to {path.resolve()}); "
                               "remove the link or point it elsewhere")
                continue
            visit(path, sub, ancestors)

    visit(root, "", frozenset())
    return files


def segment_suffix(segment: Optional[tuple[float, Optional[float]]]) -> str:
    """``(0.0, 60.0)`` -> ``"__0-60"``; ``None`` -> ``""`` (id suffix for file segments)."""
    if segment is None:
        return ""
    start, end = segment
    return f"__{start:g}-{'end' if end is None else format(end, 'g')}"
