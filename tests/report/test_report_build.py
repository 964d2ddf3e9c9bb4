"""Building the static report from run directories (synthetic, hostile, and the APCodec+ demo)."""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecbench.report import ReportOptions, build_report
from codecbench.report.build import build_report_summary
from codecbench.report.cli import main as cli_main, register
from codecbench.report.demo import select_utterances
from sample_run import make_folder_run, make_synthetic_run
from codecbench.report.tables import metric_meta, summarize_datasets
from codecbench.results import load_manifest, load_results

HOSTILE_UTT = "<script>alert(1)</script>"
HOSTILE_CODEC = '"><img src=x onerror=alert(1)>'
FAST = {"bootstrap": 200, "spectrograms": False}


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory) -> Path:
    return make_synthetic_run(tmp_path_factory.mktemp("run") / "run", fail=("utt2", "Beta", 6.0))


def test_options_are_validated():
    with pytest.raises(ValueError, match="extra"):
        ReportOptions.model_validate({"anchr": "x"})
    with pytest.raises(ValueError, match="demo_metric"):
        ReportOptions(demo_selection="worst")
    assert ReportOptions(demo_selection="best", demo_metric="si_sdr").demo_items == 10


def test_report_pages_tables_plots_and_audio(synthetic_run, tmp_path):
    opts = ReportOptions(anchor="Alpha", page_size=3, bootstrap=300)
    summary = build_report_summary(synthetic_run, tmp_path / "rep", options=opts)
    out = summary.out_dir
    pages = sorted(p.name for p in out.glob("*.html"))
    ds = [p for p in pages if p.startswith("metrics_")][0][len("metrics_"):-5]
    assert pages == sorted(["index.html", f"metrics_{ds}.html", f"demo_{ds}_1.html", f"demo_{ds}_2.html"])
    metrics_html = (out / f"metrics_{ds}.html").read_text()
    # 8 condition rows, CI half-widths, one best marker per metric column in each bitrate band that
    # holds >= 2 conditions (2-4: Alpha_3/Beta_3, 4-8: Alpha_6/Beta_6, 8-16: Alpha_9/12, Beta_12).
    assert metrics_html.count('<tr class="anchor-row">') == 4
    assert metrics_html.count("★ ") == 3 * 2 + 1  # six best cells + the legend key "★ best"
    assert metrics_html.count('class="ci">±') >= 14
    # BD of Beta (4 points) against Alpha (4 points) is finite for both metrics.
    bd_row = re.search(r"<tr><td data-sort=\"Beta\">Beta</td>(.*?)</tr>", metrics_html, re.S).group(1)
    assert bd_row.count("n/a") == 0 and bd_row.count('class="good"') + bd_row.count('class="badv"') == 4
    for ext in ("png", "svg"):
        assert len(list((out / "plots").rglob(f"*.{ext}"))) == 2
    # Demo: 4 utterances on pages of 3, reference + 8 players per row, failed cell says why.
    demo1 = (out / f"demo_{ds}_1.html").read_text()
    assert demo1.count("<audio ") == 3 * 9 - 1 and "synthetic failure" in demo1  # utt2 x Beta_6 failed
    demo2 = (out / f"demo_{ds}_2.html").read_text()
    assert demo2.count("<audio ") == 9 and "utt4" in demo2
    headers = re.findall(r"<th>([^<]+)</th>", demo1)
    assert headers == ["reference", "Alpha_3", "Alpha_6", "Alpha_9", "Alpha_12", "Beta_3", "Beta_6", "Beta_12", "Beta_24"]
    assert summary.audio_files == 4 + 4 * 8 - 1
    for src in re.findall(r'<audio controls preload="metadata" src="([^"]+)"', demo1 + demo2):
        assert (out / src).is_file() and not src.startswith("/")
    index = (out / "index.html").read_text()
    assert "1 failed" in index and "RuntimeError: synthetic failure" in index
    assert "Full manifest" in index and "Best per metric" in index
    assert "report:" in summary.line() and "audio files" in summary.line()


def test_report_statistics_match_the_results_table(synthetic_run):
    frame = load_results(synthetic_run, include_paths=True)
    manifest = load_manifest(synthetic_run)
    metrics = metric_meta(manifest, ["si_sdr", "lsd"])
    (summary,) = summarize_datasets(frame, manifest, metrics, ReportOptions(bootstrap=200), "Beta_12")
    alpha6 = next(c for c in summary.conditions if c.label == "Alpha_6")
    # Paired: Beta_6 failed utt2, so every condition's mean is over the other three utterances.
    alpha_rows = frame[(frame["codec"] == "Alpha") & (frame["bitrate"] == 6.0) & (frame["utterance"] != "utt2")]
    assert alpha6.estimates["si_sdr"].mean == pytest.approx(alpha_rows["si_sdr"].mean())
    assert alpha6.estimates["si_sdr"].n == 3 and alpha6.n_lost["si_sdr"] == 0
    assert alpha6.anchor_label == "Beta_12" and alpha6.tests["si_sdr"].n == 3
    beta6 = next(c for c in summary.conditions if c.label == "Beta_6")
    assert beta6.n_ok == 3 and beta6.n_failed == 1
    assert summary.rate_source == "measured" and summary.failures == {"Beta_6": 1}
    with pytest.raises(ValueError, match="Alpha_3"):
        summarize_datasets(frame, manifest, metrics, ReportOptions(), "Gamma")


