"""Fan a suite out over tasks: ``codecbench run SUITE --launcher slurm|local --tasks N``.

Each task runs one ``--shard K/N`` slice of the plan (cut by utterance, so a task loads each
model once) with the ordinary :class:`~codecbench.runner.Runner` into its own shard database.
submitit does the submitting: one Slurm job array, or real local subprocesses (``local``), so
the fan-out, follow, resubmit and merge logic below runs the same on any machine.

The submitting process shows one progress bar over all shards, resubmits a task that failed,
was cancelled or vanished before storing its shard (``launcher.max_retries`` times), and merges
the shards exactly (rows are keyed by plan identity) with :func:`codecbench.export.merge_runs`.
A preempted or timed-out task is requeued by submitit (:meth:`ShardTask.checkpoint`) and
resumes from its shard database. ``--detach`` returns after submitting; rerunning the same
command follows the tasks still queued and submits only the shards that are unfinished.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from codecbench.cluster import LIVE_STATES, Attempt, LaunchRecord, attempt_state, record_task, shard_path, \
    slurm_states, task_entries
from codecbench.errors import LaunchError, TasksFailedError
from codecbench.plan import Shard
from codecbench.suite import LauncherSection, Suite, suite_from_text

Log = Callable[[str], None]
LAUNCHERS = ("local", "slurm")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Preemption:
    """Slurm's preemption / time-limit signal (SIGUSR2) as a graceful stop, then submitit's requeue.

    submitit's own handler checkpoints, requeues and calls ``sys.exit`` at once, wherever the task
    happens to be: the exit can land inside a C extension's import and come out as an
    ``ImportError`` that a metric stores as its failure (seen in CI: STOI stored as NaN, "ImportError:
    initialization failed", and never redone). Here the signal only asks the runner to stop the way
    a first Ctrl-C does (finish the rows in flight, store them, raise ``RunInterrupted``: a SIGTERM
    to this process); :meth:`requeue` then runs submitit's handler from a safe place. The workers
    ignore the signal (Slurm sends it to every process of the step).
    """

    SIGNAL = getattr(signal, "SIGUSR2", None)   # submitit's default; absent on Windows (no Slurm there)

    def __init__(self) -> None:
        self.signalled = False
        self._submitit_handler: Any = None
        self._installed = False

    def _handle(self, signum: int, frame: Any) -> None:
        self.signalled = True
        os.kill(os.getpid(), signal.SIGTERM)   # the runner's graceful stop

    def __enter__(self) -> "Preemption":
        if self.SIGNAL is not None and threading.current_thread() is threading.main_thread():
            self._submitit_handler = signal.signal(self.SIGNAL, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed and self.SIGNAL is not None:
            signal.signal(self.SIGNAL, self._submitit_handler)
            self._installed = False

    def requeue(self) -> None:
        """Hand the signal to submitit (checkpoint, requeue, exit) after the runner has stopped."""
        handler = self._submitit_handler
        if callable(handler) and self.SIGNAL is not None:
            handler(self.SIGNAL, None)


@dataclass(frozen=True)
class ShardTask:
    """One task: shard ``index`` of ``count`` of the suite into ``run_dir``. Pickled to the node and run there."""

    suite_text: str
    suite_path: str
    run_dir: str
    index: int
    count: int
    jobs: int
    device: str
    node_local_dir: Optional[str] = None
    retry_crashed: bool = False

    def __call__(self) -> dict[str, Any]:
        from submitit import JobEnvironment

        from codecbench.lock import RunLock
        from codecbench.runner import RunInterrupted, run_suite
        from codecbench.store import copy_database

        started = time.time()
        job_id = JobEnvironment().job_id
        suite = suite_from_text(self.suite_text, self.suite_path)
        shard = Shard(self.index, self.count)
        target = shard_path(Path(self.run_dir), shard)

        def run(db_dir: Optional[Path]) -> Any:
            return run_suite(suite, out=Path(self.run_dir), jobs=self.jobs, device=self.device, shard=shard,
                             progress=False, wait=True, retry_crashed=self.retry_crashed, db_dir=db_dir)

        def run_here() -> Any:
            if self.node_local_dir is None:
                return run(None)
            # SQLite must not have writers over NFS: work on node-local disk, copy back at the end
            local = Path(os.path.expandvars(self.node_local_dir)).expanduser() / f"codecbench-{job_id}"
            local.mkdir(parents=True, exist_ok=True)
            try:
                with RunLock(target, wait=True):
                    if target.is_file():
                        copy_database(target, local / target.name)
                    try:
                        summary = run(local)
                    except RunInterrupted:   # the rows stored so far are complete: keep them
                        copy_database(local / target.name, target)
                        raise
                    copy_database(local / target.name, target)
                    return summary
            finally:
                shutil.rmtree(local, ignore_errors=True)

        with Preemption() as preemption:
            try:
                summary = run_here()
            except RunInterrupted:
                if preemption.signalled:
                    preemption.requeue()   # checkpoint, requeue and exit (submitit)
                raise
        entry = {"job_id": job_id, "host": socket.gethostname(), "started": started, "finished": time.time(),
                 "ok": summary.ok, "failed": summary.failed, "skipped": summary.skipped}
        record_task(target, entry)
        return entry

    def checkpoint(self) -> Any:
        """Preempted or timed out: submitit requeues this same task, which resumes from its shard database."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self)


def make_executor(kind: str, folder: Path, section: LauncherSection, name: str) -> Any:
    """A submitit executor for ``kind`` with the suite's ``launcher:`` resources."""
    try:
        import submitit
    except ImportError:
        raise LaunchError("--launcher needs submitit: pip install 'codecbench[cluster]'") from None
    if kind == "slurm" and shutil.which("sbatch") is None:
        raise LaunchError("sbatch not found: --launcher slurm must run on a Slurm submit host; use --launcher "
                          "local, or --shard K/N and `codecbench merge` with another scheduler")
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster=kind)
    try:  # submitit creates the unexpanded pattern folder too; each task gets its own
        (folder / "%j").rmdir()
    except OSError:
        pass
    executor.update_parameters(
        name=f"codecbench-{name}", timeout_min=section.time_min, cpus_per_task=section.cpus_per_task,
        gpus_per_node=section.gpus_per_task or None, mem_gb=section.mem_gb, slurm_partition=section.partition,
        slurm_account=section.account, slurm_qos=section.qos, slurm_array_parallelism=section.array_parallelism,
        slurm_additional_parameters=dict(section.sbatch) or None)
    return executor


