"""`codecbench run --launcher local|slurm --tasks N`: shards as real tasks, followed, resubmitted, merged exactly.

The local launcher (submitit's LocalExecutor: real subprocesses) runs everywhere. The Slurm tests
need a reachable cluster (`scripts/slurm-local.sh start` as root); the `slurm` fixture skips them
with the reason when there is none, and fails them under CODECBENCH_REQUIRE_SLURM=1 (.ci/run).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from codecbench.cli import main
from codecbench.errors import EXIT_TASKS_FAILED, EXIT_USAGE
from codecbench.results import load_results

pytest.importorskip("submitit", reason="submitit is not installed (pip install 'codecbench[cluster]')")

REPO = Path(__file__).resolve().parents[2]
TIMING = ["encode_rtf", "decode_rtf"]  # wall-clock measurements: the only columns allowed to differ
KEYS = ["dataset", "utterance", "codec", "bitrate"]
RUN_TIMEOUT_S = 240


def _suite(path: Path, extra: str = "") -> Path:
    """Quickstart in small: classic codecs over three built-in clips, three metrics."""
    path.write_text("name: tiny\n"
                    "datasets: [{name: builtin, type: builtin, max_utterances: 3, max_seconds: 1.0}]\n"
                    "codecs:\n  - {name: Opus, adapter: opus, bitrates: [6, 12]}\n"
                    "  - {name: MP3, adapter: mp3, bitrates: [32]}\n"
                    "metrics: [si_sdr, lsd, stoi]\n"
                    f"launcher: {{poll_s: 0.5, time_min: 10{extra}}}\n")
    return path


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The same suite in one process: the rows every launched run must reproduce exactly."""
    base = tmp_path_factory.mktemp("single")
    assert main(["run", str(_suite(base / "tiny.yaml")), "--out", str(base / "run"), "--jobs", "1",
                 "--no-progress"]) == 0
    return _rows(base / "run")


def _rows(run_dir: Path) -> pd.DataFrame:
    return load_results(run_dir).drop(columns=TIMING).sort_values(KEYS).reset_index(drop=True)


