"""Run a suite: plan -> codec workers -> metric pool -> store.

Each codec point runs in its own supervised child process (:mod:`codecbench.codec_worker`), so an
adapter that crashes, exits or hangs fails only its item; metric jobs go to a pool of ``--jobs``
spawned workers as soon as each decoded file exists, and a dead metric worker fails or retries
only its rows. Only the main process writes to the store, one transaction per finished row, so
Ctrl-C or a kill loses at most the rows in flight, and the same command resumes where it stopped.

A rerun does only what is missing: rows never stored, rows whose codec or input changed, failed
rows (an item that crashed its worker twice is not retried), rows skipped for a reason that no
longer holds, and metrics that are new or whose identity changed — the latter scored from the
cached decoded audio without touching the other metrics. With nothing to do, no worker starts.
Non-intrusive metrics (``MetricInfo.intrusive`` false) are also scored once per utterance on the
reference itself (the pair reference/reference, aligned and resampled exactly like a decoded
signal), into the store's ``reference_scores`` table: the ceiling the report shows. They are
redone only when the metric identity or the reference's content hash changes.
A lock on the results database keeps a second process from running the same run directory.

On CUDA, a codec point whose adapter batches (:mod:`codecbench.batching`) gets the next items of
the point whose decoded audio is not cached in one message, up to its worker's batch limits; each
item is still checked, cached, scored and stored as its own row, and a batch whose worker crashes
or times out is coded again one item at a time, so failures are attributed as without batching.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from codecbench.audio import AudioError, save_audio
from codecbench.batching import wants_batches
from codecbench.codec_worker import AdapterCrash, AdapterTimeout, CodecWorker, WorkerSpec, ignore_parent_signals
from codecbench.errors import CodecbenchError, NothingScoredError, StorageError
from codecbench.lock import RunLock
from codecbench.manifest import build_manifest, write_json_atomic
from codecbench.paths import safe_component, safe_relative_path
from codecbench.plan import CodecPoint, PlanRow, Shard, build_plan, build_points
from codecbench.results import MANIFEST_NAME, load_manifest
from codecbench.store import DB_NAME, ItemResult, ResultStore, StoreError
from codecbench.suite import Suite
from codecbench.transcode import CodingRequest, Transcoded, cache_key, is_cached, load_cached

Log = Callable[[str], None]
MAX_CRASHES = 2  # an item that crashed its codec worker this often is not retried by a rerun


class RunInterrupted(CodecbenchError):
    """Ctrl-C: what finished is stored; rerunning the same command resumes."""

    exit_code = 130


class _GracefulInterrupt:
    """First Ctrl-C (or SIGTERM): finish the rows in flight, then stop. Second: stop at once."""

    def __init__(self, log: Log) -> None:
        self.requested = False
        self._log = log
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        again = "Ctrl-C again" if signum == signal.SIGINT else f"a second {signal.Signals(signum).name}"
        self._log(f"interrupt: finishing the items in flight, then stopping ({again} to stop at once)")

    def __enter__(self) -> "_GracefulInterrupt":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


@dataclass
class RunSummary:
    run_dir: Path
    planned: int
    already_done: int
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    metrics_added: int = 0  # rows that only gained new metrics
    not_retried: int = 0  # failed rows that crashed their worker too often to retry
    references: int = 0  # utterances whose reference was scored by the non-intrusive metrics
    stored_ok: int = 0  # ok rows in the store after the run (all of it, not just this run)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunProgress:
    """A plan slice against its store: rows planned, stored (any status), still to do, stored as failed."""

    planned: int
    stored: int
    todo: int
    failed: int


def shard_db_name(shard: Shard) -> str:
    """The database file of one ``--shard K/N`` slice inside its run directory."""
    return f"results.shard-{shard.tag}.sqlite"


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- metric workers -------------------------------------------------------------------------
def _exit_with_parent(parent: int) -> None:
    """Make a worker die with the main process, even when that is killed with SIGKILL.

    ``parent`` is the pid the pool was created by (passed in, not read after start-up: a parent
    that died in the worker's first second would otherwise look like the worker's parent).
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:  # portable fallback: poll for re-parenting
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _init_worker(specs: list[tuple[str, dict[str, Any]]], parent: int) -> None:
    # Workers just stop when the pool is shut down.
    ignore_parent_signals()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _exit_with_parent(parent)
    from codecbench.scoring import init_worker

    init_worker(specs, threads=1)  # one core per worker; builds and warms the metrics once


