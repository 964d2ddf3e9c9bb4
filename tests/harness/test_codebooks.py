"""Codebook statistics of code-array payloads: exact values on known distributions, and the store
keeping each row's counts exactly once through rewrite, resume, cache reuse, shards and merge."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecbench.cli import main
from codecbench.codebooks import CodeCounts, condition_stats, count_codes
from codecbench.export import codebooks_path, export_results, merge_runs
from codecbench.plan import Shard
from codecbench.results import load_codebooks
from codecbench.runner import run_suite
from codecbench.store import SCHEMA_VERSION, ItemResult, ResultStore
from codecbench.suite import suite_from_text

HERE = Path(__file__).resolve().parent


def test_uniform_over_half_the_codebook_is_three_bits() -> None:
    codes = np.stack([np.tile(np.arange(8), 10),                     # uniform over 8 of 16 entries
                      np.repeat([0, 1, 2, 2], 20)]).astype(np.int32)    # p = 1/4, 1/4, 1/2
    counts = count_codes(codes, 4.0, seconds=0.5)
    assert counts.counts.shape == (2, 16) and counts.counts.sum() == 160
    stats = condition_stats("d", "c", 2.0, "c_2", [counts])
    assert stats is not None
    q0, q1 = stats.books
    assert (q0.used, q0.size, q0.utilisation) == (8, 16, 0.5)
    assert q0.entropy_bits == pytest.approx(3.0, abs=1e-12) and q0.perplexity == pytest.approx(8.0, abs=1e-9)
    assert (q1.used, q1.utilisation) == (3, 3 / 16)
    assert q1.entropy_bits == pytest.approx(1.5, abs=1e-12) and q1.perplexity == pytest.approx(2 ** 1.5)
    # 80 frames in 0.5 s = 160 frames/s: ideal coder (3 + 1.5) bits x 160 /s; nominal 2 x 4 bits x 160 /s
    assert stats.entropy_kbps == pytest.approx(4.5 * 160 / 1000, abs=1e-12)
    assert stats.measured_kbps == pytest.approx(8 * 160 / 1000, abs=1e-12)
    assert stats.mean_utilisation == pytest.approx((0.5 + 3 / 16) / 2)


def test_condition_statistics_come_from_summed_counts_not_mean_of_rows() -> None:
    a = count_codes(np.arange(4)[None].repeat(8, axis=0).reshape(1, -1), 3.0, 1.0)   # codes 0..3 uniform
    b = count_codes((np.arange(4) + 4)[None].repeat(8, axis=0).reshape(1, -1), 3.0, 1.0)  # codes 4..7
    for row in (a, b):
        alone = condition_stats("d", "c", None, "c", [row])
        assert alone is not None and alone.books[0].entropy_bits == pytest.approx(2.0)
    both = condition_stats("d", "c", None, "c", [a, b])
    assert both is not None
    assert both.books[0].entropy_bits == pytest.approx(3.0) and both.books[0].utilisation == 1.0
    assert both.seconds == 2.0 and both.n_rows == 2 and both.books[0].codes == 64


def test_counts_round_trip_exactly_and_bad_codes_are_refused() -> None:
    rng = np.random.default_rng(3)
    counts = count_codes(rng.integers(0, 1024, (8, 5000)), 10.0, 3.25)
    back = CodeCounts.from_json(counts.to_json())
    assert back.codebook_size == 1024 and back.seconds == 3.25
    np.testing.assert_array_equal(back.counts, counts.counts)
    with pytest.raises(ValueError, match="bits per code allow 0..15"):
        count_codes(np.array([[0, 16]]), 4.0, 1.0, "X_1")
    with pytest.raises(ValueError, match="unknown code-count record"):
        CodeCounts.from_json('{"version": 99}')
    doc = json.loads(counts.to_json())
    with pytest.raises(ValueError, match="hold 32768 bytes, expected 16384"):
        CodeCounts.from_json(json.dumps({**doc, "codebooks": 4}))
    with pytest.raises(ValueError, match="damaged code counts"):
        CodeCounts.from_json(json.dumps({**doc, "counts": doc["counts"][:-8]}))


def _row(key: str, codebooks: CodeCounts | None, status: str = "ok") -> ItemResult:
    return ItemResult(key, "d", key, "C", "c", 1.0, status, codebooks=codebooks)


def test_store_keeps_one_histogram_per_row(tmp_path: Path) -> None:
    counts = count_codes(np.array([[1, 1, 2]]), 2.0, 1.0)
    with ResultStore.open(tmp_path) as store:
        store.write(_row("a", counts))
        store.write(_row("a", counts))              # a rerun replaces, never adds
        store.write(_row("b", counts))
        store.write(_row("b", None, "failed"))      # a failed rerun drops the old counts
        store.add_scores("a", {"lsd": (1.0, None)}, {"lsd": "x"})  # a metric-only pass keeps them
        assert set(store.codebook_counts()) == {"a"}
        np.testing.assert_array_equal(store.codebook_counts()["a"].counts, [[0, 2, 1, 0]])
        with ResultStore.open(tmp_path / "other") as target:
            assert target.merge_from(store) == 2 and target.merge_from(store) == 2
            assert list(target.codebook_counts()) == ["a"]
            np.testing.assert_array_equal(target.codebook_counts()["a"].counts, counts.counts)


def test_only_ok_rows_count(tmp_path: Path) -> None:
    """A row whose metric stage failed still has its codes, but the condition's statistics skip it."""
    with ResultStore.open(tmp_path) as store:
        store.write(_row("a", count_codes(np.array([[0, 1]]), 1.0, 1.0)))
        store.write(_row("b", count_codes(np.array([[1, 1]]), 1.0, 1.0), "failed"))
    (stats,) = load_codebooks(tmp_path)
    assert stats.n_rows == 1 and stats.books[0].entropy_bits == pytest.approx(1.0)