def _cli(*args: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codecbench.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _launch(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "codecbench.cli", *args, "--no-progress"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _first_job(run_dir: Path, deadline_s: float = 60) -> str:
    """The job id of shard 1's first submission, as soon as launcher.json names it."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            return json.loads((run_dir / "launcher.json").read_text())["attempts"]["1-of-3"][0]["job_id"]
        except (OSError, ValueError, KeyError, IndexError):
            time.sleep(0.1)
    raise AssertionError(f"{run_dir / 'launcher.json'} named no job within {deadline_s} s")


def _kill_local_task(controller: str, deadline_s: float = 60) -> None:
    """SIGKILL a local task: the process submitit's local controller (pid = job id) started, then the controller."""
    children = Path(f"/proc/{controller}/task/{controller}/children")
    end = time.monotonic() + deadline_s
    pids: list[str] = []
    while not pids and time.monotonic() < end:
        pids = children.read_text().split() if children.exists() else []
        time.sleep(0.05)
    assert pids, f"local controller {controller} started no task within {deadline_s} s"
    for pid in [*pids, controller]:
        os.kill(int(pid), signal.SIGKILL)


def _status(run_dir: Path) -> dict[str, list[str]]:
    """`codecbench status` as shard tag -> its columns, plus 'next' -> the next-step line."""
    out = _cli("status", str(run_dir), timeout=60)
    assert out.returncode == 0, out.stderr
    table: dict[str, list[str]] = {}
    for line in out.stdout.splitlines():
        if line.startswith("next: "):
            table["next"] = [line[len("next: "):]]
        elif line[:1].isdigit():
            table[line.split()[0]] = line.split()
    return table


def _kill_and_recover(tmp_path: Path, single: pd.DataFrame, launcher: str, kill: Callable[[str], None],
                      extra: str = "") -> Path:
    """Launch 3 tasks, kill shard 1's task at once, and check the run still ends complete and exact."""
    run_dir = tmp_path / "run"
    proc = _launch("run", str(_suite(tmp_path / "tiny.yaml", extra)), "--out", str(run_dir),
                   "--launcher", launcher, "--tasks", "3")
    try:
        kill(_first_job(run_dir))
        _, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "shard 1-of-3: task" in err and "resubmitting (try 2 of 3)" in err, err
    pd.testing.assert_frame_equal(_rows(run_dir), single)
    status = _status(run_dir)
    assert status["1-of-3"][4:6] == ["COMPLETED", "2"], status  # state, tries
    assert status["next"][0].startswith("done"), status
    return run_dir


# -- local launcher: everywhere --------------------------------------------------------------
def test_local_tasks_reproduce_one_process_and_rerun_resumes_only_unfinished_shards(
        tmp_path: Path, single: pd.DataFrame) -> None:
    suite, run_dir = _suite(tmp_path / "tiny.yaml"), tmp_path / "run"
    args = ["run", str(suite), "--out", str(run_dir), "--launcher", "local", "--tasks", "3"]
    first = _cli(*args, "--no-progress")
    assert first.returncode == 0, first.stderr
    assert "submitted 3 local task(s)" in first.stderr
    pd.testing.assert_frame_equal(_rows(run_dir), single)  # every row once, equal to one process
    manifest = json.loads((run_dir / "manifest.json").read_text())
    launched = manifest["launcher"]
    assert launched["kind"] == "local" and launched["tasks"] == 3 and manifest["shard"] is None
    assert sorted(launched["jobs"]) == ["1-of-3", "2-of-3", "3-of-3"]
    assert all(hosts for hosts in launched["hosts"].values())
    status = _status(run_dir)
    assert [status[f"{k}-of-3"][1] for k in (1, 2, 3)] == ["3/3", "3/3", "3/3"]  # rows stored / planned
    assert {status[f"{k}-of-3"][4] for k in (1, 2, 3)} == {"COMPLETED"}
    assert status["next"][0].startswith("done")

    again = _cli(*args, "--no-progress")  # nothing unfinished: no task, the merge only
    assert again.returncode == 0, again.stderr
    assert not re.search(r"submitted \d+ local task", again.stderr), again.stderr

    (run_dir / "results.shard-2-of-3.sqlite").unlink()  # lose one shard: only it runs again
    assert _status(run_dir)["next"][0].startswith("resubmit")
    third = _cli(*args, "--no-progress")
    assert third.returncode == 0, third.stderr
    assert "submitted 1 local task(s)" in third.stderr
    pd.testing.assert_frame_equal(_rows(run_dir), single)


def test_a_killed_local_task_is_resubmitted_and_its_node_local_shard_copied_back(
        tmp_path: Path, single: pd.DataFrame) -> None:
    scratch = tmp_path / "node-local"
    run_dir = _kill_and_recover(tmp_path, single, "local", _kill_local_task, extra=f", node_local_dir: '{scratch}'")
    killed = json.loads((run_dir / "launcher.json").read_text())["attempts"]["1-of-3"][0]["job_id"]
    # every task that finished removed its node-local copy (a SIGKILLed one cannot: the scheduler's $TMPDIR can)
    assert {p.name for p in scratch.iterdir()} <= {f"codecbench-{killed}"}


def test_a_task_that_keeps_failing_is_reported_with_its_log(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = _launch("run", str(_suite(tmp_path / "tiny.yaml", ", max_retries: 0")), "--out", str(run_dir),
                   "--launcher", "local", "--tasks", "3")
    try:
        pid = _first_job(run_dir)
        _kill_local_task(pid)
        _, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_TASKS_FAILED, err
    line = err.strip().splitlines()[-1]
    log = run_dir / "tasks" / pid / f"{pid}_0_log.err"
    assert line.startswith("codecbench: error: 1 task(s) kept failing: shard 1-of-3") and str(log) in line, line
    assert log.is_file()
    assert not (run_dir / "results.sqlite").exists()  # nothing half-merged
    status = _status(run_dir)
    assert status["next"][0].startswith("resubmit") and status["2-of-3"][4] == "COMPLETED", status


@pytest.mark.parametrize("args, message", [
    (["--tasks", "3"], "--tasks and --detach need --launcher"),
    (["--launcher", "local"], "needs --tasks N"),
    (["--launcher", "local", "--tasks", "4"], "would get no utterance"),
    (["--launcher", "local", "--tasks", "2", "--detach"], "--detach needs --launcher slurm"),
    (["--launcher", "local", "--tasks", "2", "--shard", "1/2"], "--shard and --launcher do not mix"),
])
def test_bad_launcher_options_fail_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               args: list[str], message: str) -> None:
    suite = _suite(tmp_path / "tiny.yaml")
    assert main(["run", str(suite), "--out", str(tmp_path / "run"), "--no-progress", *args]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "run" / "tasks").exists()  # refused before submitting anything


def test_launcher_section_is_validated_with_did_you_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path / "tiny.yaml", extra=", partitoin: gpu")
    assert main(["run", str(suite), "--launcher", "local", "--tasks", "2"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "launcher.partitoin: unknown key" in err and "partition" in err


def test_status_of_a_directory_without_a_launch_says_what_to_pass(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(tmp_path)]) == EXIT_USAGE
    assert "no launcher.json here" in capsys.readouterr().err


# -- real Slurm (the `slurm` fixture of tests/conftest.py) --------------------------------------
@pytest.mark.slurm
def test_slurm_array_reproduces_one_process_and_status_follows_it(slurm: None, tmp_path: Path,
                                                                   single: pd.DataFrame) -> None:
    suite, run_dir = _suite(tmp_path / "tiny.yaml"), tmp_path / "run"
    args = ["run", str(suite), "--out", str(run_dir), "--launcher", "slurm", "--tasks", "3", "--no-progress"]
    detached = _cli(*args, "--detach", timeout=60)
    assert detached.returncode == 0, detached.stderr
    assert "submitted 3 slurm task(s)" in detached.stderr and "codecbench status" in detached.stderr
    status = _status(run_dir)
    states = {status[f"{k}-of-3"][4] for k in (1, 2, 3)}
    assert states <= {"PENDING", "RUNNING", "COMPLETED"} and states & {"PENDING", "RUNNING"}, status
    assert status["next"][0].startswith("wait"), status

    follow = _cli(*args)  # the same command follows the queued tasks and merges
    assert follow.returncode == 0, follow.stderr
    assert not re.search(r"submitted \d+ slurm task", follow.stderr), follow.stderr
    assert "following" in follow.stderr
    pd.testing.assert_frame_equal(_rows(run_dir), single)
    status = _status(run_dir)
    assert {status[f"{k}-of-3"][4] for k in (1, 2, 3)} == {"COMPLETED"} and status["next"][0].startswith("done")
    manifest = json.loads((run_dir / "manifest.json").read_text())["launcher"]
    assert manifest["kind"] == "slurm" and all("_" in job for jobs in manifest["jobs"].values() for job in jobs)


@pytest.mark.slurm
def test_a_task_cancelled_with_scancel_is_resubmitted(slurm: None, tmp_path: Path, single: pd.DataFrame) -> None:
    def scancel(job_id: str) -> None:
        subprocess.run(["scancel", job_id], check=True, timeout=30)

    _kill_and_recover(tmp_path, single, "slurm", scancel)


@pytest.mark.slurm
def test_a_preempted_task_is_requeued_by_submitit_and_resumes(slurm: None, tmp_path: Path,
                                                               single: pd.DataFrame) -> None:
    """USR2 is what Slurm sends before preemption or the time limit: the task checkpoints and requeues itself."""
    run_dir = tmp_path / "run"
    proc = _launch("run", str(_suite(tmp_path / "tiny.yaml")), "--out", str(run_dir), "--launcher", "slurm",
                   "--tasks", "3")
    try:
        job = _first_job(run_dir)
        shard_db = run_dir / "results.shard-1-of-3.sqlite"
        end = time.monotonic() + 120
        while not shard_db.exists() and time.monotonic() < end:  # the task is inside the Runner
            time.sleep(0.1)
        time.sleep(0.5)
        subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=30)
        # Slurm holds a requeued job back for a while (BeginTime); let it start now to keep the test short.
        end = time.monotonic() + 60
        while time.monotonic() < end and proc.poll() is None:
            queued = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T %r"], capture_output=True, text=True,
                                    timeout=30).stdout
            if "BeginTime" in queued:
                subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True, timeout=30)
                break
            time.sleep(0.2)
        _, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "resubmitting" not in err  # requeued under the same job id, not resubmitted
    log = (run_dir / "tasks" / job / f"{job}_0_log.out").read_text()
    assert f"Requeued job {job}" in log, log[-2000:]
    pd.testing.assert_frame_equal(_rows(run_dir), single)
    assert _status(run_dir)["1-of-3"][4:6] == ["COMPLETED", "1"]


@pytest.mark.slurm
def test_launcher_section_becomes_sbatch_options(slurm: None, tmp_path: Path) -> None:
    from codecbench.launcher import make_executor
    from codecbench.suite import LauncherSection

    section = LauncherSection(partition="gpu", account="lab", qos="high", time_min=90, cpus_per_task=4,
                              gpus_per_task=2, mem_gb=16, array_parallelism=3, sbatch={"constraint": "a100"})
    executor = make_executor("slurm", tmp_path, section, "tiny")
    # submitit's own rendering of the batch script (what sbatch would receive)
    script = executor._executor._make_submission_file_text("true", "uid")
    for line in ("--partition=gpu", "--account=lab", "--qos=high", "--time=90", "--cpus-per-task=4",
                 "--gpus-per-node=2", "--mem=16GB", "--constraint=a100", "--signal=USR2@90"):
        assert f"#SBATCH {line}\n" in script, (line, script)
    assert executor._executor.parameters["array_parallelism"] == 3