def score_job(specs: list[tuple[str, dict[str, Any]]], reference: np.ndarray, ref_rate: int,
              degraded: np.ndarray, deg_rate: int, transcript: Optional[str] = None,
              ) -> tuple[dict[str, tuple[float, Optional[str]]], dict[str, Any]]:
    """Score one pair with ``specs`` (instances cached per process); returns scores and alignment columns.

    ``transcript``: the utterance's transcript, for metrics that declare ``needs_transcript``.
    """
    from codecbench.metrics import PairContext
    from codecbench.scoring import score_pair

    scores = score_pair(reference, ref_rate, degraded, deg_rate, specs, context=PairContext(transcript))
    values = {name: (r.value, r.reason) for name, r in scores.results.items()}
    return values, alignment_columns(scores.alignment)


def alignment_columns(info: Any) -> dict[str, Any]:
    """The store's alignment columns from an AlignmentInfo (all None when alignment failed)."""
    if info is None:
        return {"lag_samples": None, "lag_at_bound": None, "trimmed_reference_samples": None,
                "trimmed_degraded_samples": None}
    if hasattr(info, "to_row"):
        return dict(info.to_row())
    return {"lag_samples": info.lag_samples, "lag_at_bound": bool(info.lag_at_bound),
            "trimmed_reference_samples": getattr(info, "trimmed_reference_samples", None),
            "trimmed_degraded_samples": getattr(info, "trimmed_degraded_samples", None)}


def metric_digest(identity: dict[str, Any]) -> str:
    """Short digest of a metric identity (stored with each score; a change means recompute)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


# -- the run --------------------------------------------------------------------------------
@dataclass
class _Work:
    """One row to do: a full codec + metrics pass, or only the metrics in ``specs``.

    ``reference`` work scores the reference of ``row.utterance`` on its own (no codec).
    """

    row: PlanRow
    specs: list[tuple[str, dict[str, Any]]]
    full: bool
    crashes: int = 0
    reference: bool = False
    content_hash: Optional[str] = None


@dataclass
class _Coded:
    """An item a batch took: its loaded reference ``(audio, rate, stored path)``, its cache key, and
    its output or failure. With neither (the batch's worker crashed or timed out, or the item was
    cached after all) the item is coded alone, as without batching. ``in_batch`` False: the cached
    item that ended a batch, handed on only so that its reference is not read twice."""

    reference: tuple[np.ndarray, int, str]
    key: str
    out: Optional[Transcoded] = None
    error: Optional[str] = None
    in_batch: bool = True


def _route(item: _Work) -> str:
    """The metric worker key of a row: its reference (so one worker prepares it, once)."""
    return f"{item.row.dataset}\0{item.row.utterance.id}"


class _MetricPool:
    """``jobs`` single-process executors, one per metric worker, that survive a dead worker.

    Every job names a *route* (its reference: dataset and utterance id); a route is given to a
    worker the first time it is seen, round-robin, and keeps it. The runner sends jobs
    point-major, so each worker meets the same references once per codec point and reuses
    their prepared states (:mod:`codecbench.reference_states`) instead of preparing them per
    pair; round-robin in first-seen order spreads the references evenly. A worker that dies
    breaks only its executor: that one is rebuilt and its lost jobs are resubmitted once.
    """

    def __init__(self, jobs: int, specs: list[tuple[str, dict[str, Any]]]) -> None:
        self.jobs, self.specs = jobs, specs
        self._pools: list[Optional[cf.ProcessPoolExecutor]] = [None] * jobs
        self._routes: dict[str, int] = {}
        self._origin: dict[cf.Future, tuple[int, cf.ProcessPoolExecutor, int]] = {}  # index, executor, order
        self._running_when_broken: dict[cf.ProcessPoolExecutor, int] = {}
        self._submitted = 0

    def _new(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_init_worker, initargs=(self.specs, os.getpid()))

    def worker(self, route: str) -> int:
        """Index of the worker that scores ``route``'s jobs."""
        return self._routes.setdefault(route, len(self._routes) % self.jobs)

    def submit(self, route: str, *job: Any, fn: Optional[Callable[..., Any]] = None) -> cf.Future:
        """Run ``fn(*job)`` (default :func:`score_job`) on ``route``'s worker."""
        index = self.worker(route)
        for attempt in range(2):
            pool = self._pools[index]
            if pool is None:
                pool = self._pools[index] = self._new()
            try:
                future = pool.submit(score_job if fn is None else fn, *job)
            except BrokenProcessPool:
                if attempt:
                    raise
                self._pools[index] = None
                pool.shutdown(wait=False, cancel_futures=True)
                continue
            self._submitted += 1
            self._origin[future] = (index, pool, self._submitted)
            future.add_done_callback(self._forget)
            return future
        raise AssertionError("unreachable")

    def _forget(self, done: cf.Future) -> None:  # only a broken worker's futures stay, for rebuild
        if done.cancelled() or not isinstance(done.exception(), BrokenProcessPool):
            self._origin.pop(done, None)

    def rebuild(self, future: cf.Future) -> bool:
        """Replace the executor that ``future`` (failed with BrokenProcessPool) ran on, once.

        Returns whether ``future`` is the job that was running when its worker died. The other
        jobs queued on that worker died with it through no fault of theirs; the runner retries
        them without counting the attempt, so a row that kills its worker fails alone.
        """
        index, pool, order = self._origin.pop(future, (None, None, 0))
        if pool is None:
            return True
        if pool not in self._running_when_broken:  # a worker runs its jobs in order: the oldest was running
            self._running_when_broken[pool] = min([order] + [o for _, p, o in self._origin.values() if p is pool])
        guilty = self._running_when_broken[pool] == order
        if index is not None and self._pools[index] is pool:
            pool.shutdown(wait=False, cancel_futures=True)
            self._pools[index] = None
        return guilty

    def shutdown(self) -> None:
        for index, pool in enumerate(self._pools):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                self._pools[index] = None
        self._origin.clear()


