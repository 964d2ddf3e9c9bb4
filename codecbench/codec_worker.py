"""Codec isolation: every codec point runs in a supervised child process.

An adapter is third-party code (a suite naming ``module:Class`` runs it): it may segfault, call
``sys.exit``/``os._exit``, hang or eat all memory. The runner therefore never calls it in its own
process. A :class:`CodecWorker` spawns one child per codec point, which builds the adapter once
(loading its model once, owning the GPU when there is one) and transcodes items sent over a pipe.
A crash, exit or hang fails that item with a reason ("adapter crashed: signal 11 (SIGSEGV)",
"timed out after 600 s") and the next item gets a fresh child. The child dies with the parent:
``PR_SET_PDEATHSIG`` on Linux, and on every platform the pipe's EOF when the parent is gone.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from codecbench.errors import StorageError
from codecbench.transcode import Transcoded

DEFAULT_TIMEOUT_S = 600.0  # per item, plus 10x the item's duration: generous for CPU neural codecs
START_TIMEOUT_S = 600.0  # building an adapter may load a large model
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class AdapterCrash(Exception):
    """The worker process died (signal or exit) while handling an item."""


class AdapterTimeout(Exception):
    """The worker did not answer within the item's time limit and was killed."""


@dataclass(frozen=True)
class WorkerSpec:
    """Everything the child needs to build the adapter (picklable)."""

    adapter: str
    bitrate: Optional[float]
    device: str
    options: dict[str, Any]
    label: str
    memory_limit_mb: Optional[int] = None


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)


def _child_main(conn: Any, spec: WorkerSpec, parent_pid: int) -> None:
    """Build the adapter, then serve ``("transcode", ...)`` requests until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _die_with_parent(parent_pid)
    if spec.memory_limit_mb:
        import resource

        limit = int(spec.memory_limit_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from codecbench.codecs import CODECS
    from codecbench.transcode import transcode

    try:
        codec = CODECS.get(spec.adapter)(bitrate=spec.bitrate, device=spec.device, **spec.options)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        conn.send(("error", f"{spec.label}: cannot build the adapter: {type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # parent gone or closed the pipe
            return
        if message[0] == "stop":
            return
        _, audio, rate, utterance, cache_dir, key = message
        try:
            out = transcode(codec, spec.label, audio, rate, utterance, Path(cache_dir), key)
        except MemoryError:
            conn.send(("error", f"{spec.label}: out of memory (memory_limit_mb={spec.memory_limit_mb})"))
            continue
        except Exception as exc:  # noqa: BLE001 - one bad item must not stop the worker
            if isinstance(exc, OSError) and exc.errno in DISK_FULL:
                # not this item's fault: every later item would fail the same way, so the run stops
                conn.send(("disk full", f"disk full writing {exc.filename or cache_dir}: free space and rerun "
                                        "the same command to resume"))
                continue
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if not text.startswith(spec.label):
                text = f"{spec.label}: {type(exc).__name__}: {text}"
            conn.send(("error", text))
            continue
        conn.send(("ok", out))


def describe_exit(exitcode: Optional[int]) -> str:
    """``signal 11 (SIGSEGV)`` or ``exit status 3`` for a dead worker."""
    if exitcode is None:
        return "unknown exit"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "?"
        return f"signal {-exitcode} ({name})"
    return f"exit status {exitcode}"


class CodecWorker:
    """A supervised child process hosting one codec point (started on first use)."""

    def __init__(self, spec: WorkerSpec, timeout_s: Optional[float] = None) -> None:
        self.spec = spec
        self.timeout_s = timeout_s
        self._proc: Optional[Any] = None
        self._conn: Optional[Any] = None

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=True)
        proc = context.Process(target=_child_main, args=(child, self.spec, os.getpid()), daemon=True,
                               name=f"codec-{self.spec.label}")
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        kind, payload = self._receive(START_TIMEOUT_S, "starting the adapter")
        if kind == "error":
            self.close()
            raise AdapterCrash(payload)

    def _receive(self, timeout_s: float, doing: str) -> tuple[str, Any]:
        assert self._conn is not None and self._proc is not None
        waited = 0.0
        step = 0.25
        while True:
            try:
                if self._conn.poll(step):
                    return self._conn.recv()
            except (EOFError, OSError):
                pass
            else:
                if self._proc.is_alive():
                    waited += step
                    if waited >= timeout_s:
                        self.close()
                        raise AdapterTimeout(f"{self.spec.label}: timed out after {timeout_s:g} s while {doing}; "
                                             "raise timeout_s in the codec entry if it is just slow")
                    continue
            self._proc.join(5)
            code = self._proc.exitcode
            self.close()
            raise AdapterCrash(f"{self.spec.label}: adapter crashed while {doing}: {describe_exit(code)}")

    def transcode(self, audio: np.ndarray, rate: int, utterance: Any, cache_dir: Path, key: str) -> Transcoded:
        """Encode + decode one item in the child.

        Raises:
            RuntimeError: the adapter failed on this item (one line).
            StorageError: the cache could not be written because the disk is full (stops the run).
            AdapterCrash, AdapterTimeout: the child died or did not answer in time.
        """
        if self._proc is None or not self._proc.is_alive():
            self._start()
        assert self._conn is not None
        duration = audio.shape[-1] / float(rate)
        timeout = self.timeout_s if self.timeout_s else DEFAULT_TIMEOUT_S + 10.0 * duration
        try:
            self._conn.send(("transcode", audio, rate, utterance, str(cache_dir), key))
        except (BrokenPipeError, OSError):
            self.close()
            raise AdapterCrash(f"{self.spec.label}: adapter process died before the item was sent") from None
        kind, payload = self._receive(timeout, f"coding {getattr(utterance, 'id', 'an item')}")
        if kind == "disk full":
            raise StorageError(payload)
        if kind == "error":
            raise RuntimeError(payload)
        return payload

    def close(self) -> None:
        """Stop the child (politely, then by force)."""
        if self._conn is not None:
            try:
                self._conn.send(("stop",))
            except (BrokenPipeError, OSError):
                pass
            self._conn.close()
        if self._proc is not None:
            self._proc.join(2)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)
        self._proc = self._conn = None
