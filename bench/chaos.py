"""Fault injection: kill -9 a running suite at random moments and check nothing is lost.

Not a CI test (it takes minutes and is random by design; ``--seed`` replays a schedule). It

1. writes a small suite on the embedded ``builtin`` clips (cropped to 1.5 s): Opus, MP3, AAC and
   a lossless test codec, plus four misbehaving adapters from ``tests/harness/adapters_for_tests``
   that segfault, ``os._exit(0)``, ``sys.exit(3)`` or hang (``timeout_s: 3``) on one clip each,
   and a metric that SIGKILLs its own metric worker once per run (``KillsWorker``);
2. runs it once uninterrupted as the baseline (``python -m codecbench.cli run``);
3. runs it again into fresh run directories as a subprocess, sends SIGKILL to the main process at
   random moments (and, in some attempts, first to one codec or metric worker, found as a child
   of the main process in ``/proc``), and reruns the same command to resume, until ``--kills``
   main kills and ``--worker-kills`` worker kills were sent; every trial ends with a rerun that
   is left to finish;
4. with ``--disk-full`` (root, where mounting a tmpfs is permitted) runs the suite on a small
   tmpfs that is nearly full, checks the failure is one line without a traceback, frees the
   space and checks the rerun completes;
5. checks every planned row is stored exactly once with values equal to the baseline and prints
   the counts; exits 1 if any failure count is non-zero.

Equality is exact (``==``, NaN equal to NaN) on every column of ``load_results`` except
``encode_rtf``/``decode_rtf`` (wall-clock timings): the decoded audio is deterministic (its
SHA-256 is compared too) and every metric runs single-threaded in the same code path, so there is
no source of rounding differences to tolerate. Error texts are compared with the run directory
replaced by ``<run>``.

At most one worker is killed per attempt: two kills of the codec worker on the same item would
be, by design, indistinguishable from an adapter that crashes twice, which fails the row and is
not retried (see ``MAX_CRASHES`` in ``codecbench/runner.py``). Workers are told apart by their
memory maps (metric workers load ``pesq``'s extension when they warm up; codec workers do not),
so a metric worker killed in its first instant may be counted as a codec worker.

    python bench/chaos.py                  # 20 main kills, 10 worker kills, seed 0
    python bench/chaos.py --kills 40 --seed 3 --disk-full --json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
TEST_ADAPTERS = REPO / "tests" / "harness"  # adapters_for_tests: misbehaving codecs and metrics
sys.path.insert(0, str(TEST_ADAPTERS))

from codecbench.plan import build_plan, build_points  # noqa: E402
from codecbench.results import KEY_COLUMNS, load_results  # noqa: E402
from codecbench.store import ResultStore  # noqa: E402
from codecbench.suite import load_suite  # noqa: E402

JOBS = 2
HANG_TIMEOUT_S = 3
STARTUP_S = 3.0  # a resumed run's start-up (imports, plan, metric pool) before it does any row
Key = tuple[Any, ...]  # (dataset, utterance, codec, bitrate)
Row = dict[str, Any]  # column -> value of one load_results row
TRACEBACK = "Traceback (most recent call last)"
IGNORED_COLUMNS = ("encode_rtf", "decode_rtf")  # wall-clock timings differ between any two runs
# codec entry -> (clip it misbehaves on, text its failed row must hold)
CRASHERS = {"Segfault": ("speech_de_male", "signal 11 (SIGSEGV)"),
            "OsExit": ("speech_en_gb_female", "exit status 0"),
            "SysExit": ("speech_en_us_male", "exit status 3"),
            "Hang": ("music_synth_harmonic", f"timed out after {HANG_TIMEOUT_S} s")}


@dataclass
class Counts:
    """What the script did and what it found; every field of ``failures()`` must end at 0."""

    main_kills: int = 0
    worker_kills_codec: int = 0
    worker_kills_metric: int = 0
    metric_self_kills: int = 0  # KillsWorker killing its own metric worker
    trials: int = 0  # fresh run directories
    attempts: int = 0
    resumes: int = 0
    rows_lost: int = 0
    rows_duplicated: int = 0
    rows_unexpected: int = 0
    value_mismatches: int = 0
    tracebacks: int = 0
    spawn_bootstrap_tracebacks: int = 0  # see orphaned_spawn(): Python's, after a kill -9 mid-spawn
    bad_exits: int = 0  # an attempt nobody killed that did not exit 0
    orphans: int = 0  # processes of a killed run still alive 10 s after it died
    crash_rows_wrong: int = 0  # a misbehaving adapter's row not failed with its reason
    disk_full_problems: int = 0
    examples: list[str] = field(default_factory=list)

    def failures(self) -> dict[str, int]:
        names = ("rows_lost", "rows_duplicated", "rows_unexpected", "value_mismatches", "tracebacks",
                 "bad_exits", "orphans", "crash_rows_wrong", "disk_full_problems")
        return {name: getattr(self, name) for name in names}

    def note(self, text: str) -> None:
        """Keep the first few problem descriptions for the report."""
        if len(self.examples) < 20:
            self.examples.append(text)


@dataclass
class Attempt:
    """One ``codecbench run`` process and what happened to it."""

    rc: int
    seconds: float
    stderr: str
    killed_main: bool
    killed_worker: Optional[str]  # "codec", "metric" or None


# -- the suite ------------------------------------------------------------------------------
def suite_text(out: Path) -> str:
    """The chaos suite (YAML) writing into ``out``."""
    crashers = "\n".join(f"  - {{name: {name}, adapter: 'adapters_for_tests:{name}', options: {{crash_on: {clip}}}"
                         + (f", timeout_s: {HANG_TIMEOUT_S}" if name == "Hang" else "") + "}"
                         for name, (clip, _) in CRASHERS.items())
    return f"""# written by bench/chaos.py
