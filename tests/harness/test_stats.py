"""codecbench.stats: BCa bootstrap CI, Bjøntegaard deltas, Wilcoxon + Holm, paired selection, duplicates."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from codecbench.errors import ConfigError
from codecbench.stats import (CISettings, Estimate, bd_metric, bd_rate, bootstrap_ci, compare, duplicate_conditions,
                              format_estimate, holm, paired_tests, t_ci, wilcoxon)


def test_bootstrap_ci_brackets_the_mean_and_narrows_with_n():
    rng = np.random.default_rng(0)
    small = bootstrap_ci(rng.normal(5, 1, 10), n_boot=2000, seed=1)
    large = bootstrap_ci(rng.normal(5, 1, 400), n_boot=2000, seed=1)
    assert small.lo < small.mean < small.hi and large.lo < large.mean < large.hi
    assert (large.hi - large.lo) < (small.hi - small.lo) / 3
    assert abs(large.mean - 5) < 0.2
    # Coverage sanity: percentile CI of the mean is close to the t interval for normal data.
    t = t_ci(rng.normal(0, 1, 200))
    b = bootstrap_ci(rng.normal(0, 1, 200))
    assert abs((t.hi - t.lo) - (b.hi - b.lo)) < 0.1


def test_bootstrap_ci_ignores_nan_and_handles_tiny_samples():
    est = bootstrap_ci([1.0, math.nan, 3.0])
    assert est.n == 2 and est.mean == 2.0
    one = bootstrap_ci([4.0, math.nan])
    assert one.mean == 4.0 and math.isnan(one.lo) and one.n == 1
    assert math.isnan(bootstrap_ci([]).mean)


RATES = [2.0, 4.0, 8.0, 16.0]
QUALITY = [10.0, 14.0, 17.0, 19.0]


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_rate_is_zero_for_identical_curves_and_minus_half_for_half_the_rate(method):
    assert abs(bd_rate(RATES, QUALITY, RATES, QUALITY, method).value) < 1e-9
    half = bd_rate(RATES, QUALITY, [r / 2 for r in RATES], QUALITY, method)
    assert half.reason is None and abs(half.value - (-50.0)) < 1e-6
    assert half.method == method


def test_bd_metric_measures_a_constant_quality_shift():
    res = bd_metric(RATES, QUALITY, RATES, [q + 1.5 for q in QUALITY])
    assert abs(res.value - 1.5) < 1e-9
    # Lower-is-better metrics work the same way for BD-rate (rate as a function of quality).
    lsd = [5.0, 4.0, 3.2, 2.9]
    assert abs(bd_rate(RATES, lsd, [r * 2 for r in RATES], lsd).value - 100.0) < 1e-6


def test_bd_falls_back_with_a_reason():
    assert "2 rate points" in bd_rate([4.0], [10.0], [8.0], [12.0]).reason
    no_overlap = bd_rate(RATES, QUALITY, [32.0, 64.0], [30.0, 35.0])
    assert math.isnan(no_overlap.value) and "overlap" in no_overlap.reason
    cubic_short = bd_rate(RATES[:3], QUALITY[:3], RATES[:3], QUALITY[:3], "cubic")
    assert cubic_short.method == "pchip" and abs(cubic_short.value) < 1e-9
    flat = bd_rate(RATES, [10, 12, 12, 13], RATES, QUALITY)
    assert "monotonic" in flat.reason


def test_single_point_is_compared_with_the_anchor_curve():
    # Anchor quality at 4 kbps is 14; a test codec reaching 14 at 2.8 kbps saves 30 %.
    res = bd_rate(RATES, QUALITY, [2.8], [14.0])
    assert res.method == "point" and abs(res.value - (-30.0)) < 1e-6
    met = bd_metric(RATES, QUALITY, [8.0], [18.0])
    assert met.method == "point" and abs(met.value - 1.0) < 1e-9
    out = bd_metric(RATES, QUALITY, [32.0], [20.0])
    assert math.isnan(out.value) and "outside" in out.reason


def test_holm_matches_hand_computation_and_skips_nan():
    adjusted = holm([0.01, 0.04, math.nan, 0.03])
    assert adjusted[0] == pytest.approx(0.03)
    assert adjusted[1] == pytest.approx(0.06) and adjusted[3] == pytest.approx(0.06)
    assert math.isnan(adjusted[2])


def test_wilcoxon_matches_scipy_and_handles_ties():
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, 20)
    b = a + rng.normal(0.8, 0.5, 20)
    p, n, med, why = wilcoxon(b, a)
    assert why is None and n == 20 and med > 0
    assert p == pytest.approx(sps.wilcoxon(b - a).pvalue)
    assert wilcoxon(a, a)[0] == 1.0
    assert wilcoxon([1.0], [0.0])[3] is not None
    tests = paired_tests([(b, a), (a + 0.001 * rng.normal(size=20), a)])
    lo, hi = sorted([tests[0].p, tests[1].p])
    assert sorted([tests[0].p_holm, tests[1].p_holm]) == pytest.approx([min(1.0, 2 * lo), min(1.0, max(2 * lo, hi))])


def test_bootstrap_ci_is_scipy_bca_with_a_fixed_seed():
    x = np.random.default_rng(11).gamma(2.0, 1.0, 30)
    est = bootstrap_ci(x, n_boot=1000, level=0.9, seed=4)
    ref = sps.bootstrap((x,), np.mean, n_resamples=1000, confidence_level=0.9, method="BCa",
                        rng=np.random.default_rng(4)).confidence_interval
    assert (est.lo, est.hi) == pytest.approx((ref.low, ref.high))
    assert bootstrap_ci(x, n_boot=1000, level=0.9, seed=4) == est  # reproducible
    flat = bootstrap_ci([2.0, 2.0, 2.0])
    assert (flat.lo, flat.hi, flat.n) == (2.0, 2.0, 3)


def test_holm_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(5).uniform(0, 0.2, 7)
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist())
    with_nan = holm([p[0], math.nan, p[1]])
    assert math.isnan(with_nan[1])
    assert [with_nan[0], with_nan[2]] == pytest.approx(multipletests(p[:2], method="holm")[1].tolist())


def _frame(scores: dict[str, dict[str, float]], sha: dict[str, dict[str, str]] | None = None) -> pd.DataFrame:
    rows = []
    for cond, per in scores.items():
        codec, _, rate = cond.partition("_")
        for utt, value in per.items():
            rows.append({"dataset": "d", "utterance": utt, "codec": codec, "bitrate": float(rate), "m": value,
                         "status": "ok" if math.isfinite(value) else "failed",
                         "error": None if math.isfinite(value) else "RuntimeError: x", "failure_reasons": "{}",
                         "decoded_sha256": (sha or {}).get(cond, {}).get(utt)})
    return pd.DataFrame(rows)


def test_compare_pairs_on_shared_utterances_and_excludes_conditions_that_scored_nothing():
    frame = _frame({"A_6": {"u1": 1.0, "u2": 2.0, "u3": 9.0}, "B_6": {"u1": 2.0, "u2": 3.0, "u3": math.nan},
                    "C_6": {"u1": math.nan, "u2": math.nan, "u3": math.nan}})
    comp = compare(frame, "m", CISettings(n_boot=200))
    assert comp.utterances == ("u1", "u2") and comp.excluded == ("C_6",)
    assert comp.paired["A_6"].mean == 1.5 and comp.paired["B_6"].mean == 2.5 and comp.paired["A_6"].n == 2
    assert comp.n_failed == {"A_6": 0, "B_6": 1, "C_6": 3} and math.isnan(comp.paired["C_6"].mean)
    assert comp.losses[0].condition == "B_6" and "failed: RuntimeError: x (x1)" in comp.losses[0].describe()
    assert comp.unpaired == {}
    assert compare(frame, "m", CISettings(n_boot=200), all_items=True).unpaired["A_6"].mean == 4.0


def test_duplicate_conditions_need_identical_audio_on_every_shared_utterance():
    scores = {"A_6": {"u1": 1.0, "u2": 1.0}, "B_6": {"u1": 1.0, "u2": 1.0}, "C_6": {"u1": 1.0, "u2": 1.0},
              "D_6": {"u1": 1.0, "u2": 1.0}}
    sha = {"A_6": {"u1": "x", "u2": "y"}, "B_6": {"u1": "x", "u2": "y"}, "C_6": {"u1": "x", "u2": "z"},
           "D_6": {"u2": "y"}}
    groups = duplicate_conditions(_frame(scores, sha))
    assert [(g.conditions, g.n_items) for g in groups] == [(("A_6", "B_6", "D_6"), 2)]
    assert "A_6 = B_6 = D_6" in groups[0].describe()
    assert duplicate_conditions(_frame(scores)) == []  # no digests stored: nothing to compare


def test_format_estimate_uses_three_significant_digits_for_mean_and_half_width():
    assert format_estimate(Estimate(2.3214, 2.2, 2.41, 5)) == "2.32 ± 0.10"
    assert format_estimate(Estimate(15.234, 14.9, 15.5, 5)) == "15.2 ± 0.3"
    assert format_estimate(Estimate(0.91234, 0.9, 0.925, 5)) == "0.912 ± 0.013"
    assert format_estimate(Estimate(4.0, math.nan, math.nan, 1)) == "4.00"
    assert format_estimate(Estimate(math.nan, math.nan, math.nan, 0)) == "n/a"


def test_ci_settings_come_from_the_suite_report_section():
    assert CISettings.from_manifest({}) == CISettings()
    got = CISettings.from_manifest({"suite": {"report": {"bootstrap": 300, "ci_level": 0.9, "seed": 2}}})
    assert got == CISettings(300, 0.9, 2) and "90% BCa bootstrap" in got.method
    with pytest.raises(ConfigError, match="suite.report"):
        CISettings.from_manifest({"suite": {"report": {"bootstrap": "many"}}})


def test_loss_reason_names_the_metric_once() -> None:
    from codecbench.stats import _row_reason

    named = {"status": "ok", "failure_reasons": '{"f0_rmse": "f0_rmse: 0 frames voiced in both signals"}'}
    bare = {"status": "ok", "failure_reasons": '{"pesq_wb": "0.250 s long"}'}
    assert _row_reason(named, "f0_rmse") == "f0_rmse: 0 frames voiced in both signals"
    assert _row_reason(bare, "pesq_wb") == "pesq_wb: 0.250 s long"
    assert _row_reason({"status": "failed", "error": "boom"}, "pesq_wb") == "failed: boom"
