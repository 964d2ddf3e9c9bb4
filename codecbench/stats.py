"""Statistics shared by ``codecbench summary`` and the report: one CI method, paired selection,
Wilcoxon tests with Holm correction, Bjøntegaard deltas and duplicate-output detection.

Comparisons are *paired*: for each dataset x metric only the utterances that every compared
condition scored enter the means, intervals, tests and RD points, because a mean over a
different utterance set (one codec failing the hardest clip) is not comparable.
Every function returns NaN together with a one-line reason instead of raising when the data do
not allow an answer (too few items, too few rate points, disjoint ranges), because a summary of
a partly failed run must still render and say *why* a cell is empty.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import interpolate, stats
from numpy.typing import ArrayLike
from statsmodels.stats.multitest import multipletests

from codecbench.errors import ConfigError
from codecbench.results import condition_label


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


@dataclass(frozen=True)
class CISettings:
    """The one confidence-interval method of codecbench: a seeded BCa bootstrap of the mean.

    The CLI summary and the report both read these from the suite's ``report:`` section
    (``bootstrap``, ``ci_level``, ``seed``), so the same run gives the same interval in both.
    """

    n_boot: int = 2000
    level: float = 0.95
    seed: int = 0

    @property
    def method(self) -> str:
        """Human-readable name of the interval, printed beside every table."""
        return f"{self.level * 100:g}% BCa bootstrap CI of the mean ({self.n_boot} resamples, seed {self.seed})"

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> "CISettings":
        """Settings from ``manifest["suite"]["report"]``; defaults where a key is absent."""
        raw = (manifest.get("suite") or {}).get("report") or {}
        try:
            settings = cls(int(raw.get("bootstrap", cls.n_boot)), float(raw.get("ci_level", cls.level)),
                           int(raw.get("seed", cls.seed)))
        except (TypeError, ValueError):
            settings = None
        if settings is None or not (100 <= settings.n_boot <= 100_000 and 0.5 < settings.level < 1.0):
            raise ConfigError("manifest.json suite.report: bootstrap must be an integer in 100..100000 and "
                              "ci_level a number in (0.5, 1); fix the suite's report: section and rerun")
        return settings


def _finite(values: ArrayLike) -> tuple[np.ndarray, Optional[Estimate]]:
    """The finite ``values``, and the estimate itself when fewer than two leave no interval."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return x, Estimate(math.nan, math.nan, math.nan, 0)
    if x.size == 1:
        return x, Estimate(float(x.mean()), math.nan, math.nan, 1)
    return x, None


