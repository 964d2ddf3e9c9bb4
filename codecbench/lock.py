"""One writer per results database: an advisory lock file beside it.

A second ``codecbench run`` on a busy run directory would do every row twice and race on the
store; instead it is refused with who holds the lock (pid, host, since when), or waits for it
with ``--wait``. The lock is an ``fcntl.flock`` on ``<database>.lock``, so it disappears with
its process (kill -9 included) and never needs cleaning up. Shards lock their own databases and
can run side by side in one run directory.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import time
from pathlib import Path
from typing import Optional

from codecbench.errors import RunLockedError, StorageError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locking available
    fcntl = None  # type: ignore[assignment]


class RunLock:
    """Exclusive lock on ``path`` (a database file) held for the life of a run."""

    def __init__(self, database: Path, wait: bool = False, poll_s: float = 0.5) -> None:
        self.path = Path(str(database) + ".lock")
        self.wait = wait
        self.poll_s = poll_s
        self._fd: Optional[int] = None

    def holder(self) -> str:
        """Who holds the lock, as written by the holder (best effort)."""
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return "another process"
        return f"pid {info.get('pid', '?')} on {info.get('host', '?')} since {info.get('since', '?')}"

    def acquire(self) -> "RunLock":
        if fcntl is None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"{self.path}: cannot create the run lock ({exc.strerror}); "
                               "use a writable run directory") from None
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not self.wait:
                    os.close(fd)
                    raise RunLockedError(f"{self.path.parent}: another codecbench run is using this run directory "
                                         f"({self.holder()}); wait for it to finish, pass --wait, or use "
                                         "another --out") from None
                time.sleep(self.poll_s)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
