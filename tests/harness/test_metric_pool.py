"""A metric worker that dies (SIGKILL, as the OOM killer does) fails or retries only its rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecbench.cli import main
from codecbench.results import load_results
from codecbench.runner import run_suite
from codecbench.suite import suite_from_text
from sample_run import write_tones

HERE = Path(__file__).resolve().parent
DURATIONS = (0.5, 0.7, 0.9, 1.1, 1.3, 1.5)  # u1 lasts 0.7 s: the pair the killer metric dies on


def _suite(tmp_path: Path, once: bool) -> str:
    folder = tmp_path / "data"
    if not folder.is_dir():
        write_tones(folder, DURATIONS)
    return f"""
name: pool
out: {tmp_path / 'run'}
datasets: [{{name: d, type: folder, options: {{path: {folder}}}}}]
codecs: [{{name: Id, adapter: 'adapters_for_tests:Pcm16'}}]
metrics:
  - si_sdr
  - {{name: 'adapters_for_tests:KillsWorker', options: {{seconds: 0.7, once: {str(once).lower()}}}}}
"""


def test_killed_metric_worker_is_replaced_and_the_row_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    marker = tmp_path / "killed.txt"
    monkeypatch.setenv("CODECBENCH_TEST_KILL_MARKER", str(marker))
    suite = tmp_path / "s.yaml"
    suite.write_text(_suite(tmp_path, once=True))
    assert main(["run", str(suite), "--jobs", "2", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "BrokenProcessPool" not in err
    assert len(marker.read_text().split()) == 1  # one worker was killed
    df = load_results(tmp_path / "run")
    assert len(df) == len(DURATIONS) and (df.status == "ok").all()
    assert df.filter(like="kills_worker").notna().all().all() and (df.si_sdr > 40).all()


def test_row_that_kills_every_worker_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("CODECBENCH_TEST_KILL_MARKER", str(tmp_path / "killed.txt"))
    summary = run_suite(suite_from_text(_suite(tmp_path, once=False), "p.yaml"), jobs=2, progress=False,
                        log=lambda m: None)
    df = load_results(tmp_path / "run").set_index("utterance")
    assert df.loc["u1"].status == "failed" and "metric worker died" in df.loc["u1"].error
    others = df.drop(index="u1")
    assert (others.status == "ok").all(), others.error.tolist()
    assert summary.failed == 1 and summary.ok == len(DURATIONS) - 1

    messages: list[str] = []
    rerun = run_suite(suite_from_text(_suite(tmp_path, once=False), "p.yaml"), jobs=2, progress=False,
                      log=messages.append)
    assert rerun.already_done == len(DURATIONS) - 1 and rerun.failed == 1  # only the failed row is retried
