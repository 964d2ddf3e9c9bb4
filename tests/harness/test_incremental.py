"""A rerun does only what is missing: a new metric from the cached decoded audio, failed rows, damaged cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecbench.results import load_results
from codecbench.runner import run_suite
from codecbench.store import ResultStore
from codecbench.suite import suite_from_text

HERE = Path(__file__).resolve().parent
N = 4


def _data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(1)
    t = np.arange(8000) / 16000
    for i in range(N):
        audio = 0.3 * np.sin(2 * np.pi * (200 + 60 * i) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"u{i}.wav", audio.astype(np.float32), 16000)
    return folder


def _text(folder: Path, out: Path, metrics: str, codec: str = "{name: C, adapter: 'adapters_for_tests:Slow'}") -> str:
    return f"""
name: inc
out: {out}
datasets: [{{name: d, type: folder, options: {{path: {folder}}}}}]
codecs: [{codec}]
metrics: {metrics}
"""


@pytest.fixture
def counters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.syspath_prepend(str(HERE))
    codec_calls, metric_calls = tmp_path / "codec_calls.txt", tmp_path / "metric_calls.txt"
    monkeypatch.setenv("CODECBENCH_TEST_COUNTER", str(codec_calls))
    monkeypatch.setenv("CODECBENCH_TEST_METRIC_COUNTER", str(metric_calls))
    monkeypatch.setenv("CODECBENCH_TEST_SLEEP", "0")
    return codec_calls, metric_calls


WARM_UP_SAMPLES = "24000"  # the synthetic pair each pool worker warms its metrics up with


def _lines(path: Path) -> int:
    """Calls recorded in a counter file, not counting metric warm-ups of pool workers."""
    lines = path.read_text().split() if path.exists() else []
    return sum(1 for line in lines if line.rpartition(":")[2] != WARM_UP_SAMPLES)


def _scores(out: Path) -> dict[tuple[str, str], float]:
    with ResultStore.open_existing(out) as store:
        return {(row["utterance"], metric): value for row in store.rows() for metric, (value, _) in row["scores"].items()}


@pytest.mark.parametrize("jobs", [1, 2])
def test_new_metric_is_computed_alone_from_the_cache(tmp_path: Path, counters: tuple[Path, Path], jobs: int) -> None:
    codec_calls, metric_calls = counters
    folder, out = _data(tmp_path), tmp_path / "run"
    first = run_suite(suite_from_text(_text(folder, out, "[si_sdr, 'adapters_for_tests:CountingMetric']"), "i.yaml"),
                      jobs=jobs, progress=False, log=lambda m: None)
    assert first.ok == N and _lines(codec_calls) == N and _lines(metric_calls) == N
    before = _scores(out)

    added = run_suite(suite_from_text(_text(folder, out, "[si_sdr, 'adapters_for_tests:CountingMetric', lsd]"),
                                      "i.yaml"), jobs=jobs, progress=False, log=lambda m: None)
    assert added.metrics_added == N and added.ok == 0
    assert _lines(codec_calls) == N  # no item was coded again
    assert _lines(metric_calls) == N  # the existing metric was not recomputed
    warm_ups = [line for line in metric_calls.read_text().split() if line.endswith(":" + WARM_UP_SAMPLES)]
    assert len(warm_ups) == (jobs if jobs > 1 else 0)  # the first pool; the second warmed up only lsd
    after = _scores(out)
    assert {k: v for k, v in after.items() if k[1] != "lsd"} == before  # other scores untouched
    assert sum(1 for k, v in after.items() if k[1] == "lsd" and np.isfinite(v)) == N

    again = run_suite(suite_from_text(_text(folder, out, "[si_sdr, 'adapters_for_tests:CountingMetric', lsd]"),
                                      "i.yaml"), jobs=jobs, progress=False, log=lambda m: None)
    assert again.already_done == N and again.metrics_added == 0 and _lines(metric_calls) == N


def test_failed_rows_are_retried_by_a_rerun(tmp_path: Path, counters: tuple[Path, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    codec_calls, _ = counters
    heal = tmp_path / "healed"
    monkeypatch.setenv("CODECBENCH_TEST_HEAL", str(heal))
    folder, out = _data(tmp_path), tmp_path / "run"
    text = _text(folder, out, "[si_sdr]", "{name: F, adapter: 'adapters_for_tests:FailsUntilHealed', "
                                          "options: {crash_on: u2}}")
    first = run_suite(suite_from_text(text, "i.yaml"), jobs=1, progress=False, log=lambda m: None)
    assert first.failed == 1 and first.ok == N - 1
    heal.write_text("ok")
    rerun = run_suite(suite_from_text(text, "i.yaml"), jobs=1, progress=False, log=lambda m: None)
    assert rerun.already_done == N - 1 and rerun.ok == 1 and rerun.failed == 0
    assert codec_calls.read_text().split().count("u2") == 2 and _lines(codec_calls) == N + 1
    df = load_results(out)
    assert (df.status == "ok").all() and len(df) == N


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_damaged_cache_is_recomputed_not_rescored(tmp_path: Path, counters: tuple[Path, Path], damage: str) -> None:
    codec_calls, _ = counters
    folder, out = _data(tmp_path), tmp_path / "run"
    run_suite(suite_from_text(_text(folder, out, "[si_sdr]"), "i.yaml"), jobs=1, progress=False, log=lambda m: None)
    before = _scores(out)
    wavs = sorted((out / "cache").rglob("*.wav"))
    assert len(wavs) == N
    if damage == "truncate":
        wavs[0].write_bytes(wavs[0].read_bytes()[: 2000])
    else:
        wavs[0].unlink()
    added = run_suite(suite_from_text(_text(folder, out, "[si_sdr, lsd]"), "i.yaml"), jobs=1, progress=False,
                      log=lambda m: None)
    assert added.metrics_added == N - 1 and added.ok == 1  # the damaged item was coded and scored afresh
    assert _lines(codec_calls) == N + 1
    after = _scores(out)
    assert {k: v for k, v in after.items() if k[1] == "si_sdr"} == before
    assert sum(1 for k, v in after.items() if k[1] == "lsd" and np.isfinite(v)) == N
    assert sorted(p.stat().st_size for p in (out / "cache").rglob("*.wav"))[0] > 2000
