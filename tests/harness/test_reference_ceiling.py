"""Non-intrusive metrics scored once per utterance on the reference: stored, resumed, merged, shown."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecbench.export import merge_runs
from codecbench.plan import Shard
from codecbench.report import build_report
from codecbench.results import load_reference, load_results, metric_names
from codecbench.runner import run_suite
from codecbench.suite import SuiteError, suite_from_text
from codecbench.summary import format_json, format_text, summarize

pytest.importorskip("speechmos", reason="speechmos is not installed (pip install 'codecbench[modern]')")
pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'codecbench[modern]')")

N_UTTERANCES = 3
RATE = 16000


def _data(tmp_path: Path) -> dict[str, np.ndarray]:
    """16 kHz mono files (no resampling on the way to DNSMOS), each different."""
    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(1)
    audio = {}
    for i in range(N_UTTERANCES):
        t = np.arange(int(1.6 * RATE)) / RATE
        x = (0.3 * np.sin(2 * np.pi * (150 + 60 * i) * t) * (1 + np.sin(2 * np.pi * (3 + i) * t))
             + (0.002 + 0.02 * i) * rng.standard_normal(t.size)).astype(np.float32)
        sf.write(folder / f"u{i}.wav", x, RATE, subtype="FLOAT")
        audio[f"u{i}"] = x
    return audio


def _suite(tmp_path: Path, metrics: str = "[si_sdr, dnsmos_ovrl]") -> str:
    return f"""
name: ceiling
out: {tmp_path / 'run'}
datasets: [{{name: d, type: folder, options: {{path: {tmp_path / 'data'}}}}}]
codecs:
  - {{name: Id, adapter: identity}}
  - {{name: Opus, adapter: opus, bitrates: [8]}}
metrics: {metrics}
"""


def _reference_rows(run: Path) -> list[tuple]:
    with sqlite3.connect(run / "results.sqlite") as conn:
        return conn.execute("SELECT dataset, utterance, metric, value, identity, updated_at FROM reference_scores "
                            "ORDER BY utterance, metric").fetchall()


def test_reference_row_is_the_metric_on_the_reference_audio(tmp_path: Path) -> None:
    from speechmos import dnsmos

    audio = _data(tmp_path)
    summary = run_suite(suite_from_text(_suite(tmp_path), "s.yaml"), jobs=1, progress=False)
    assert summary.references == N_UTTERANCES
    run = tmp_path / "run"
    ref = load_reference(run)
    assert list(ref.columns) == ["dataset", "utterance", "dnsmos_ovrl"]  # si_sdr is intrusive: no ceiling
    assert sorted(ref.utterance) == sorted(audio)
    for _, row in ref.iterrows():
        direct = float(dnsmos.run(audio[row.utterance], RATE)["ovrl_mos"])
        assert row.dnsmos_ovrl == pytest.approx(direct, abs=1e-6)
        assert 1.0 < row.dnsmos_ovrl < 5.0
    # the identity codec decodes the reference itself: its DNSMOS is the ceiling, item by item
    df = load_results(run)
    ident = df[df.codec == "Id"].set_index("utterance").dnsmos_ovrl
    for _, row in ref.iterrows():
        assert ident[row.utterance] == pytest.approx(row.dnsmos_ovrl, abs=1e-6)

    result = summarize(df, metric_names(run), reference=ref)
    cells = [c for c in json.loads(format_json(result))["cells"] if c["codec"] == "reference"]
    assert [c["metric"] for c in cells] == ["dnsmos_ovrl"]
    assert cells[0]["mean"] == pytest.approx(float(ref.dnsmos_ovrl.mean())) and cells[0]["n"] == N_UTTERANCES
    lines = format_text(result).splitlines()
    conditions = [line.split()[0] for line in lines[3:6]]
    assert conditions == ["reference", "Id", "Opus_8"]  # the ceiling leads its dataset
    assert f"{ref.dnsmos_ovrl.mean():.2f}" in lines[3]


def test_resume_and_merge_keep_one_reference_score_per_utterance(tmp_path: Path) -> None:
    _data(tmp_path)
    suite = suite_from_text(_suite(tmp_path), "s.yaml")
    run = tmp_path / "run"
    run_suite(suite, jobs=1, progress=False)
    first = _reference_rows(run)
    assert len(first) == N_UTTERANCES
    again = run_suite(suite, jobs=1, progress=False)
    assert again.references == 0 and _reference_rows(run) == first  # not rescored, not duplicated

    # a new non-intrusive metric scores the references for that metric only
    grown = suite_from_text(_suite(tmp_path, "[si_sdr, dnsmos_ovrl, dnsmos_sig]"), "s.yaml")
    added = run_suite(grown, jobs=1, progress=False)
    assert added.references == N_UTTERANCES
    rows = _reference_rows(run)
    assert len(rows) == 2 * N_UTTERANCES
    assert [r for r in rows if r[2] == "dnsmos_ovrl"] == first

    # shards score each reference in the shard that holds its utterance; merging twice adds nothing
    sharded = tmp_path / "sharded"
    for k in (1, 2):
        run_suite(suite, out=sharded, jobs=1, shard=Shard(k, 2), progress=False)
    merge_runs(sharded, [])
    merge_runs(sharded, [])
    merged = _reference_rows(sharded)
    assert [(r[0], r[1], r[2], r[4]) for r in merged] == [(r[0], r[1], r[2], r[4]) for r in first]
    assert [r[3] for r in merged] == pytest.approx([r[3] for r in first], abs=1e-6)


def test_report_shows_the_reference_row_and_line(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    _data(tmp_path)
    run_suite(suite_from_text(_suite(tmp_path), "s.yaml"), jobs=1, progress=False)
    run = tmp_path / "run"
    value = float(load_reference(run).dnsmos_ovrl.mean())
    site = build_report(run)
    page = (site / "metrics_d.html").read_text()
    row = page.split('<tr class="reference-row"', 1)[1].split("</tr>", 1)[0]
    assert f"{value:.2f}" in row or f"{value:.3g}" in row
    svg = (site / "plots" / "d" / "dnsmos_ovrl.svg").read_text()
    assert "<!-- reference -->" in svg  # the legend entry of the ceiling line
    assert "<!-- reference -->" not in (site / "plots" / "d" / "si_sdr.svg").read_text()
    try:
        browser = request.getfixturevalue("chromium_browser")
    except pytest.skip.Exception:
        return  # no Chromium here: the static checks above still ran
    page = browser.new_page()
    page.goto((site / "metrics_d.html").as_uri())
    header = page.locator("#metrics-table thead th", has_text="si_sdr")
    for _ in range(2):  # ascending, then descending: the ceiling stays on top
        header.click()
        first = page.evaluate("document.querySelector('#metrics-table tbody tr').className")
        assert first == "reference-row"
    page.close()


def test_intrusive_only_suite_has_no_reference_row(tmp_path: Path) -> None:
    _data(tmp_path)
    summary = run_suite(suite_from_text(_suite(tmp_path, "[si_sdr]"), "s.yaml"), jobs=1, progress=False)
    run = tmp_path / "run"
    assert summary.references == 0 and _reference_rows(run) == []
    df = load_results(run)
    text = format_text(summarize(df, metric_names(run), reference=load_reference(run)))
    assert "reference" not in text


def test_codec_name_reference_is_reserved(tmp_path: Path) -> None:
    text = _suite(tmp_path).replace("name: Id", "name: reference")
    with pytest.raises(SuiteError, match="reserved"):
        suite_from_text(text, "s.yaml")
