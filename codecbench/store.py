"""The results store: one SQLite database per run directory.

Every finished plan row (one utterance x codec x bitrate) is written in a single transaction
together with all its metric scores, so a crash or Ctrl-C can lose at most the row in flight and
never leaves half a row behind. Rows are keyed by their plan identity, so a rerun replaces rather
than duplicates.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from codecbench.errors import StorageError

SCHEMA_VERSION = 1
DB_NAME = "results.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    item_key TEXT PRIMARY KEY,
    dataset TEXT NOT NULL,
    utterance TEXT NOT NULL,
    codec TEXT NOT NULL,
    adapter TEXT NOT NULL,
    bitrate REAL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'skipped')),
    error TEXT,
    measured_kbps REAL,
    encode_rtf REAL,
    decode_rtf REAL,
    duration_s REAL,
    reference_path TEXT,
    decoded_path TEXT,
    decoded_sample_rate INTEGER,
    cache_key TEXT,
    lag_samples INTEGER,
    metadata TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    item_key TEXT NOT NULL REFERENCES items(item_key) ON DELETE CASCADE,
    metric TEXT NOT NULL,
    value REAL,
    reason TEXT,
    PRIMARY KEY (item_key, metric)
);
"""


class StoreError(StorageError):
    """The run directory or its database cannot be used (one line saying what to do)."""


@dataclass
class ItemResult:
    """One plan row's outcome. ``scores`` maps metric name -> (value or NaN, reason or None)."""

    item_key: str
    dataset: str
    utterance: str
    codec: str
    adapter: str
    bitrate: Optional[float]
    status: str
    error: Optional[str] = None
    measured_kbps: float = math.nan
    encode_rtf: float = math.nan
    decode_rtf: float = math.nan
    duration_s: float = math.nan
    reference_path: Optional[str] = None
    decoded_path: Optional[str] = None
    decoded_sample_rate: Optional[int] = None
    cache_key: Optional[str] = None
    lag_samples: Optional[int] = None
    metadata: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, tuple[float, Optional[str]]] = field(default_factory=dict)


def _nullable(value: Any) -> Any:
    """SQLite has no NaN: store it as NULL and read NULL back as NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


class ResultStore:
    """Transactional access to ``RUN_DIR/results.sqlite``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open results database ({exc}); "
                             "check the output directory is writable") from exc
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)
        version = self.get_meta("schema_version")
        if version is None:
            self.set_meta("schema_version", SCHEMA_VERSION)
        elif int(version) > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: written by a newer codecbench (schema {version}); upgrade codecbench")

    @classmethod
    def open(cls, run_dir: Path | str, db_name: str = DB_NAME) -> "ResultStore":
        """Open (creating if needed) the store of ``run_dir``."""
        run_dir = Path(run_dir)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{run_dir}: cannot create output directory ({exc.strerror}); "
                             "choose a writable --out") from exc
        return cls(run_dir / db_name)

    @classmethod
    def open_existing(cls, run_dir: Path | str) -> "ResultStore":
        """Open the store of an existing run directory, with a clear error when there is none."""
        path = Path(run_dir) / DB_NAME
        if not path.is_file():
            raise StoreError(f"{run_dir}: no {DB_NAME} here; pass a run directory made by `codecbench run`")
        return cls(path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- meta -------------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # -- items ------------------------------------------------------------------------------
    def write(self, result: ItemResult) -> None:
        """Insert or replace one row and all its scores atomically."""
        columns = ["item_key", "dataset", "utterance", "codec", "adapter", "bitrate", "status", "error",
                   "measured_kbps", "encode_rtf", "decode_rtf", "duration_s", "reference_path",
                   "decoded_path", "decoded_sample_rate", "cache_key", "lag_samples"]
        values = [_nullable(getattr(result, c)) for c in columns]
        columns += ["metadata", "updated_at"]
        values += [json.dumps(result.metadata, sort_keys=True, default=str), time.time()]
        with self.transaction() as conn:
            conn.execute("DELETE FROM scores WHERE item_key = ?", (result.item_key,))
            conn.execute(f"INSERT OR REPLACE INTO items({', '.join(columns)}) "
                         f"VALUES ({', '.join('?' * len(columns))})", values)
            conn.executemany("INSERT INTO scores(item_key, metric, value, reason) VALUES (?, ?, ?, ?)",
                             [(result.item_key, name, _nullable(float(v)), reason)
                              for name, (v, reason) in sorted(result.scores.items())])

    def completed_keys(self, metrics: list[str]) -> set[str]:
        """Keys of rows that need no more work: status ok and every requested metric stored."""
        done = {k for (k,) in self._conn.execute("SELECT item_key FROM items WHERE status = 'ok'")}
        if not metrics or not done:
            return done
        have: dict[str, set[str]] = {}
        for key, metric in self._conn.execute("SELECT item_key, metric FROM scores"):
            have.setdefault(key, set()).add(metric)
        wanted = set(metrics)
        return {k for k in done if wanted <= have.get(k, set())}

    def cache_keys(self) -> dict[str, Optional[str]]:
        """item_key -> cache key of every stored row (what a resume compares against)."""
        return dict(self._conn.execute("SELECT item_key, cache_key FROM items").fetchall())

    def stored_scores(self, item_key: str) -> dict[str, tuple[float, Optional[str]]]:
        rows = self._conn.execute("SELECT metric, value, reason FROM scores WHERE item_key = ?", (item_key,))
        return {m: (math.nan if v is None else v, r) for m, v, r in rows}

    def rows(self) -> list[dict[str, Any]]:
        """All items as dicts with a ``scores`` entry: metric -> (value, reason)."""
        cur = self._conn.execute("SELECT * FROM items ORDER BY dataset, codec, bitrate, utterance")
        names = [d[0] for d in cur.description]
        items = [dict(zip(names, row)) for row in cur.fetchall()]
        scores: dict[str, dict[str, tuple[float, Optional[str]]]] = {}
        for key, metric, value, reason in self._conn.execute("SELECT item_key, metric, value, reason FROM scores"):
            scores.setdefault(key, {})[metric] = (math.nan if value is None else value, reason)
        for item in items:
            item["metadata"] = json.loads(item["metadata"] or "{}")
            item["scores"] = scores.get(item["item_key"], {})
        return items

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def merge_from(self, other: "ResultStore", relocate: Optional[Path] = None) -> int:
        """Copy every row of ``other`` into this store (replacing same keys); returns rows copied.

        ``relocate``: the other store's run dir, when it differs from ours, so its relative
        audio paths are rewritten as absolute ones that stay valid from here.
        """
        items = other.rows()
        for row in items:
            scores = row.pop("scores")
            row.pop("updated_at", None)
            if relocate is not None:
                for col in ("decoded_path", "reference_path"):
                    if row[col] and not Path(row[col]).is_absolute():
                        row[col] = str(relocate / row[col])
            self.write(ItemResult(**{**row, "scores": scores}))
        return len(items)