def _restricted(work: list[_Work], allowed: list[tuple[str, dict[str, Any]]]) -> list[_Work]:
    """``work`` with each item's metrics cut to the specs in ``allowed``; metric-only items left
    without a metric are dropped (a coding item stays: it still codes and stores its row)."""
    out = []
    for item in work:
        specs = [spec for spec in item.specs if spec in allowed]
        if specs or (item.full and not item.reference):
            item.specs = specs
            out.append(item)
    return out


class Runner:
    """Executes one suite into one run directory."""

    def __init__(self, suite: Suite, out: Optional[Path] = None, jobs: Optional[int] = None,
                 device: Optional[str] = None, shard: Optional[Shard] = None, progress: bool = True,
                 log: Log = _stderr, wait: bool = False, retry_crashed: bool = False,
                 db_dir: Optional[Path] = None) -> None:
        self.suite = suite
        self.run_dir = suite.output_dir(out)
        self.db_dir = db_dir or self.run_dir  # node-local disk for a cluster task's shard database
        self.cache_dir = Path(suite.cache) if suite.cache else self.run_dir / "cache"
        self.jobs = jobs or suite.jobs or default_jobs()
        self.device = device or suite.device
        self.shard = shard
        self.progress = progress
        self.log = log
        self.wait = wait
        self.retry_crashed = retry_crashed
        self.metric_specs = [(m.name, dict(m.options)) for m in suite.metrics]
        from codecbench.scoring import build_metrics

        self.metrics = build_metrics(self.metric_specs)  # rejects bad options before any work
        self.metric_columns = [metric.label() for metric in self.metrics]
        self.metric_digests = {label: metric_digest(metric.identity())
                               for label, metric in zip(self.metric_columns, self.metrics)}
        # (spec, label) of the metrics that can score a reference on its own
        self.reference_specs = [(spec, label) for spec, label, metric in
                                zip(self.metric_specs, self.metric_columns, self.metrics) if not metric.info.intrusive]
        self._logged: set[Optional[str]] = set()
        self._touched: set[str] = set()  # rows written this run (a row counts once over metric passes)

    @property
    def db_name(self) -> str:
        return DB_NAME if self.shard is None else shard_db_name(self.shard)

    def _open_store(self) -> ResultStore:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            probe = self.run_dir / f".write-test-{os.getpid()}"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise StoreError(f"{self.run_dir}: output directory is not writable ({exc.strerror}); "
                             "choose another --out") from None
        return ResultStore.open(self.db_dir, self.db_name)

    def _write_manifest(self, store: ResultStore, skipped_inputs: list[str]) -> None:
        from codecbench.alignment import AlignmentPolicy

        infos = {label: {"name": metric.name, "sample_rate": metric.info.sample_rate,
                         "higher_is_better": metric.info.higher_is_better, "unit": metric.info.unit,
                         "identity": metric.identity(), "identity_digest": self.metric_digests[label]}
                 for label, metric in zip(self.metric_columns, self.metrics)}
        manifest = build_manifest(self.suite, device=self.device, jobs=self.jobs,
                                  alignment=AlignmentPolicy().describe(), metrics=infos,
                                  shard=self.shard.tag if self.shard else None)
        manifest["codec_points"] = self._point_infos
        manifest["skipped_inputs"] = {"count": len(skipped_inputs), "first": skipped_inputs[:50]}
        previous = load_manifest(self.run_dir)
        if previous.get("created"):  # a resumed run keeps its birth date and records each resume
            manifest["resumed"] = [*previous.get("resumed", []), manifest["created"]]
            manifest["created"] = previous["created"]
        try:
            write_json_atomic(self.run_dir / MANIFEST_NAME, manifest)
        except OSError as exc:
            raise StoreError(f"{self.run_dir / MANIFEST_NAME}: cannot write the manifest ({exc.strerror}); "
                             "free space or fix permissions and rerun") from None
        store.set_meta("suite_hash", self.suite.digest)
        store.set_meta("metric_digests", self.metric_digests)

    def run(self) -> RunSummary:
        points, self.device = build_points(self.suite, self.device)
        self._point_infos = [{**_point_info(point), "batched": self._batches(point)} for point in points]
        plan = build_plan(self.suite, points, self.shard)
        if plan.total_rows == 0:
            reason = "; ".join(plan.dataset_errors) or "the datasets hold no utterances"
            raise NothingScoredError(f"nothing to run: {reason}")
        for problem in plan.dataset_errors:
            self.log(f"warning: {problem}; continuing with the other datasets")
        for line in plan.skipped_inputs:
            self.log(f"warning: {line}")
        store = self._open_store()
        try:
            with RunLock(store.path, wait=self.wait):
                self._write_manifest(store, plan.skipped_inputs)
                work, summary = self._todo(plan.rows, store)
                summary.problems = list(plan.dataset_errors) + list(plan.skipped_inputs)
                for point in points:
                    if point.unavailable:
                        message = f"skipping {point.label}: {point.unavailable}"
                        self.log(message)
                        summary.problems.append(message)
                passes = self._metric_passes()
                for index, allowed in enumerate(passes):
                    if index:  # later passes: only metrics still missing on rows coded by now
                        if self.jobs == 1:  # in-process scoring: free the last pass's models first
                            from codecbench.scoring import release_metrics

                            release_metrics()
                        work = [item for item in self._todo(plan.rows, store, quiet=True)[0] if not item.full]
                    if len(passes) > 1:
                        work = _restricted(work, [spec for spec, label in zip(self.metric_specs, self.metric_columns)
                                                  if label in allowed])
                    if index and work:
                        self.log(f"scoring {', '.join(sorted(allowed))} on its own (heavy_metrics: one_at_a_time): "
                                 f"{len(work)} items")
                    self._execute(work, store, summary)
                summary.stored_ok = sum(1 for status, _, _ in store.row_states().values() if status == "ok")
        finally:
            store.close()
        return summary

    def slice_progress(self, points: list[CodecPoint]) -> "RunProgress":
        """What the store holds of this runner's plan slice and what a run would still do; runs nothing.

        ``points`` come from :func:`build_points` (built once for all shards of a launcher).
        """
        plan = build_plan(self.suite, points, self.shard)
        path = self.db_dir / self.db_name
        if not path.is_file():
            return RunProgress(len(plan.rows), 0, len(plan.rows), 0)
        with ResultStore(path, readonly=True) as store:
            work = self._todo(plan.rows, store)[0]
            states = store.row_states()
        planned = {row.item_key for row in plan.rows}
        failed = sum(1 for key, (status, _, _) in states.items() if key in planned and status == "failed")
        return RunProgress(len(plan.rows), len(planned & set(states)), len(work), failed)

    def _metric_passes(self) -> list[set[str]]:
        """Metric labels per pass: all at once, or each model-backed metric in a pass of its own."""
        labels = set(self.metric_columns)
        heavy = [label for label, metric in zip(self.metric_columns, self.metrics) if metric.info.weights]
        if self.suite.heavy_metrics != "one_at_a_time" or len(heavy) < 2:
            return [labels]
        first = labels - set(heavy[1:])  # the light metrics ride with the first heavy one
        return [first] + [{label} for label in heavy[1:]]

    # -- what is left to do -------------------------------------------------------------------
    def _todo(self, rows: list[PlanRow], store: ResultStore, quiet: bool = False) -> tuple[list[_Work], RunSummary]:
        states = store.row_states()
        identities = store.score_identities()
        planned = {row.item_key for row in rows}
        stale = set(states) - planned
        if stale and self.shard is None and not quiet:
            self.log(f"note: {len(stale)} stored rows are not in this suite's plan (an earlier version of "
                     f"the suite?); they stay in the results. Use a new --out to start afresh")
        work: list[_Work] = []
        not_retried = 0
        for row in rows:
            state = states.get(row.item_key)
            if state is None:
                work.append(_Work(row, self.metric_specs, True))
                continue
            status, stored_key, crashes = state
            try:
                same_input = stored_key is None or stored_key == self._row_cache_key(row)
            except AudioError:
                same_input = False
            if status == "skipped":
                if row.point.unavailable is None or not same_input:
                    work.append(_Work(row, self.metric_specs, True))  # the reason no longer holds
                continue
            if status == "failed" or not same_input:
                if status == "failed" and same_input and crashes >= MAX_CRASHES and not self.retry_crashed:
                    not_retried += 1
                    continue
                work.append(_Work(row, self.metric_specs, True, crashes if same_input else 0))
                continue
            have = identities.get(row.item_key, {})
            missing = [spec for spec, label in zip(self.metric_specs, self.metric_columns)
                       if have.get(label) != self.metric_digests[label]]
            if missing:
                work.append(_Work(row, missing, False))
        order: dict[int, int] = {}
        for row in rows:
            order.setdefault(id(row.point), len(order))
        work.sort(key=lambda w: order.get(id(w.row.point), 0))  # point-major: one codec worker alive at a time
        summary = RunSummary(self.run_dir, len(rows), len(rows) - len(work) - not_retried)
        summary.not_retried = not_retried
        work[:0] = self._reference_todo(rows, store)  # first: they need no codec worker
        if not_retried and not quiet:
            self.log(f"note: {not_retried} failed rows crashed their codec worker {MAX_CRASHES} times and are "
                     "not retried; pass --retry-crashed to try them again")
        return work, summary

    def _reference_todo(self, rows: list[PlanRow], store: ResultStore) -> list[_Work]:
        """One work item per planned utterance whose reference lacks a current non-intrusive score."""
        if not self.reference_specs:
            return []
        stored = store.reference_states()
        work: list[_Work] = []
        seen: set[tuple[str, str]] = set()
        for row in rows:
            key = (row.dataset, row.utterance.id)
            if key in seen:
                continue
            seen.add(key)
            try:
                content: Optional[str] = row.utterance.content_hash()
            except AudioError:
                content = None  # unreadable: the codec rows report it; scoring will fail the same way
            have = stored.get(key, {})
            missing = [spec for spec, label in self.reference_specs
                       if have.get(label) != (self.metric_digests[label], content)]
            if missing and content is not None:
                work.append(_Work(row, missing, False, reference=True, content_hash=content))
        return work

    def _row_cache_key(self, row: PlanRow) -> str:
        return cache_key(row.point.identity_digest, row.utterance.content_hash())

    # -- execution ----------------------------------------------------------------------------
    def _execute(self, work: list[_Work], store: ResultStore, summary: RunSummary) -> None:
        from tqdm import tqdm

        bar = tqdm(total=len(work), disable=not self.progress or not work, unit="item", dynamic_ncols=True,
                   desc=self.suite.name, file=sys.stderr)
        log = bar.write if self.progress else self.log
        # Workers build and warm up only the metrics some row still needs: adding a cheap metric to
        # a finished run must not pay for loading and warming the others (ViSQOL's kernels).
        needed = [spec for spec in self.metric_specs if any(spec in item.specs for item in work)]
        pool = _MetricPool(self.jobs, needed) if self.jobs > 1 else None
        pending: dict[cf.Future, tuple[ItemResult, _Work, tuple, int]] = {}
        interrupt = _GracefulInterrupt(log)
        workers: dict[int, CodecWorker] = {}
        coded: dict[int, _Coded] = {}  # items a batch coded ahead of the loop, by id() of their _Work
        if any(spec[0].startswith("visqol") for spec in needed):
            _prepare_kernels(log)

        def finish(future: cf.Future) -> None:
            result, item, job, attempts = pending.pop(future)
            try:
                result.scores, columns = future.result()
            except BrokenProcessPool:
                guilty = pool.rebuild(future) if pool is not None else True
                if pool is not None and (attempts < 1 or not guilty):  # the worker died (killed, OOM): again
                    pending[pool.submit(_route(item), item.specs, *job)] = (result, item, job, attempts + int(guilty))
                    return
                result.status, result.error = "failed", "metric stage: a metric worker died twice on this row " \
                                                        "(killed or out of memory); rerun to retry"
                columns = {}
            except Exception as exc:  # noqa: BLE001 - a broken worker fails this row only
                result.status, result.error = "failed", f"metric stage: {type(exc).__name__}: {exc}"
                columns = {}
            self._store(store, result, item, columns, summary, log)
            bar.update(1)

        try:
            with interrupt:
                for index, item in enumerate(work):
                    handed = coded.get(id(item))
                    if interrupt.requested and (handed is None or not handed.in_batch):  # a batch's items are in flight
                        break
                    if id(item) not in coded and not item.reference and self._batches(item.row.point):
                        coded.update(self._code_batch(work, index, workers, log))
                    result, job = self._codec_stage(item, workers, log, coded.pop(id(item), None))
                    if job is not None and pool is None:
                        result.scores, columns = score_job(item.specs, *job)
                        self._store(store, result, item, columns, summary, log)
                        bar.update(1)
                        continue
                    if job is None or pool is None:
                        self._store(store, result, item, {}, summary, log)
                        bar.update(1)
                        continue
                    pending[pool.submit(_route(item), item.specs, *job)] = (result, item, job, 0)
                    while len(pending) >= 2 * self.jobs:
                        finished, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
                        for future in finished:
                            finish(future)
                while pending:  # in-flight rows are finished, not lost
                    finished, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
                    for future in finished:
                        finish(future)
        except KeyboardInterrupt:  # second Ctrl-C: stop now; finished rows are already stored
            for future in [f for f in pending if f.done() and not f.cancelled()]:
                try:
                    finish(future)
                except Exception:  # noqa: BLE001 - stopping anyway
                    pass
            interrupt.requested = True
        finally:
            bar.close()
            for worker in workers.values():
                worker.close()
            if pool is not None:
                pool.shutdown()
        if interrupt.requested:
            raise RunInterrupted(f"interrupted: {summary.ok + summary.failed + summary.skipped} new rows saved in "
                                 f"{store.path}; rerun the same command to resume")

    def _load_reference(self, row: PlanRow) -> Any:
        """``(audio, rate, stored path)`` or the AudioError to report for every row of it."""
        try:
            audio, rate = row.utterance.load()
        except AudioError as exc:
            return exc
        utt = row.utterance
        if utt.path is not None and not utt.max_seconds and not getattr(utt, "segment", None):
            path = str(Path(utt.path).resolve())
        else:  # bytes (parquet), a crop or a segment: keep a copy of exactly what was scored
            rel = Path("references") / safe_component(row.dataset) / safe_relative_path(row.utterance.id, ".wav")
            if not (self.run_dir / rel).is_file():
                try:
                    save_audio(self.run_dir / rel, audio, rate)
                except OSError as exc:
                    raise StoreError(f"{self.run_dir / rel}: cannot write the reference crop ({exc.strerror}); "
                                     "free space and rerun to resume") from None
            path = str(rel)
        return audio, rate, path

    def _batches(self, point: CodecPoint) -> bool:
        """Whether ``point``'s items go to its worker several at a time (GPU batching)."""
        return point.codec is not None and not point.unavailable and wants_batches(point.codec,
                                                                                   point.entry.batch_seconds)

    def _worker(self, point: CodecPoint, workers: dict[int, CodecWorker]) -> CodecWorker:
        """``point``'s codec worker; the previous point's is closed (one alive at a time, point-major order)."""
        worker = workers.get(id(point))
        if worker is None:
            for other in workers.values():
                other.close()
            workers.clear()
            worker = workers[id(point)] = CodecWorker(_worker_spec(point, self.device, self._batches(point)),
                                                      point.entry.timeout_s)
        return worker

    def _code_batch(self, work: list[_Work], start: int, workers: dict[int, CodecWorker],
                    log: Log) -> dict[int, _Coded]:
        """Code ``work[start]`` and the items after it of the same codec point in one message.

        Takes consecutive items whose reference loads and whose decoded audio is not cached, up to
        the worker's batch limits (at least one item). Returns what happened to each, by ``id()``
        (and the loaded reference of a cached item that ended the batch); ``{}`` when
        ``work[start]`` needs no coding here (:meth:`_codec_stage` then handles it alone).
        """
        point = work[start].row.point
        taken: list[tuple[_Work, _Coded]] = []
        ending: dict[int, _Coded] = {}
        seconds = 0.0
        limits = None
        for item in work[start:]:
            if item.row.point is not point or item.reference or (limits and not limits.admits(len(taken), seconds, 0.0)):
                break
            reference = self._load_reference(item.row)
            if isinstance(reference, Exception):
                break  # _codec_stage reports it
            key = self._row_cache_key(item.row)
            if is_cached(self.cache_dir, key):  # nothing to code: hand the loaded reference on
                if not taken:
                    return {id(item): _Coded(reference, key)}
                ending = {id(item): _Coded(reference, key, in_batch=False)}
                break
            if limits is None:
                try:
                    limits = self._worker(point, workers).batch_limits()
                except (AdapterCrash, AdapterTimeout):
                    limits = None  # the worker cannot start: coding alone reports it per item
                if limits is None:
                    return {id(item): _Coded(reference, key)}
            duration = reference[0].shape[1] / reference[1]
            if not limits.admits(len(taken), seconds, duration):
                break
            taken.append((item, _Coded(reference, key)))
            seconds += duration
        if not taken:
            return {}
        requests = [CodingRequest(coded.reference[0], coded.reference[1], item.row.utterance, coded.key)
                    for item, coded in taken]
        try:
            replies = self._worker(point, workers).transcode_batch(requests, self.cache_dir)
        except (AdapterCrash, AdapterTimeout) as exc:  # which item did it is unknown: code each alone
            log(f"warning: {exc}; coding its {len(taken)} items one at a time in a fresh worker")
            replies = [("retry", None)] * len(taken)
        for (_, coded), (kind, payload) in zip(taken, replies):
            if kind == "ok":
                coded.out = payload
            elif kind == "error":
                coded.error = payload
        return {id(item): coded for item, coded in taken} | ending

    def _codec_stage(self, item: _Work, workers: dict[int, CodecWorker], log: Log,
                     coded: Optional[_Coded] = None) -> tuple[ItemResult, Optional[tuple]]:
        """Code one item (or take what a batch did for it, ``coded``) into its result and metric job."""
        row = item.row
        point = row.point
        result = ItemResult(item_key=row.item_key, dataset=row.dataset, utterance=row.utterance.id,
                            codec=point.entry.name, adapter=point.entry.adapter, bitrate=point.bitrate,
                            status="ok", metadata=dict(row.utterance.metadata), crashes=item.crashes)
        reference = coded.reference if coded is not None else self._load_reference(row)
        if isinstance(reference, Exception):
            result.status, result.error = "failed", str(reference)
            return result, None
        if item.reference:  # the reference scored against itself: no codec involved
            audio, rate, _ = reference
            return result, (audio, rate, audio, rate, _transcript(row))
        audio, rate, result.reference_path = reference
        result.duration_s = audio.shape[1] / rate
        if point.unavailable or point.codec is None:
            result.status, result.error = "skipped", point.unavailable
            return result, None
        key = coded.key if coded is not None else self._row_cache_key(row)
        batched = coded is not None and (coded.out is not None or coded.error is not None)
        out = None if batched else load_cached(self.cache_dir, key)
        if out is None and not item.full:
            item.full = True  # the cached audio is gone or damaged: code the item again
            item.specs = self.metric_specs
        if coded is not None and coded.error is not None:
            return self._codec_failed(result, row, coded.error), None
        if coded is not None and coded.out is not None:
            out = coded.out
        while out is None:
            worker = self._worker(point, workers)
            try:
                out = worker.transcode(audio, rate, row.utterance, self.cache_dir, key)
            except StorageError:  # a full disk is not the item's fault: stop, the rerun resumes
                raise
            except AdapterCrash as exc:
                result.crashes += 1
                if result.crashes < MAX_CRASHES:
                    log(f"warning: {row.utterance.id}: {exc}; retrying once in a fresh worker")
                    continue
                result.status, result.error = "failed", f"{row.utterance.id}: {exc} (crashed {result.crashes} " \
                                                        "times; not retried by a rerun, see --retry-crashed)"
                return result, None
            except (AdapterTimeout, RuntimeError) as exc:
                return self._codec_failed(result, row, str(exc)), None
        self._fill_codec_columns(result, out, key)
        return result, (audio, rate, out.audio, out.sample_rate, _transcript(row))

    @staticmethod
    def _codec_failed(result: ItemResult, row: PlanRow, message: str) -> ItemResult:
        """``result`` failed with the adapter's one-line ``message`` (prefixed with the utterance and point)."""
        if not message.startswith(row.point.label):
            message = f"{row.point.label}: {message}"
        result.status, result.error = "failed", f"{row.utterance.id}: {message}"
        return result

    def _fill_codec_columns(self, result: ItemResult, out: Transcoded, key: str) -> None:
        result.cache_key = key
        result.measured_kbps, result.encode_rtf, result.decode_rtf = out.measured_kbps, out.encode_rtf, out.decode_rtf
        result.decoded_sample_rate = out.sample_rate
        result.coding_sample_rate, result.coding_channels = out.coding_sample_rate, out.coding_channels
        result.input_channels, result.decoded_channels = out.input_channels, int(out.audio.shape[0])
        result.decoded_sha256, result.payload_kind = out.decoded_sha256, out.payload_kind
        result.codebooks = out.codebooks
        try:
            result.decoded_path = str(out.path.resolve().relative_to(self.run_dir.resolve()))
        except ValueError:
            result.decoded_path = str(out.path.resolve())

    def _store(self, store: ResultStore, result: ItemResult, item: _Work, columns: dict[str, Any],
               summary: RunSummary, log: Log) -> None:
        result.identities = {label: self.metric_digests[label] for label in self.metric_columns}
        if item.reference:
            if result.status == "ok":
                store.write_reference(result.dataset, result.utterance, item.content_hash, result.scores,
                                      result.identities)
                summary.references += 1
            elif result.error not in self._logged:  # retried by the next run (nothing was stored)
                self._logged.add(result.error)
                log(f"warning: {result.dataset}: reference scores of {result.utterance}: {result.error}")
            return
        if not item.full and result.status == "ok":
            store.add_scores(result.item_key, result.scores, result.identities)
            if result.item_key not in self._touched:
                summary.metrics_added += 1
                self._touched.add(result.item_key)
            return
        for name, value in columns.items():
            setattr(result, name, value)
        store.write(result)
        self._touched.add(result.item_key)
        if result.status == "ok":
            summary.ok += 1
        elif result.status == "failed":
            summary.failed += 1
            if result.error not in self._logged:  # a bad reference fails every codec point once
                self._logged.add(result.error)
                log(f"error: {result.dataset}: {result.error}")
        else:
            summary.skipped += 1