def test_schema_2_database_is_migrated_and_read_only_readers_cope(tmp_path: Path) -> None:
    for name in ("rw", "ro"):
        with ResultStore.open(tmp_path / name) as store:
            store.write(_row("a", None))
        with sqlite3.connect(tmp_path / name / "results.sqlite") as conn:  # as schema 2 left it
            conn.execute("DROP TABLE codebook_counts")
            conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with ResultStore.open_existing(tmp_path / "ro") as old:
        assert old.codebook_counts() == {} and old.rows(codebooks=True)[0]["codebooks"] is None
    with ResultStore.open(tmp_path / "rw") as store:
        assert store.get_meta("schema_version") == SCHEMA_VERSION == 3
        store.write(_row("b", count_codes(np.array([[0]]), 1.0, 1.0)))
        assert list(store.codebook_counts()) == ["b"]


# -- through the runner, with a code-array test adapter of known distribution ------------------
N_UTT, SAMPLES, HOP = 6, 8000, 250   # 0.5 s at 16 kHz: 32 frames of 250 samples, 64 frames/s


def _data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(N_UTT):
        sf.write(folder / f"u{i}.wav", (0.1 * rng.standard_normal(SAMPLES)).astype(np.float32), 16000)
    return folder


def _suite_text(folder: Path, out: Path, metrics: str = "[lsd]") -> str:
    return f"""
name: books
out: {out}
datasets: [{{name: d, type: folder, options: {{path: {folder}}}}}]
codecs:
  - {{name: Codes, adapter: 'adapters_for_tests:CodesById', bitrates: [1, 2]}}
metrics: {metrics}
"""


def _expected_json() -> dict:
    """Codebook 0: code i for all 32 frames of u<i> -> uniform over 6 codes; codebook 1: 0/1 alternating."""
    return {"n_rows": N_UTT, "seconds": N_UTT * 0.5, "codebook_size": 16,
            "entropy_kbps": (math.log2(6) + 1.0) * 64 / 1000, "measured_kbps": 2 * 4 * 64 / 1000}


