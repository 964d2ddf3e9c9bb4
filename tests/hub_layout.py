"""The Hugging Face hub cache layout, for tests that save tiny or random models where a metric or
codec looks its weights up offline."""

from __future__ import annotations

from pathlib import Path


def hub_snapshot(cache: Path, repo_id: str, revision: str) -> Path:
    """The snapshot folder of ``repo_id`` at ``revision`` in the hub layout, ``refs/main`` pointing at it."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot
