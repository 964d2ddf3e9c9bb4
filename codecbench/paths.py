"""Turning untrusted names (utterance ids, codec labels) into safe file-system paths."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_component(name: str, max_length: int = 80) -> str:
    """One path component made of ``[A-Za-z0-9._-]`` only, never ``.``/``..`` or empty.

    Distinct inputs that sanitise to the same text get a short digest suffix so they cannot
    collide (``a/b`` and ``a_b`` stay apart).
    """
    cleaned = _UNSAFE.sub("_", name).strip("._") or "item"
    if cleaned != name or len(cleaned) > max_length:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
        cleaned = f"{cleaned[: max_length - 9]}-{digest}"
    return cleaned


def safe_relative_path(item_id: str, suffix: str = "") -> Path:
    """A relative path mirroring ``a/b/c`` ids with every component sanitised (no traversal)."""
    parts = [p for p in item_id.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if not parts:
        parts = ["item"]
    safe = [safe_component(p) for p in parts]
    return Path(*safe[:-1], safe[-1] + suffix)


def is_within(path: Path, root: Path) -> bool:
    """True when ``path`` resolves inside ``root`` (guards lookups driven by ids)."""
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False
