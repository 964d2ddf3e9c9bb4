"""Hugging Face parquet sources: find the files, index the rows, read one row's audio bytes.

We read parquet with pyarrow directly instead of ``datasets.load_dataset``: ``datasets`` ≥ 4
decodes audio through torchcodec, and its arrow cache is awkward to hand to worker processes.
Each utterance carries a :class:`ParquetRow` locator (file, row group, row), and the encoded
bytes are decoded by soundfile in ``Utterance.load()``.

A ``repo`` option is either a local parquet file/folder (same schema as the Hub dataset) or a
Hub repo id, fetched with ``huggingface_hub.snapshot_download`` (only the wanted split's
files) into the usual HF cache. Without network (``HF_HUB_OFFLINE=1`` or the Hub unreachable
within 3 s) only the cache is consulted, and a miss is a one-line :class:`DatasetError`.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence
from urllib.parse import urlparse

from codecbench.datasets.base import DatasetError

PROBE_TIMEOUT_S = 3.0
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ParquetRow:
    """Locator of one encoded audio value: ``column`` of row ``row`` in row group ``row_group``."""

    file: str
    row_group: int
    row: int
    column: str = "audio"

    @property
    def name(self) -> str:
        return f"{self.file}[row group {self.row_group}, row {self.row}]"

    def cache_key(self) -> tuple:
        stat = os.stat(self.file)
        return (self.file, stat.st_size, stat.st_mtime_ns, self.row_group, self.row, self.column)

    def read_bytes(self) -> bytes:
        data = _row_group_audio(self.file, self.row_group, self.column)[self.row]
        if not data:
            raise ValueError(f"row has no audio bytes in column '{self.column}'")
        return data


@functools.lru_cache(maxsize=2)
def _row_group_audio(file: str, row_group: int, column: str) -> tuple[Optional[bytes], ...]:
    """Encoded bytes of one row group; cached because runners read rows in order."""
    import pyarrow.parquet as pq

    table = pq.ParquetFile(file).read_row_group(row_group, columns=[column])
    values = table.column(column).to_pylist()
    return tuple(v.get("bytes") if isinstance(v, dict) else v for v in values)


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set or the Hub endpoint cannot be reached quickly."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return True
    return not _hub_reachable(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))


@functools.lru_cache(maxsize=4)
def _hub_reachable(endpoint: str) -> bool:
    """TCP probe with a short timeout, so a firewalled machine fails in seconds, not minutes."""
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # the proxy decides; huggingface_hub has its own timeouts
    url = urlparse(endpoint)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443),
                                      timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def split_patterns(config: Optional[str], split: str) -> list[str]:
    """Layouts used on the Hub: ``{config}/{split}-*.parquet`` (push_to_hub), ``data/...``,
    and the parquet-converter's ``{config}/{split}/*.parquet`` / ``partial-{split}``."""
    pats = [f"data/{split}-*.parquet", f"{split}-*.parquet", f"{split}/*.parquet", f"data/{split}/*.parquet"]
    if config:
        pats = [f"{config}/{split}-*.parquet", f"{config}/{split}/*.parquet",
                f"{config}/partial-{split}/*.parquet", *pats]
    return pats


def select_parquet(root: Path, config: Optional[str], split: Optional[str]) -> list[Path]:
    """Parquet files under ``root`` belonging to ``split`` (all files when split is None)."""
    if split is None and config and (root / config).is_dir():
        root = root / config
    files = sorted(p for p in root.rglob("*.parquet") if p.is_file())
    if split is None:
        return files
    pats = split_patterns(config, split)
    groups = [pats[:3], pats[3:]] if config else [pats]  # a config's own files win over generic names
    for group in groups:
        chosen = [p for p in files if any(p.relative_to(root).match(pat) for pat in group)]
        if chosen:
            return chosen
    return [p for p in files if _split_of(p, root) == split]


def _split_of(path: Path, root: Path) -> str:
    """Best-effort split name of a parquet file (``train-00000-of-00002.parquet`` -> ``train``)."""
    stem = path.name.split("-")[0].split(".")[0]
    if stem.isdigit() and path.parent != root:
        return path.parent.name.removeprefix("partial-")
    return stem


def parquet_files(repo: str, *, dataset: str, split: Optional[str], config: Optional[str] = None,
                  revision: Optional[str] = None, cache_dir: Optional[str] = None) -> list[Path]:
    """Resolve ``repo`` (local parquet file/folder or Hub repo id) to the split's parquet files."""
    local = Path(repo).expanduser()
    if local.is_file():
        return [local]
    if local.is_dir():
        root = local
    elif repo.count("/") == 1 and not repo.startswith((".", "/", "~")):
        hint = f"{config + '/' if config else ''}*{split or ''}*"
        root = _snapshot(repo, dataset=dataset, patterns=split_patterns(config, split or "*"), hint=hint,
                         revision=revision, cache_dir=cache_dir)
    else:
        raise DatasetError(f"{dataset}: repo '{repo}' is neither an existing parquet file/folder "
                           "nor a Hugging Face repo id (owner/name)")
    files = select_parquet(root, config, split)
    if not files:
        found = sorted({_split_of(p, root) for p in root.rglob("*.parquet")})
        raise DatasetError(f"{dataset}: no parquet files for split '{split}' in {root} "
                           f"(splits found: {', '.join(found) or 'none'}); set split: to one of them")
    return files


def _snapshot(repo: str, *, dataset: str, patterns: Sequence[str], hint: str, revision: Optional[str],
              cache_dir: Optional[str]) -> Path:
    """Download (or find in the cache) the matching files of a Hub dataset repo; fail fast offline."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise DatasetError(f"{dataset}: repo '{repo}' needs huggingface_hub; pip install huggingface_hub "
                           "or point repo: at local parquet files") from exc
    offline = hub_offline()
    rev = f"@{revision}" if revision else ""
    try:
        path = snapshot_download(repo, repo_type="dataset", revision=revision, allow_patterns=list(patterns),
                                 cache_dir=cache_dir, local_files_only=offline, etag_timeout=10)
    except Exception as exc:  # huggingface_hub raises many types (HTTP, cache miss, auth, OS)
        why = "offline and not in the Hugging Face cache" if offline else str(exc).splitlines()[0]
        raise DatasetError(
            f"{dataset}: cannot get dataset {repo}{rev} from the Hugging Face Hub ({why}); download it "
            f"where there is network (huggingface-cli download {repo} --repo-type dataset"
            f"{' --revision ' + revision if revision else ''} --include '{hint}') "
            "and copy the cache, or set repo: to local parquet files / root: to the local dataset") from exc
    return Path(path)


def scan(files: Sequence[Path], *, dataset: str, columns: Sequence[str],
         optional: Sequence[str] = (), audio_column: str = "audio") -> Iterator[tuple[dict[str, Any], "ParquetRow"]]:
    """Yield ``(row values, locator)`` for every row, reading only the metadata columns.

    Raises:
        DatasetError: when a required column (or the audio column) is missing from a file.
    """
    import pyarrow.parquet as pq

    for file in files:
        try:
            handle = pq.ParquetFile(file)
        except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for non-parquet files
            raise DatasetError(f"{dataset}: {file} is not a readable parquet file "
                               f"({str(exc).splitlines()[0]}); re-download it") from exc
        names = set(handle.schema_arrow.names)
        missing = [c for c in (*columns, audio_column) if c not in names]
        if missing:
            raise DatasetError(f"{dataset}: {file} lacks column(s) {', '.join(missing)} "
                               f"(has: {', '.join(sorted(names))}); use a parquet file with the expected schema")
        wanted = list(columns) + [c for c in optional if c in names and c not in columns]
        for group in range(handle.num_row_groups):
            table = handle.read_row_group(group, columns=wanted) if wanted else None
            rows = table.to_pylist() if table is not None else [{}] * handle.metadata.row_group(group).num_rows
            for index, row in enumerate(rows):
                yield row, ParquetRow(str(file), group, index, audio_column)


def audio_path_column(files: Sequence[Path], audio_column: str = "audio") -> list[Optional[str]]:
    """The ``audio.path`` sub-field of every row, in :func:`scan` order (original file names)."""
    import pyarrow.parquet as pq

    out: list[Optional[str]] = []
    for file in files:
        handle = pq.ParquetFile(file)
        for group in range(handle.num_row_groups):
            column = handle.read_row_group(group, columns=[f"{audio_column}.path"]).column(audio_column)
            out.extend(v.get("path") if isinstance(v, dict) else None for v in column.to_pylist())
    return out
