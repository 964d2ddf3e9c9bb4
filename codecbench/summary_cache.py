"""The last printed summary of a run directory, kept so that an unchanged run prints it at once.

Building the summary table loads pandas, scipy.stats and statsmodels and bootstraps every cell
(about 1 s), which is most of a rerun that has nothing left to do. The table is a pure function
of the stored results, the manifest's suite and metric sections, the output options and the code
that renders it, so the rendered text is cached under a digest of exactly those inputs: any new,
changed or removed row, score or table, another suite, CI setting or format, or an edited
summary module gives another key and the table is recomputed. The bootstrap is seeded, so the
cached text is the text a recomputation prints.

The cache is one JSON file in the run directory (``summary-cache.json``) holding the latest text
per format. It is only an accelerator: a missing, unreadable or corrupt file, or a read-only run
directory, means the summary is computed as usual.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

from codecbench.manifest import write_json_atomic
from codecbench.results import load_manifest
from codecbench.store import ResultStore, StoreError

CACHE_NAME = "summary-cache.json"
_VOLATILE_MANIFEST_KEYS = ("created", "resumed", "git_commit")  # change on every resume, not the table
_RENDERING_MODULES = ("summary.py", "stats.py", "results.py", "codebooks.py", "summary_cache.py")


def summary_key(run_dir: Path, fmt: str, all_items: bool) -> Optional[str]:
    """Digest of everything the summary text depends on; ``None`` when the store cannot be read."""
    digest = hashlib.sha256()
    manifest: dict[str, Any] = {k: v for k, v in load_manifest(run_dir).items() if k not in _VOLATILE_MANIFEST_KEYS}
    digest.update(json.dumps([fmt, all_items, manifest], sort_keys=True, default=str).encode())
    package_dir = Path(__file__).resolve().parent
    for name in _RENDERING_MODULES:
        digest.update((package_dir / name).read_bytes())
    try:
        with ResultStore.open_existing(run_dir) as store:
            digest.update(store.content_digest().encode())
    except StoreError:
        return None
    return digest.hexdigest()


def cached_summary(run_dir: Path, key: str) -> Optional[str]:
    """The cached text for ``key``, or ``None``."""
    try:
        entries = json.loads((run_dir / CACHE_NAME).read_text())
        entry = next((e for e in entries.values() if isinstance(e, dict) and e.get("key") == key), None)
    except (OSError, ValueError, AttributeError):
        return None
    text = entry.get("text") if entry else None
    return text if isinstance(text, str) else None


def remember_summary(run_dir: Path, slot: str, key: str, text: str) -> None:
    """Keep ``text`` as the latest summary of ``slot`` (a format); skipped where the run dir is read-only."""
    path = run_dir / CACHE_NAME
    try:
        entries = json.loads(path.read_text()) if path.is_file() else {}
        if not isinstance(entries, dict):
            entries = {}
    except (OSError, ValueError):
        entries = {}
    entries[slot] = {"key": key, "text": text}
    try:
        write_json_atomic(path, entries)
    except OSError:
        pass
