"""A rerun with nothing to do is nearly free (issue 13): no pool, no codec worker, no table libraries.

The summary it prints comes from ``summary-cache.json``, which must never serve a stale table.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from codecbench.cli import main
from codecbench.summary_cache import CACHE_NAME
from sample_run import make_synthetic_run, write_tones

# Runs the CLI in a fresh interpreter in which starting a metric pool or a codec worker is an
# error, then names the heavy libraries that got imported.
IDLE_RERUN = """
import sys
import codecbench.codec_worker, codecbench.runner
def refuse(*args, **kwargs):
    raise AssertionError("an idle rerun started a worker")
codecbench.runner._MetricPool._new = refuse
codecbench.codec_worker.CodecWorker._start = refuse
from codecbench.cli import main
rc = main(["run", sys.argv[1], "--no-progress", "--jobs", "2"])
heavy = ("pandas", "scipy.stats", "scipy.signal", "statsmodels", "torch", "numba", "pystoi", "pesq")
print("HEAVY", sorted(m for m in heavy if m in sys.modules), "RC", rc)
"""


def _suite(tmp_path: Path) -> Path:
    data = write_tones(tmp_path / "data", [1.0] * 3, base_hz=200, step_hz=50)
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"""
name: idle
out: {tmp_path / 'run'}
datasets: [{{name: d, type: folder, options: {{path: {data}}}}}]
codecs: [{{name: Opus, adapter: opus, bitrates: [12]}}]
metrics: [si_sdr, stoi]
""")
    return suite


def test_idle_rerun_starts_no_worker_and_prints_the_same_table(tmp_path: Path) -> None:
    suite = _suite(tmp_path)
    first = subprocess.run([sys.executable, "-m", "codecbench.cli", "run", str(suite), "--no-progress"],
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    rerun = subprocess.run([sys.executable, "-c", IDLE_RERUN, str(suite)], capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    table, _, tail = rerun.stdout.rpartition("HEAVY")
    assert tail.split() == ["[]", "RC", "0"]
    assert table == first.stdout  # the cached text is the computed text
    assert "already done: 3  new ok: 0" in rerun.stderr


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return Path(make_synthetic_run(tmp_path / "run"))


def _summary(run_dir: Path, capsys: pytest.CaptureFixture[str], fmt: str = "text") -> str:
    assert main(["summary", str(run_dir), "--format", fmt]) == 0
    return capsys.readouterr().out


def test_cache_serves_only_unchanged_results(run_dir: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import codecbench.summary

    computed: list[str] = []
    real = codecbench.summary.summarize

    def counting(*args: object, **kwargs: object) -> object:
        computed.append("table")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(codecbench.summary, "summarize", counting)
    fresh = _summary(run_dir, capsys)
    assert (run_dir / CACHE_NAME).is_file() and len(computed) == 1
    assert _summary(run_dir, capsys) == fresh and len(computed) == 1  # served from the cache
    _summary(run_dir, capsys, "json")  # another format has its own entry
    assert len(computed) == 2 and _summary(run_dir, capsys) == fresh and len(computed) == 2
    with sqlite3.connect(run_dir / "results.sqlite") as conn:  # one stored score changes
        conn.execute("UPDATE scores SET value = value + 0.5 WHERE rowid = 1")
    changed = _summary(run_dir, capsys)
    assert len(computed) == 3 and changed != fresh
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["suite"]["report"] = {"ci_level": 0.9}  # another interval, same results
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    assert "90%" in _summary(run_dir, capsys) and len(computed) == 4


@pytest.mark.parametrize("damage", ["not json {", "[1, 2]", '{"text": {"key": 1}}'])
def test_damaged_cache_is_ignored(run_dir: Path, capsys: pytest.CaptureFixture[str], damage: str) -> None:
    fresh = _summary(run_dir, capsys)
    (run_dir / CACHE_NAME).write_text(damage)
    assert _summary(run_dir, capsys) == fresh
    assert _summary(run_dir, capsys) == fresh
