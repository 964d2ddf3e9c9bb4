"""Run a suite: plan -> codec stage (main process) -> metric stage (process pool) -> store.

Codecs run in the main process so each model is loaded once (and owns the GPU); metric jobs go
to a pool of ``--jobs`` spawned workers as soon as each decoded file exists. Only the main
process writes to the store, one transaction per finished row, so Ctrl-C or a kill loses at
most the rows in flight, and the same command resumes where it stopped.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from codecbench.audio import AudioError, save_audio
from codecbench.manifest import build_manifest, write_json_atomic
from codecbench.paths import safe_relative_path
from codecbench.plan import PlanRow, Shard, build_plan, build_points
from codecbench.results import MANIFEST_NAME, load_manifest
from codecbench.store import DB_NAME, ItemResult, ResultStore, StoreError
from codecbench.suite import Suite
from codecbench.transcode import cache_key, transcode

Log = Callable[[str], None]


class RunInterrupted(Exception):
    """Ctrl-C: what finished is stored; rerunning the same command resumes."""


class _GracefulInterrupt:
    """First Ctrl-C: finish the rows in flight, then stop. Second Ctrl-C: stop at once."""

    def __init__(self, log: Log) -> None:
        self.requested = False
        self._log = log
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self._log("interrupt: finishing the items in flight, then stopping (Ctrl-C again to stop at once)")

    def __enter__(self) -> "_GracefulInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


@dataclass
class RunSummary:
    run_dir: Path
    planned: int
    already_done: int
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- metric workers -------------------------------------------------------------------------
def _exit_with_parent() -> None:
    """Make a worker die with the main process, even when that is killed with SIGKILL."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    def watch() -> None:  # portable fallback: poll for re-parenting
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _init_worker(specs: list[tuple[str, dict[str, Any]]]) -> None:
    # The main process handles Ctrl-C; workers just stop when the pool is shut down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    from codecbench.scoring import init_worker

    init_worker(specs, threads=1)  # one core per worker; builds and warms the metrics once


def score_job(specs: list[tuple[str, dict[str, Any]]], reference: np.ndarray, ref_rate: int,
              degraded: np.ndarray, deg_rate: int) -> tuple[dict[str, tuple[float, Optional[str]]], Optional[int]]:
    """Score one pair with the suite's metrics (instances cached per process)."""
    from codecbench.scoring import score_pair

    scores = score_pair(reference, ref_rate, degraded, deg_rate, specs)
    values = {name: (r.value, r.reason) for name, r in scores.results.items()}
    return values, scores.alignment.lag_samples if scores.alignment else None