name: chaos
out: {out}
seed: 0
datasets:
  - {{name: builtin, type: builtin, max_seconds: 1.5}}
codecs:
  - {{name: Opus, adapter: opus, bitrates: [6, 12]}}
  - {{name: MP3, adapter: mp3, bitrates: [32]}}
  - {{name: AAC, adapter: aac, bitrates: [32]}}
  - {{name: Pcm16, adapter: 'adapters_for_tests:Pcm16'}}
{crashers}
metrics:
  - pesq_wb
  - stoi
  - lsd
  - si_sdr
  - {{name: 'adapters_for_tests:KillsWorker', options: {{seconds: 1.5, once: true}}}}
"""


def write_suite(folder: Path) -> Path:
    """Create ``folder`` with ``suite.yaml`` whose run directory is ``folder/run``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.yaml"
    path.write_text(suite_text(folder / "run"))
    return path


def planned_keys(suite_path: Path) -> set[Key]:
    """``(dataset, utterance, codec, bitrate)`` of every row the harness plans for the suite."""
    suite = load_suite(suite_path)
    points, _ = build_points(suite, "cpu")
    return {row_key((row.dataset, row.utterance.id, row.point.entry.name, row.point.bitrate))
            for row in build_plan(suite, points).rows}


# -- processes ------------------------------------------------------------------------------
def _stat(pid: int) -> Optional[tuple[str, int, int]]:
    """``(state, ppid, pgrp)`` of a live process from ``/proc/PID/stat``; None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def workers_of(main_pid: int) -> dict[int, str]:
    """Live worker children of ``main_pid`` -> ``"codec"`` or ``"metric"`` (the resource tracker excluded)."""
    found: dict[int, str] = {}
    for pid in _pids():
        stat = _stat(pid)
        if stat is None or stat[1] != main_pid or stat[0] == "Z":
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            found[pid] = "metric" if "pesq" in maps else "codec"
    return found


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    return [pid for pid in _pids() if (stat := _stat(pid)) is not None and stat[2] == pgid and stat[0] != "Z"]


def reap_group(pgid: int, grace_s: float = 10.0) -> int:
    """Wait up to ``grace_s`` for a killed run's processes to exit; kill and count the survivors."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return 0
        time.sleep(0.1)
    survivors = group_members(pgid)
    for pid in survivors:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(survivors)


