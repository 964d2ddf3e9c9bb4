"""A second run on a busy run directory is refused with the holder's pid and host, or waits with --wait."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codecbench.cli import main
from codecbench.errors import EXIT_LOCKED
from codecbench.results import load_results

HOLD = """
import sys, time
from pathlib import Path
from codecbench.lock import RunLock
Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)
with RunLock(Path(sys.argv[1]) / "results.sqlite"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _suite(tmp_path: Path) -> Path:
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: lock\nout: {tmp_path / 'run'}\ndatasets: [{{name: demo, type: builtin, "
                     "max_utterances: 1, max_seconds: 0.5}]\ncodecs: [{name: Id, adapter: identity}]\n"
                     "metrics: [si_sdr]\n")
    return suite


def _hold(run_dir: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir), str(seconds)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_busy_run_dir_is_refused_naming_the_holder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path)
    holder = _hold(tmp_path / "run", 60)
    try:
        assert main(["run", str(suite), "--jobs", "1", "--no-progress"]) == EXIT_LOCKED
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("codecbench: error: ")
    assert f"pid {holder.pid} on {socket.gethostname()}" in err[-1] and "--wait" in err[-1]
    assert load_results(tmp_path / "run").empty  # nothing was done twice

    # the lock died with its (killed) holder: the same command now runs
    assert main(["run", str(suite), "--jobs", "1", "--no-progress"]) == 0


def test_wait_waits_for_the_holder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path)
    holder = _hold(tmp_path / "run", 5.0)
    start = time.monotonic()
    try:
        assert main(["run", str(suite), "--jobs", "1", "--no-progress", "--wait"]) == 0
        assert holder.poll() is not None  # it ran only once the holder was gone
    finally:
        holder.wait(timeout=30)
    assert time.monotonic() - start >= 4.0
    assert len(load_results(tmp_path / "run")) == 1
