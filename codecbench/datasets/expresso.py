"""Expresso read speech (Nguyen et al., Interspeech 2023; CC BY-NC 4.0), 4 speakers, 48 kHz.

Local layout (the official ``expresso.tar``)::

    expresso/
      read_transcriptions.txt            # "<file_id>\\t<text>" per line
      splits/{train,dev,test}.txt        # one entry per line, see parse_split_line
      audio_48khz/read/{spk}/{style}/{base|longform}/{file_id}.wav

Split files list one file id per line (``ex01_confused_00001``). Longform read files
(``read/{default,narration}/longform``) are cut by the official split: their lines carry a time
range in seconds after a tab, e.g. ``ex01_default_longform_00001\\t(0.0s, 60.0s)``; we read
``(a,b)``, ``(,b)``, ``(a,)``, ``[a, b]``, ``a-b`` and ``a b`` with optional ``s`` units, and
lines naming a path (``.../ex01_confused_00001.wav``). Conversational entries (``ex04-ex01_...``)
are skipped: this dataset is read speech only.

Hugging Face sources (``source: hf``): ``shangeth/expresso`` (config ``read``, train/dev/test
following the official split, longform test segments re-cut into ≤ ~16 s chunks whose ids end
in ``__start-end``) is the default; ``ylacombe/expresso`` has one ``train`` split holding all
read files, so dev/test need ``split_file:`` (the official ``splits/test.txt``). ``repo:`` may
also be a local parquet file/folder with the same columns (``id``, ``audio``, optional
``speaker_id``, ``style``, ``text``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

from codecbench.datasets.base import Dataset, DatasetError, Utterance, segment_suffix, walk_files
from codecbench.datasets.hf import parquet_files, scan

EXPRESSO_URL = "https://dl.fbaipublicfiles.com/textless_nlp/expresso/data/expresso.tar"
DEFAULT_REPO = "shangeth/expresso"
TRAIN_ONLY_REPOS = ("ylacombe/expresso",)
SPLITS = ("train", "dev", "test", "all")
_READ_ID = re.compile(r"^(ex\d\d)_([a-z_]+?)_(\d+)$")

Segment = tuple[float, Optional[float]]


def parse_range(text: str) -> Segment:
    """``"(0.0s, 60.0s)"`` -> ``(0.0, 60.0)``; a missing start is 0, a missing end is ``None``."""
    body = text.strip().strip("()[]").strip()
    if "," in body:
        parts = body.split(",", 1)
    elif re.fullmatch(r"[\d.]*s?\s*-\s*[\d.]*s?", body):
        parts = body.split("-", 1)
    else:
        parts = body.split()
    if len(parts) != 2:
        raise ValueError(f"expected a (start, end) range, got '{text.strip()}'")
    start, end = (p.strip().rstrip("s").strip() for p in parts)
    return (float(start) if start else 0.0, float(end) if end else None)


def parse_split_line(line: str) -> Optional[tuple[str, Optional[Segment]]]:
    """One split-file line -> ``(file_id, segment or None)``; ``None`` for blanks and comments."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    head, _, rest = line.replace("\t", " ").partition(" ")
    file_id = Path(head).name
    if file_id.lower().endswith((".wav", ".flac")):
        file_id = file_id.rsplit(".", 1)[0]
    return file_id, (parse_range(rest) if rest.strip() else None)


def read_split_file(path: Path, label: str) -> list[tuple[str, Optional[Segment]]]:
    """Read-speech entries of an official split file, in file order."""
    if not path.is_file():
        raise DatasetError(f"{label}: split file {path} not found; extract expresso.tar ({EXPRESSO_URL}) "
                           "so that splits/ exists, or set split_file:")
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            parsed = parse_split_line(line)
        except ValueError as exc:
            raise DatasetError(f"{label}: {path}:{number}: {exc}; expected '<file_id>[<TAB>(start, end)]'") from exc
        if parsed and _READ_ID.match(parsed[0]):
            entries.append(parsed)
    return entries