def test_demo_selection_and_flac(synthetic_run, tmp_path):
    best = ReportOptions(demo_selection="best", demo_metric="si_sdr", demo_items=1, audio_format="flac", **FAST)
    out = build_report(synthetic_run, tmp_path / "best", options=best)
    frame = load_results(synthetic_run)
    top = frame[frame["status"] == "ok"].groupby("utterance")["si_sdr"].mean().idxmax()
    demo = next(out.glob("demo_*_1.html")).read_text()
    assert f'<th class="utt" scope="row">{top}</th>' in demo
    flacs = list((out / "audio").rglob("*.flac"))
    assert flacs and not list((out / "audio").rglob("*.wav"))
    data, _ = sf.read(flacs[0])
    assert data.dtype.kind == "f" and abs(data).max() <= 1.0
    # every codec clip of the demo is one of the run's decoded files, re-encoded losslessly
    decoded = [sf.read(p, dtype="float32")[0] for p in sorted((synthetic_run / "decoded").glob("*.wav"))]
    clips = sorted((out / "audio").glob("*/codecs/*/*.flac"))
    assert clips
    for clip in clips:
        audio = sf.read(clip, dtype="float32")[0]
        assert any(d.shape == audio.shape and np.allclose(d, audio, atol=1e-4) for d in decoded), clip
    metrics = metric_meta(load_manifest(synthetic_run), ["si_sdr", "lsd"])
    worst_si = select_utterances(frame, ReportOptions(demo_selection="worst", demo_metric="si_sdr", demo_items=2), metrics)
    ranked = frame[frame["status"] == "ok"].groupby("utterance")["si_sdr"].mean().sort_values()
    assert worst_si == list(ranked.index[:2])
    # lsd is lower-is-better: its worst utterances are those with the highest mean.
    worst_lsd = select_utterances(frame, ReportOptions(demo_selection="worst", demo_metric="lsd", demo_items=1), metrics)
    assert worst_lsd == [frame[frame["status"] == "ok"].groupby("utterance")["lsd"].mean().idxmax()]
    rand = ReportOptions(demo_selection="random", demo_items=2, seed=5)
    picked = select_utterances(frame, rand, metrics)
    assert len(picked) == 2 and set(picked) <= set(frame["utterance"])
    assert select_utterances(frame, ReportOptions(demo_selection="random", demo_items=2, seed=5), metrics) == picked
    with pytest.raises(ValueError, match="demo_metric"):
        select_utterances(frame, ReportOptions(demo_selection="best", demo_metric="pesq"), metrics)


def test_hostile_names_are_escaped_and_file_names_sanitized(tmp_path):
    run = make_synthetic_run(tmp_path / "run", utterances=(HOSTILE_UTT, "ok_utt"),
                             codecs=((HOSTILE_CODEC, (6, 12)), ("Plain", (6, 12))), seconds=0.5)
    out = build_report(run, tmp_path / "rep", options=ReportOptions(**FAST))
    for page in out.glob("*.html"):
        html = page.read_text()
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "onerror=alert(1)>" not in html.replace("&gt;", "")
        scripts = re.findall(r"<script[^>]*>", html)
        assert scripts == ['<script src="static/report.js" defer>'], page.name
    demo = next(out.glob("demo_*_1.html")).read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in demo
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;_6" in demo
    for f in (out / "audio").rglob("*"):
        assert re.fullmatch(r"[A-Za-z0-9._/-]+", f.relative_to(out).as_posix())


def test_cli_report_and_anchor_override(synthetic_run, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", str(synthetic_run), "--out", str(tmp_path / "r"), "--anchor", "Beta",
                              "--no-spectrograms", "--demo-items", "2"])
    assert args.func(args) == 0
    assert "report:" in capsys.readouterr().out
    html = next((tmp_path / "r").glob("metrics_*.html")).read_text()
    assert "against Beta" in html
    assert cli_main(["report", str(synthetic_run), "--anchor", "Nope", "--out", str(tmp_path / "x")]) == 2
    assert "not a codec" in capsys.readouterr().err


def test_apcodec_plus_demo_report(shared_fixtures, tmp_path):
    run = make_folder_run(shared_fixtures / "apcodec_plus_demo", tmp_path / "run", report={"anchor": "APCodec+"})
    summary = build_report_summary(run, options=ReportOptions(anchor="APCodec+", bootstrap=300))
    out = summary.out_dir
    assert out == run / "report"
    (ds,) = summarize_datasets(load_results(run, include_paths=True), load_manifest(run),
                      metric_meta(load_manifest(run), ["si_sdr", "lsd"]), ReportOptions(bootstrap=200), "APCodec+")
    assert len(ds.conditions) == 13 and ds.rate_source == "declared"
    rate, met = ds.bd["APCodec"]["si_sdr"]
    assert math.isfinite(rate.value) and math.isfinite(met.value)
    assert ds.bd["APCodec+-iter1"]["si_sdr"][1].method == "point"
    assert "outside" in ds.bd["SoundStream"]["si_sdr"][0].reason
    demo = (out / "demo_ref-69449f99_1.html").read_text() if (out / "demo_ref-69449f99_1.html").exists() \
        else next(out.glob("demo_*_1.html")).read_text()
    assert demo.count("<audio ") == 3 * 14 - 2  # apcodec_4.5 lacks two files
    assert demo.count('class="spec"') == 3 * 14 - 2
    assert "APCodec+_4.5" in demo and "ex01_confused_00371" in demo
    metrics_page = next(out.glob("metrics_*.html")).read_text()
    assert "declared kbps (measured bitrate unavailable" in metrics_page
    assert json.loads((run / "manifest.json").read_text())["suite"]["report"] == {"anchor": "APCodec+"}
