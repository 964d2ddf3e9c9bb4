"""Safe file-system paths: untrusted names made into path components, output folders that
codecbench owns, and the folders from which a run's database may name files."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from codecbench.errors import StorageError

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


def climbs_out(item_id: str) -> bool:
    """True when an utterance id could leave the folder it names a file in, by its text alone.

    Ids are relative POSIX paths: empty ids, NUL, backslashes, absolute paths, drive letters
    and ``..`` components are refused (lexically, without resolving links: files may be symlinks).
    """
    return (not item_id or "\0" in item_id or "\\" in item_id or PurePosixPath(item_id).is_absolute()
            or bool(PureWindowsPath(item_id).drive) or ".." in PurePosixPath(item_id).parts)


def is_within(path: Path, root: Path) -> bool:
    """True when ``path`` resolves inside ``root`` (guards lookups driven by ids)."""
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


# -- output folders that codecbench owns ---------------------------------------------------------

SITE_MARKER = ".codecbench-site"
_MARKER_FORMAT = "codecbench-site"


class OutputDirError(StorageError):
    """An output folder holds files codecbench did not write, or its ownership marker is damaged."""


def _lexical_relative(rel: str | Path) -> str:
    """``rel`` as a posix path that stays inside its root by its text alone (no ``..``, not absolute)."""
    text = Path(rel).as_posix()
    parts = text.split("/")
    if Path(rel).is_absolute() or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{text!r} is not a plain relative path inside the output folder")
    return text


def _old_codecbench_page(path: Path) -> bool:
    """True for an ``index.html`` that codecbench generated before sites carried a marker."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            return '<meta name="generator" content="codecbench' in fh.read(4096)
    except OSError:
        return False


class OwnedOutputDir:
    """An output folder in which codecbench replaces or removes only what it wrote itself.

    Ownership is recorded in ``DIR/.codecbench-site`` (JSON: the tool and the files it wrote).
    A non-empty folder without that marker belongs to someone else and is refused, so a
    user's own recordings or notes beside a report are never deleted; with the marker, only the
    files it lists are replaced, and those of the previous build that this build did not write
    again are removed at :meth:`commit`.
    """

    def __init__(self, root: Path, tool: str, previous: frozenset[str]) -> None:
        self.root = root
        self.tool = tool
        self.previous = previous
        self.written: set[str] = set()

    @classmethod
    def claim(cls, root: Path | str, tool: str, option: str = "--out", exclusive: bool = True) -> "OwnedOutputDir":
        """Take ``root`` for ``tool`` (``report``, ``listen``), creating it; refuse a foreign folder.

        ``exclusive=False`` (a few fixed-name files, e.g. an analysis written next to the results
        it read) accepts a non-empty folder without a marker, but still never replaces a file
        that codecbench did not write.
        """
        root = Path(root)
        fix = f"choose an empty or new folder with {option}"
        if root.exists() and not root.is_dir():
            raise OutputDirError(f"{root}: exists and is not a folder; {fix}")
        marker = root / SITE_MARKER
        previous: frozenset[str] = frozenset()
        if marker.is_file():
            try:
                data = json.loads(marker.read_text(encoding="utf-8"))
                files = data["files"]
                if data.get("format") != _MARKER_FORMAT or not isinstance(files, list):
                    raise ValueError("unexpected content")
                previous = frozenset(_lexical_relative(str(f)) for f in files)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise OutputDirError(f"{marker}: damaged ownership marker ({exc}); {fix}") from None
            if data.get("tool") != tool:
                raise OutputDirError(f"{root}: holds a codecbench {data.get('tool')} output, not a {tool} one; {fix}")
        elif exclusive and root.is_dir() and any(root.iterdir()):
            older = " (it looks like a report of an older codecbench: delete it yourself if nothing of yours is in it)" \
                if _old_codecbench_page(root / "index.html") else ""
            raise OutputDirError(f"{root}: not empty and not written by codecbench (no {SITE_MARKER}); "
                                 f"{fix}{older} (nothing there was changed)")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputDirError(f"{root}: cannot create the output folder ({exc.strerror}); {fix}") from None
        owned = cls(root, tool, previous)
        owned._save(previous)  # a fresh folder is marked before the first file lands in it
        return owned

    def path(self, rel: str | Path) -> Path:
        """The absolute path to write ``rel`` at, recorded as owned; its parent folders are created.

        Refuses a path that climbs out of the folder (by text or through a symlinked folder) or
        that already holds a file this tool did not write. A previous file of ours is unlinked
        first, so writing never follows a link placed there.
        """
        text = _lexical_relative(rel)
        dest = self.root / text
        if text not in self.written:
            if (dest.exists() or dest.is_symlink()) and text not in self.previous:
                raise OutputDirError(f"{dest}: exists and was not written by codecbench; move it away or "
                                     f"choose another output folder")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not is_within(dest.parent, self.root):
                raise OutputDirError(f"{dest.parent}: leads outside {self.root} (a symlinked folder); "
                                     "remove the link or choose another output folder")
            if dest.is_symlink() or dest.is_file():
                dest.unlink()
            self.written.add(text)
        return dest

    def commit(self) -> None:
        """Remove our previous files that were not written again, then record what is ours now."""
        for text in sorted(self.previous - self.written):
            stale = self.root / text
            if stale.is_symlink() or stale.is_file():
                stale.unlink()
            parent = stale.parent
            while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
        self._save(frozenset(self.written))
        self.previous = frozenset(self.written)

    def abandon(self) -> None:
        """After a failed build: keep every file, but record the new ones as ours too."""
        self._save(self.previous | self.written)

    def _save(self, files: frozenset[str]) -> None:
        marker = self.root / SITE_MARKER
        tmp = marker.with_name(marker.name + ".part")
        body = {"format": _MARKER_FORMAT, "tool": self.tool, "files": sorted(files)}
        try:
            tmp.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
            tmp.replace(marker)
        except OSError as exc:
            raise OutputDirError(f"{marker}: cannot write the ownership marker ({exc.strerror}); "
                                 "free space or choose a writable output folder") from None


