"""GPU batching of the codec stage, run on CPU through ``CODECBENCH_BATCH_ON_CPU``.

Batched rows equal the rows of items coded one at a time; batches respect their limits; a bad item
fails alone with its own reason, whether it raises, decodes to garbage, crashes or hangs its worker;
an out-of-memory batch is coded item by item and shrinks the batches after it; a full disk stops
the run without losing what was stored, and the rerun codes only the rest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from codecbench.batching import BATCH_ON_CPU
from codecbench.errors import StorageError
from codecbench.plan import build_plan, build_points
from codecbench.results import load_results
from codecbench.runner import Runner, RunSummary, run_suite
from codecbench.store import ResultStore
from codecbench.suite import suite_from_text
from codecbench.transcode import cache_key, load_cached
from sample_run import stored_row_count, write_tones

HERE = Path(__file__).resolve().parent
SECONDS = 0.5  # every utterance: equal lengths, as crops or chunks would be


def _data(tmp_path: Path, n: int = 4) -> Path:
    return write_tones(tmp_path / "data", [SECONDS] * n)


def _suite(folder: Path, out: Path, codec: str) -> str:
    return f"""
name: batching
out: {out}
datasets: [{{name: d, type: folder, options: {{path: {folder}}}}}]
codecs: [{codec}]
metrics: [si_sdr]
"""


@pytest.fixture
def counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file the test adapters note their calls in; the adapters are importable; batching on CPU is on."""
    monkeypatch.syspath_prepend(str(HERE))
    path = tmp_path / "calls.txt"
    monkeypatch.setenv("CODECBENCH_TEST_COUNTER", str(path))
    monkeypatch.setenv(BATCH_ON_CPU, "1")
    return path


def _batches(counter: Path) -> list[int]:
    """Sizes of the ``encode_batch`` calls so far (``batch:N`` lines)."""
    lines = counter.read_text().split() if counter.exists() else []
    return [int(line.split(":")[1]) for line in lines if line.startswith("batch:")]


def _batch_items(run_dir: Path) -> dict[str, int]:
    """Utterance -> items coded together with it, as its cache entry records."""
    with ResultStore.open_existing(run_dir) as store:
        rows = store.rows()
    return {row["utterance"]: load_cached(run_dir / "cache", row["cache_key"]).batch_items for row in rows}


def _crashes(run_dir: Path) -> dict[str, int]:
    with ResultStore.open_existing(run_dir) as store:
        return {row["utterance"]: row["crashes"] for row in store.rows()}


def _run(text: str, messages: list[str]) -> RunSummary:
    return run_suite(suite_from_text(text, "b.yaml"), jobs=1, progress=False, log=messages.append)


