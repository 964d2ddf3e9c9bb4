"""Slurm's preemption signal (SIGUSR2): the rows in flight finish and are stored whole, then submitit requeues.

Before: submitit's handler exited at once wherever the task was; in CI the exit landed inside a C
extension's import during STOI, which stored NaN ("ImportError: initialization failed") for good.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from codecbench.launcher import Preemption
from codecbench.results import load_results
from codecbench.runner import RunInterrupted, run_suite
from codecbench.suite import suite_from_text
from sample_run import stored_row_count, write_tones

HERE = Path(__file__).resolve().parent
N_UTTERANCES = 6


def _suite(tmp_path: Path, codec: str, metrics: str = "si_sdr, lsd") -> str:
    folder = write_tones(tmp_path / "data", [0.5] * N_UTTERANCES)
    return f"""
name: preempt
out: {tmp_path / 'run'}
datasets: [{{name: d, type: folder, options: {{path: {folder}}}}}]
codecs: [{{name: C, adapter: 'adapters_for_tests:{codec}'}}]
metrics: [{metrics}]
"""


def test_workers_ignore_the_preemption_signal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slurm signals every process of the step: a codec or metric worker must not die of it."""
    monkeypatch.syspath_prepend(str(HERE))
    suite = suite_from_text(_suite(tmp_path, "SignalsPreemption", "si_sdr, 'adapters_for_tests:SignalsPreemptionMetric'"),
                            "p.yaml")
    summary = run_suite(suite, jobs=2, progress=False, log=lambda message: None)
    df = load_results(tmp_path / "run")
    assert summary.ok == N_UTTERANCES and (df.status == "ok").all(), df.error.tolist()
    assert df.signals_preemption.notna().all() and (df.si_sdr > 40).all()


def test_preemption_stops_the_run_gracefully_then_hands_over_to_submitit(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("CODECBENCH_TEST_SLEEP", "0.3")
    suite = suite_from_text(_suite(tmp_path, "Slow"), "p.yaml")
    database = tmp_path / "run" / "results.sqlite"
    handed_over: list[int] = []

    def send_when_a_row_is_stored() -> None:
        deadline = time.monotonic() + 60
        while stored_row_count(database) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGUSR2)

    def fake_submitit_handler(signum: int, frame: object) -> None:
        handed_over.append(signum)

    previous = signal.signal(signal.SIGUSR2, fake_submitit_handler)
    messages: list[str] = []
    try:
        threading.Thread(target=send_when_a_row_is_stored, daemon=True).start()
        with Preemption() as preemption:
            with pytest.raises(RunInterrupted):
                run_suite(suite, jobs=1, progress=False, log=messages.append)
            assert "interrupt: finishing the items in flight, then stopping (a second SIGTERM to stop at once)" \
                in messages
            assert preemption.signalled and handed_over == []   # submitit's turn comes after the stop
            preemption.requeue()
        assert handed_over == [signal.SIGUSR2]
        assert signal.getsignal(signal.SIGUSR2) is fake_submitit_handler   # submitit's handler is back
    finally:
        signal.signal(signal.SIGUSR2, previous)
    df = load_results(tmp_path / "run")
    assert 1 <= len(df) < N_UTTERANCES   # stopped early, after the row in flight
    assert (df.status == "ok").all() and df[["si_sdr", "lsd"]].notna().all().all()


def test_a_preempted_task_on_node_local_disk_copies_its_rows_back(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``node_local_dir`` the shard database lives on the node until the task ends: a stop must copy it back."""
    submitit = pytest.importorskip("submitit")
    from codecbench.launcher import ShardTask

    class FakeJobEnvironment:
        job_id = "7"

    monkeypatch.setattr(submitit, "JobEnvironment", FakeJobEnvironment)
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("CODECBENCH_TEST_SLEEP", "0.3")
    text = _suite(tmp_path, "Slow")
    scratch = tmp_path / "node"
    (tmp_path / "run").mkdir()   # the launcher makes it before submitting
    local_db = scratch / "codecbench-7" / "results.shard-1-of-1.sqlite"
    task = ShardTask(text, str(tmp_path / "p.yaml"), str(tmp_path / "run"), 1, 1, jobs=1, device="cpu",
                     node_local_dir=str(scratch))

    def send_when_a_row_is_stored() -> None:
        deadline = time.monotonic() + 60
        while stored_row_count(local_db) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGUSR2)

    handed_over: list[int] = []

    def fake_submitit_handler(signum: int, frame: object) -> None:
        handed_over.append(signum)

    previous = signal.signal(signal.SIGUSR2, fake_submitit_handler)
    try:
        threading.Thread(target=send_when_a_row_is_stored, daemon=True).start()
        with pytest.raises(RunInterrupted):
            task()
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert handed_over == [signal.SIGUSR2]
    copied = tmp_path / "run" / "results.shard-1-of-1.sqlite"
    assert 1 <= stored_row_count(copied) < N_UTTERANCES
    assert not (scratch / "codecbench-7").exists()
