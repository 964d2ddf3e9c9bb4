"""The results store: one SQLite database per run directory.

Every finished plan row (one utterance x codec x bitrate) is written in a single transaction
together with all its metric scores, so a crash or Ctrl-C can lose at most the row in flight and
never leaves half a row behind. Rows are keyed by their plan identity, so a rerun replaces rather
than duplicates. Each score carries the digest of the metric identity that produced it, so a
rerun adds a new metric (or recomputes a changed one) without touching the others.
Non-intrusive metrics scored on the references live in ``reference_scores``, keyed by
(dataset, utterance, metric), written and merged the same idempotent way.

SQLite failures never escape as tracebacks: a full disk, a read-only or corrupt database become a
:class:`StoreError` saying what to do. Readers (summary, export, report) open the database
read-only, so archived or shared run directories without write permission still work.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from codecbench.codebooks import CodeCounts
from codecbench.errors import StorageError

SCHEMA_VERSION = 3
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
    updated_at REAL NOT NULL,
    lag_at_bound INTEGER,
    trimmed_reference_samples INTEGER,
    trimmed_degraded_samples INTEGER,
    coding_sample_rate INTEGER,
    coding_channels INTEGER,
    input_channels INTEGER,
    decoded_channels INTEGER,
    decoded_sha256 TEXT,
    crashes INTEGER NOT NULL DEFAULT 0,
    payload_kind TEXT
);
CREATE TABLE IF NOT EXISTS scores (
    item_key TEXT NOT NULL REFERENCES items(item_key) ON DELETE CASCADE,
    metric TEXT NOT NULL,
    value REAL,
    reason TEXT,
    identity TEXT,
    PRIMARY KEY (item_key, metric)
);
CREATE TABLE IF NOT EXISTS codebook_counts (
    item_key TEXT PRIMARY KEY REFERENCES items(item_key) ON DELETE CASCADE,
    counts TEXT NOT NULL
);
"""

# Non-intrusive metrics scored on the reference itself: the ceiling a codec is read against.
# Keyed by utterance, not by plan row, so every codec point shares one value and neither a
# resume nor a merge of shards can duplicate it. ``content_hash`` is the scored input's digest.
_REFERENCE_SCHEMA = """
CREATE TABLE IF NOT EXISTS reference_scores (
    dataset TEXT NOT NULL,
    utterance TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    reason TEXT,
    identity TEXT,
    content_hash TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (dataset, utterance, metric)
);
"""


_V2_ITEM_COLUMNS = {
    "lag_at_bound": "INTEGER", "trimmed_reference_samples": "INTEGER", "trimmed_degraded_samples": "INTEGER",
    "coding_sample_rate": "INTEGER", "coding_channels": "INTEGER", "input_channels": "INTEGER",
    "decoded_channels": "INTEGER", "decoded_sha256": "TEXT", "crashes": "INTEGER NOT NULL DEFAULT 0",
    "payload_kind": "TEXT",
}
ITEM_COLUMNS = ["item_key", "dataset", "utterance", "codec", "adapter", "bitrate", "status", "error",
                "measured_kbps", "encode_rtf", "decode_rtf", "duration_s", "reference_path", "decoded_path",
                "decoded_sample_rate", "cache_key", "lag_samples", *_V2_ITEM_COLUMNS]


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
    lag_at_bound: Optional[bool] = None
    trimmed_reference_samples: Optional[int] = None
    trimmed_degraded_samples: Optional[int] = None
    coding_sample_rate: Optional[int] = None
    coding_channels: Optional[int] = None
    input_channels: Optional[int] = None
    decoded_channels: Optional[int] = None
    decoded_sha256: Optional[str] = None
    crashes: int = 0
    # "codes": measured_kbps is the nominal payload rate of a code array; "bytes": of a byte stream
    payload_kind: Optional[str] = None
    metadata: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, tuple[float, Optional[str]]] = field(default_factory=dict)
    # metric label -> identity digest of the metric that produced the score
    identities: dict[str, str] = field(default_factory=dict)
    # histogram of the payload's codes (code-array payloads only); stored in ``codebook_counts``
    codebooks: Optional[CodeCounts] = None


def _nullable(value: Any) -> Any:
    """SQLite has no NaN: store it as NULL and read NULL back as NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _store_error(path: Path, exc: sqlite3.Error, doing: str) -> StoreError:
    """One actionable line for an SQLite failure."""
    text = str(exc).lower()
    if "full" in text:
        return StoreError(f"disk full {doing} {path}: free space and rerun the same command to resume")
    if "readonly" in text or "read-only" in text or "attempt to write" in text:
        return StoreError(f"{path}: database is read-only while {doing}; use a writable run directory "
                          "(or copy it) to add results")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StoreError(f"{path}: the results database is damaged ({exc}); move it aside and rerun: decoded "
                          "audio in the cache is reused, so only scoring is repeated")
    if "locked" in text or "busy" in text:
        return StoreError(f"{path}: database is locked by another process while {doing}; wait for it and retry")
    if "unable to open" in text:
        return StoreError(f"{path}: cannot open the results database ({exc}); check the directory exists "
                          "and is readable")
    return StoreError(f"{path}: database error while {doing} ({exc})")


class ResultStore:
    """Transactional access to ``RUN_DIR/results.sqlite``."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        try:
            if readonly:
                self._conn = self._connect_readonly()
            else:
                self._conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.execute("PRAGMA foreign_keys=ON")
                self._conn.executescript(_SCHEMA)
                self._conn.executescript(_REFERENCE_SCHEMA)
                self._migrate()
            self._conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            version = self.get_meta("schema_version")
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc, "opening") from None
        if version is None and not readonly:
            self.set_meta("schema_version", SCHEMA_VERSION)
        elif version is not None and int(version) > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: written by a newer codecbench (schema {version}); upgrade codecbench")

    def _connect_readonly(self) -> sqlite3.Connection:
        """Read-only connection that works in read-only directories (no -wal/-shm can be created)."""
        uri = self.path.resolve().as_uri()
        try:
            conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=60.0, isolation_level=None)
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            # a read-only directory cannot hold the WAL index: read the file as immutable instead
            return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)

    def _migrate(self) -> None:
        """Bring an older database up to date in place.

        Schema 2 added nullable item columns and ``scores.identity``; schema 3 added the
        ``codebook_counts`` table (created by ``_SCHEMA``'s ``IF NOT EXISTS``; rows stored before
        it simply have no counts).
        """
        have = {row[1] for row in self._conn.execute("PRAGMA table_info(items)")}
        for name, kind in _V2_ITEM_COLUMNS.items():
            if name not in have:
                self._conn.execute(f"ALTER TABLE items ADD COLUMN {name} {kind}")
        if "identity" not in {row[1] for row in self._conn.execute("PRAGMA table_info(scores)")}:
            self._conn.execute("ALTER TABLE scores ADD COLUMN identity TEXT")
        version = self.get_meta("schema_version")
        if version is not None and int(version) < SCHEMA_VERSION:
            self.set_meta("schema_version", SCHEMA_VERSION)

    @classmethod
    def open(cls, run_dir: Path | str, db_name: str = DB_NAME) -> "ResultStore":
        """Open (creating if needed) the store of ``run_dir`` for writing."""
        run_dir = Path(run_dir)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{run_dir}: cannot create output directory ({exc.strerror}); "
                             "choose a writable --out") from exc
        return cls(run_dir / db_name)

    @classmethod
    def open_existing(cls, run_dir: Path | str, db_name: str = DB_NAME) -> "ResultStore":
        """Open the store of an existing run directory read-only (summary, export, report)."""
        path = Path(run_dir) / db_name
        if not path.is_file():
            raise StoreError(f"{run_dir}: no {db_name} here; pass a run directory made by `codecbench run`")
        return cls(path, readonly=True)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc, "writing") from None
        try:
            yield self._conn
        except BaseException as exc:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(exc, sqlite3.Error):
                raise _store_error(self.path, exc, "writing") from None
            raise
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise _store_error(self.path, exc, "writing") from None

    # -- meta -------------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        try:
            self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc, "writing") from None

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # -- items ------------------------------------------------------------------------------
    def write(self, result: ItemResult) -> None:
        """Insert or replace one row and all its scores atomically."""
        values = [_nullable(getattr(result, c)) for c in ITEM_COLUMNS]
        columns = [*ITEM_COLUMNS, "metadata", "updated_at"]
        values += [json.dumps(result.metadata, sort_keys=True, default=str), time.time()]
        with self.transaction() as conn:
            conn.execute("DELETE FROM scores WHERE item_key = ?", (result.item_key,))
            conn.execute("DELETE FROM codebook_counts WHERE item_key = ?", (result.item_key,))
            conn.execute(f"INSERT OR REPLACE INTO items({', '.join(columns)}) "
                         f"VALUES ({', '.join('?' * len(columns))})", values)
            self._insert_scores(conn, result.item_key, result.scores, result.identities)
            if result.codebooks is not None:
                conn.execute("INSERT INTO codebook_counts(item_key, counts) VALUES (?, ?)",
                             (result.item_key, result.codebooks.to_json()))

    @staticmethod
    def _insert_scores(conn: sqlite3.Connection, item_key: str, scores: dict[str, tuple[float, Optional[str]]],
                       identities: dict[str, str]) -> None:
        conn.executemany("INSERT OR REPLACE INTO scores(item_key, metric, value, reason, identity) "
                         "VALUES (?, ?, ?, ?, ?)",
                         [(item_key, name, _nullable(float(v)), reason, identities.get(name.split("#")[0]))
                          for name, (v, reason) in sorted(scores.items())])

    def add_scores(self, item_key: str, scores: dict[str, tuple[float, Optional[str]]],
                   identities: dict[str, str]) -> None:
        """Add (or replace) some metrics of an existing row, leaving its other scores untouched."""
        with self.transaction() as conn:
            for name in {n.split("#")[0] for n in scores}:
                conn.execute("DELETE FROM scores WHERE item_key = ? AND (metric = ? OR metric LIKE ?)",
                             (item_key, name, f"{name}#%"))
            self._insert_scores(conn, item_key, scores, identities)
            conn.execute("UPDATE items SET updated_at = ? WHERE item_key = ?", (time.time(), item_key))

    def content_digest(self) -> str:
        """SHA-256 over every row of every table: equal digests mean equal stored results."""
        digest = hashlib.sha256()
        try:
            tables = [name for (name,) in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            for table in tables:
                digest.update(f"\0table {table}\0".encode())
                for row in self._conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):
                    digest.update(repr(row).encode())
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc, "reading") from None
        return digest.hexdigest()

    def row_states(self) -> dict[str, tuple[str, Optional[str], int]]:
        """item_key -> (status, cache key, crashes) of every stored row (what a resume compares)."""
        return {k: (s, c, int(n or 0)) for k, s, c, n in
                self._conn.execute("SELECT item_key, status, cache_key, crashes FROM items")}

    def score_identities(self) -> dict[str, dict[str, Optional[str]]]:
        """item_key -> {metric label: identity digest} of the stored scores (per-channel extras excluded)."""
        out: dict[str, dict[str, Optional[str]]] = {}
        for key, metric, identity in self._conn.execute("SELECT item_key, metric, identity FROM scores"):
            if "#" not in metric:
                out.setdefault(key, {})[metric] = identity
        return out

    def rows(self, codebooks: bool = False) -> list[dict[str, Any]]:
        """All items as dicts with a ``scores`` entry: metric -> (value, reason).

        ``codebooks``: also a ``codebooks`` entry, the row's :class:`CodeCounts` or None (parsing
        them costs time, so only merge and the codebook statistics ask).
        """
        cur = self._conn.execute("SELECT * FROM items ORDER BY dataset, codec, bitrate, utterance")
        names = [d[0] for d in cur.description]
        items = [dict(zip(names, row)) for row in cur.fetchall()]
        scores: dict[str, dict[str, tuple[float, Optional[str]]]] = {}
        identities: dict[str, dict[str, str]] = {}
        for key, metric, value, reason, identity in self._conn.execute(
                "SELECT item_key, metric, value, reason, identity FROM scores"):
            scores.setdefault(key, {})[metric] = (math.nan if value is None else value, reason)
            if identity and "#" not in metric:
                identities.setdefault(key, {})[metric] = identity
        counts = self.codebook_counts() if codebooks else {}
        for item in items:
            if codebooks:
                item["codebooks"] = counts.get(item["item_key"])
            item["metadata"] = json.loads(item["metadata"] or "{}")
            item["scores"] = scores.get(item["item_key"], {})
            item["identities"] = identities.get(item["item_key"], {})
            if item.get("lag_at_bound") is not None:
                item["lag_at_bound"] = bool(item["lag_at_bound"])
        return items

    # -- reference scores (non-intrusive metrics on the reference) -----------------------------
    def _has_table(self, name: str) -> bool:
        """False for a table added after an older database that was opened read-only (never migrated)."""
        return self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                  (name,)).fetchone() is not None

    def write_reference(self, dataset: str, utterance: str, content_hash: Optional[str],
                        scores: dict[str, tuple[float, Optional[str]]], identities: dict[str, str]) -> None:
        """Insert or replace the reference scores of one utterance (one transaction)."""
        now = time.time()
        with self.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO reference_scores(dataset, utterance, metric, value, reason, "
                             "identity, content_hash, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             [(dataset, utterance, name, _nullable(float(v)), reason, identities.get(name),
                               content_hash, now) for name, (v, reason) in sorted(scores.items())])

    def reference_states(self) -> dict[tuple[str, str], dict[str, tuple[Optional[str], Optional[str]]]]:
        """(dataset, utterance) -> {metric label: (identity digest, content hash)} (what a resume compares)."""
        out: dict[tuple[str, str], dict[str, tuple[Optional[str], Optional[str]]]] = {}
        if not self._has_table("reference_scores"):
            return out
        for dataset, utt, metric, identity, content in self._conn.execute(
                "SELECT dataset, utterance, metric, identity, content_hash FROM reference_scores"):
            out.setdefault((dataset, utt), {})[metric] = (identity, content)
        return out

    def reference_rows(self) -> list[dict[str, Any]]:
        """Every stored reference score as a dict (dataset, utterance, metric, value, reason, identity, content_hash)."""
        if not self._has_table("reference_scores"):
            return []
        cur = self._conn.execute("SELECT dataset, utterance, metric, value, reason, identity, content_hash "
                                 "FROM reference_scores ORDER BY dataset, utterance, metric")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row)) for row in cur.fetchall()]
        for row in rows:
            row["value"] = math.nan if row["value"] is None else float(row["value"])
        return rows

    def update_span(self) -> tuple[Optional[float], Optional[float]]:
        """(first, last) ``updated_at`` of the stored rows, Unix seconds; (None, None) when empty."""
        first, last = self._conn.execute("SELECT MIN(updated_at), MAX(updated_at) FROM items").fetchone()
        return first, last

    def codebook_counts(self) -> dict[str, CodeCounts]:
        """item_key -> code histogram of every row that has one (none in pre-schema-3 databases)."""
        if not self._has_table("codebook_counts"):
            return {}
        out = {}
        for key, text in self._conn.execute("SELECT item_key, counts FROM codebook_counts"):
            try:
                out[key] = CodeCounts.from_json(text)
            except (ValueError, KeyError, TypeError) as exc:
                raise StoreError(f"{self.path}: damaged code counts of row {key} ({exc}); move the database "
                                 "aside and rerun: decoded audio and its code counts in the cache are reused") from None
        return out

    def merge_from(self, other: "ResultStore", relocate: Optional[Path] = None) -> int:
        """Copy every row of ``other`` into this store (replacing same keys); returns rows copied.

        ``relocate``: the other store's run dir, when it differs from ours, so its relative
        audio paths are rewritten as absolute ones that stay valid from here.
        """
        items = other.rows(codebooks=True)
        fields = set(ItemResult.__dataclass_fields__)
        for row in items:
            if relocate is not None:
                for col in ("decoded_path", "reference_path"):
                    if row[col] and not Path(row[col]).is_absolute():
                        row[col] = str(relocate / row[col])
            self.write(ItemResult(**{k: v for k, v in row.items() if k in fields}))
        by_utterance: dict[tuple[str, str, Optional[str]], list[dict[str, Any]]] = {}
        for ref in other.reference_rows():
            by_utterance.setdefault((ref["dataset"], ref["utterance"], ref["content_hash"]), []).append(ref)
        for (dataset, utterance, content), refs in by_utterance.items():
            self.write_reference(dataset, utterance, content, {r["metric"]: (r["value"], r["reason"]) for r in refs},
                                 {r["metric"]: r["identity"] for r in refs if r["identity"]})
        return len(items)


def copy_database(source: Path, target: Path) -> None:
    """Copy the SQLite database ``source`` (WAL included) to ``target``, replacing it atomically.

    Used for a cluster task's shard database on node-local disk: SQLite's online backup reads a
    consistent snapshot, and stale ``-wal``/``-shm`` files beside ``target`` are removed so they
    are never replayed onto the new file.
    """
    part = target.with_name(target.name + ".part")
    part.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(source, timeout=60.0)
        try:
            dst = sqlite3.connect(part)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
        for suffix in ("-wal", "-shm"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        part.replace(target)
    except sqlite3.Error as exc:
        raise _store_error(source, exc, f"copying to {target}") from None
    except OSError as exc:
        raise StoreError(f"{target}: cannot copy the shard database here ({exc.strerror}); "
                         "free space or fix permissions and rerun") from None
