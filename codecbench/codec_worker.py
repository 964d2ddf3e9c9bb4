"""Codec isolation: every codec point runs in a supervised child process.

An adapter is third-party code (a suite naming ``module:Class`` runs it): it may segfault, call
``sys.exit``/``os._exit``, hang or eat all memory. The runner therefore never calls it in its own
process. A :class:`CodecWorker` spawns one child per codec point, which builds the adapter once
(loading its model once, owning the GPU when there is one) and transcodes items sent over a pipe.
A crash, exit or hang fails that item with a reason ("adapter crashed: signal 11 (SIGSEGV)",
"timed out after 600 s") and the next item gets a fresh child. The child dies with the parent:
``PR_SET_PDEATHSIG`` on Linux, and on every platform the pipe's EOF when the parent is gone.

A worker built with ``WorkerSpec.batch`` (GPU batching, :mod:`codecbench.batching`) also codes
several items per message (:meth:`CodecWorker.transcode_batch`) and tells the runner its
:class:`~codecbench.batching.BatchLimits` when it starts; one that is not works exactly as before.
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

from codecbench.batching import BatchLimits
from codecbench.errors import StorageError
from codecbench.transcode import CodingRequest, Transcoded

DEFAULT_TIMEOUT_S = 600.0  # per message, plus 10x its audio duration: generous for CPU neural codecs
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
    batch: bool = False  # code several items per message (codecbench.batching)
    batch_seconds: Optional[float] = None  # the codec entry's batch budget; None: the default


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)


def ignore_parent_signals() -> None:
    """In a worker process: leave Ctrl-C and Slurm's preemption signal (SIGUSR2, see
    ``launcher.Preemption``) to the parent, which stops the run gracefully; Slurm signals every
    process of the step, and a worker that died of it would fail its item."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGUSR2"):   # not on Windows
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def _child_main(conn: Any, spec: WorkerSpec, parent_pid: int) -> None:
    """Build the adapter, then serve ``("transcode", ...)`` / ``("transcode batch", ...)`` requests
    until the pipe closes."""
    ignore_parent_signals()
    _die_with_parent(parent_pid)
    if spec.memory_limit_mb:
        import resource

        limit = int(spec.memory_limit_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from codecbench.batching import batch_limits, is_out_of_memory
    from codecbench.codecs import CODECS
    from codecbench.transcode import transcode, transcode_batch

    try:
        codec = CODECS.get(spec.adapter)(bitrate=spec.bitrate, device=spec.device, **spec.options)
        limits = batch_limits(codec, spec.batch_seconds) if spec.batch else None
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        conn.send(("error", f"{spec.label}: cannot build the adapter: {type(exc).__name__}: {exc}"))
        return
    if limits is not None:
        limits.apply(codec)
    conn.send(("ready", limits))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # parent gone or closed the pipe
            return
        if message[0] == "stop":
            return
        if message[0] == "transcode batch":
            _, requests, cache_dir = message
            outcome = transcode_batch(codec, spec.label, requests, Path(cache_dir))
            if limits is not None and outcome.fallback is not None and is_out_of_memory(outcome.fallback):
                limits = limits.halved()  # the items were coded one at a time; smaller batches from now on
                limits.apply(codec)
            replies = [("ok", out) if isinstance(out, Transcoded) else _failure(out, spec, cache_dir)
                       for out in outcome.results]
            full = next((reply for reply in replies if reply[0] == "disk full"), None)
            conn.send(full if full is not None else ("batch", (replies, limits)))
            continue
        _, audio, rate, utterance, cache_dir, key = message
        try:
            out = transcode(codec, spec.label, audio, rate, utterance, Path(cache_dir), key)
        except Exception as exc:  # noqa: BLE001 - one bad item must not stop the worker
            conn.send(_failure(exc, spec, cache_dir))
            continue
        conn.send(("ok", out))


def _failure(exc: Exception, spec: WorkerSpec, cache_dir: str) -> tuple[str, str]:
    """The reply for an item that raised ``exc``: ``("error", one line)``, or ``("disk full", ...)``
    when the cache could not be written (not the item's fault: the run stops)."""
    if isinstance(exc, MemoryError):
        return "error", f"{spec.label}: out of memory (memory_limit_mb={spec.memory_limit_mb})"
    if isinstance(exc, OSError) and exc.errno in DISK_FULL:
        # every later item would fail the same way, so the run stops
        return "disk full", (f"disk full writing {exc.filename or cache_dir}: free space and rerun the same "
                             "command to resume")
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if not text.startswith(spec.label):
        text = f"{spec.label}: {type(exc).__name__}: {text}"
    return "error", text


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
        self._limits: Optional[BatchLimits] = None

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
        self._limits = payload

    def _started(self) -> Any:
        """The pipe to a running child (started, or restarted after a crash, here)."""
        if self._proc is None or not self._proc.is_alive():
            self._start()
        assert self._conn is not None
        return self._conn

    def _timeout(self, seconds: float, items: int) -> float:
        """Time limit of a message of ``items`` items holding ``seconds`` of audio.

        ``timeout_s`` of the codec entry is per item; the default grows with the audio duration.
        """
        return self.timeout_s * items if self.timeout_s else DEFAULT_TIMEOUT_S + 10.0 * seconds

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
        conn = self._started()
        timeout = self._timeout(audio.shape[-1] / float(rate), 1)
        try:
            conn.send(("transcode", audio, rate, utterance, str(cache_dir), key))
        except (BrokenPipeError, OSError):
            self.close()
            raise AdapterCrash(f"{self.spec.label}: adapter process died before the item was sent") from None
        kind, payload = self._receive(timeout, f"coding {getattr(utterance, 'id', 'an item')}")
        if kind == "disk full":
            raise StorageError(payload)
        if kind == "error":
            raise RuntimeError(payload)
        return payload

    def batch_limits(self) -> Optional[BatchLimits]:
        """How many items one :meth:`transcode_batch` may hold (starts the child); None when this
        worker codes one item at a time. They shrink after a batch that ran out of memory.

        Raises:
            AdapterCrash, AdapterTimeout: the child could not be started.
        """
        self._started()
        return self._limits

    def transcode_batch(self, requests: list[CodingRequest], cache_dir: Path) -> list[tuple[str, Any]]:
        """Encode + decode several items in the child, in shared forward passes where the adapter can.

        Returns one reply per request, in order: ``("ok", Transcoded)`` or ``("error", one line)``
        (that item failed alone, with the reason it has when coded alone). The time limit is
        ``timeout_s`` per item, or the default grown by the batch's total duration.

        Raises:
            StorageError: the cache could not be written because the disk is full (stops the run).
            AdapterCrash, AdapterTimeout: the child died or did not answer in time; which item
                caused it is unknown, so the caller codes them one at a time.
        """
        conn = self._started()
        seconds = sum(request.reference.shape[-1] / float(request.sample_rate) for request in requests)
        names = [str(getattr(request.utterance, "id", "?")) for request in requests]
        doing = f"coding a batch of {len(requests)} items ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
        try:
            conn.send(("transcode batch", requests, str(cache_dir)))
        except (BrokenPipeError, OSError):
            self.close()
            raise AdapterCrash(f"{self.spec.label}: adapter process died before the batch was sent") from None
        kind, payload = self._receive(self._timeout(seconds, len(requests)), doing)
        if kind == "disk full":
            raise StorageError(payload)
        if kind != "batch":
            raise RuntimeError(payload)
        replies, self._limits = payload
        return list(replies)

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