def _check(stats_json: list[dict]) -> None:
    assert [c["condition"] for c in stats_json] == ["Codes_1", "Codes_2"]
    for cond in stats_json:
        for key, value in _expected_json().items():
            assert cond[key] == pytest.approx(value, abs=1e-12), key
        q0, q1 = cond["codebooks"]
        assert (q0["used"], q0["codes"], q1["used"], q1["codes"]) == (6, 192, 2, 192)
        assert q0["entropy_bits"] == pytest.approx(math.log2(6), abs=1e-12) and q0["utilisation"] == 6 / 16
        assert q1["entropy_bits"] == pytest.approx(1.0, abs=1e-12) and q1["perplexity"] == pytest.approx(2.0)


def _summary_json(run: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert main(["summary", str(run), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)["codebooks"]


def test_run_resume_cache_and_merge_count_every_row_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    folder = _data(tmp_path)
    out = tmp_path / "run"
    suite = suite_from_text(_suite_text(folder, out), "s.yaml")
    assert run_suite(suite, jobs=1, progress=False).ok == 2 * N_UTT
    _check(_summary_json(out, capsys))

    # rerun with nothing to do, then with a new metric (scored from the cache, counts untouched)
    assert run_suite(suite, jobs=1, progress=False).ok == 0
    more = suite_from_text(_suite_text(folder, out, "[lsd, si_sdr]"), "s.yaml")
    assert run_suite(more, jobs=1, progress=False).metrics_added == 2 * N_UTT
    _check(_summary_json(out, capsys))

    # rows lost from the store come back from the cache sidecar, with their counts
    with sqlite3.connect(out / "results.sqlite") as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("DELETE FROM items WHERE utterance IN ('u1', 'u4')")
        assert conn.execute("SELECT COUNT(*) FROM codebook_counts").fetchone()[0] == 2 * N_UTT - 4
    assert run_suite(more, jobs=1, progress=False).ok == 4
    _check(_summary_json(out, capsys))

    # shards merged (twice) into a fresh run dir give the same statistics
    sharded = tmp_path / "sharded"
    for k in (1, 2, 3):
        run_suite(more, out=sharded, jobs=1, shard=Shard(k, 3), progress=False)
    merge_runs(sharded, [])
    merge_runs(sharded, [])
    merge_runs(sharded, [out])   # the same rows from another run dir replace, never add
    _check(_summary_json(sharded, capsys))

    capsys.readouterr()
    assert main(["summary", str(out)]) == 0
    text = capsys.readouterr().out
    assert "entropy kbps" in text and "nominal kbps" in text and "6/16" in text
    assert main(["summary", str(out), "--format", "csv"]) == 0
    csv_text = capsys.readouterr().out
    assert "entropy_kbps" in csv_text and "codebook_entropy_bits#q1" in csv_text

    path = export_results(out, "csv")
    import pandas as pd

    books = pd.read_csv(codebooks_path(path))
    assert len(books) == 4 and set(books.used) == {6, 2}
    doc = json.loads(export_results(out, "json").read_text())
    assert len(doc["codebooks"]) == 4 and doc["codebooks"][0]["entropy_kbps"] == pytest.approx(
        _expected_json()["entropy_kbps"])
    assert [s.condition for s in load_codebooks(out)] == ["Codes_1", "Codes_2"]


def test_damaged_counts_in_the_store_are_one_line(tmp_path: Path) -> None:
    with ResultStore.open(tmp_path) as store:
        store.write(_row("a", count_codes(np.array([[0, 1]]), 1.0, 1.0)))
    with sqlite3.connect(tmp_path / "results.sqlite") as conn:
        conn.execute("UPDATE codebook_counts SET counts = '{\"version\": 1}'")
    from codecbench.store import StoreError

    with pytest.raises(StoreError, match="damaged code counts of row a .*move the database aside"):
        load_codebooks(tmp_path)
