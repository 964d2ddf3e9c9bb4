"""A Kaldi / ESPnet data directory: ``type: scp, path: data/test/wav.scp``.

``wav.scp`` lists one utterance per line, ``<utt_id> <path>`` (the path is the rest of the line,
so it may contain spaces); relative paths are resolved against the folder holding the scp file,
absolute ones are read as they are (the usual Kaldi form). Only plain audio files are read:
pipe entries (``<utt_id> sox x.wav -t wav - |``) and archive offsets (``x.ark:123``) are refused
with one line naming ``file:line``. The optional ``text`` file (``<utt_id> <transcript>``, the
Kaldi layout) fills each utterance's ``transcript`` metadata; by default the ``text`` file
beside the scp file is used when there is one.

Ids are the scp's utterance ids. Like the folder dataset's ids they name files (decoded audio,
reference crops, ``precomputed`` lookups), so an id that could climb out of a folder (``..``,
absolute, backslashes) is refused as a bad line. A listed file that does not exist is passed
over and reported like a broken symlink of the folder dataset (``skipped``), so one missing
file does not stop a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Optional

from codecbench.datasets.base import Dataset, DatasetError, Utterance
from codecbench.paths import climbs_out


def read_table(path: Path, label: str, what: str) -> list[tuple[int, str, str]]:
    """``(line number, key, rest)`` of each non-blank line of a Kaldi ``key value`` file.

    Raises:
        DatasetError: ``file:line: ...`` for an unreadable file, bad text, a line without a value
            (``what`` names the value), a key that climbs out, or a duplicate key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        bad = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DatasetError(f"{path}:{bad}: not UTF-8 text ({exc.reason}); save {path.name} as UTF-8") from None
    except OSError as exc:
        raise DatasetError(f"{label}: cannot read {path} ({exc.strerror or exc}); fix the path or its "
                           "permissions") from None
    rows: list[tuple[int, str, str]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        key = parts[0]
        if len(parts) < 2 and what != "transcript":
            raise DatasetError(f"{path}:{number}: '{key}' has no {what}; each line is '<utt_id> <{what}>'")
        if climbs_out(key):
            raise DatasetError(f"{path}:{number}: utterance id '{key}' could point outside a folder; ids must be "
                               "relative names (no '..', no backslash, not absolute)")
        if key in seen:
            raise DatasetError(f"{path}:{number}: duplicate utterance id '{key}' (first on line {seen[key]}); "
                               "keep one of them")
        seen[key] = number
        rows.append((number, key, parts[1].strip() if len(parts) > 1 else ""))
    return rows


class ScpDataset(Dataset):
    """The utterances of a Kaldi ``wav.scp``, with transcripts from an optional ``text`` file.

    Args:
        path: the ``wav.scp`` file.
        text: the transcript file; default: ``text`` beside the scp file when it exists, else no
            transcripts. In a suite, ``path`` and ``text`` follow the suite's path rule (resolved
            against the suite file's folder); a path still relative here is taken from the scp's folder.
    """

    name: ClassVar[str] = "scp"

    def __init__(self, path: str, *, label: str = "scp", text: Optional[str] = None,
                 max_utterances: Optional[int] = None, max_seconds: Optional[float] = None) -> None:
        super().__init__(label=label, max_utterances=max_utterances, max_seconds=max_seconds)
        self.path = Path(path).expanduser()
        self.text = text

    def describe(self) -> str:
        return f"scp {self.path}"

    def _text_file(self) -> Optional[Path]:
        if self.text is None:
            beside = self.path.parent / "text"
            return beside if beside.is_file() else None
        given = Path(self.text).expanduser()
        given = given if given.is_absolute() else self.path.parent / given
        if not given.is_file():
            raise DatasetError(f"{self.label}: transcript file {given} not found; fix text: or remove it")
        return given

    def _collect(self) -> list[Utterance]:
        if not self.path.is_file():
            raise DatasetError(f"{self.label}: {self.path} is not a file; set path: to a Kaldi wav.scp "
                               "(lines '<utt_id> <audio path>')")
        text_file = self._text_file()
        transcripts = {key: value for _, key, value in read_table(text_file, self.label, "transcript")} \
            if text_file else {}
        root = self.path.parent
        out = []
        for number, uid, where in read_table(self.path, self.label, "audio path"):
            if where.endswith("|"):
                raise DatasetError(f"{self.path}:{number}: '{uid}' is a pipe command ('{where}'); codecbench reads "
                                   "audio files only: run the command once to write a WAV and list its path")
            if where.startswith("-") or _archive_offset(where):
                raise DatasetError(f"{self.path}:{number}: '{uid}' names '{where}', not an audio file; list a plain "
                                   "WAV/FLAC path (convert ark entries with wav-copy first)")
            file = Path(where).expanduser()
            file = file if file.is_absolute() else root / file
            if not file.is_file():
                self.skipped.append(f"{self.path}:{number}: '{uid}': {file} not found; restore the file or "
                                    "remove the line")
                continue
            meta = {"file": where, **({"transcript": transcripts[uid]} if uid in transcripts else {})}
            out.append(self.make(uid, file, meta))
        return out


def _archive_offset(where: str) -> bool:
    """``feats.ark:1234`` (an offset into a Kaldi archive), not a file name with a colon."""
    head, sep, tail = where.rpartition(":")
    return bool(sep) and tail.isdigit() and head.endswith(".ark")