def bootstrap_ci(values: ArrayLike, n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> Estimate:
    """BCa bootstrap CI (:func:`scipy.stats.bootstrap`) of the mean of the finite ``values``.

    Constant values have a zero-width interval (BCa's acceleration is undefined there).
    """
    x, degenerate = _finite(values)
    if degenerate is not None:
        return degenerate
    mean = float(x.mean())
    if np.ptp(x) == 0.0:
        return Estimate(mean, mean, mean, int(x.size))
    res = stats.bootstrap((x,), np.mean, n_resamples=n_boot, confidence_level=level, method="BCa",
                          vectorized=True, rng=np.random.default_rng(seed))
    return Estimate(mean, float(res.confidence_interval.low), float(res.confidence_interval.high), int(x.size))


def estimate(values: ArrayLike, settings: CISettings) -> Estimate:
    """:func:`bootstrap_ci` with ``settings``: the call both the CLI and the report make."""
    return bootstrap_ci(values, settings.n_boot, settings.level, settings.seed)


def t_ci(values: ArrayLike, level: float = 0.95) -> Estimate:
    """Student-t CI of the mean, only for listening-test scores (ITU-R BS.1534 prescribes it)."""
    x, degenerate = _finite(values)
    if degenerate is not None:
        return degenerate
    mean = float(x.mean())
    half = float(stats.t.ppf(0.5 + level / 2.0, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Estimate(mean, mean - half, mean + half, int(x.size))


def _curve(rates: ArrayLike, values: ArrayLike) -> tuple[np.ndarray, np.ndarray, Optional[str]]:
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


def _prepare(anchor_rates: ArrayLike, anchor_values: ArrayLike, test_rates: ArrayLike,
             test_values: ArrayLike, method: str,
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


def bd_rate(anchor_rates: ArrayLike, anchor_values: ArrayLike, test_rates: ArrayLike,
            test_values: ArrayLike, method: str = "pchip") -> BDResult:
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


def bd_metric(anchor_rates: ArrayLike, anchor_values: ArrayLike, test_rates: ArrayLike,
              test_values: ArrayLike, method: str = "pchip") -> BDResult:
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


def wilcoxon(test: ArrayLike, anchor: ArrayLike) -> tuple[float, int, float, Optional[str]]:
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


def holm(pvalues: ArrayLike) -> list[float]:
    """Holm-adjusted p-values (statsmodels ``multipletests``); NaN entries stay NaN and are not tests."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, math.nan)
    finite = np.isfinite(p)
    if finite.any():
        out[finite] = multipletests(p[finite], method="holm")[1]
    return out.tolist()


def paired_tests(tests: Sequence[tuple[ArrayLike, ArrayLike]]) -> list[PairedTest]:
    """Wilcoxon tests of each (test, anchor) pair, Holm-corrected together as one family."""
    raw = [wilcoxon(t, a) for t, a in tests]
    adjusted = holm([r[0] for r in raw])
    return [PairedTest(p, q, n, med, why) for (p, n, med, why), q in zip(raw, adjusted)]


# -- paired selection -------------------------------------------------------------------------

@dataclass(frozen=True)
class Loss:
    """The utterances one condition did not score for one metric, and the distinct reasons why."""

    condition: str
    utterances: tuple[str, ...]
    reasons: tuple[str, ...]

    def describe(self, max_names: int = 3) -> str:
        """One phrase, e.g. ``Opus_6 lost 1 [clip7]: pesq_wb: 0.250 s long, ... (x1)``."""
        names = ", ".join(self.utterances[:max_names]) + (", ..." if len(self.utterances) > max_names else "")
        return f"{self.condition} lost {len(self.utterances)} [{names}]: {'; '.join(self.reasons)}"


@dataclass(frozen=True)
class Comparison:
    """One dataset x metric, compared over the utterances every compared condition scored.

    ``paired`` holds each condition's estimate over exactly ``utterances`` (so ``n`` is the
    same for all); ``unpaired`` (filled only when asked) over all its own finite values.
    Conditions that scored nothing for the metric are ``excluded`` from the intersection
    rather than emptying every other condition's cell; their estimate is NaN with n 0.
    """

    dataset: str
    metric: str
    conditions: tuple[str, ...]
    utterances: tuple[str, ...]
    excluded: tuple[str, ...]
    losses: tuple[Loss, ...]
    paired: dict[str, Estimate]
    unpaired: dict[str, Estimate]
    n_failed: dict[str, int]
    values: dict[str, np.ndarray] = field(repr=False)
    ci_method: str = ""


def _row_reason(row: Mapping[str, Any], metric: str) -> str:
    """Why ``row`` has no value for ``metric``: the row's own error, else the score's reason."""
    if row.get("status", "ok") != "ok":
        return f"{row['status']}: {row.get('error') or 'no reason stored'}"
    try:
        reasons = json.loads(row.get("failure_reasons") or "{}")
    except (TypeError, json.JSONDecodeError):
        reasons = {}
    return f"{metric}: {reasons.get(metric) or 'NaN without a stored reason'}"


def with_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` plus a ``condition`` column (``Opus_6``), the unit every comparison is made over."""
    return frame.assign(condition=[condition_label(c, b) for c, b in zip(frame["codec"], frame["bitrate"])])


def compare(sub: pd.DataFrame, metric: str, settings: CISettings, all_items: bool = False) -> Comparison:
    """Paired comparison of every condition of one dataset's rows ``sub`` for ``metric``.

    The utterance universe is every utterance with a row in ``sub``; a condition without a
    row for an utterance (a partial run) loses it like a failed row does.
    """
    sub = sub if "condition" in sub.columns else with_labels(sub)
    labels = tuple(dict.fromkeys(sub["condition"].tolist()))
    universe = list(dict.fromkeys(sub["utterance"].tolist()))
    values = pd.to_numeric(sub[metric], errors="coerce")
    table = (values.groupby([sub["utterance"], sub["condition"]], sort=False).mean().unstack()
             .reindex(index=universe, columns=list(labels)))
    finite = np.isfinite(table.to_numpy(dtype=np.float64))
    scored = finite.any(axis=0)
    excluded = tuple(lab for lab, ok in zip(labels, scored) if not ok)
    shared_mask = finite[:, scored].all(axis=1) if scored.any() else np.zeros(len(universe), dtype=bool)
    shared = tuple(u for u, keep in zip(universe, shared_mask) if keep)
    rows = {(r["utterance"], r["condition"]): r for r in sub.to_dict(orient="records")}
    losses, n_failed, paired, unpaired, kept = [], {}, {}, {}, {}
    for j, label in enumerate(labels):
        lost = [u for i, u in enumerate(universe) if not finite[i, j]]
        n_failed[label] = len(lost)
        if lost:
            counts: dict[str, int] = {}
            for u in lost:
                row = rows.get((u, label))
                reason = _row_reason(row, metric) if row is not None else "no result row (not run yet?)"
                counts[reason] = counts.get(reason, 0) + 1
            losses.append(Loss(label, tuple(lost), tuple(f"{r} (x{k})" for r, k in counts.items())))
        column = table[label].to_numpy(dtype=np.float64)
        kept[label] = column[shared_mask] if scored[j] else np.array([], dtype=np.float64)
        paired[label] = estimate(kept[label], settings)
        if all_items:
            unpaired[label] = estimate(column, settings)
    return Comparison(str(sub["dataset"].iloc[0]) if len(sub) else "", metric, labels, shared, excluded,
                      tuple(losses), paired, unpaired, n_failed, kept, settings.method)


def reference_estimate(reference: pd.DataFrame, comparison: Comparison, settings: CISettings) -> Optional[Estimate]:
    """Mean (with CI) of a non-intrusive metric on the references, over the comparison's utterances.

    ``reference`` holds ``dataset, utterance`` and one column per metric (see
    :func:`codecbench.results.load_reference`). The mean is over the utterances every condition
    scored (``comparison.utterances``), so the ceiling sits on the same items as the codec rows;
    when no utterance is shared it is over every reference of the dataset. ``None`` when the
    metric has no reference scores for this dataset.
    """
    if comparison.metric not in reference.columns:
        return None
    sub = reference[reference["dataset"] == comparison.dataset]
    if sub.empty:
        return None
    values = pd.to_numeric(sub[comparison.metric], errors="coerce").groupby(sub["utterance"]).mean()
    if comparison.utterances:
        values = values.reindex(list(comparison.utterances))
    return estimate(values.to_numpy(dtype=np.float64), settings)


# -- duplicate outputs ------------------------------------------------------------------------

@dataclass(frozen=True)
class DuplicateGroup:
    """Conditions of one dataset whose decoded audio is sample-identical on every shared utterance.

    Identical outputs usually mean a mislabelled folder or a codec ignoring its bitrate, so
    they are reported rather than silently counted as two results. ``n_items`` is the number
    of utterances the comparison rests on (rows without a ``decoded_sha256`` are not compared).
    """

    dataset: str
    conditions: tuple[str, ...]
    n_items: int

    def describe(self) -> str:
        """One line for the summary and the report overview."""
        return (f"{self.dataset}: {' = '.join(self.conditions)} (sample-identical decoded audio on "
                f"{self.n_items} utterance{'s' if self.n_items != 1 else ''})")


def duplicate_conditions(frame: pd.DataFrame) -> list[DuplicateGroup]:
    """Groups of conditions with identical ``decoded_sha256`` on every utterance both decoded.

    ``frame`` is :func:`codecbench.results.load_results` output. Two conditions are linked
    when they share at least one digested utterance and all shared digests agree; linked
    conditions form one group (transitively).
    """
    if "decoded_sha256" not in frame.columns or frame.empty:
        return []
    groups: list[DuplicateGroup] = []
    labelled = with_labels(frame)
    for dataset, sub in labelled.groupby("dataset", sort=False):
        sub = sub[sub["decoded_sha256"].notna() & (sub["decoded_sha256"].astype(str) != "")]
        digests = {lab: dict(zip(part["utterance"], part["decoded_sha256"]))
                   for lab, part in sub.groupby("condition", sort=False)}
        labels = list(digests)
        parent = list(range(len(labels)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        compared: dict[int, set[str]] = {}
        for i, a in enumerate(labels):
            for j in range(i + 1, len(labels)):
                common = digests[a].keys() & digests[labels[j]].keys()
                if common and all(digests[a][u] == digests[labels[j]][u] for u in common):
                    ri, rj = root(i), root(j)
                    merged = compared.pop(ri, set()) | compared.pop(rj, set()) | set(common)
                    parent[rj] = ri
                    compared[ri] = merged
        members: dict[int, list[str]] = {}
        for i, lab in enumerate(labels):
            members.setdefault(root(i), []).append(lab)
        for r, labs in members.items():
            if len(labs) > 1:
                groups.append(DuplicateGroup(str(dataset), tuple(labs), len(compared.get(r, set()))))
    return groups


def decimals(value: float, digits: int = 3) -> int:
    """Decimal places that show ``value`` with ``digits`` significant digits (0 for large values).

    The magnitude is taken after rounding, so 9.996 shows as 10.0, not 10.00.
    """
    if not math.isfinite(value) or value == 0.0:
        return digits - 1
    rounded = float(f"{value:.{digits - 1}e}")
    return max(0, digits - 1 - int(math.floor(math.log10(abs(rounded)))))


def format_number(value: Optional[float], digits: int = 3) -> str:
    """A table number with ``digits`` significant digits, never scientific; '—' for NaN."""
    if value is None or not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    return f"{value:.{decimals(value, digits)}f}"


def format_half_width(half_width: Optional[float], mean: Optional[float], digits: int = 3) -> str:
    """A CI half-width at its mean's decimal place (``3.21 ± 0.05``); one significant digit
    instead when that place would round it to zero."""
    if half_width is None or not math.isfinite(half_width):
        return "—"
    if mean is None or not math.isfinite(mean) or mean == 0:
        return format_number(half_width, digits)
    dec = decimals(mean, digits)
    if half_width != 0 and round(half_width, dec) == 0:
        return format_number(half_width, 1)
    return f"{half_width:.{dec}f}"


def format_estimate(est: Estimate, digits: int = 3) -> str:
    """``mean ± half-width`` by the rules above, so every table (CLI and report) prints numbers alike."""
    if not math.isfinite(est.mean):
        return "n/a"
    mean = f"{est.mean:.{decimals(est.mean, digits)}f}"
    if not (math.isfinite(est.lo) and math.isfinite(est.hi)):
        return mean
    return f"{mean} ± {format_half_width((est.hi - est.lo) / 2, est.mean, digits)}"