def test_batched_rows_equal_rows_coded_one_at_a_time(tmp_path: Path, counter: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _data(tmp_path)
    codec = "{name: P, adapter: 'batch_adapters_for_tests:BatchedPcm16'}"
    monkeypatch.delenv(BATCH_ON_CPU)
    _run(_suite(folder, tmp_path / "single", codec), [])
    assert _batches(counter) == []  # the CPU path is unchanged: one item per message, no encode_batch
    monkeypatch.setenv(BATCH_ON_CPU, "1")
    summary = _run(_suite(folder, tmp_path / "batched", codec), [])
    assert summary.ok == 4 and _batches(counter) == [4]

    columns = ["status", "decoded_sha256", "measured_kbps", "si_sdr", "duration_s", "coding_sample_rate",
               "decoded_channels", "payload_kind"]
    single = load_results(tmp_path / "single").set_index("utterance").sort_index()
    batched = load_results(tmp_path / "batched").set_index("utterance").sort_index()
    pd.testing.assert_frame_equal(batched[columns], single[columns])
    # one batch: every row carries the batch's RTFs, and the cache records the batch size
    assert batched.encode_rtf.nunique() == 1 and batched.decode_rtf.nunique() == 1
    assert (batched.encode_rtf > 0).all()
    assert set(_batch_items(tmp_path / "batched").values()) == {4}
    assert set(_batch_items(tmp_path / "single").values()) == {1}
    points = json.loads((tmp_path / "batched" / "manifest.json").read_text())["codec_points"]
    assert [p["batched"] for p in points] == [True]

    again = _run(_suite(folder, tmp_path / "batched", codec), [])  # resume: nothing left, nothing coded
    assert again.already_done == 4 and again.ok == 0 and _batches(counter) == [4]


def test_batches_respect_batch_seconds(tmp_path: Path, counter: Path) -> None:
    folder = _data(tmp_path, 5)
    adapter = "adapter: 'batch_adapters_for_tests:BatchedPcm16'"
    summary = _run(_suite(folder, tmp_path / "a", f"{{name: P, {adapter}, batch_seconds: {2 * SECONDS}}}"), [])
    assert summary.ok == 5 and _batches(counter) == [2, 2, 1]
    summary = _run(_suite(folder, tmp_path / "b", f"{{name: Q, {adapter}, batch_seconds: 0}}"), [])
    assert summary.ok == 5 and _batches(counter) == [2, 2, 1]  # 0 turns batching off


def test_metric_only_rows_whose_audio_is_gone_are_recoded_in_a_batch(tmp_path: Path, counter: Path) -> None:
    folder = _data(tmp_path)
    text = _suite(folder, tmp_path / "run", "{name: P, adapter: 'batch_adapters_for_tests:BatchedPcm16'}")
    assert _run(text, []).ok == 4
    for wav in (tmp_path / "run" / "cache").rglob("*.wav"):
        wav.unlink()
    again = _run(text.replace("metrics: [si_sdr]", "metrics: [si_sdr, lsd]"), [])  # only lsd is missing
    assert again.ok == 4 and again.metrics_added == 0  # recoded rows are whole rows again, not new scores
    assert _batches(counter) == [4, 4]
    df = load_results(tmp_path / "run")
    assert (df.status == "ok").all() and df.lsd.notna().all() and set(_batch_items(tmp_path / "run").values()) == {4}


@pytest.mark.parametrize(("adapter", "extra", "reason"), [
    ("Explodes", "", "P: RuntimeError: encoder exploded"),
    ("NaNFor", "", "decoded audio contains NaN or inf"),
    ("BatchedSegfault", "", "adapter crashed while coding u1: signal 11 (SIGSEGV)"),
    ("BatchedHang", ", timeout_s: 1.5", "timed out after 1.5 s while coding u1"),
])
def test_bad_item_in_a_batch_fails_alone(tmp_path: Path, counter: Path, adapter: str, extra: str,
                                         reason: str) -> None:
    messages: list[str] = []
    codec = f"{{name: P, adapter: 'batch_adapters_for_tests:{adapter}', options: {{crash_on: u1}}{extra}}}"
    summary = _run(_suite(_data(tmp_path), tmp_path / "run", codec), messages)
    df = load_results(tmp_path / "run").set_index("utterance")
    assert summary.failed == 1 and summary.ok == 3
    assert df.loc["u1"].status == "failed" and reason in df.loc["u1"].error, df.loc["u1"].error
    for utt in ("u0", "u2", "u3"):
        assert df.loc[utt].status == "ok" and df.loc[utt].si_sdr > 40
    assert _batches(counter)[0] == 4  # the batch was tried first
    if adapter in ("BatchedSegfault", "BatchedHang"):  # the batch's worker died: its items were coded alone
        assert any("coding its 4 items one at a time in a fresh worker" in m for m in messages), messages
        crashes = _crashes(tmp_path / "run")
        assert crashes == {"u0": 0, "u1": 2 if adapter == "BatchedSegfault" else 0, "u2": 0, "u3": 0}


def test_out_of_memory_batch_is_coded_alone_and_halves_the_batches(tmp_path: Path, counter: Path) -> None:
    codec = f"{{name: P, adapter: 'batch_adapters_for_tests:OutOfMemoryAbove', batch_seconds: {4 * SECONDS}}}"
    summary = _run(_suite(_data(tmp_path, 8), tmp_path / "run", codec), [])
    assert summary.ok == 8
    assert _batches(counter) == [4, 2, 2]  # 4 ran out of memory (coded one by one), then 2 s -> 1 s batches
    assert _batch_items(tmp_path / "run") == {"u0": 1, "u1": 1, "u2": 1, "u3": 1, "u4": 2, "u5": 2, "u6": 2, "u7": 2}


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_full_disk_in_a_batch_stops_the_run_and_keeps_what_was_stored(tmp_path: Path, counter: Path) -> None:
    text = _suite(_data(tmp_path), tmp_path / "run", "{name: P, adapter: 'batch_adapters_for_tests:BatchedPcm16'}")
    suite = suite_from_text(text, "b.yaml")
    rows = {row.utterance.id: row for row in build_plan(suite, build_points(suite, "cpu")[0]).rows}
    keys = {utt: cache_key(row.point.identity_digest, row.utterance.content_hash()) for utt, row in rows.items()}
    cache = tmp_path / "run" / "cache"
    part = cache / keys["u2"][:2] / f"{keys['u2']}.wav.part"  # writing u2's decoded audio hits a full disk
    part.parent.mkdir(parents=True, exist_ok=True)
    part.symlink_to("/dev/full")
    with pytest.raises(StorageError, match="disk full") as caught:
        _run(text, [])
    assert "free space and rerun" in str(caught.value)
    assert len(load_results(tmp_path / "run")) == 0  # no row was marked failed for a full disk
    assert all(load_cached(cache, keys[utt]) is not None for utt in ("u0", "u1", "u3"))  # kept for the rerun
    part.unlink(missing_ok=True)  # save_audio removed it already: nothing half-written is left
    summary = _run(text, [])
    assert summary.ok == 4 and _batches(counter) == [4, 1]  # the rerun coded only u2


def test_interrupted_batched_run_resumes_without_duplicates(tmp_path: Path) -> None:
    folder = _data(tmp_path, 8)
    out = tmp_path / "run"
    suite_file = tmp_path / "suite.yaml"
    codec = f"{{name: S, adapter: 'batch_adapters_for_tests:BatchedSlow', batch_seconds: {2 * SECONDS}}}"
    suite_file.write_text(_suite(folder, out, codec))
    calls = tmp_path / "calls.txt"
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "CODECBENCH_TEST_COUNTER": str(calls), "CODECBENCH_TEST_SLEEP": "0.25", BATCH_ON_CPU: "1"}
    cmd = [sys.executable, "-m", "codecbench.cli", "run", str(suite_file), "--jobs", "1", "--no-progress"]
    log = tmp_path / "stderr.txt"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True)
    deadline = time.time() + 60
    while stored_row_count(out / "results.sqlite") < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, log.read_text()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode == 130 and "rerun the same command to resume" in log.read_text()
    stored = stored_row_count(out / "results.sqlite")
    assert stored % 2 == 0 and 2 <= stored < 8  # the batch in flight was finished: whole batches of 2

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    df = load_results(out)
    assert len(df) == 8 and not df.duplicated(["utterance"]).any() and (df.status == "ok").all()
    assert len(calls.read_text().split()) == 8  # nothing coded before the interrupt was coded again


def test_a_cached_item_that_ends_a_batch_has_its_reference_read_once(tmp_path: Path, counter: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _data(tmp_path)
    text = _suite(folder, tmp_path / "run", "{name: P, adapter: 'batch_adapters_for_tests:BatchedPcm16'}")
    assert _run(text, []).ok == 4
    with ResultStore.open_existing(tmp_path / "run") as store:
        keys = {row["utterance"]: row["cache_key"] for row in store.rows()}
    for utt in ("u1", "u3"):   # u0 and u2 stay cached: u2 ends the batch that codes u1
        for path in (tmp_path / "run" / "cache").rglob(f"{keys[utt]}*"):
            path.unlink()
    loads: list[str] = []
    original = Runner._load_reference

    def counting(self: Runner, row: Any) -> Any:
        loads.append(row.utterance.id)
        return original(self, row)

    monkeypatch.setattr(Runner, "_load_reference", counting)
    again = _run(text.replace("metrics: [si_sdr]", "metrics: [si_sdr, lsd]"), [])
    assert (again.ok, again.metrics_added) == (2, 2) and _batches(counter) == [4, 1, 1]
    assert sorted(loads) == ["u0", "u1", "u2", "u3"]
    assert load_results(tmp_path / "run").lsd.notna().all()
