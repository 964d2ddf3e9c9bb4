"""What a launched run is made of: its record, the state of its tasks, and `codecbench status`.

``codecbench run --launcher slurm|local --tasks N`` writes ``RUN_DIR/launcher.json`` (a
:class:`LaunchRecord`: the suite text, N, and every job submitted for each shard). Each task, when
it has stored its shard, appends ``{job_id, host, started, finished}`` to the ``tasks`` meta key
of its shard database; that entry (not the scheduler) is what says a task succeeded, so a shard
kept on node-local disk counts only once it has been copied back.

Task states come from ``squeue`` (Slurm; accounting through ``sacct`` is not needed) or from the
pid of a local task. Nothing here imports submitit.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from codecbench.errors import LaunchError
from codecbench.manifest import write_json_atomic
from codecbench.plan import Shard
from codecbench.store import DB_NAME, ResultStore, StoreError

RECORD_NAME = "launcher.json"
RECORD_VERSION = 1
# Slurm states in which a task is still queued, running or about to run again.
LIVE_STATES = frozenset({"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING",
                         "COMPLETING", "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD"})


@dataclass
class Attempt:
    """One submission of one shard."""

    job_id: str
    submitted: float  # Unix seconds


@dataclass
class LaunchRecord:
    """``RUN_DIR/launcher.json``: enough to follow, report on and resume a launched run."""

    launcher: str  # "slurm" or "local"
    tasks: int
    suite_path: str
    suite_text: str
    run_dir: str
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)  # shard tag -> submissions
    merged: Optional[float] = None  # when the shards were last merged
    version: int = RECORD_VERSION

    @property
    def shards(self) -> list[Shard]:
        return [Shard(k, self.tasks) for k in range(1, self.tasks + 1)]

    @property
    def folder(self) -> Path:
        """submitit's folder: scripts, pickles and the logs of every task (``%j`` is the job id)."""
        return Path(self.run_dir) / "tasks"

    def log_path(self, job_id: str) -> Path:
        return self.folder / job_id / f"{job_id}_0_log.err"

    def command(self) -> str:
        """The command that resumes (and follows) this run."""
        return shlex.join(["codecbench", "run", self.suite_path, "--launcher", self.launcher,
                           "--tasks", str(self.tasks), "--out", self.run_dir])

    def save(self) -> None:
        data = asdict(self)
        write_json_atomic(Path(self.run_dir) / RECORD_NAME, data)

    @classmethod
    def load(cls, run_dir: Path) -> Optional["LaunchRecord"]:
        path = run_dir / RECORD_NAME
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            if data.get("version", 0) > RECORD_VERSION:
                raise LaunchError(f"{path}: written by a newer codecbench; upgrade codecbench")
            data["attempts"] = {tag: [Attempt(**a) for a in items] for tag, items in data["attempts"].items()}
            return cls(**data)
        except (ValueError, KeyError, TypeError) as exc:
            raise LaunchError(f"{path}: unreadable launch record ({exc}); move it aside to start the launch "
                              "afresh (the shard databases are kept and resumed)") from None


# -- task results and states ------------------------------------------------------------------
def shard_path(run_dir: Path, shard: Shard) -> Path:
    from codecbench.runner import shard_db_name

    return run_dir / shard_db_name(shard)


def task_entries(path: Path) -> list[dict[str, Any]]:
    """The ``tasks`` meta entries of a shard database (one per task that finished it)."""
    if not path.is_file():
        return []
    try:
        with ResultStore(path, readonly=True) as store:
            return list(store.get_meta("tasks", []) or [])
    except StoreError:
        return []


def record_task(path: Path, entry: dict[str, Any]) -> None:
    """Append a finished task's entry to its shard database (called by the task itself)."""
    with ResultStore(path) as store:
        store.set_meta("tasks", [*(store.get_meta("tasks", []) or []), entry])


