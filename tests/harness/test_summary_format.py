"""``codecbench summary`` / report statistics on a run where one codec fails one utterance (issue 9).

The run is written straight into a results store: Opus cannot score PESQ on a 0.25 s clip that
MP3 scores well, which used to inflate MP3's mean (6 items against Opus' 5) and the BD-rate.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import pytest

from codecbench.cli import main
from codecbench.export import export_results
from codecbench.report.options import ReportOptions
from codecbench.report.tables import metric_meta, summarize_datasets
from codecbench.results import load_manifest, load_results
from codecbench.stats import bd_rate
from codecbench.store import ItemResult, ResultStore

UTTS = ["u1", "u2", "u3", "u4", "u5", "short"]
SHORT_REASON = "0.250 s long, shorter than the 0.25 s minimum"
CONDITIONS = [("Opus", 6.0), ("Opus", 12.0), ("MP3", 16.0), ("MP3", 32.0)]


def _pesq_values() -> dict[tuple[str, float], dict[str, float]]:
    """Seeded PESQ per condition x utterance; quality grows with bitrate; MP3 aces the short clip."""
    rng = np.random.default_rng(7)
    values: dict[tuple[str, float], dict[str, float]] = {}
    for codec, kbps in CONDITIONS:
        base = 1.2 + 0.9 * math.log2(kbps / 3) + (0.0 if codec == "Opus" else -0.8)
        per = {u: float(base + rng.normal(0, 0.2)) for u in UTTS[:-1]}
        per["short"] = math.nan if codec == "Opus" else 4.4
        values[(codec, kbps)] = per
    return values


def make_run(run_dir: Path, duplicate_of: Optional[tuple[str, float]] = None, report: Optional[dict] = None) -> Path:
    """The issue's run; with ``duplicate_of`` an extra condition ``Copy_16`` decodes to the same audio."""
    values = _pesq_values()
    conditions = list(CONDITIONS) + ([("Copy", 16.0)] if duplicate_of else [])
    if duplicate_of:
        values[("Copy", 16.0)] = dict(values[duplicate_of])
    with ResultStore.open(run_dir) as store:
        for codec, kbps in conditions:
            source = duplicate_of if codec == "Copy" else (codec, kbps)
            for u in UTTS:
                value = values[(codec, kbps)][u]
                reason = SHORT_REASON if math.isnan(value) else None
                store.write(ItemResult(f"ds|{u}|{codec}|{kbps:g}", "ds", u, codec, codec.lower(), kbps, "ok",
                                       measured_kbps=kbps * 1.02, duration_s=0.25 if u == "short" else 2.0,
                                       lag_samples=3, lag_at_bound=False, decoded_sha256=f"{source}:{u}",
                                       scores={"pesq_wb": (value, reason)}))
    manifest = {"metrics": {"pesq_wb": {"higher_is_better": True}},
                "suite": {"name": "issue9", "datasets": [{"name": "ds"}],
                          "codecs": [{"name": c, "adapter": c.lower(), "bitrates": [b for cc, b in conditions if cc == c]}
                                     for c in dict.fromkeys(c for c, _ in conditions)],
                          "report": report or {}}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


def _summary_json(run_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    assert main(["summary", str(run_dir), "--format", "json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _cell(doc: dict, condition: str, metric: str = "pesq_wb", paired: bool = True) -> dict:
    (cell,) = [c for c in doc["cells"] if c["condition"] == condition and c["metric"] == metric
               and c["paired"] is paired]
    return cell


def test_paired_means_use_the_shared_utterances(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run")
    values = _pesq_values()
    doc = _summary_json(run, capsys)
    assert doc["format"] == "codecbench-summary" and "BCa bootstrap" in doc["ci_method"]
    mp3 = _cell(doc, "MP3_16")
    shared = [values[("MP3", 16.0)][u] for u in UTTS[:-1]]
    assert mp3["mean"] == pytest.approx(np.mean(shared)) and mp3["n"] == 5 and mp3["n_failed"] == 0
    assert mp3["mean"] < np.mean(list(values[("MP3", 16.0)].values()))  # the inflation is gone
    assert mp3["ci_low"] < mp3["mean"] < mp3["ci_high"] and mp3["ci_method"] == doc["ci_method"]
    opus = _cell(doc, "Opus_6")
    assert opus["n"] == 5 and opus["n_failed"] == 1 and opus["paired"] is True
    assert set(FIELDS_EXPECTED) <= set(opus)
    (lost,) = doc["lost"]
    assert lost["n_shared"] == 5 and {loss["condition"] for loss in lost["losses"]} == {"Opus_6", "Opus_12"}
    assert lost["losses"][0]["utterances"] == ["short"] and SHORT_REASON in lost["losses"][0]["reasons"][0]
    assert doc["duplicates"] == []


FIELDS_EXPECTED = ["dataset", "condition", "metric", "mean", "ci_low", "ci_high", "n", "n_failed", "paired",
                   "ci_method"]


def test_all_items_adds_labelled_unpaired_means(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run")
    values = _pesq_values()
    doc = _summary_json(run, capsys, "--all-items")
    unpaired = _cell(doc, "MP3_16", paired=False)
    assert unpaired["n"] == 6 and unpaired["mean"] == pytest.approx(np.mean(list(values[("MP3", 16.0)].values())))
    assert _cell(doc, "MP3_16")["n"] == 5
    assert main(["summary", str(run), "--all-items"]) == 0
    text = capsys.readouterr().out
    assert "MP3_16 (all items, unpaired)" in text


def test_text_and_csv_show_n_and_who_lost_items(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run")
    assert main(["summary", str(run)]) == 0
    text = capsys.readouterr().out
    assert "(5)" in text and "paired over the 5 utterances" in text
    assert "Opus_6 lost 1 [short]" in text and SHORT_REASON in text
    assert "BCa bootstrap" in text and "unpaired" not in text
    assert main(["summary", str(run), "--format", "csv"]) == 0
    csv = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert set(FIELDS_EXPECTED) <= set(csv.columns)
    row = csv[(csv.condition == "Opus_12") & (csv.metric == "pesq_wb")].iloc[0]
    assert row.n == 5 and row.n_failed == 1 and bool(row.paired)


def test_cli_and_report_give_the_same_interval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run", report={"bootstrap": 500, "seed": 3})
    doc = _summary_json(run, capsys)
    assert "500 resamples, seed 3" in doc["ci_method"]
    manifest = load_manifest(run)
    opts = ReportOptions.model_validate(manifest["suite"]["report"])
    (ds,) = summarize_datasets(load_results(run, include_paths=True), manifest, metric_meta(manifest, ["pesq_wb"]), opts, "Opus")
    assert ds.ci_method == doc["ci_method"]
    for cond in ds.conditions:
        cell, est = _cell(doc, cond.label), cond.estimates["pesq_wb"]
        assert (cell["mean"], cell["ci_low"], cell["ci_high"], cell["n"]) == \
            pytest.approx((est.mean, est.lo, est.hi, est.n))


def test_report_bd_tests_and_best_use_the_paired_set(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    values = _pesq_values()
    manifest = load_manifest(run)
    (ds,) = summarize_datasets(load_results(run, include_paths=True), manifest, metric_meta(manifest, ["pesq_wb"]),
                      ReportOptions(bootstrap=200), "Opus")
    means = {k: float(np.mean([v[u] for u in UTTS[:-1]])) for k, v in values.items()}
    expect = bd_rate([6 * 1.02, 12 * 1.02], [means[("Opus", 6.0)], means[("Opus", 12.0)]],
                     [16 * 1.02, 32 * 1.02], [means[("MP3", 16.0)], means[("MP3", 32.0)]])
    assert ds.bd["MP3"]["pesq_wb"][0].value == pytest.approx(expect.value)
    mp3 = next(c for c in ds.conditions if c.label == "MP3_16")
    assert mp3.tests["pesq_wb"].n == 5 and mp3.anchor_label == "Opus_12"
    ((metric, n_shared, losses),) = ds.losses()
    assert (metric, n_shared) == ("pesq_wb", 5) and [loss.condition for loss in losses] == ["Opus_6", "Opus_12"]
    # Bands: 4-8 (Opus_6), 8-16 (Opus_12), 16-32 (MP3_16), 32-64 (MP3_32): one condition each, no star.
    assert [band for band, _ in ds.bands] == ["4–8 kbps", "8–16 kbps", "16–32 kbps", "32–64 kbps"]
    assert not any(c.best["pesq_wb"] for c in ds.conditions)


def test_duplicate_conditions_are_flagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run", duplicate_of=("MP3", 16.0))
    doc = _summary_json(run, capsys)
    assert doc["duplicates"] == [{"dataset": "ds", "conditions": ["MP3_16", "Copy_16"], "n_items": 6}]
    assert main(["summary", str(run)]) == 0
    assert "duplicate outputs: ds: MP3_16 = Copy_16 (sample-identical decoded audio on 6 utterances)" in \
        capsys.readouterr().out
    manifest = load_manifest(run)
    (ds,) = summarize_datasets(load_results(run, include_paths=True), manifest, metric_meta(manifest, ["pesq_wb"]),
                      ReportOptions(bootstrap=200), "Opus")
    assert [g.conditions for g in ds.duplicates] == [("MP3_16", "Copy_16")]
    # MP3_16 and Copy_16 share the 16-32 kbps band: a tie, both marked best.
    assert [c.label for c in ds.conditions if c.best["pesq_wb"]] == ["MP3_16", "Copy_16"]


def test_export_carries_typed_alignment_and_coding_columns(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with ResultStore.open(run) as store:
        store.write(ItemResult("d|a|X|6", "d", "a", "X", "x", 6.0, "ok", measured_kbps=6.1, lag_samples=12,
                               lag_at_bound=True, trimmed_reference_samples=12, trimmed_degraded_samples=0,
                               coding_sample_rate=48000, coding_channels=2, scores={"si_sdr": (3.0, None)}))
        store.write(ItemResult("d|b|X|6", "d", "b", "X", "x", 6.0, "failed", error="RuntimeError: boom",
                               scores={"si_sdr": (math.nan, "codec failed")}))
    (run / "manifest.json").write_text(json.dumps({"metrics": {"si_sdr": {}}}))
    columns = ["lag_samples", "lag_at_bound", "trimmed_reference_samples", "trimmed_degraded_samples",
               "coding_sample_rate", "coding_channels"]
    rows = json.loads(export_results(run, "json").read_text())["rows"]
    ok, failed = sorted(rows, key=lambda r: r["utterance"])
    assert [ok[c] for c in columns] == [12, True, 12, 0, 48000, 2]
    assert all(type(ok[c]) is (bool if c == "lag_at_bound" else int) for c in columns)
    assert all(failed[c] is None for c in columns)
    text = export_results(run, "csv").read_text()
    header, first = text.splitlines()[:2]
    cells = dict(zip(header.split(","), first.split(",")))
    assert [cells[c] for c in columns] == ["12", "True", "12", "0", "48000", "2"]
    table = pd.read_parquet(export_results(run, "parquet"))
    assert str(table["lag_samples"].dtype) == "Int64" and str(table["lag_at_bound"].dtype) == "boolean"
