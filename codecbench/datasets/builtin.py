"""The quickstart's embedded clips: ``type: builtin`` needs no download.

Four ~3 s, 48 kHz mono, 16-bit FLAC clips shipped in ``codecbench/data`` and made by
``bench/make_builtin_data.py``: three espeak-ng synthetic speech clips (two English voices,
one German; band-limited to 11 kHz) and one numpy-synthesised music-like clip. They are
synthetic on purpose (no licence questions) and labelled so in their metadata: use real
corpora (``vctk``, ``expresso``, ``folder``) for numbers you intend to publish.
"""

from __future__ import annotations

import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

from codecbench.datasets.base import Dataset, DatasetError, Utterance

MANIFEST = "builtin.txt"


def data_dir() -> Path:
    """Folder holding the embedded clips as real files (copied out when installed zipped)."""
    folder = resources.files("codecbench").joinpath("data")
    if isinstance(folder, Path):
        return folder
    target = Path(tempfile.gettempdir()) / "codecbench-builtin-data"  # zip install: materialise once
    target.mkdir(exist_ok=True)
    for entry in folder.iterdir():
        if not (target / entry.name).exists():
            with resources.as_file(entry) as real:
                shutil.copyfile(real, target / entry.name)
    return target


def read_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """``builtin.txt`` -> ``{clip id: metadata}`` (tab-separated, ``-`` means absent)."""
    path = folder / MANIFEST
    if not path.is_file():
        raise DatasetError(f"builtin: {path} is missing; reinstall codecbench or run bench/make_builtin_data.py")
    out = {}
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    header = lines[0].lstrip("# ").split("\t")
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        clip = row.pop("file").rsplit(".", 1)[0]
        meta: dict[str, Any] = {k: v for k, v in row.items() if v != "-"}
        if "text" in meta:
            meta["transcript"] = meta.pop("text")
        if "bandwidth_hz" in meta:
            meta["bandwidth_hz"] = int(meta["bandwidth_hz"])
        meta["synthetic"] = True
        out[clip] = meta
    return out


class BuiltinDataset(Dataset):
    """The embedded synthetic clips (speech and music-like), for the quickstart and smoke tests.

    Args:
        clips: clip ids to keep (e.g. ``["music_synth_harmonic"]``); default: all.
    """

    name: ClassVar[str] = "builtin"

    def __init__(self, *, label: str = "builtin", clips: Optional[Sequence[str]] = None,
                 max_utterances: Optional[int] = None, max_seconds: Optional[float] = None) -> None:
        super().__init__(label=label, max_utterances=max_utterances, max_seconds=max_seconds)
        self.clips = [clips] if isinstance(clips, str) else (list(clips) if clips else None)

    def describe(self) -> str:
        return "builtin clips" + (f" {', '.join(self.clips)}" if self.clips else "")

    def _collect(self) -> list[Utterance]:
        folder = data_dir()
        manifest = read_manifest(folder)
        unknown = sorted(set(self.clips or ()) - set(manifest))
        if unknown:
            raise DatasetError(f"{self.label}: unknown builtin clip(s) {', '.join(unknown)}; "
                               f"choose from {', '.join(sorted(manifest))}")
        return [self.make(clip, folder / f"{clip}.flac", meta) for clip, meta in manifest.items()
                if self.clips is None or clip in self.clips]
