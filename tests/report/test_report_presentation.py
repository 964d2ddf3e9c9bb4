"""How readers compare a report: shared spectrogram axes, counts kept apart, honest captions, FLAC."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from codecbench.report import ReportOptions, build_report
from codecbench.report.build import selection_text
from codecbench.report.cli import main as cli_main
from codecbench.report.demo import fmt, fmt_ci, fmt_kbps, fmt_p
from codecbench.report.plots import row_spectrograms
from sample_run import make_synthetic_run
from codecbench.store import ItemResult, ResultStore

GREY = np.array([0xD9, 0xDE, 0xE3]) / 255.0  # the "no content" colour


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    run = make_synthetic_run(tmp_path_factory.mktemp("prun") / "run", utterances=("u1", "u2", "u3"),
                             codecs=(("Alpha", (6, 12)), ("Beta", (6, 12))), seconds=0.5, fail=("u2", "Beta", 6.0))
    with ResultStore.open(run) as store:
        store.write(ItemResult("synthetic|u3|Beta|12", "synthetic", "u3", "Beta", "adapter1", 12.0, "skipped",
                               error="weights absent", reference_path="refs/002.wav",
                               scores={"si_sdr": (math.nan, "row skipped"), "lsd": (math.nan, "row skipped")}))
    return run


def test_row_thumbnails_share_frequency_axis_and_color_scale(tmp_path):
    rng = np.random.default_rng(0)
    ref = (0.3 * rng.standard_normal(16000)).astype(np.float32)  # broadband, 1 s at 16 kHz
    quiet = 0.05 * ref
    low = signal.resample_poly(ref, 1, 2)  # the same signal decoded at 8 kHz
    paths = [tmp_path / f"{n}.png" for n in ("ref", "quiet", "low")]
    scale = row_spectrograms([(ref, 16000), (quiet, 16000), (low, 8000)], 16000, paths)
    assert scale.max_hz == 8000.0 and scale.seconds == pytest.approx(1.0)
    assert scale.db_top - scale.db_floor == 80.0 and scale.db_top % 10 == 0
    images = [plt.imread(p)[..., :3] for p in paths]
    assert {im.shape for im in images} == {(72, 240, 3)}
    # One colour scale: a 26 dB quieter copy is visibly darker (per-image scaling would hide it).
    assert images[1].mean() < images[0].mean() - 0.1
    # One frequency axis: the 8 kHz output fills only the lower half; its top half is "no content".
    top_half = images[2][:34]
    assert np.allclose(top_half, GREY, atol=2 / 255)
    assert not np.allclose(images[2][40:], GREY, atol=2 / 255)
    assert not np.allclose(images[0][:34], GREY, atol=2 / 255)


def test_a_tone_sits_at_the_same_height_whatever_the_output_rate(tmp_path):
    t16, t8 = np.arange(16000) / 16000, np.arange(8000) / 8000
    tone16 = 0.5 * np.sin(2 * np.pi * 2000 * t16)
    tone8 = 0.5 * np.sin(2 * np.pi * 2000 * t8)
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    row_spectrograms([(tone16, 16000), (tone8, 8000)], 16000, paths)
    lower = 36  # rows below 4 kHz (the 8 kHz output's band); above it is the grey "no content"
    rows = [lower + int(np.argmax(plt.imread(p)[lower:, :, :3].mean(axis=(1, 2)))) for p in paths]
    assert rows[0] == rows[1] == pytest.approx(71 - 2000 / 8000 * 71, abs=1)


def test_demo_page_labels_the_thumbnail_axes(run, tmp_path):
    out = build_report(run, tmp_path / "site", options=ReportOptions(bootstrap=200))
    demo = next(out.glob("demo_*_1.html")).read_text()
    assert demo.count('class="spec-key"') == 3  # one key per row, in the reference's cell
    assert '<th class="utt" scope="row">u1</th>' in demo  # the row header stays the bare id
    assert "0–8 kHz (reference Nyquist)" in demo and "dBFS" in demo
    assert demo.count('<span class="f-axis"') == demo.count('<img class="spec"') > 0
    sizes = {plt.imread(p).shape for p in (out / "spec").rglob("*.png")}
    assert sizes == {(72, 240, 4)}


def test_ok_failed_and_skipped_are_counted_apart(run, tmp_path):
    out = build_report(run, tmp_path / "site", options=ReportOptions(bootstrap=200, spectrograms=False))
    metrics = next(out.glob("metrics_*.html")).read_text()
    counts = {}
    for row in re.findall(r"<tr[^>]*>\s*<td data-sort=\"([^\"]+)\">.*?</tr>", metrics, re.S):
        block = metrics.split(f'<td data-sort="{row}">', 1)[1].split("</tr>", 1)[0]
        cells = [int(re.search(rf'class="num n-{k}[^"]*">(\d+)<', block).group(1)) for k in ("ok", "failed", "skipped")]
        counts[row] = cells
    assert counts["Beta_6"] == [2, 1, 0] and counts["Beta_12"] == [2, 0, 1] and counts["Alpha_6"] == [3, 0, 0]
    index = (out / "index.html").read_text()
    assert re.search(r"10 ok</span>.*1 failed</span>.*1 skipped</span>", index, re.S)
    clean = make_synthetic_run(tmp_path / "clean", utterances=("u1",), codecs=(("Alpha", (6,)),), seconds=0.3)
    index = (build_report(clean, tmp_path / "c", options=ReportOptions(bootstrap=200, spectrograms=False))
             / "index.html").read_text()
    assert "0 failed</span>" in index and "0 skipped</span>" in index


def test_selection_caption_counts_what_was_shown(run, tmp_path):
    out = build_report(run, tmp_path / "all", options=ReportOptions(demo_items=10, bootstrap=200, spectrograms=False))
    demo = next(out.glob("demo_*_1.html")).read_text()
    assert "all 3 utterances" in demo and "first 10" not in demo
    out = build_report(run, tmp_path / "two", options=ReportOptions(demo_items=2, bootstrap=200, spectrograms=False))
    demo = next(out.glob("demo_*_1.html")).read_text()
    assert "first 2 of 3 utterances" in demo and demo.count('<th class="utt" scope="row">') == 2
    opts = ReportOptions(demo_selection="worst", demo_metric="si_sdr", demo_items=5)
    assert selection_text(opts, 1, 4) == "1 worst of 4 utterances by mean si_sdr"
    assert selection_text(ReportOptions(demo_selection="random", seed=3), 2, 9) == "2 random of 9 utterances (seed 3)"


def test_report_audio_is_flac_by_default_and_wav_on_request(run, tmp_path):
    assert ReportOptions().audio_format == "flac"
    out = build_report(run, tmp_path / "flac", options=ReportOptions(bootstrap=200, spectrograms=False))
    assert {p.suffix for p in (out / "audio").rglob("*.*")} == {".flac"}
    assert cli_main(["report", str(run), "--out", str(tmp_path / "wav"), "--audio-format", "wav",
                     "--no-spectrograms"]) == 0
    wavs = list((tmp_path / "wav" / "audio").rglob("*.*"))
    assert wavs and {p.suffix for p in wavs} == {".wav"}
    assert {sf.info(p).subtype for p in wavs} == {"PCM_24"}
    # A 16-bit source stays 16-bit and bit-exact, instead of growing to 24 bits.
    pcm16 = Path(shutil.copytree(run, tmp_path / "run16"))
    for path in (pcm16 / "decoded").glob("*.wav"):
        data, rate = sf.read(path, dtype="float32")
        sf.write(path, data, rate, subtype="PCM_16")
    out16 = build_report(pcm16, tmp_path / "flac16", options=ReportOptions(bootstrap=200, spectrograms=False))
    flac16 = sorted((out16 / "audio").glob("*/codecs/*/*.flac"))
    assert flac16 and {sf.info(p).subtype for p in flac16} == {"PCM_16"}
    decoded = {sf.read(p, dtype="int16")[0].tobytes() for p in (pcm16 / "decoded").glob("*.wav")}
    assert all(sf.read(p, dtype="int16")[0].tobytes() in decoded for p in flac16)
    demo = next((tmp_path / "wav").glob("demo_*_1.html")).read_text()
    assert ".flac" not in demo and demo.count('.wav"') == len(re.findall(r"<audio ", demo))


def test_wide_tables_sit_in_scroll_containers(run, tmp_path):
    out = build_report(run, tmp_path / "site", options=ReportOptions(bootstrap=200, spectrograms=False))
    metrics = next(out.glob("metrics_*.html")).read_text()
    assert re.search(r'<div class="table-scroll">\s*<table class="metrics sortable" id="metrics-table">', metrics)
    index = (out / "index.html").read_text()
    assert index.count('<table class="plain">') == index.count('<div class="table-scroll">\n<table class="plain">')
    css = (out / "static" / "report.css").read_text()
    assert re.search(r"\.table-scroll \{[^}]*overflow-x:auto", css)


def test_numbers_carry_the_same_significant_digits_at_every_magnitude():
    assert [fmt(v) for v in (12.345, 1.2345, 0.012345, 1234.6, -3.456, 9.996, 0.0)] == \
        ["12.3", "1.23", "0.0123", "1235", "-3.46", "10.0", "0"]
    assert fmt(float("nan")) == "—" and fmt(None) == "—"
    assert fmt_ci(0.0512, 3.2104) == "0.05" and fmt_ci(0.26, 12.34) == "0.3"
    assert fmt_ci(0.0004, 3.21) == "0.0004"  # would round to 0.00: one significant digit instead
    assert [fmt_kbps(v) for v in (6.0, 4.5, 24.0, 6.0612)] == ["6", "4.5", "24", "6.06"]
    assert fmt_p(0.0312) == "0.031" and fmt_p(2e-7) == "< 0.001"


def test_metric_table_pairs_each_mean_with_a_ci_of_its_decimals(tmp_path):
    # No lost items here: the shared fixture pairs over one utterance, which has no interval.
    run = make_synthetic_run(tmp_path / "run", utterances=("u1", "u2", "u3"),
                             codecs=(("Alpha", (6, 12)), ("Beta", (6, 12))), seconds=0.5)
    out = build_report(run, tmp_path / "site", options=ReportOptions(bootstrap=200, spectrograms=False))
    metrics = next(out.glob("metrics_*.html")).read_text()
    pairs = re.findall(r"(-?\d+(?:\.(\d+))?) <span class=\"ci\">± (\d+(?:\.(\d+))?)</span>", metrics)
    assert len(pairs) >= 8
    for _, mean_dec, half, half_dec in pairs:
        assert len(half_dec) == len(mean_dec) or float(half) < 10 ** -len(mean_dec)
    assert '<td data-sort="6.0">6</td>' in metrics
