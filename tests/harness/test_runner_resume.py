"""A run killed or interrupted midway resumes with every row present exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from codecbench.cli import main
from codecbench.export import export_results, merge_runs
from codecbench.plan import Shard
from codecbench.results import load_results
from codecbench.runner import run_suite
from codecbench.suite import suite_from_text
from sample_run import stored_row_count

HERE = Path(__file__).resolve().parent
N_UTTERANCES = 6


def _data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(N_UTTERANCES):
        t = np.arange(8000) / 16000
        sf.write(folder / f"u{i}.wav", (0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t)
                                        + 0.01 * rng.standard_normal(t.size)).astype(np.float32), 16000)
    return folder


def _suite(folder: Path, out: Path) -> str:
    return f"""
name: resume
out: {out}
datasets: [{{name: d, type: folder, options: {{path: {folder}}}}}]
codecs:
  - {{name: Slow, adapter: 'adapters_for_tests:Slow', bitrates: [1, 2]}}
metrics: [si_sdr, lsd]
"""


@pytest.mark.parametrize("how", ["kill", "sigint"])
def test_killed_run_resumes_without_duplicates(tmp_path: Path, how: str) -> None:
    folder = _data(tmp_path)
    out = tmp_path / "run"
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(_suite(folder, out))
    counter = tmp_path / "calls.txt"
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "CODECBENCH_TEST_COUNTER": str(counter), "CODECBENCH_TEST_SLEEP": "0.25"}
    cmd = [sys.executable, "-m", "codecbench.cli", "run", str(suite_file), "--jobs", "2", "--no-progress"]
    log = tmp_path / "stderr.txt"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True)
    deadline = time.time() + 60
    while stored_row_count(out / "results.sqlite") < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, log.read_text()
    if how == "kill":
        proc.kill()
    else:
        proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    err = log.read_text()
    if how == "sigint":
        assert proc.returncode == 130 and "rerun the same command to resume" in err
    stored_before = stored_row_count(out / "results.sqlite")
    assert 3 <= stored_before < 2 * N_UTTERANCES

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    df = load_results(out)
    assert len(df) == 2 * N_UTTERANCES
    assert not df.duplicated(["dataset", "utterance", "codec", "bitrate"]).any()
    assert (df.status == "ok").all() and df.si_sdr.notna().all()
    # Work finished before the kill was not redone: encodes = planned rows + at most the ones in flight.
    calls = counter.read_text().split()
    assert len(calls) <= 2 * N_UTTERANCES + 4

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "already done: 12" in again.stderr
    assert len(counter.read_text().split()) == len(calls)  # nothing recomputed on a complete run


def test_changed_codec_options_invalidate_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    folder = _data(tmp_path)
    out = tmp_path / "run"
    text = f"""
name: c
out: {out}
datasets: [{{name: d, type: folder, max_utterances: 2, options: {{path: {folder}}}}}]
codecs: [{{name: Opus, adapter: opus, bitrates: [12], options: {{complexity: 10}}}}]
metrics: [si_sdr]
"""
    first = run_suite(suite_from_text(text, "c.yaml"), jobs=1, progress=False)
    assert first.ok == 2
    same = run_suite(suite_from_text(text, "c.yaml"), jobs=1, progress=False)
    assert same.already_done == 2 and same.ok == 0
    changed = run_suite(suite_from_text(text.replace("complexity: 10", "complexity: 0"), "c.yaml"),
                        jobs=1, progress=False)
    assert changed.already_done == 0 and changed.ok == 2
    assert len(load_results(out)) == 2


def test_shards_merge_to_the_full_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("CODECBENCH_TEST_SLEEP", "0")
    folder = _data(tmp_path)
    out = tmp_path / "run"
    suite = suite_from_text(_suite(folder, out), "s.yaml")
    rows = []
    for k in (1, 2, 3):
        summary = run_suite(suite, jobs=1, shard=Shard(k, 3), progress=False)
        rows.append(summary.planned)
    assert sum(rows) == 2 * N_UTTERANCES
    total, sources = merge_runs(out, [])
    assert total == 2 * N_UTTERANCES and len(sources) == 3
    merge_runs(out, [])  # merging twice never duplicates
    df = load_results(out)
    assert len(df) == 2 * N_UTTERANCES and not df.duplicated(["utterance", "bitrate"]).any()

    full = tmp_path / "full"
    run_suite(suite, out=full, jobs=1, progress=False)
    a = df.sort_values(["utterance", "bitrate"]).reset_index(drop=True)
    b = load_results(full).sort_values(["utterance", "bitrate"]).reset_index(drop=True)
    pd.testing.assert_series_equal(a.si_sdr, b.si_sdr)


def test_export_formats_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: e\nout: {out}\ndatasets: [{{name: demo, type: builtin, max_utterances: 2, "
                     "max_seconds: 1.5}]\ncodecs: [{name: Opus, adapter: opus, bitrates: [12, 24]}, "
                     "{name: Id, adapter: identity}]\nmetrics: [si_sdr, lsd, stoi]\n")
    assert main(["run", str(suite), "--jobs", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "Opus_12" in printed and "Opus_24" in printed and "± " in printed
    assert "nominal payload rate" not in printed  # Opus is measured from its bytes
    columns = ["dataset", "utterance", "codec", "bitrate", "measured_kbps", "si_sdr", "lsd", "stoi"]
    for fmt in ("csv", "parquet", "json"):
        path = export_results(out, fmt)
        if fmt == "csv":
            df = pd.read_csv(path)
        elif fmt == "parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.DataFrame(pd.read_json(path)["rows"].tolist())
        assert list(df.columns[: len(columns)]) == columns and len(df) == 6
        assert "n_failures" in df.columns
        opus = df[df.codec == "Opus"]
        assert ((opus.measured_kbps - opus.bitrate).abs() / opus.bitrate < 0.15).all()
        assert df[df.codec == "Id"].measured_kbps.isna().all()
        assert (opus.payload_kind == "bytes").all() and df[df.codec == "Id"].payload_kind.isna().all()
    assert main(["summary", str(out)]) == 0
    assert "Id" in capsys.readouterr().out


def test_resume_keeps_creation_date_and_flags_rows_outside_the_plan(tmp_path: Path) -> None:
    import json

    out = tmp_path / "run"
    two = (f"name: s\nout: {out}\ndatasets: [{{name: demo, type: builtin, max_utterances: 1, max_seconds: 1}}]\n"
           "codecs: [{name: A, adapter: identity}, {name: B, adapter: identity}]\nmetrics: [si_sdr]\n")
    run_suite(suite_from_text(two, "s.yaml"), jobs=1, progress=False)
    created = json.loads((out / "manifest.json").read_text())["created"]
    messages: list[str] = []
    one = two.replace(", {name: B, adapter: identity}", "")
    run_suite(suite_from_text(one, "s.yaml"), jobs=1, progress=False, log=messages.append)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["created"] == created and len(manifest["resumed"]) == 1
    assert any("1 stored rows are not in this suite's plan" in m for m in messages)