# -- files that a run's database names ------------------------------------------------------------

class AllowedRoots:
    """Folders a report may copy audio from: the run dir, its cache and the suite's data folders.

    A database row can name any path (a damaged or hostile store could name ``/etc/passwd``);
    only files that resolve inside one of these roots are read.
    """

    def __init__(self, roots: list[Path]) -> None:
        self.roots = [r.resolve() for r in roots]

    @classmethod
    def for_run(cls, run_dir: Path | str, manifest: dict[str, Any]) -> "AllowedRoots":
        """Roots from the manifest: ``run_dir``, its cache, and folder options of datasets and codecs."""
        run_dir = Path(run_dir)
        suite = manifest.get("suite") or {}
        roots = [run_dir, run_dir / "cache"]
        cache = suite.get("cache")
        if isinstance(cache, str) and cache:
            # The runner takes a relative ``cache:`` from the working directory; the decoded paths it
            # stores are absolute, so the same folder is found when the report runs from there too.
            roots.append(Path(cache))
            if not Path(cache).is_absolute() and manifest.get("suite_path"):
                roots.append(Path(str(manifest["suite_path"])).parent / cache)
        for section in ("datasets", "codecs"):
            for entry in suite.get(section) or []:
                options = entry.get("options") if isinstance(entry, dict) else None
                for key, value in (options or {}).items():
                    if key in DATA_ROOT_KEYS and isinstance(value, str) and Path(value).is_absolute():
                        roots.append(Path(value))
        return cls(roots)

    def allows(self, path: Path | str) -> bool:
        resolved = Path(path).resolve()
        return any(resolved == root or resolved.is_relative_to(root) for root in self.roots)


# Option keys whose values are data folders (or single data files) of a dataset or precomputed codec.
DATA_ROOT_KEYS = frozenset({"root", "path", "folder", "dir", "data_dir", "audio_dir"})


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (checkpoint hashes go into cache keys)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