def read_transcriptions(path: Path) -> dict[str, str]:
    """``read_transcriptions.txt`` -> ``{file_id: text}`` (empty when the file is absent)."""
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        file_id, sep, text = line.partition("\t")
        if sep:
            out[file_id.strip()] = text.strip()
    return out


def id_fields(file_id: str) -> dict[str, str]:
    """``ex01_default_emphasis_00010`` -> speaker ex01, style default, substyle default_emphasis, corpus."""
    match = _READ_ID.match(file_id.split("__")[0])
    if not match:
        return {}
    speaker, substyle, _ = match.groups()
    return {"speaker": speaker, "style": substyle.split("_")[0], "substyle": substyle,
            "corpus": "longform" if substyle.endswith("longform") else "base"}


def _speaker(value: Any) -> Optional[str]:
    """Normalise ``1`` / ``"1"`` / ``"ex01"`` to ``"ex01"``."""
    if value is None or value == "":
        return None
    text = str(value)
    return f"ex{int(text):02d}" if text.isdigit() else text


class ExpressoDataset(Dataset):
    """Expresso read speech, official split (default ``test``), from the local tar or Hugging Face.

    Args:
        root: extracted ``expresso/`` folder (local source).
        split: ``train``, ``dev``, ``test`` or ``all`` (every read file, local/parquet as is).
        source: ``local`` or ``hf``; default: ``hf`` when ``repo`` is set, else ``local``.
        repo: Hub repo id or local parquet file/folder (default ``shangeth/expresso``).
        config: Hub config (sub-folder) holding the parquet files.
        revision: Hub revision (branch, tag or commit) for reproducibility.
        split_file: an official split file to use instead of ``root/splits/{split}.txt``; with a
            parquet source it selects rows by id (required for ``ylacombe/expresso`` dev/test).
        speakers, styles: keep only these (``styles`` matches style or sub-style).
        longform: include the longform segments of the split.
        cache_dir: Hugging Face cache folder (default: the HF cache).
    """

    name: ClassVar[str] = "expresso"

    def __init__(self, *, label: str = "expresso", root: Optional[str] = None, split: str = "test",
                 source: Optional[str] = None, repo: Optional[str] = None, config: Optional[str] = "read",
                 revision: Optional[str] = None, split_file: Optional[str] = None,
                 speakers: Optional[Sequence[str]] = None, styles: Optional[Sequence[str]] = None,
                 longform: bool = True, cache_dir: Optional[str] = None,
                 max_utterances: Optional[int] = None, max_seconds: Optional[float] = None) -> None:
        super().__init__(label=label, max_utterances=max_utterances, max_seconds=max_seconds)
        if split not in SPLITS:
            raise DatasetError(f"{label}: unknown split '{split}'; choose one of {', '.join(SPLITS)}")
        source = source or ("hf" if repo else "local")
        if source not in ("local", "hf"):
            raise DatasetError(f"{label}: unknown source '{source}'; choose local or hf")
        self.root = Path(root).expanduser() if root else None
        self.split, self.source, self.config, self.revision = split, source, config, revision
        self.repo = repo or DEFAULT_REPO
        self.split_file = Path(split_file).expanduser() if split_file else None
        self.speakers = set(speakers) if speakers else None
        self.styles = set(styles) if styles else None
        self.longform, self.cache_dir = longform, cache_dir

    def describe(self) -> str:
        where = f"repo {self.repo}" if self.source == "hf" else f"root {self.root}"
        return f"expresso {self.split} split, {where}"

    def _keep(self, meta: dict[str, Any]) -> bool:
        if self.speakers and meta.get("speaker") not in self.speakers:
            return False
        if self.styles and not ({meta.get("style"), meta.get("substyle")} & self.styles):
            return False
        return self.longform or meta.get("corpus") != "longform"

    def _collect(self) -> list[Utterance]:
        return self._collect_hf() if self.source == "hf" else self._collect_local()

    def _collect_local(self) -> list[Utterance]:
        if self.root is None:
            raise DatasetError(f"{self.label}: set root: to the extracted expresso/ folder ({EXPRESSO_URL}) "
                               "or use source: hf")
        read_dir = self.root / "audio_48khz" / "read"
        if not read_dir.is_dir():
            raise DatasetError(f"{self.label}: {read_dir} not found; root: must be the extracted expresso/ "
                               f"folder containing audio_48khz/read ({EXPRESSO_URL})")
        # speaker/style/corpus/id.wav; symlinked folders and files count, what is skipped is reported
        index = {p.stem: p for p in walk_files(read_dir, self.skipped, accept=lambda n: n.lower().endswith(".wav"))
                 if len(p.relative_to(read_dir).parts) == 4}
        if self.split == "all":
            entries: list[tuple[str, Optional[Segment]]] = [(stem, None) for stem in index]
        else:
            entries = read_split_file(self.split_file or self.root / "splits" / f"{self.split}.txt", self.label)
        missing = [fid for fid, _ in entries if fid not in index]
        if missing:
            raise DatasetError(f"{self.label}: {len(missing)} file(s) of the {self.split} split are missing under "
                               f"{read_dir} (first: {missing[0]}.wav){self.skipped_note()}; re-extract expresso.tar")
        texts = read_transcriptions(self.root / "read_transcriptions.txt")
        out = []
        for file_id, segment in entries:
            path = index[file_id]
            spk, style, corpus = path.relative_to(read_dir).parts[:3]
            meta = {**id_fields(file_id), "speaker": spk, "style": style, "corpus": corpus}
            if self._keep(meta):
                uid = path.relative_to(read_dir).with_suffix("").as_posix() + segment_suffix(segment)
                out.append(self.make(uid, path, self._meta(meta, file_id, texts.get(file_id), segment),
                                     segment=segment))
        return out

    def _meta(self, meta: dict[str, Any], file_id: str, text: Optional[str],
              segment: Optional[Segment]) -> dict[str, Any]:
        meta = {**meta, "file_id": file_id, "split": self.split}
        if text:
            meta["transcript"] = text
        if segment is not None:
            meta["segment_start"], meta["segment_end"] = segment
        return meta

    def _collect_hf(self) -> list[Utterance]:
        wanted: Optional[dict[str, list[Optional[Segment]]]] = None
        parquet_split: Optional[str] = None if self.split == "all" else self.split
        if self.split_file is not None:
            wanted = {}
            for file_id, segment in read_split_file(self.split_file, self.label):
                wanted.setdefault(file_id, []).append(segment)
            parquet_split = "train"
        elif self.repo in TRAIN_ONLY_REPOS:
            if self.split not in ("train", "all"):
                raise DatasetError(f"{self.label}: {self.repo} has a single train split with every read file; set "
                                   f"split_file: to the official splits/{self.split}.txt or use repo: {DEFAULT_REPO}")
            parquet_split = "train"
        files = parquet_files(self.repo, dataset=self.label, split=parquet_split, config=self.config,
                              revision=self.revision, cache_dir=self.cache_dir)
        out, seen = [], set()
        for row, locator in scan(files, dataset=self.label, columns=["id"], optional=["speaker_id", "style", "text"]):
            row_id = str(row["id"])
            file_id = row_id.split("__")[0]
            if wanted is not None and file_id not in wanted:
                continue
            seen.add(file_id)
            fields = id_fields(row_id)
            meta = {**fields, "speaker": _speaker(row.get("speaker_id")) or fields.get("speaker"),
                    "style": row.get("style") or fields.get("style")}
            if not self._keep(meta):
                continue
            stem = f"{meta['speaker']}/{meta['style']}/{meta.get('corpus', 'base')}/{row_id}"
            for segment in (wanted[file_id] if wanted is not None else [None]):
                out.append(self.make(stem + segment_suffix(segment), None,
                                     self._meta(meta, file_id, row.get("text"), segment),
                                     source=locator, segment=segment))
        if wanted is not None and len(seen) < len(wanted):
            lost = sorted(set(wanted) - seen)
            raise DatasetError(f"{self.label}: {len(lost)} id(s) of {self.split_file} are not in {self.repo} "
                               f"(first: {lost[0]}); use the parquet files and split file of the same release")
        return out