def child_env(marker: Path) -> dict[str, str]:
    """Environment of a run: the test adapters importable, KillsWorker's once-marker set."""
    path = os.pathsep.join(p for p in (str(TEST_ADAPTERS), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "CODECBENCH_TEST_KILL_MARKER": str(marker)}


def run_attempt(suite_path: Path, log_path: Path, marker: Path, kill_main_at: Optional[float],
                kill_worker_at: Optional[float], worker_kind: str, limit_s: float) -> tuple[Attempt, int]:
    """Run the suite once, killing what the schedule says when it says; returns the attempt and orphans.

    ``worker_kind`` is preferred when a worker is killed; if none of that kind is alive within
    3 s of ``kill_worker_at``, any worker is taken.
    """
    cmd = [sys.executable, "-m", "codecbench.cli", "run", str(suite_path), "--jobs", str(JOBS), "--no-progress"]
    with log_path.open("w") as err:
        proc = subprocess.Popen(cmd, env=child_env(marker), stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True, cwd=suite_path.parent)
    start = time.monotonic()
    killed_main, killed_worker = False, None
    while proc.poll() is None:
        now = time.monotonic() - start
        if kill_worker_at is not None and now >= kill_worker_at:
            workers = workers_of(proc.pid)
            choice = [pid for pid, kind in workers.items() if kind == worker_kind]
            if not choice and now >= kill_worker_at + 3.0:
                choice = list(workers)
            if choice:
                pid = random.choice(choice)
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed_worker, kill_worker_at = workers[pid], None
                except ProcessLookupError:
                    pass
        if kill_main_at is not None and now >= kill_main_at:  # a worker kill still pending is dropped
            proc.kill()
            killed_main = True
            break
        if now > limit_s:  # a run that never ends is a finding, not a reason to wait forever
            proc.kill()
            break
        time.sleep(0.02)
    rc = proc.wait()
    seconds = time.monotonic() - start
    orphans = reap_group(proc.pid) if killed_main or rc != 0 else 0
    return Attempt(rc, seconds, log_path.read_text(errors="replace"), killed_main, killed_worker), orphans


# -- checking -------------------------------------------------------------------------------
def stored_rows(run_dir: Path) -> int:
    """Rows in the run's store (0 when there is none yet)."""
    if not (run_dir / "results.sqlite").is_file():
        return 0
    with ResultStore.open_existing(run_dir) as store:
        return len(store.row_states())


def row_key(values: Any) -> Key:
    """A hashable row key with NaN (a codec without bitrate) read as None."""
    return tuple(None if isinstance(v, float) and math.isnan(v) else v for v in values)


def comparable(df: pd.DataFrame, run_dir: Path) -> list[tuple[Key, Row]]:
    """``load_results`` rows as ``(key, columns)`` without timing columns, the run dir masked in errors."""
    out = []
    for record in df.drop(columns=list(IGNORED_COLUMNS)).to_dict("records"):
        if isinstance(record["error"], str):
            record["error"] = record["error"].replace(str(run_dir), "<run>")
        out.append((row_key(record[k] for k in KEY_COLUMNS), record))
    return out


def same(a: Any, b: Any) -> bool:
    """Exact equality, NaN/None equal to each other."""
    missing_a = a is None or (isinstance(a, float) and math.isnan(a))
    missing_b = b is None or (isinstance(b, float) and math.isnan(b))
    return (missing_a and missing_b) or (not missing_a and not missing_b and a == b)


def compare_run(run_dir: Path, baseline: dict[Key, Row], planned: set[Key], counts: Counts, label: str) -> None:
    """Add the rows ``run_dir`` lost, duplicated or changed against ``baseline`` to ``counts``."""
    rows = comparable(load_results(run_dir), run_dir)
    seen = {key for key, _ in rows}
    counts.rows_duplicated += len(rows) - len(seen)
    lost, extra = planned - seen, seen - planned
    counts.rows_lost += len(lost)
    counts.rows_unexpected += len(extra)
    for key in sorted(lost | extra, key=str)[:3]:
        counts.note(f"{label}: row {'lost' if key in lost else 'not planned'} {key}")
    for key, row in rows:
        for column, expected in baseline.get(key, {}).items():
            if not same(row.get(column), expected):
                counts.value_mismatches += 1
                counts.note(f"{label}: {key} {column}: {row.get(column)!r} != baseline {expected!r}")


def check_crash_rows(df: pd.DataFrame, counts: Counts, label: str) -> None:
    """Each misbehaving adapter's row is failed with its reason; its other rows are ok."""
    for codec, (clip, reason) in CRASHERS.items():
        rows = df[df.codec == codec]
        bad = rows[(rows.utterance == clip) & ~((rows.status == "failed") & rows.error.fillna("").str.contains(
            reason, regex=False))]
        bad = pd.concat([bad, rows[(rows.utterance != clip) & (rows.status != "ok")]])
        counts.crash_rows_wrong += len(bad)
        for _, row in bad.iterrows():
            counts.note(f"{label}: {codec}/{row.utterance}: status {row.status}, error {row.error!r}")


def traceback_blocks(text: str) -> list[str]:
    """Each Python traceback in ``text``: its header, indented frames and the exception line."""
    blocks = []
    for part in text.split(TRACEBACK)[1:]:
        lines = part.splitlines()[1:]
        end = next((i for i, line in enumerate(lines) if line and not line[0].isspace()), len(lines) - 1)
        blocks.append("\n".join([TRACEBACK + ":", *lines[:end + 1]]))
    return blocks


def orphaned_spawn(block: str) -> bool:
    """A spawned child whose parent was SIGKILLed before sending it its start-up data.

    Python's ``multiprocessing.spawn`` bootstrap prints this (``EOFError: Ran out of input``
    while unpickling the preparation data) before any codecbench code runs in the child, so
    the harness cannot catch it; the child exits at once and nothing is lost. Counted apart.
    """
    return block.rstrip().endswith("EOFError: Ran out of input") and "multiprocessing/spawn.py" in block \
        and "codecbench" not in block


def scan_stderr(attempt: Attempt, counts: Counts, label: str) -> None:
    """Count tracebacks in an attempt's stderr and unexpected exit codes."""
    for block in traceback_blocks(attempt.stderr):
        if attempt.killed_main and orphaned_spawn(block):
            counts.spawn_bootstrap_tracebacks += 1
            continue
        counts.tracebacks += 1
        counts.note(f"{label}: traceback: {block[-600:]!r}")
    if not attempt.killed_main and attempt.rc != 0:
        counts.bad_exits += 1
        tail = attempt.stderr.strip().splitlines()[-1:] or [""]
        counts.note(f"{label}: exit {attempt.rc} without being killed: {tail[0]!r}")


# -- the experiments ------------------------------------------------------------------------
def baseline_run(work: Path, counts: Counts) -> tuple[dict[Key, Row], set[Key], float]:
    """Run the suite uninterrupted; returns its comparable table, the planned keys and the wall time."""
    folder = work / "baseline"
    suite_path = write_suite(folder)
    marker = folder / "kills_worker.marker"
    attempt, _ = run_attempt(suite_path, folder / "stderr.txt", marker, None, None, "codec", limit_s=600)
    scan_stderr(attempt, counts, "baseline")
    if attempt.rc != 0:
        raise SystemExit(f"chaos: the baseline run failed (exit {attempt.rc}); see {folder / 'stderr.txt'}")
    counts.metric_self_kills += len(marker.read_text().split()) if marker.is_file() else 0
    planned = planned_keys(suite_path)
    df = load_results(folder / "run")
    check_crash_rows(df, counts, "baseline")
    rows = comparable(df, folder / "run")
    table = dict(rows)
    if set(table) != planned or len(rows) != len(planned):
        raise SystemExit(f"chaos: the baseline holds {len(rows)} rows for {len(planned)} planned; nothing to "
                         "compare against")
    return table, planned, attempt.seconds


def kill_trial(index: int, work: Path, rng: random.Random, args: argparse.Namespace, counts: Counts,
               baseline: dict[Key, Row], planned: set[Key], base_s: float) -> None:
    """One fresh run directory: attempts with kills until the run finishes, then a clean rerun; check it."""
    folder = work / f"trial-{index:02d}"
    suite_path = write_suite(folder)
    marker = folder / "kills_worker.marker"
    counts.trials += 1
    kills_here = 0
    limit = 10 * base_s + 60
    for attempt_no in range(1000):
        left = 1.0 - stored_rows(folder / "run") / len(planned)
        horizon = STARTUP_S + base_s * max(left, 0.1)  # about when this attempt would finish
        want_main = counts.main_kills < args.kills and kills_here < args.kills_per_run
        want_worker = (counts.worker_kills_codec + counts.worker_kills_metric < args.worker_kills
                       and (rng.random() < 0.6 or not want_main))
        main_at = rng.uniform(0.1, horizon) if want_main else None
        worker_at = rng.uniform(0.3, main_at if main_at else horizon) if want_worker else None
        kind = "metric" if (counts.worker_kills_codec + counts.worker_kills_metric) % 2 else "codec"
        attempt, orphans = run_attempt(suite_path, folder / f"stderr-{attempt_no:02d}.txt", marker, main_at,
                                       worker_at, kind, limit)
        counts.attempts += 1
        counts.resumes += attempt_no > 0
        planned_kills = (f"main at {main_at:.1f} s" if main_at else "no main kill") + \
            (f", {kind} worker at {worker_at:.1f} s" if worker_at else "")
        print(f"trial {index} attempt {attempt_no}: {planned_kills}; exit {attempt.rc} after {attempt.seconds:.1f} s"
              + (f", killed a {attempt.killed_worker} worker" if attempt.killed_worker else ""), file=sys.stderr)
        counts.orphans += orphans
        if orphans:
            counts.note(f"trial {index} attempt {attempt_no}: {orphans} processes outlived the killed run")
        counts.main_kills += attempt.killed_main
        kills_here += attempt.killed_main
        if attempt.killed_worker == "codec":
            counts.worker_kills_codec += 1
        elif attempt.killed_worker == "metric":
            counts.worker_kills_metric += 1
        scan_stderr(attempt, counts, f"trial {index} attempt {attempt_no}")
        if not attempt.killed_main:
            break
    counts.metric_self_kills += len(marker.read_text().split()) if marker.is_file() else 0
    check_crash_rows(load_results(folder / "run"), counts, f"trial {index}")
    compare_run(folder / "run", baseline, planned, counts, f"trial {index}")


def disk_full_trial(work: Path, counts: Counts, baseline: dict[Key, Row], planned: set[Key]) -> dict[str, Any]:
    """Run on a nearly full tmpfs, expect one error line, free space, rerun; returns what happened."""
    if os.geteuid() != 0:
        return {"skipped": "not running as root: cannot mount a tmpfs"}
    mount = work / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        return {"skipped": f"mount -t tmpfs refused: {done.stderr.strip() or done.returncode}"}
    report: dict[str, Any] = {}
    try:
        base_bytes = sum(p.stat().st_size for p in (work / "baseline" / "run").rglob("*") if p.is_file())
        folder = mount / "disk"
        suite_path = write_suite(folder)
        balloon = mount / "balloon"
        free = shutil.disk_usage(mount).free
        room = base_bytes // 3  # a third of what a complete run writes
        with balloon.open("wb") as handle:
            handle.truncate(0)
            handle.write(b"\0" * max(0, free - room))
        report["free_bytes_at_start"] = shutil.disk_usage(mount).free
        report["complete_run_bytes"] = base_bytes
        marker = work / "disk.marker"
        first, orphans = run_attempt(suite_path, work / "disk-stderr-1.txt", marker, None, None, "codec", 600)
        lines = [ln for ln in first.stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("codecbench: error:")]
        space = [ln for ln in lines if "space" in ln.lower() or "disk full" in ln.lower()]
        report.update(first_rc=first.rc, first_error_lines=errors, lines_naming_space=len(space),
                      first_space_line=space[0] if space else None)
        counts.tracebacks += len(traceback_blocks(first.stderr))
        counts.orphans += orphans
        if first.rc == 0 or len(errors) != 1 or not any(w in errors[0].lower() for w in ("disk full", "space")):
            counts.disk_full_problems += 1
            counts.note(f"disk full: exit {first.rc}, error lines {errors!r}, last line {lines[-1:]!r}")
        balloon.unlink()
        second, orphans = run_attempt(suite_path, work / "disk-stderr-2.txt", marker, None, None, "codec", 600)
        report["rerun_rc"] = second.rc
        counts.orphans += orphans
        scan_stderr(second, counts, "disk full rerun")
        if second.rc == 0:
            check_crash_rows(load_results(folder / "run"), counts, "disk full")
            compare_run(folder / "run", baseline, planned, counts, "disk full")
        else:
            counts.disk_full_problems += 1
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)
    return report


