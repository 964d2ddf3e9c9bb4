"""VCTK 0.92 (CSTR, CC BY 4.0): 110 English speakers, 48 kHz FLAC, two microphones.

Local layout (``VCTK-Corpus-0.92.zip``)::

    VCTK-Corpus-0.92/
      speaker-info.txt                                  # ID AGE GENDER ACCENTS REGION ...
      txt/pXXX/pXXX_NNN.txt                             # transcripts
      wav48_silence_trimmed/pXXX/pXXX_NNN_mic{1,2}.flac

The default speakers are the usual 8 held-out evaluation speakers of VCTK 0.92 (the APCodec
evaluation set: p360 p361 p362 p363 p364 p374 p376 s5), microphone 1. ``CSTR-Edinburgh/vctk`` on
the Hub is a loading-script dataset that ``datasets`` ≥ 4 cannot run; ``source: hf`` reads its
parquet conversion (revision ``refs/convert/parquet``, config ``main``, split ``train``) or a
local parquet file/folder with columns ``speaker_id``, ``audio`` and ``file`` (optional
``text``, ``age``, ``gender``, ``accent``, ``region``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence, Union

from codecbench.datasets.base import Dataset, DatasetError, Utterance, walk_files
from codecbench.datasets.hf import audio_path_column, parquet_files, scan

VCTK_URL = "https://datashare.ed.ac.uk/handle/10283/3443"
TEST_SPEAKERS = ("p360", "p361", "p362", "p363", "p364", "p374", "p376", "s5")
DEFAULT_REPO = "CSTR-Edinburgh/vctk"
DEFAULT_REVISION = "refs/convert/parquet"
MICS = ("mic1", "mic2")
_INFO_FIELDS = ("age", "gender", "accent", "region")


def read_speaker_info(path: Path) -> dict[str, dict[str, str]]:
    """``speaker-info.txt`` -> ``{speaker: {age, gender, accent, region}}`` (empty when absent).

    Columns are whitespace-separated; the region may contain spaces, so it takes the rest.
    """
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[1:]:
        parts = line.split()
        if len(parts) < 4:
            continue
        spk = parts[0] if parts[0][0].isalpha() else f"p{parts[0]}"
        out[spk] = {"age": parts[1], "gender": parts[2], "accent": parts[3], "region": " ".join(parts[4:])}
    return out


class VctkDataset(Dataset):
    """VCTK 0.92 utterances of the chosen speakers and microphone, from a local copy or parquet.

    Args:
        root: the extracted ``VCTK-Corpus-0.92`` folder (local source).
        speakers: speaker ids, or ``"all"``; default: the 8 test speakers.
        mic: ``mic1`` (default) or ``mic2``.
        source: ``local`` or ``hf``; default: ``hf`` when ``repo`` is set, else ``local``.
        repo: Hub repo id or local parquet file/folder (default ``CSTR-Edinburgh/vctk``).
        revision, config, split: where the parquet files are (defaults: the Hub's conversion).
        cache_dir: Hugging Face cache folder (default: the HF cache).
    """

    name: ClassVar[str] = "vctk"

    def __init__(self, *, label: str = "vctk", root: Optional[str] = None,
                 speakers: Union[str, Sequence[str]] = TEST_SPEAKERS, mic: str = "mic1",
                 source: Optional[str] = None, repo: Optional[str] = None, revision: Optional[str] = None,
                 config: Optional[str] = "main", split: str = "train", cache_dir: Optional[str] = None,
                 max_utterances: Optional[int] = None, max_seconds: Optional[float] = None) -> None:
        super().__init__(label=label, max_utterances=max_utterances, max_seconds=max_seconds)
        if mic not in MICS:
            raise DatasetError(f"{label}: unknown mic '{mic}'; choose one of {', '.join(MICS)}")
        source = source or ("hf" if repo else "local")
        if source not in ("local", "hf"):
            raise DatasetError(f"{label}: unknown source '{source}'; choose local or hf")
        self.root = Path(root).expanduser() if root else None
        self.speakers = None if speakers == "all" else tuple([speakers] if isinstance(speakers, str) else speakers)
        self.mic, self.source, self.split, self.config, self.cache_dir = mic, source, split, config, cache_dir
        self.repo = repo or DEFAULT_REPO
        self.revision = revision or (DEFAULT_REVISION if self.repo == DEFAULT_REPO else None)

    def describe(self) -> str:
        who = "all speakers" if self.speakers is None else " ".join(self.speakers)
        where = f"repo {self.repo}" if self.source == "hf" else f"root {self.root}"
        return f"vctk {who}, {self.mic}, {where}"

    def _collect(self) -> list[Utterance]:
        return self._collect_hf() if self.source == "hf" else self._collect_local()

    def _collect_local(self) -> list[Utterance]:
        if self.root is None:
            raise DatasetError(f"{self.label}: set root: to the extracted VCTK-Corpus-0.92 folder ({VCTK_URL}) "
                               "or use source: hf")
        wav_dir = self.root / "wav48_silence_trimmed"
        if not wav_dir.is_dir():
            raise DatasetError(f"{self.label}: {wav_dir} not found; root: must be the extracted "
                               f"VCTK-Corpus-0.92 folder ({VCTK_URL})")
        suffix = f"_{self.mic}.flac"
        if self.speakers is None:  # every speaker folder (symlinked ones too); deeper files are not VCTK's
            found = [p for p in walk_files(wav_dir, self.skipped, accept=lambda n: n.endswith(suffix))
                     if len(p.relative_to(wav_dir).parts) == 2]
        else:
            absent = [s for s in self.speakers if not (wav_dir / s).is_dir()]
            if absent:
                raise DatasetError(f"{self.label}: speaker folder(s) {', '.join(absent)} missing under {wav_dir}; "
                                   "fix speakers: or re-extract VCTK 0.92")
            found = [p for spk in self.speakers for p in walk_files(wav_dir / spk, self.skipped, recursive=False,
                                                                   accept=lambda n: n.endswith(suffix))]
        info = read_speaker_info(self.root / "speaker-info.txt")
        out = []
        for path in found:
            spk = path.parent.name
            utt = path.stem.rsplit("_", 1)[0]  # p360_001_mic1 -> p360_001
            txt = self.root / "txt" / spk / f"{utt}.txt"
            meta: dict[str, Any] = {"speaker": spk, "mic": self.mic, **info.get(spk, {})}
            if txt.is_file():
                meta["transcript"] = txt.read_text(encoding="utf-8", errors="replace").strip()
            out.append(self.make(f"{spk}/{path.stem}", path, meta))
        return out

    def _collect_hf(self) -> list[Utterance]:
        files = parquet_files(self.repo, dataset=self.label, split=self.split, config=self.config,
                              revision=self.revision, cache_dir=self.cache_dir)
        rows = list(scan(files, dataset=self.label, columns=["speaker_id"],
                         optional=["file", "text", *_INFO_FIELDS]))
        if rows and "file" not in rows[0][0]:
            for (row, _), name in zip(rows, audio_path_column(files)):
                row["file"] = name
        out = []
        for row, locator in rows:
            spk, name = str(row["speaker_id"]), Path(str(row.get("file") or "")).name
            stem = name.rsplit(".", 1)[0]
            if not stem.endswith(f"_{self.mic}") or (self.speakers and spk not in self.speakers):
                continue
            meta: dict[str, Any] = {"speaker": spk, "mic": self.mic}
            meta.update({k: row[k] for k in _INFO_FIELDS if row.get(k)})
            if row.get("text"):
                meta["transcript"] = str(row["text"]).strip()
            out.append(self.make(f"{spk}/{stem}", None, meta, source=locator))
        return out
