"""Already-decoded audio in a folder that mirrors the dataset (published demo outputs).

``path/<item.id><ext>`` is the decoded version of dataset item ``item.id`` (the item's relative
path without extension, POSIX separators, nested folders allowed), for the first extension in
``extensions`` that exists. Nothing is transmitted here, so ``has_payload`` is ``False``: the
measured bitrate is NaN and the suite's declared bitrate is what gets reported.

Files are returned as they are: their own length (published outputs are often a few hundred
samples longer or shorter; the harness's alignment policy handles that) and their own channels
(the harness downmixes). Files at another rate than ``sample_rate`` are resampled with
:func:`codecbench.audio.resample`.

Cache key: :meth:`PrecomputedCodec.identity` holds the folder and a fingerprint of its audio
files, SHA-256 over the sorted ``(relative path, size, mtime_ns)`` of every file with one of the
extensions, computed once per adapter instance. Replacing, touching, adding or removing a
decoded file changes the key of every item (cheap, and stale results can never be reused);
hashing file contents instead would read the whole folder on every run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from codecbench.audio import AudioError, load_audio, resample
from codecbench.codecs.base import Codec, CodecError, Payload
from codecbench.datasets.base import walk_files
from codecbench.paths import climbs_out

if TYPE_CHECKING:
    from codecbench.datasets.base import Utterance


class PrecomputedCodec(Codec):
    """Reads decoded files by item id.

    Args:
        bitrate: the declared kbps of the system that produced the files (reported as is).
        device: ignored.
        path: folder of decoded files mirroring the dataset's relative paths. ``{bitrate}`` in
            it is replaced by the declared kbps (``apcodecplus_{bitrate}`` -> ``apcodecplus_4.5``),
            so one entry can sweep a system published as one folder per bitrate.
        extensions: file extensions to try, in order (default ``(".wav", ".flac")``).
        sample_rate: rate of the returned audio; default: the rate of the first audio file in
            the folder (sorted order), read with ``soundfile.info``.
    """

    name = "precomputed"
    description = "decoded files from a folder mirroring the dataset (published outputs)"
    sample_rates = ()
    default_bitrates = ()
    has_payload = False

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", path: Union[str, Path] = "",
                 extensions: tuple[str, ...] = (".wav", ".flac"), sample_rate: Optional[int] = None) -> None:
        super().__init__(bitrate, device)
        if not str(path):
            raise CodecError("precomputed: option 'path' is required (the folder of decoded files)")
        if isinstance(extensions, str):
            extensions = (extensions,)
        exts = tuple(e if e.startswith(".") else f".{e}" for e in extensions)
        if not exts:
            raise CodecError("precomputed: option 'extensions' is empty; e.g. ['.wav', '.flac']")
        if "{bitrate}" in str(path):
            if bitrate is None:
                raise CodecError("precomputed: 'path' uses {bitrate} but the entry declares no bitrates")
            path = str(path).replace("{bitrate}", f"{float(bitrate):g}")
        self.path = Path(path).expanduser()
        self.extensions = exts
        self._fingerprint: Optional[str] = None
        if sample_rate is not None:
            if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
                raise CodecError(f"precomputed: sample_rate={sample_rate!r} must be a positive integer (Hz)")
            self.sample_rate = sample_rate
        else:
            self.sample_rate = self._first_file_rate() or 48000

    # -- folder ------------------------------------------------------------------------------
    def _audio_files(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        # walk_files follows symlinked sub-folders (rglob does not before Python 3.13), so outputs
        # linked in from shared storage count for the fingerprint and the availability check
        return sorted(walk_files(self.path, [], accept=lambda name: Path(name).suffix.lower() in self.extensions))

    def _first_file_rate(self) -> Optional[int]:
        import soundfile as sf

        for file in self._audio_files():
            try:
                return int(sf.info(str(file)).samplerate)
            except (sf.LibsndfileError, RuntimeError):
                continue
        return None

    def fingerprint(self) -> str:
        """SHA-256 over sorted ``(relative path, size, mtime_ns)`` of the folder's audio files."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for file in self._audio_files():
                stat = file.stat()
                digest.update(f"{file.relative_to(self.path).as_posix()}\0{stat.st_size}\0"
                              f"{stat.st_mtime_ns}\n".encode())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def locate(self, item_id: str) -> Path:
        """The decoded file of ``item_id``; raises :class:`CodecError` naming the paths tried.

        The id is checked lexically (no ``..`` component, not absolute), not by resolving links:
        published outputs are often per-file symlinks into shared storage, and those must be
        read, while an id can only climb out of the folder through its own text.
        """
        if climbs_out(item_id):
            raise CodecError(f"precomputed: item id '{item_id}' points outside {self.path}; "
                             "ids must be relative paths inside the folder (no '..', not absolute)")
        candidates = [self.path / f"{item_id}{ext}" for ext in self.extensions]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        tried = " or ".join(str(c) for c in candidates)
        raise CodecError(f"precomputed: no decoded file for item '{item_id}'; expected {tried}")

    # -- the protocol ------------------------------------------------------------------------
    def encode(self, audio: np.ndarray, item: Optional[Utterance] = None) -> Payload:
        """Find the decoded file of ``item.id``; the payload only names it (no bits)."""
        item_id = getattr(item, "id", None)
        if not item_id:
            raise CodecError("precomputed: needs the dataset item (with an 'id') to find its decoded file")
        if not self.path.is_dir():
            raise CodecError(f"precomputed: folder {self.path} does not exist; check the 'path' option")
        file = self.locate(str(item_id))
        num_samples = int(np.asarray(audio).shape[-1]) if audio is not None else 0
        return Payload(data=b"", num_samples=num_samples, side={"path": str(file)})

    def decode(self, payload: Payload) -> np.ndarray:
        """Read the named file as float32 ``[C, T]`` at ``self.sample_rate`` (its own length)."""
        path = payload.side.get("path")
        if not path:
            raise CodecError("precomputed: payload names no file; encode it with the precomputed codec")
        try:
            audio, rate = load_audio(path)
        except AudioError as exc:
            raise CodecError(f"precomputed: {exc}") from exc
        return resample(audio, rate, self.sample_rate)

    def identity(self) -> dict[str, Any]:
        """Folder, extensions, rate and the folder fingerprint (see module docstring)."""
        ident = super().identity()
        ident.update(path=str(self.path.resolve()), extensions=list(self.extensions),
                     sample_rate=self.sample_rate, fingerprint=self.fingerprint())
        return ident

    def unavailable_reason(self) -> Optional[str]:
        """A line when the folder is missing or holds no audio files."""
        if not self.path.is_dir():
            return f"precomputed folder {self.path} does not exist; check the 'path' option"
        if not self._audio_files():
            return f"precomputed folder {self.path} has no {'/'.join(self.extensions)} files"
        return None
