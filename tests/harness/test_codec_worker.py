"""An adapter that segfaults, exits or hangs fails only its item, with the reason; the run goes on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecbench.results import load_results
from codecbench.runner import run_suite
from codecbench.store import ResultStore
from codecbench.suite import suite_from_text
from sample_run import write_tones

HERE = Path(__file__).resolve().parent


def _data(tmp_path: Path, n: int = 3) -> Path:
    return write_tones(tmp_path / "data", [0.5] * n)


def _suite(folder: Path, out: Path, bad: str) -> str:
    return f"""
name: worker
out: {out}
datasets: [{{name: d, type: folder, options: {{path: {folder}}}}}]
codecs:
  - {bad}
  - {{name: Good, adapter: 'adapters_for_tests:Pcm16'}}
metrics: [si_sdr]
"""


@pytest.mark.parametrize(("adapter", "extra", "reason"), [
    ("Segfault", "", "adapter crashed while coding u1: signal 11 (SIGSEGV)"),
    ("SysExit", "", "adapter crashed while coding u1: exit status 3"),
    ("OsExit", "", "adapter crashed while coding u1: exit status 0"),
    ("Hang", ", timeout_s: 1.5", "timed out after 1.5 s while coding u1"),
])
def test_dying_adapter_fails_only_its_item(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, adapter: str,
                                           extra: str, reason: str) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    out = tmp_path / "run"
    bad = f"{{name: Bad, adapter: 'adapters_for_tests:{adapter}', options: {{crash_on: u1}}{extra}}}"
    messages: list[str] = []
    summary = run_suite(suite_from_text(_suite(_data(tmp_path), out, bad), "w.yaml"), jobs=1, progress=False,
                        log=messages.append)
    df = load_results(out).set_index(["codec", "utterance"])
    assert summary.failed == 1 and summary.ok == 5
    failed = df.loc[("Bad", "u1")]
    assert failed.status == "failed" and reason in failed.error, failed.error
    for utt in ("u0", "u2"):  # the items after the crash got a fresh worker
        assert df.loc[("Bad", utt)].status == "ok" and df.loc[("Bad", utt)].si_sdr > 40
    assert (df.loc["Good"].status == "ok").all()
    assert any(reason in m for m in messages)


def test_item_crashing_twice_is_not_retried_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    counter = tmp_path / "calls.txt"
    monkeypatch.setenv("CODECBENCH_TEST_COUNTER", str(counter))
    out = tmp_path / "run"
    text = _suite(_data(tmp_path), out, "{name: Bad, adapter: 'adapters_for_tests:Segfault', options: {crash_on: u1}}")

    def calls() -> int:
        return counter.read_text().split().count("u1")

    first = run_suite(suite_from_text(text, "w.yaml"), jobs=1, progress=False, log=lambda m: None)
    assert first.failed == 1 and calls() == 2  # retried once in a fresh worker, then given up
    with ResultStore.open_existing(out) as store:
        row = next(r for r in store.rows() if r["codec"] == "Bad" and r["utterance"] == "u1")
    assert row["crashes"] == 2 and "crashed 2 times" in row["error"] and "--retry-crashed" in row["error"]

    messages: list[str] = []
    again = run_suite(suite_from_text(text, "w.yaml"), jobs=1, progress=False, log=messages.append)
    assert again.not_retried == 1 and again.failed == 0 and calls() == 2
    assert any("--retry-crashed" in m for m in messages)

    forced = run_suite(suite_from_text(text, "w.yaml"), jobs=1, progress=False, log=lambda m: None,
                       retry_crashed=True)
    assert forced.failed == 1 and calls() == 3  # tried again (once: it crashed before)


@pytest.mark.parametrize(("adapter", "reason"), [
    ("Int16Output", "int16 samples"),
    ("Scaled1000", "far above full scale"),
    ("WrongChannels", "2 channel(s) but the codec codes 1"),
])
def test_bad_decoder_output_is_a_failed_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, adapter: str,
                                            reason: str) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    out = tmp_path / "run"
    text = _suite(_data(tmp_path, 2), out, f"{{name: Bad, adapter: 'adapters_for_tests:{adapter}'}}")
    summary = run_suite(suite_from_text(text, "w.yaml"), jobs=1, progress=False, log=lambda m: None)
    df = load_results(out)
    bad = df[df.codec == "Bad"]
    assert summary.failed == 2 and (bad.status == "failed").all()
    assert bad.error.str.contains(reason, regex=False).all(), bad.error.tolist()
    assert (df[df.codec == "Good"].status == "ok").all()


def test_measured_kbps_comes_from_the_payload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    out = tmp_path / "run"
    text = _suite(_data(tmp_path, 2), out, "{name: Dbl, adapter: 'adapters_for_tests:DoubleRate', bitrates: [6, 10]}")
    run_suite(suite_from_text(text, "w.yaml"), jobs=1, progress=False, log=lambda m: None)
    df = load_results(out)
    dbl = df[df.codec == "Dbl"]
    assert len(dbl) == 4 and (dbl.status == "ok").all()
    np.testing.assert_allclose(dbl.measured_kbps, 2 * dbl.bitrate, rtol=1e-3)


def test_lag_at_bound_is_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    folder = tmp_path / "data"
    folder.mkdir()
    brown = np.cumsum(np.random.default_rng(0).standard_normal(16000))  # slowly decaying autocorrelation
    brown -= np.linspace(brown[0], brown[-1], brown.size)
    sf.write(folder / "u0.wav", (0.5 * brown / np.max(np.abs(brown))).astype(np.float32), 16000)
    out = tmp_path / "run"
    # 1600 samples = 100 ms at 16 kHz, twice the 50 ms search bound
    text = _suite(folder, out, "{name: Late, adapter: 'adapters_for_tests:Delayed', options: {delay: 1600}}")
    run_suite(suite_from_text(text, "w.yaml"), jobs=1, progress=False, log=lambda m: None)
    with ResultStore.open_existing(out) as store:
        rows = {r["codec"]: r for r in store.rows()}
    assert rows["Late"]["status"] == "ok" and rows["Late"]["lag_at_bound"] is True
    assert abs(rows["Late"]["lag_samples"]) == 800
    assert rows["Good"]["lag_at_bound"] is False and rows["Good"]["lag_samples"] == 0