def _transcript(row: PlanRow) -> Optional[str]:
    """The dataset's transcript of the row's utterance (``metadata["transcript"]``), if it has one."""
    text = row.utterance.metadata.get("transcript")
    return str(text) if text is not None and str(text).strip() else None


def _worker_spec(point: CodecPoint, device: str, batch: bool = False) -> WorkerSpec:
    return WorkerSpec(point.entry.adapter, point.bitrate, device, dict(point.entry.options), point.label,
                      point.entry.memory_limit_mb, batch, point.entry.batch_seconds)


def _point_info(point: CodecPoint) -> dict[str, Any]:
    """What the manifest records of one codec point: its coding rate and channels, and why it is skipped."""
    info: dict[str, Any] = {"label": point.label, "adapter": point.entry.adapter, "bitrate": point.bitrate,
                            "unavailable": point.unavailable}
    if point.codec is not None:
        info["decoded_sample_rate"] = point.codec.sample_rate
        for layout, channels in (("mono", 1), ("stereo", 2)):
            try:
                rate, coded = point.codec.coding_format(channels)
                info[f"coding_{layout}"] = {"sample_rate": rate, "channels": coded}
            except CodecbenchError as exc:  # e.g. a bitrate too low for stereo: that input will fail
                info[f"coding_{layout}"] = {"error": str(exc)}
        info["coding"] = type(point.codec).coding_description()
    return info


def _prepare_kernels(log: Log) -> None:
    """Compile ViSQOL's numba kernels once, saying so, before metric workers would each do it."""
    try:
        from codecbench.metrics import visqol
    except ImportError:
        return
    visqol.prepare_kernels(log)


def run_suite(suite: Suite, out: Optional[Path] = None, jobs: Optional[int] = None, device: Optional[str] = None,
              shard: Optional[Shard] = None, progress: bool = True, log: Log = _stderr, wait: bool = False,
              retry_crashed: bool = False, db_dir: Optional[Path] = None) -> RunSummary:
    """Run ``suite`` (resuming whatever its run directory already holds)."""
    return Runner(suite, out, jobs, device, shard, progress, log, wait, retry_crashed, db_dir).run()