@dataclass
class LaunchSummary:
    run_dir: Path
    planned: int
    submitted: list[str] = field(default_factory=list)  # job ids submitted by this call
    merged_rows: int = 0
    merge_s: float = 0.0
    detached: bool = False
    record: Optional[LaunchRecord] = None


class Launch:
    """One ``codecbench run --launcher``: plan the shards, submit what is unfinished, follow, merge."""

    def __init__(self, suite: Suite, kind: str, tasks: Optional[int] = None, out: Optional[Path] = None,
                 jobs: Optional[int] = None, device: Optional[str] = None, progress: bool = True,
                 retry_crashed: bool = False, log: Log = _stderr) -> None:
        if kind not in LAUNCHERS:
            raise LaunchError(f"unknown launcher '{kind}'; choose one of: {', '.join(LAUNCHERS)}")
        count = tasks or suite.launcher.tasks
        if count is None:
            raise LaunchError(f"--launcher {kind} needs --tasks N (or `tasks:` in the suite's launcher section)")
        if count < 1:
            raise LaunchError(f"--tasks {count}: give a positive number of tasks")
        self.suite, self.kind, self.count = suite, kind, count
        self.section = suite.launcher
        self.run_dir = suite.output_dir(out).resolve()
        self.jobs = jobs or self.section.cpus_per_task
        self.device = device or suite.device
        self.progress, self.retry_crashed, self.log = progress, retry_crashed, log
        self.shards = [Shard(k, count) for k in range(1, count + 1)]
        self._handles: dict[str, Any] = {}  # job id -> submitit job (local tasks are polled through it)

    # -- planning -----------------------------------------------------------------------------
    def _suite_text(self) -> str:
        path = Path(self.suite.path or "")
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        if hashlib.sha256(text.encode()).hexdigest() != self.suite.digest:
            raise LaunchError(f"{path}: the suite file changed while it was being read; rerun the command")
        return text

    def _record(self) -> LaunchRecord:
        record = LaunchRecord.load(self.run_dir)
        if record is not None and record.tasks != self.count:
            raise LaunchError(f"{self.run_dir}: holds a launch of --tasks {record.tasks}; rerun with --tasks "
                              f"{record.tasks} to resume it, or use another --out")
        others = sorted(p.name for p in self.run_dir.glob("results.shard-*-of-*.sqlite")
                        if not p.name.endswith(f"-of-{self.count}.sqlite"))
        if others:
            raise LaunchError(f"{self.run_dir}: holds shards of another --tasks ({others[0]}); use the same "
                              "--tasks, or another --out")
        text, path = self._suite_text(), str(Path(self.suite.path or "").resolve())
        if record is None:
            return LaunchRecord(self.kind, self.count, path, text, str(self.run_dir))
        record.launcher, record.suite_path, record.suite_text = self.kind, path, text
        return record

    def _progress(self) -> dict[str, Any]:
        """Shard tag -> RunProgress against its shard database (planned on this host, nothing run)."""
        from codecbench.plan import build_points
        from codecbench.runner import Runner

        # A GPU suite is planned on a submit host that may have none; the task resolves `cuda` itself.
        points, device = build_points(self.suite, "auto" if self.device == "cuda" else self.device)
        return {shard.tag: Runner(self.suite, self.run_dir, shard=shard, device=device, progress=False,
                                  retry_crashed=self.retry_crashed, log=lambda _: None).slice_progress(points)
                for shard in self.shards}

    # -- submitting and following ---------------------------------------------------------------
    def _task(self, record: LaunchRecord, shard: Shard) -> ShardTask:
        return ShardTask(record.suite_text, record.suite_path, record.run_dir, shard.index, shard.count, self.jobs,
                         self.device, self.section.node_local_dir, self.retry_crashed)

    def _submit(self, executor: Any, record: LaunchRecord, shards: list[Shard]) -> list[str]:
        submitted = time.time()
        try:
            with executor.batch():  # one job array
                jobs = [(shard, executor.submit(self._task(record, shard))) for shard in shards]
        except Exception as exc:  # noqa: BLE001 - sbatch's refusal (bad partition, account, ...) as one line
            lines = [line for line in str(exc).strip().splitlines() if line.strip()]
            raise LaunchError(f"{self.kind}: submitting {len(shards)} task(s) failed: {lines[-1] if lines else exc}; "
                              "check the suite's launcher section (partition, account, qos, sbatch)") from None
        for shard, job in jobs:
            record.attempts.setdefault(shard.tag, []).append(Attempt(str(job.job_id), submitted))
            self._handles[str(job.job_id)] = job
        record.save()
        return [str(job.job_id) for _, job in jobs]

    def _queue(self, tries: int = 5) -> dict[str, tuple[str, str]]:
        if self.kind == "slurm":
            for attempt in range(tries):  # a busy slurmctld may refuse one query; the tasks go on
                try:
                    return slurm_states()
                except LaunchError:
                    if attempt == tries - 1:
                        raise
                    time.sleep(2.0)
        return {job_id: ("RUNNING" if job.state == "RUNNING" else "ENDED", "")  # poll() also reaps the child
                for job_id, job in self._handles.items()}

    def _state(self, record: LaunchRecord, shard: Shard, queue: dict[str, tuple[str, str]]) -> Optional[str]:
        attempts = record.attempts.get(shard.tag)
        if not attempts:
            return None
        # A local task of an earlier, finished submitter is not followed: if it still runs, the
        # resubmitted one waits for its lock on the shard database.
        return attempt_state(record, attempts[-1], task_entries(shard_path(self.run_dir, shard)), queue,
                             probe_pids=False)

    def run(self, detach: bool = False) -> LaunchSummary:
        if detach and self.kind == "local":
            raise LaunchError("--detach needs --launcher slurm: local tasks are children of this process")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        record = self._record()
        progress = self._progress()
        planned = sum(p.planned for p in progress.values())
        empty = [tag for tag, p in progress.items() if p.planned == 0]
        if empty:
            raise LaunchError(f"--tasks {self.count}: shard {empty[0]} would get no utterance (shards are cut by "
                              "utterance); use fewer tasks")
        executor = make_executor(self.kind, record.folder, self.section, self.suite.name)
        queue = self._queue()
        live = {s.tag for s in self.shards if self._state(record, s, queue) in LIVE_STATES}
        todo = [s for s in self.shards if progress[s.tag].todo and s.tag not in live]
        summary = LaunchSummary(self.run_dir, planned, record=record)
        if todo:
            summary.submitted = self._submit(executor, record, todo)
            self.log(f"submitted {len(todo)} {self.kind} task(s): {', '.join(summary.submitted)}; "
                     f"logs in {record.folder}")
        else:
            record.save()
        if live:
            self.log(f"following {len(live)} task(s) submitted earlier: {', '.join(sorted(live))}")
        if detach:
            summary.detached = True
            self.log(f"detached; see the shards with `codecbench status {self.run_dir}`, follow and merge them "
                     f"with `{record.command()}`")
            return summary
        failures = self._follow(executor, record, planned)
        if failures:
            raise TasksFailedError(f"{len(failures)} task(s) kept failing: {'; '.join(failures)}; fix the cause and "
                                   f"rerun `{record.command()}` (finished shards are kept)")
        summary.merged_rows, summary.merge_s = self._merge(record)
        return summary

    def _follow(self, executor: Any, record: LaunchRecord, planned: int) -> list[str]:
        """Wait for every shard, resubmitting tasks that ended without storing it; returns the given-up ones."""
        from tqdm import tqdm

        bar = tqdm(total=planned, disable=not self.progress, unit="row", dynamic_ncols=True,
                   desc=f"{self.suite.name} ({self.count} {self.kind} tasks)", file=sys.stderr)
        log = bar.write if self.progress else self.log
        done: set[str] = set()
        failures: dict[str, str] = {}
        try:
            while True:
                queue = self._queue()
                again = []
                for shard in self.shards:
                    if shard.tag in done or shard.tag in failures:
                        continue
                    state = self._state(record, shard, queue)
                    if state is None or state == "COMPLETED":
                        done.add(shard.tag)
                        continue
                    if state in LIVE_STATES:
                        continue
                    attempts = record.attempts[shard.tag]
                    job_id = attempts[-1].job_id
                    if len(attempts) <= self.section.max_retries:
                        log(f"shard {shard.tag}: task {job_id} ended ({state}) before storing its shard; "
                            f"resubmitting (try {len(attempts) + 1} of {self.section.max_retries + 1})")
                        again.append(shard)
                    else:
                        failures[shard.tag] = f"shard {shard.tag} ({state} {len(attempts)} times, log " \
                                              f"{record.log_path(job_id)})"
                if again:
                    self._submit(executor, record, again)
                bar.n = min(planned, self._stored())
                bar.refresh()
                if len(done) + len(failures) == len(self.shards):
                    return list(failures.values())
                time.sleep(self.section.poll_s)
        except KeyboardInterrupt:
            from codecbench.runner import RunInterrupted

            where = "the Slurm tasks keep running" if self.kind == "slurm" else "the local tasks stop"
            raise RunInterrupted(f"interrupted: {where}; rerun `{record.command()}` to follow and resume") from None
        finally:
            bar.close()

    def _stored(self) -> int:
        from codecbench.store import ResultStore, StoreError

        total = 0
        for shard in self.shards:
            path = shard_path(self.run_dir, shard)
            if path.is_file():
                try:
                    with ResultStore(path, readonly=True) as store:
                        total += len(store.row_states())
                except StoreError:  # being created by its task right now
                    pass
        return total

    def _merge(self, record: LaunchRecord) -> tuple[int, float]:
        """Merge every shard into results.sqlite and record the launch in the manifest."""
        from codecbench.export import merge_runs
        from codecbench.manifest import write_json_atomic
        from codecbench.results import MANIFEST_NAME, load_manifest

        start = time.perf_counter()
        rows, _ = merge_runs(self.run_dir, [shard_path(self.run_dir, s) for s in self.shards])
        merge_s = time.perf_counter() - start
        record.merged = time.time()
        record.save()
        entries = {s.tag: task_entries(shard_path(self.run_dir, s)) for s in self.shards}
        manifest = load_manifest(self.run_dir)
        manifest["shard"] = None
        manifest["launcher"] = {
            "kind": record.launcher, "tasks": record.tasks,
            "jobs": {tag: [a.job_id for a in attempts] for tag, attempts in record.attempts.items()},
            "hosts": {tag: sorted({e["host"] for e in items}) for tag, items in entries.items()},
            "tasks_run": entries, "merged_rows": rows, "merge_s": round(merge_s, 3),
            "resources": self.section.model_dump(),
        }
        write_json_atomic(self.run_dir / MANIFEST_NAME, manifest)
        return rows, merge_s


def launch(suite: Suite, kind: str, tasks: Optional[int] = None, out: Optional[Path] = None,
           jobs: Optional[int] = None, device: Optional[str] = None, detach: bool = False, progress: bool = True,
           retry_crashed: bool = False, log: Log = _stderr) -> LaunchSummary:
    """Run ``suite`` as ``tasks`` shards on ``kind`` (``slurm`` or ``local``); see :class:`Launch`."""
    return Launch(suite, kind, tasks, out, jobs, device, progress, retry_crashed, log).run(detach)
