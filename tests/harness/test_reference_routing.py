"""Metric jobs of one reference go to one worker, which prepares the reference once for all points."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecbench.results import load_results
from codecbench.runner import _MetricPool, run_suite
from codecbench.suite import suite_from_text

HERE = Path(__file__).resolve().parent
DURATIONS = (0.6, 0.8, 1.0, 1.2, 1.4)


def test_routes_round_robin_and_stable() -> None:
    pool = _MetricPool(2, [])
    assert [pool.worker(route) for route in "abcab"] == [0, 1, 0, 0, 1]


def test_each_reference_prepared_once_by_one_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    counter = tmp_path / "calls.txt"
    monkeypatch.setenv("CODECBENCH_TEST_METRIC_COUNTER", str(counter))
    data = tmp_path / "data"
    data.mkdir()
    for i, seconds in enumerate(DURATIONS):
        t = np.arange(int(seconds * 16000)) / 16000
        sf.write(data / f"u{i}.wav", (0.3 * np.sin(2 * np.pi * (200 + 30 * i) * t)).astype(np.float32), 16000)
    suite = f"""
name: routing
out: {tmp_path / 'run'}
datasets: [{{name: d, type: folder, options: {{path: {data}}}}}]
codecs:
  - {{name: A, adapter: 'adapters_for_tests:Pcm16'}}
  - {{name: B, adapter: 'adapters_for_tests:Delayed', options: {{delay: 0}}}}
  - {{name: C, adapter: 'adapters_for_tests:Delayed', options: {{delay: 0}}}}
metrics: ['adapters_for_tests:SharesReference']
"""
    summary = run_suite(suite_from_text(suite, "s.yaml"), jobs=2, progress=False, log=lambda m: None)
    assert summary.ok == 3 * len(DURATIONS)
    assert load_results(tmp_path / "run").shares_reference.notna().all()
    prepared: dict[int, list[str]] = defaultdict(list)
    scored: dict[int, set[str]] = defaultdict(set)
    for line in counter.read_text().split("\n"):
        if not line.strip():
            continue
        what, rest = line.split()
        pid, length = rest.split(":")
        if int(length) == 24000:  # the workers' warm-up pair
            continue
        if what == "prepare":
            prepared[int(length)].append(pid)
        else:
            scored[int(length)].add(pid)
    assert sorted(prepared) == sorted(int(s * 16000) for s in DURATIONS)
    for length, pids in prepared.items():
        assert len(pids) == 1, f"reference of {length} samples prepared {len(pids)} times"
        assert scored[length] == set(pids), f"reference of {length} samples scored on several workers"
    assert len({pid for pids in prepared.values() for pid in pids}) == 2  # both workers got references
