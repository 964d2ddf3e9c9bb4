"""Any local folder of audio files: ``type: folder, path: my_clips/``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

from codecbench.audio import AUDIO_EXTENSIONS
from codecbench.datasets.base import Dataset, DatasetError, Utterance, walk_files


class FolderDataset(Dataset):
    """Every audio file under ``path``; the id is the relative path without extension.

    Hidden files and folders (names starting with ``.``, e.g. macOS ``._x.wav``) and files with
    other extensions are ignored. Symlinked files and folders are read like real ones (the id
    is the link's path); broken links, unreadable folders and link loops are listed in
    :attr:`skipped`, one line each. ``metadata`` optionally names a CSV (column ``id``, or ``path``
    / ``file`` relative to the folder) or a JSON object ``{id: {...}}`` whose fields are merged
    into each utterance's metadata.

    Args:
        path: the folder (or a single audio file).
        extensions: file suffixes to include, case-insensitive.
        recursive: descend into sub-folders.
        metadata: optional sidecar file (relative paths are resolved against ``path``).
    """

    name: ClassVar[str] = "folder"

    def __init__(self, path: str, *, label: str = "folder", extensions: Sequence[str] = (".wav", ".flac"),
                 recursive: bool = True, metadata: Optional[str] = None,
                 max_utterances: Optional[int] = None, max_seconds: Optional[float] = None) -> None:
        super().__init__(label=label, max_utterances=max_utterances, max_seconds=max_seconds)
        if isinstance(extensions, str):
            extensions = (extensions,)
        self.path = Path(path).expanduser()
        self.extensions = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        self.recursive = recursive
        self.metadata_file = metadata

    def describe(self) -> str:
        return f"folder {self.path}, extensions {', '.join(self.extensions)}"

    def _collect(self) -> list[Utterance]:
        if not self.path.exists():
            raise DatasetError(f"{self.label}: folder {self.path} does not exist; set path: to a folder of "
                               f"{'/'.join(self.extensions)} files")
        if self.path.is_file():
            root, files = self.path.parent, [self.path]
        else:
            root = self.path
            files = walk_files(root, self.skipped, recursive=self.recursive,
                               accept=lambda name: Path(name).suffix.lower() in self.extensions)
        if not files:
            raise DatasetError(f"{self.label}: no {'/'.join(self.extensions)} files in {self.path}"
                               f"{'' if self.recursive else ' (recursive: false)'}{self.skipped_note()}; "
                               "add audio or fix path:")
        extra = self._sidecar(root)
        out = []
        for file in files:
            uid = file.relative_to(root).with_suffix("").as_posix()
            meta = {"file": file.relative_to(root).as_posix(), **extra.get(uid, {})}
            out.append(self.make(uid, file, meta))
        return out

    def _sidecar(self, root: Path) -> dict[str, dict[str, Any]]:
        """Read the optional metadata sidecar into ``{id: fields}``."""
        if self.metadata_file is None:
            return {}
        side = Path(self.metadata_file).expanduser()
        side = side if side.is_absolute() else root / side
        if not side.is_file():
            raise DatasetError(f"{self.label}: metadata file {side} not found; fix metadata: or remove it")
        try:
            if side.suffix.lower() == ".json":
                table = json.loads(side.read_text(encoding="utf-8"))
                if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
                    raise ValueError("expected an object {id: {field: value}}")
                return {_norm_id(k): dict(v) for k, v in table.items()}
            with open(side, newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
        except (ValueError, csv.Error, UnicodeDecodeError) as exc:
            raise DatasetError(f"{self.label}: cannot parse metadata file {side} ({exc}); "
                               "use CSV with an id/path column or JSON {id: {...}}") from exc
        key = next((k for k in ("id", "path", "file") if rows and k in rows[0]), None)
        if key is None:
            raise DatasetError(f"{self.label}: metadata file {side} needs an 'id', 'path' or 'file' column")
        return {_norm_id(row[key]): {k: v for k, v in row.items() if k != key} for row in rows}


def _norm_id(value: str) -> str:
    """``sub\\a.wav`` / ``sub/a`` -> ``sub/a`` (sidecars may name files with or without extension)."""
    path = Path(value.strip().replace("\\", "/"))
    return path.with_suffix("").as_posix() if path.suffix.lower() in AUDIO_EXTENSIONS else path.as_posix()