# -- the run --------------------------------------------------------------------------------
class Runner:
    """Executes one suite into one run directory."""

    def __init__(self, suite: Suite, out: Optional[Path] = None, jobs: Optional[int] = None,
                 device: Optional[str] = None, shard: Optional[Shard] = None, progress: bool = True,
                 log: Log = _stderr) -> None:
        self.suite = suite
        self.run_dir = suite.output_dir(out)
        self.cache_dir = Path(suite.cache) if suite.cache else self.run_dir / "cache"
        self.jobs = jobs or suite.jobs or default_jobs()
        self.device = device or suite.device
        self.shard = shard
        self.progress = progress
        self.log = log
        self.metric_specs = [(m.name, dict(m.options)) for m in suite.metrics]
        from codecbench.scoring import build_metrics

        self.metrics = build_metrics(self.metric_specs)  # rejects bad options before any work
        self.metric_columns = [metric.label() for metric in self.metrics]
        self._logged: set[Optional[str]] = set()

    def _open_store(self) -> ResultStore:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            probe = self.run_dir / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise StoreError(f"{self.run_dir}: output directory is not writable ({exc.strerror}); "
                             "choose another --out") from None
        db_name = DB_NAME if self.shard is None else f"results.shard-{self.shard.tag}.sqlite"
        return ResultStore.open(self.run_dir, db_name)

    def _write_manifest(self, store: ResultStore) -> None:
        from codecbench.alignment import AlignmentPolicy

        infos = {label: {"name": metric.name, "sample_rate": metric.info.sample_rate,
                         "higher_is_better": metric.info.higher_is_better, "unit": metric.info.unit,
                         "identity": metric.identity()}
                 for label, metric in zip(self.metric_columns, self.metrics)}
        manifest = build_manifest(self.suite, device=self.device, jobs=self.jobs,
                                  alignment=AlignmentPolicy().describe(), metrics=infos,
                                  shard=self.shard.tag if self.shard else None)
        previous = load_manifest(self.run_dir)
        if previous.get("created"):  # a resumed run keeps its birth date and records each resume
            manifest["resumed"] = [*previous.get("resumed", []), manifest["created"]]
            manifest["created"] = previous["created"]
        write_json_atomic(self.run_dir / MANIFEST_NAME, manifest)
        store.set_meta("suite_hash", self.suite.digest)

    def run(self) -> RunSummary:
        points, self.device = build_points(self.suite, self.device)
        plan = build_plan(self.suite, points, self.shard)
        for problem in plan.dataset_errors:
            self.log(f"warning: {problem}; continuing with the other datasets")
        with self._open_store() as store:
            self._write_manifest(store)
            done = store.completed_keys(self.metric_columns)
            stored_keys = store.cache_keys()
            stale = set(stored_keys) - {row.item_key for row in plan.rows}
            if stale and self.shard is None and not plan.dataset_errors:
                self.log(f"note: {len(stale)} stored rows are not in this suite's plan (an earlier version of "
                         f"the suite?); they stay in the results. Use a new --out to start afresh")
            todo = [row for row in plan.rows if not self._is_done(row, done, stored_keys)]
            summary = RunSummary(self.run_dir, len(plan.rows), len(plan.rows) - len(todo),
                                 problems=list(plan.dataset_errors))
            for point in points:
                if point.unavailable:
                    message = f"skipping {point.label}: {point.unavailable}"
                    self.log(message)
                    summary.problems.append(message)
            self._execute(todo, store, summary)
        return summary

    def _is_done(self, row: PlanRow, done: set[str], stored: dict[str, Optional[str]]) -> bool:
        if row.item_key not in done:
            return False
        try:  # a changed codec (options, checkpoint) or changed input invalidates the row
            return stored.get(row.item_key) == self._row_cache_key(row)
        except AudioError:
            return False

    def _row_cache_key(self, row: PlanRow) -> str:
        return cache_key(row.point.identity_digest, row.utterance.content_hash())

    def _execute(self, rows: list[PlanRow], store: ResultStore, summary: RunSummary) -> None:
        from tqdm import tqdm

        bar = tqdm(total=len(rows), disable=not self.progress, unit="item", dynamic_ncols=True,
                   desc=self.suite.name, file=sys.stderr)
        log = bar.write if self.progress else self.log
        pool = None
        if self.jobs > 1 and rows:
            pool = cf.ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("spawn"),
                                          initializer=_init_worker, initargs=(self.metric_specs,))
        pending: dict[cf.Future, ItemResult] = {}
        interrupt = _GracefulInterrupt(log)

        def finish(future: cf.Future) -> None:
            result = pending.pop(future)
            try:
                result.scores, result.lag_samples = future.result()
            except Exception as exc:  # noqa: BLE001 - a broken worker fails this row only
                result.status, result.error = "failed", f"metric stage: {type(exc).__name__}: {exc}"
            self._store(store, result, summary, log)
            bar.update(1)

        try:
            with interrupt:
                reference_cache: tuple[Any, Any] = (None, None)
                for row in rows:
                    if interrupt.requested:
                        break
                    if reference_cache[0] is not row.utterance:
                        reference_cache = (row.utterance, self._load_reference(row))
                    result, job = self._codec_stage(row, reference_cache[1])
                    if job is not None and pool is None:
                        result.scores, result.lag_samples = score_job(self.metric_specs, *job)
                    if job is None or pool is None:
                        self._store(store, result, summary, log)
                        bar.update(1)
                        continue
                    pending[pool.submit(score_job, self.metric_specs, *job)] = result
                    while len(pending) >= 2 * self.jobs:
                        finished, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
                        for future in finished:
                            finish(future)
                for future in cf.as_completed(list(pending)):  # in-flight rows are finished, not lost
                    finish(future)
        except KeyboardInterrupt:  # second Ctrl-C: stop now; finished rows are already stored
            for future in [f for f in pending if f.done() and not f.cancelled()]:
                finish(future)
            interrupt.requested = True
        finally:
            bar.close()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
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
            rel = Path("references") / row.dataset / safe_relative_path(row.utterance.id, ".wav")
            if not (self.run_dir / rel).is_file():
                save_audio(self.run_dir / rel, audio, rate)
            path = str(rel)
        return audio, rate, path

    def _codec_stage(self, row: PlanRow, reference: Any) -> tuple[ItemResult, Optional[tuple]]:
        point = row.point
        result = ItemResult(item_key=row.item_key, dataset=row.dataset, utterance=row.utterance.id,
                            codec=point.entry.name, adapter=point.entry.adapter, bitrate=point.bitrate,
                            status="ok", metadata=dict(row.utterance.metadata))
        if isinstance(reference, Exception):
            result.status, result.error = "failed", str(reference)
            return result, None
        audio, rate, result.reference_path = reference
        result.duration_s = audio.shape[1] / rate
        if point.unavailable or point.codec is None:
            result.status, result.error = "skipped", point.unavailable
            return result, None
        try:
            key = self._row_cache_key(row)
            out = transcode(point.codec, point.label, audio, rate, row.utterance, self.cache_dir, key)
        except Exception as exc:  # noqa: BLE001 - one bad item must not stop the run
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if not message.startswith(point.label):
                message = f"{point.label}: {type(exc).__name__}: {message}"
            result.status, result.error = "failed", f"{row.utterance.id}: {message}"
            return result, None
        result.cache_key = key
        result.measured_kbps, result.encode_rtf, result.decode_rtf = out.measured_kbps, out.encode_rtf, out.decode_rtf
        result.decoded_sample_rate = out.sample_rate
        try:
            result.decoded_path = str(out.path.resolve().relative_to(self.run_dir.resolve()))
        except ValueError:
            result.decoded_path = str(out.path.resolve())
        return result, (audio, rate, out.audio, out.sample_rate)

    def _store(self, store: ResultStore, result: ItemResult, summary: RunSummary, log: Log) -> None:
        store.write(result)
        if result.status == "ok":
            summary.ok += 1
        elif result.status == "failed":
            summary.failed += 1
            if result.error not in self._logged:  # a bad reference fails every codec point once
                self._logged.add(result.error)
                log(f"error: {result.dataset}: {result.error}")
        else:
            summary.skipped += 1


def run_suite(suite: Suite, out: Optional[Path] = None, jobs: Optional[int] = None, device: Optional[str] = None,
              shard: Optional[Shard] = None, progress: bool = True, log: Log = _stderr) -> RunSummary:
    """Run ``suite`` (resuming whatever its run directory already holds)."""
    return Runner(suite, out, jobs, device, shard, progress, log).run()
