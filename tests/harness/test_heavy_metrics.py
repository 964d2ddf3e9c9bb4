"""``heavy_metrics: one_at_a_time``: a process never holds two metric models at once (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecbench.runner import run_suite
from codecbench.store import ResultStore
from codecbench.suite import suite_from_text
from sample_run import write_tones

HERE = Path(__file__).resolve().parent
N = 3


def _suite(tmp_path: Path, out: str, mode: str) -> str:
    data = tmp_path / "data"
    if not data.is_dir():
        write_tones(data, [0.5] * N, base_hz=200)
    return f"""
name: heavy
out: {tmp_path / out}
heavy_metrics: {mode}
datasets: [{{name: d, type: folder, options: {{path: {data}}}}}]
codecs: [{{name: Opus, adapter: opus, bitrates: [12]}}]
metrics: [si_sdr, 'adapters_for_tests:ModelA', 'adapters_for_tests:ModelB']
"""


def _held_together(log: Path) -> set[frozenset[str]]:
    """Per process, the sets of models it held at the same moment (from the +/- log)."""
    held: dict[str, set[str]] = {}
    seen: set[frozenset[str]] = set()
    for line in log.read_text().split():
        pid, name, sign = line.split(":")
        models = held.setdefault(pid, set())
        (models.add if sign == "+" else models.discard)(name)
        seen.add(frozenset(models))
    return seen


def _scores(out: Path) -> dict[tuple[str, str], float]:
    with ResultStore.open_existing(out) as store:
        return {(r["utterance"], m): v for r in store.rows() for m, (v, _) in r["scores"].items()}


@pytest.mark.parametrize("jobs", [1, 2])
def test_one_model_at_a_time_gives_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    together_log, sequential_log = tmp_path / "together.log", tmp_path / "sequential.log"
    monkeypatch.setenv("CODECBENCH_TEST_MODEL_LOG", str(together_log))
    together = run_suite(suite_from_text(_suite(tmp_path, "together", "together"), "s.yaml"), jobs=jobs,
                         progress=False, log=lambda m: None)
    monkeypatch.setenv("CODECBENCH_TEST_MODEL_LOG", str(sequential_log))
    lines: list[str] = []
    sequential = run_suite(suite_from_text(_suite(tmp_path, "sequential", "one_at_a_time"), "s.yaml"), jobs=jobs,
                           progress=False, log=lines.append)
    assert together.ok == sequential.ok == N and sequential.metrics_added == 0
    assert any("model_b on its own" in line for line in lines)
    assert frozenset({"model_a", "model_b"}) in _held_together(together_log)  # the default loads both
    assert all(len(held) <= 1 for held in _held_together(sequential_log))
    assert {"model_a", "model_b"} <= {line.split(":")[1] for line in sequential_log.read_text().split()}
    assert _scores(tmp_path / "sequential") == _scores(tmp_path / "together")
    again = run_suite(suite_from_text(_suite(tmp_path, "sequential", "one_at_a_time"), "s.yaml"), jobs=jobs,
                      progress=False, log=lambda m: None)
    assert again.already_done == N and again.metrics_added == 0