def print_report(counts: Counts, extra: dict[str, Any]) -> None:
    """The human-readable summary."""
    print(f"chaos: baseline {extra['baseline_s']:.1f} s for {extra['planned_rows']} planned rows; "
          f"{counts.trials} trials, {counts.attempts} attempts, total {extra['wall_s']:.0f} s")
    print(f"kills sent: main {counts.main_kills}, worker {counts.worker_kills_codec + counts.worker_kills_metric} "
          f"(codec {counts.worker_kills_codec}, metric {counts.worker_kills_metric}); "
          f"metric workers killed by KillsWorker: {counts.metric_self_kills}")
    print(f"resumes: {counts.resumes}")
    print(f"spawn bootstrap tracebacks (a worker orphaned mid-spawn by kill -9; not counted as failures): "
          f"{counts.spawn_bootstrap_tracebacks}")
    for name, value in counts.failures().items():
        print(f"{name.replace('_', ' ')}: {value}")
    if "disk_full" in extra:
        print(f"disk full: {json.dumps(extra['disk_full'])}")
    for line in counts.examples:
        print(f"  {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the main process (default 20)")
    parser.add_argument("--worker-kills", type=int, default=10, help="SIGKILLs of codec/metric workers (default 10)")
    parser.add_argument("--kills-per-run", type=int, default=5,
                        help="main kills in one run directory before it is left to finish (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--disk-full", action="store_true", help="also fill a small tmpfs (root, mount permitted)")
    parser.add_argument("--workdir", type=Path, help="where the run directories go (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    parser.add_argument("--json", action="store_true", help="print the counts as one JSON object")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    random.seed(args.seed)  # the choice among live workers
    work = args.workdir or Path(tempfile.mkdtemp(prefix="codecbench-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    counts = Counts()
    start = time.monotonic()
    baseline, planned, base_s = baseline_run(work, counts)
    extra: dict[str, Any] = {"seed": args.seed, "planned_rows": len(planned), "baseline_s": round(base_s, 2)}
    trial = 0
    while (counts.main_kills < args.kills
           or counts.worker_kills_codec + counts.worker_kills_metric < args.worker_kills):
        kill_trial(trial, work, rng, args, counts, baseline, planned, base_s)
        trial += 1
    if args.disk_full:
        extra["disk_full"] = disk_full_trial(work, counts, baseline, planned)
        if "skipped" in extra["disk_full"]:
            print(f"chaos: disk-full check skipped: {extra['disk_full']['skipped']}", file=sys.stderr)
    extra["wall_s"] = round(time.monotonic() - start, 1)
    failed = any(counts.failures().values())
    if args.json:
        print(json.dumps({**asdict(counts), **extra, "work_dir": str(work), "passed": not failed}, indent=2))
    else:
        print_report(counts, extra)
    if args.keep or failed:
        print(f"chaos: run directories kept in {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
