"""Statistics of the report: bootstrap CIs, Bjøntegaard deltas, paired tests with Holm correction.

Every function returns NaN together with a one-line reason instead of raising when the data do
not allow an answer (too few items, too few rate points, disjoint ranges), because a report of
a partly failed run must still render and say *why* a cell is empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from scipy import interpolate, stats


@dataclass(frozen=True)
class Estimate:
    """A mean with its confidence interval (``lo``/``hi`` NaN when it cannot be estimated)."""

    mean: float
    lo: float
    hi: float
    n: int


@dataclass(frozen=True)
class BDResult:
    """One Bjøntegaard delta. ``value`` is NaN when ``reason`` says why; ``method`` is the fit used."""

    value: float
    reason: Optional[str] = None
    method: str = ""


@dataclass(frozen=True)
class PairedTest:
    """Wilcoxon signed-rank test of a condition against the anchor on the same utterances."""

    p: float
    p_holm: float
    n: int
    median_diff: float
    reason: Optional[str] = None


def _finite(values: Sequence[float]) -> tuple[np.ndarray, Optional[Estimate]]:
    """The finite ``values``, and the estimate itself when fewer than two leave no interval."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return x, Estimate(math.nan, math.nan, math.nan, 0)
    if x.size == 1:
        return x, Estimate(float(x.mean()), math.nan, math.nan, 1)
    return x, None