def slurm_states() -> dict[str, tuple[str, str]]:
    """job id (``123_4`` for array tasks) -> (state, node list) of this user's jobs Slurm still lists."""
    try:
        out = subprocess.run(["squeue", "--me", "-h", "-r", "--states=all", "-o", "%i|%T|%N"],
                             capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise LaunchError("squeue not found: this is not a Slurm host; run where Slurm's commands are "
                          "available, or use --launcher local") from None
    except subprocess.TimeoutExpired:
        raise LaunchError("squeue did not answer within 60 s; is slurmctld up? (`sinfo`)") from None
    if out.returncode != 0:
        raise LaunchError(f"squeue failed: {(out.stderr or out.stdout).strip().splitlines()[-1:]}; "
                          "is slurmctld up? (`sinfo`)")
    states = {}
    for line in out.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3:
            states[parts[0]] = (parts[1], parts[2])
    return states


def local_state(job_id: str) -> str:
    """RUNNING while the local task's process (its job id is its pid) exists, else ENDED."""
    try:
        os.kill(int(job_id), 0)
    except (ProcessLookupError, ValueError):
        return "ENDED"
    except PermissionError:
        pass
    return "RUNNING"


def attempt_state(record: LaunchRecord, attempt: Attempt, entries: list[dict[str, Any]],
                  queue: dict[str, tuple[str, str]], probe_pids: bool = True) -> str:
    """COMPLETED once the task recorded its shard; else the scheduler's state, or ENDED when it is gone.

    ``queue`` holds the states known to the caller (``squeue``, or the submitting process's own
    local jobs); a local task missing from it is probed by pid when ``probe_pids``.
    """
    if any(entry.get("job_id") == attempt.job_id for entry in entries):
        return "COMPLETED"
    if record.launcher == "local" and attempt.job_id not in queue:
        return local_state(attempt.job_id) if probe_pids else "ENDED"
    state, _ = queue.get(attempt.job_id, ("ENDED", ""))
    # Slurm says COMPLETED when the script exited 0, but without the entry the shard was not stored.
    return "ENDED" if state == "COMPLETED" else state


# -- `codecbench status` ---------------------------------------------------------------------
@dataclass
class ShardStatus:
    tag: str
    planned: int
    stored: int
    todo: int
    failed: int
    job_id: Optional[str]
    state: str
    attempts: int
    host: Optional[str]
    log: Optional[str]


@dataclass
class RunStatus:
    run_dir: Path
    launcher: str
    shards: list[ShardStatus]
    merged: bool
    next_step: str


def run_status(run_dir: Path) -> RunStatus:
    """Per shard: rows stored / planned, failed rows, its task's state; and what to run next."""
    from codecbench.plan import build_points
    from codecbench.runner import Runner
    from codecbench.suite import suite_from_text

    record = LaunchRecord.load(run_dir)
    if record is None:
        raise LaunchError(f"{run_dir}: no {RECORD_NAME} here; pass a run directory made by "
                          "`codecbench run SUITE --launcher slurm|local`")
    suite = suite_from_text(record.suite_text, record.suite_path)
    points, device = build_points(suite, suite.device)
    queue = slurm_states() if record.launcher == "slurm" else {}
    shards = []
    for shard in record.shards:
        progress = Runner(suite, Path(record.run_dir), shard=shard, device=device, progress=False,
                          log=lambda _: None).slice_progress(points)
        entries = task_entries(shard_path(run_dir, shard))
        attempts = record.attempts.get(shard.tag, [])
        last = attempts[-1] if attempts else None
        state = attempt_state(record, last, entries, queue) if last else "NOT SUBMITTED"
        if state == "COMPLETED" and progress.todo:
            state = "COMPLETED (rows left)"
        shards.append(ShardStatus(shard.tag, progress.planned, progress.stored, progress.todo, progress.failed,
                                  last.job_id if last else None, state, len(attempts),
                                  entries[-1].get("host") if entries else None,
                                  str(record.log_path(last.job_id)) if last else None))
    merged = _merged(run_dir, record)
    if any(s.state in LIVE_STATES or s.state == "RUNNING" for s in shards):
        step = f"wait: tasks are queued or running; follow them with `{record.command()}`"
    elif any(s.todo for s in shards):
        step = f"resubmit: `{record.command()}` runs only the unfinished shards"
    elif not merged:
        step = f"merge: `codecbench merge {shlex.quote(str(run_dir))}`"
    else:
        step = f"done: `codecbench summary {shlex.quote(str(run_dir))}`"
    return RunStatus(run_dir, record.launcher, shards, merged, step)


def _merged(run_dir: Path, record: LaunchRecord) -> bool:
    """True when results.sqlite holds every shard's latest rows (merged after their last update)."""
    if record.merged is None or not (run_dir / DB_NAME).is_file():
        return False
    for shard in record.shards:
        path = shard_path(run_dir, shard)
        if path.is_file():
            with ResultStore(path, readonly=True) as store:
                _, last = store.update_span()
            if last is not None and last > record.merged:
                return False
    return True


def format_status(status: RunStatus) -> str:
    lines = [f"run dir: {status.run_dir}  launcher: {status.launcher}  "
             f"merged: {'yes' if status.merged else 'no'}",
             f"{'shard':10s} {'rows':>13s} {'failed':>6s}  {'job':12s} {'state':22s} {'tries':>5s}  host"]
    for s in status.shards:
        lines.append(f"{s.tag:10s} {s.stored:>6d}/{s.planned:<6d} {s.failed:>6d}  {s.job_id or '-':12s} "
                     f"{s.state:22s} {s.attempts:>5d}  {s.host or '-'}")
        if s.state not in ("COMPLETED", "RUNNING", "PENDING", "NOT SUBMITTED") and s.log:
            lines.append(f"{'':10s} log: {s.log}")
    lines.append(f"next: {status.next_step}")
    return "\n".join(lines)