def bootstrap_ci(values: Sequence[float], n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> Estimate:
    """Percentile bootstrap CI of the mean of the finite ``values``."""
    x, degenerate = _finite(values)
    if degenerate is not None:
        return degenerate
    mean = float(x.mean())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    means = x[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return Estimate(mean, float(lo), float(hi), int(x.size))


def t_ci(values: Sequence[float], level: float = 0.95) -> Estimate:
    """Student-t CI of the mean (what ITU-R BS.1534 prescribes for listening-test scores)."""
    x, degenerate = _finite(values)
    if degenerate is not None:
        return degenerate
    mean = float(x.mean())
    half = float(stats.t.ppf(0.5 + level / 2.0, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Estimate(mean, mean - half, mean + half, int(x.size))


def _curve(rates: Sequence[float], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray, Optional[str]]:
    r = np.asarray(rates, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(r) & np.isfinite(v) & (r > 0)
    r, v = r[keep], v[keep]
    order = np.argsort(r)
    r, v = r[order], v[order]
    if np.unique(r).size != r.size:
        return r, v, "two points share one rate"
    return np.log10(r), v, None


def _fit_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Integral over [lo, hi] of y(x), fitted piecewise-cubically or with one cubic polynomial."""
    order = np.argsort(x)
    x, y = x[order], y[order]
    if method == "cubic":
        poly = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(poly, hi) - np.polyval(poly, lo))
    return float(interpolate.PchipInterpolator(x, y).integrate(lo, hi))


def _method_for(n_points: int, method: str) -> tuple[Optional[str], Optional[str]]:
    if n_points < 2:
        return None, f"needs >= 2 rate points per curve (has {n_points})"
    if method == "cubic" and n_points < 4:
        return "pchip", None
    return method, None


def _prepare(anchor_rates: Sequence[float], anchor_values: Sequence[float], test_rates: Sequence[float],
             test_values: Sequence[float], method: str,
             rate: bool) -> BDResult | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Both curves and the interpolation method, or the final result when there is nothing to
    integrate (an unusable curve, or a single point: :func:`_point_delta`)."""
    ra, va, why_a = _curve(anchor_rates, anchor_values)
    rt, vt, why_t = _curve(test_rates, test_values)
    if why_a or why_t:
        return BDResult(math.nan, f"anchor: {why_a}" if why_a else f"test: {why_t}")
    if min(ra.size, rt.size) == 1 and max(ra.size, rt.size) >= 2:
        return _point_delta(ra, va, rt, vt, rate=rate)
    used, why = _method_for(min(ra.size, rt.size), method)
    if used is None:
        return BDResult(math.nan, why)
    return ra, va, rt, vt, used


def bd_rate(anchor_rates: Sequence[float], anchor_values: Sequence[float], test_rates: Sequence[float],
            test_values: Sequence[float], method: str = "pchip") -> BDResult:
    """Bjøntegaard delta rate (percent): the average bitrate change of ``test`` vs ``anchor`` at equal quality.

    Negative means the test codec needs fewer bits. Works for either metric direction because
    log-rate is integrated as a function of the metric over the overlapping metric range.
    """
    prepared = _prepare(anchor_rates, anchor_values, test_rates, test_values, method, rate=True)
    if isinstance(prepared, BDResult):
        return prepared
    ra, va, rt, vt, used = prepared
    for name, v in (("anchor", va), ("test", vt)):
        if np.unique(v).size != v.size or not (np.all(np.diff(v) > 0) or np.all(np.diff(v) < 0)):
            return BDResult(math.nan, f"{name} quality is not monotonic in rate", used)
    lo, hi = max(va.min(), vt.min()), min(va.max(), vt.max())
    if not hi > lo:
        return BDResult(math.nan, "quality ranges do not overlap", used)
    diff = (_fit_integral(vt, rt, lo, hi, used) - _fit_integral(va, ra, lo, hi, used)) / (hi - lo)
    return BDResult(float((10.0 ** diff - 1.0) * 100.0), None, used)


def bd_metric(anchor_rates: Sequence[float], anchor_values: Sequence[float], test_rates: Sequence[float],
              test_values: Sequence[float], method: str = "pchip") -> BDResult:
    """Bjøntegaard delta metric: the average metric difference (test - anchor) at equal rate."""
    prepared = _prepare(anchor_rates, anchor_values, test_rates, test_values, method, rate=False)
    if isinstance(prepared, BDResult):
        return prepared
    ra, va, rt, vt, used = prepared
    lo, hi = max(ra.min(), rt.min()), min(ra.max(), rt.max())
    if not hi > lo:
        return BDResult(math.nan, "rate ranges do not overlap", used)
    diff = (_fit_integral(rt, vt, lo, hi, used) - _fit_integral(ra, va, lo, hi, used)) / (hi - lo)
    return BDResult(float(diff), None, used)


def _point_delta(ra: np.ndarray, va: np.ndarray, rt: np.ndarray, vt: np.ndarray, rate: bool) -> BDResult:
    """Delta at a single operating point against the other side's interpolated curve.

    With one point there is no curve to integrate, but the question "how many more bits does
    the anchor need for this quality" (or "how much better at this rate") still has an answer
    when the point falls inside the other curve's range. ``method`` is ``point``.
    """
    single_is_test = rt.size == 1
    lr1, q1, lr_curve, q_curve = (rt[0], vt[0], ra, va) if single_is_test else (ra[0], va[0], rt, vt)
    if rate:
        if np.unique(q_curve).size != q_curve.size or not (np.all(np.diff(q_curve) > 0) or np.all(np.diff(q_curve) < 0)):
            return BDResult(math.nan, "curve quality is not monotonic in rate", "point")
        if not q_curve.min() <= q1 <= q_curve.max():
            return BDResult(math.nan, "single point's quality is outside the other curve's range", "point")
        order = np.argsort(q_curve)
        lr_at = float(interpolate.PchipInterpolator(q_curve[order], lr_curve[order])(q1))
        diff = (lr1 - lr_at) if single_is_test else (lr_at - lr1)
        return BDResult(float((10.0 ** diff - 1.0) * 100.0), None, "point")
    if not lr_curve.min() <= lr1 <= lr_curve.max():
        return BDResult(math.nan, "single point's rate is outside the other curve's range", "point")
    q_at = float(interpolate.PchipInterpolator(lr_curve, q_curve)(lr1))
    return BDResult(float(q1 - q_at) if single_is_test else float(q_at - q1), None, "point")


def wilcoxon(test: Sequence[float], anchor: Sequence[float]) -> tuple[float, int, float, Optional[str]]:
    """Two-sided Wilcoxon signed-rank p-value of paired samples; returns (p, n, median diff, reason)."""
    t = np.asarray(test, dtype=np.float64)
    a = np.asarray(anchor, dtype=np.float64)
    keep = np.isfinite(t) & np.isfinite(a)
    d = t[keep] - a[keep]
    n = int(d.size)
    if n == 0:
        return math.nan, 0, math.nan, "no utterances scored for both"
    median = float(np.median(d))
    if np.all(d == 0):
        return 1.0, n, median, None
    if n < 2:
        return math.nan, n, median, "needs >= 2 paired utterances"
    return float(stats.wilcoxon(d).pvalue), n, median, None


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values; NaN entries stay NaN and do not count as tests."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, math.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = idx.size
    running = 0.0
    for rank, i in enumerate(idx[np.argsort(p[idx], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def paired_tests(tests: Sequence[tuple[Sequence[float], Sequence[float]]]) -> list[PairedTest]:
    """Wilcoxon tests of each (test, anchor) pair, Holm-corrected together as one family."""
    raw = [wilcoxon(t, a) for t, a in tests]
    adjusted = holm([r[0] for r in raw])
    return [PairedTest(p, q, n, med, why) for (p, n, med, why), q in zip(raw, adjusted)]
