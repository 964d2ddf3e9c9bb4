"""Per-dataset summaries of a run: condition rows, metric means with CIs, anchor tests, BD deltas.

The results table (one row per utterance x codec x bitrate) is reduced here to what the pages
and plots show, so templates only format numbers and never compute anything. Every metric
number is paired (:func:`codecbench.stats.compare`, the same call ``codecbench summary`` makes):
means, CIs, RD points, BD deltas, Wilcoxon tests and "best" markers use only the utterances every
condition of the dataset scored. "Best" is chosen within octave bitrate bands of the declared
rate, so a low-rate codec is never hidden behind the highest-rate condition. Non-intrusive
metrics scored on the references give each dataset a ``reference`` ceiling per metric, over the
same shared utterances (:func:`codecbench.stats.reference_estimate`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd

from codecbench.report.options import ReportOptions
from codecbench.stats import (BDResult, CISettings, Comparison, DuplicateGroup, Estimate, Loss, PairedTest, bd_metric,
                              bd_rate, compare, duplicate_conditions, format_estimate, paired_tests,
                              reference_estimate, with_labels)
from codecbench.results import NOMINAL_RATE_NOTE, condition_label, nominal_rate_conditions


@dataclass(frozen=True)
class MetricMeta:
    """Direction and unit of one metric (from the manifest; higher-is-better when unknown)."""

    name: str
    higher_is_better: bool = True
    unit: str = ""


@dataclass
class Condition:
    """One codec operating point of one dataset, with everything its table row shows."""

    codec: str
    bitrate: Optional[float]
    label: str
    n_ok: int
    n_failed: int
    n_skipped: int
    declared_kbps: float
    measured_kbps: float
    estimates: dict[str, Estimate] = field(default_factory=dict)  # paired (shared utterances)
    unpaired: dict[str, Estimate] = field(default_factory=dict)  # all own items; only with all_items
    n_lost: dict[str, int] = field(default_factory=dict)  # utterances without a finite value, per metric
    band: str = ""
    best: dict[str, bool] = field(default_factory=dict)
    tests: dict[str, PairedTest] = field(default_factory=dict)
    anchor_label: Optional[str] = None

    def text(self, metric: str, paired: bool = True) -> str:
        """``mean ± half-width`` at the significant digits every codecbench table uses."""
        est = (self.estimates if paired else self.unpaired).get(metric)
        return format_estimate(est) if est is not None else "n/a"

    def parts(self, metric: str, paired: bool = True) -> tuple[str, str]:
        """:meth:`text` split into (mean, half-width or "") for templates that style them apart."""
        mean, _, half = self.text(metric, paired).partition(" ± ")
        return mean, half


@dataclass
class DatasetSummary:
    """Everything the metric page of one dataset needs."""

    name: str
    conditions: list[Condition]
    metrics: list[MetricMeta]
    anchor_codec: Optional[str]
    rate_source: str  # "measured" or "declared"
    bd: dict[str, dict[str, tuple[BDResult, BDResult]]] = field(default_factory=dict)  # codec -> metric -> (rate, metric)
    failures: dict[str, int] = field(default_factory=dict)
    comparisons: dict[str, Comparison] = field(default_factory=dict)  # metric -> paired selection
    ci_method: str = ""
    all_items: bool = False
    bands: list[tuple[str, list[str]]] = field(default_factory=list)  # band label -> condition labels
    duplicates: list[DuplicateGroup] = field(default_factory=list)
    #: metric -> the references' score (non-intrusive metrics only): the ceiling row and plot line
    reference: dict[str, Estimate] = field(default_factory=dict)

    def reference_parts(self, metric: str) -> tuple[str, str]:
        """(mean, half-width or "") of the reference ceiling, ``("", "")`` when the metric has none."""
        est = self.reference.get(metric)
        if est is None:
            return "", ""
        mean, _, half = format_estimate(est).partition(" ± ")
        return mean, half
    nominal_rate: list[str] = field(default_factory=list)  # conditions whose measured kbps is a code array's nominal rate
    nominal_rate_note: str = NOMINAL_RATE_NOTE

    def best_by_band(self, metric: str) -> list[tuple[str, list[Condition]]]:
        """(bitrate band, its best conditions) for ``metric``, bands in table order."""
        out = []
        for band, labels in self.bands:
            best = [c for c in self.conditions if c.label in labels and c.best.get(metric)]
            if best:
                out.append((band, best))
        return out

    def losses(self) -> list[tuple[str, int, list[Loss]]]:
        """(metric, n shared utterances, conditions that lost items and why) where any were lost."""
        return [(m, len(c.utterances), list(c.losses)) for m, c in self.comparisons.items() if c.losses]


def metric_meta(manifest: dict[str, Any], names: list[str]) -> list[MetricMeta]:
    """Metric metadata in table order, from ``manifest["metrics"]``."""
    declared = manifest.get("metrics", {}) or {}
    out = []
    for name in names:
        info = declared.get(name, {}) or {}
        out.append(MetricMeta(name, bool(info.get("higher_is_better", True)), str(info.get("unit", "") or "")))
    return out


def codec_order(manifest: dict[str, Any], frame: pd.DataFrame) -> list[str]:
    """Codec labels in suite order, then any others found in the results, sorted."""
    suite = [c.get("name") for c in manifest.get("suite", {}).get("codecs", []) if c.get("name")]
    found = list(dict.fromkeys(frame["codec"].tolist()))
    return [c for c in suite if c in found] + sorted(c for c in found if c not in suite)


def resolve_anchor(anchor: Optional[str], codecs: list[str], manifest: dict[str, Any],
                   conditions: list[tuple[str, Optional[float]]]) -> tuple[Optional[str], Optional[float], str]:
    """Map the anchor option to (codec label, fixed bitrate or None, how it was chosen).

    Accepts a codec label, its adapter name (case-insensitive) or one condition label such as
    ``APCodec_6``; without an anchor the first codec in suite order is used.
    """
    if not codecs:
        return None, None, "no codecs"
    if not anchor:
        return codecs[0], None, "default: first codec of the suite"
    for codec in codecs:
        if codec == anchor or codec.lower() == anchor.lower():
            return codec, None, "chosen"
    for spec in manifest.get("suite", {}).get("codecs", []):
        if str(spec.get("adapter", "")).lower() == anchor.lower() and spec.get("name") in codecs:
            return spec["name"], None, "chosen (adapter name)"
    for codec, bitrate in conditions:
        if condition_label(codec, bitrate) == anchor:
            return codec, bitrate, "chosen (one operating point)"
    allowed = ", ".join(codecs + [condition_label(c, b) for c, b in conditions])
    raise ValueError(f"report anchor {anchor!r} is not a codec or operating point of this run; pass --anchor "
                     f"(or fix report.anchor in the suite) with one of: {allowed}")


def _bitrate(value: Any) -> Optional[float]:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def summarize_datasets(frame: pd.DataFrame, manifest: dict[str, Any], metrics: list[MetricMeta], opts: ReportOptions,
                       anchor: Optional[str], reference: Optional[pd.DataFrame] = None) -> list[DatasetSummary]:
    """One :class:`DatasetSummary` per dataset, in order of first appearance.

    ``reference``: the references' non-intrusive scores (:func:`codecbench.results.load_reference`).
    """
    codecs = codec_order(manifest, frame)
    out = []
    for dataset in list(dict.fromkeys(frame["dataset"].tolist())):
        sub = frame[frame["dataset"] == dataset]
        keys = sorted({(c, _bitrate(b)) for c, b in zip(sub["codec"], sub["bitrate"])},
                      key=lambda k: (codecs.index(k[0]), -1.0 if k[1] is None else k[1]))
        anchor_codec, anchor_rate, _ = resolve_anchor(anchor, codecs, manifest, keys)
        summary = _summarize_dataset(dataset, sub, keys, metrics, opts, anchor_codec, anchor_rate)
        if reference is not None:
            settings = CISettings(opts.bootstrap, opts.ci_level, opts.seed)
            for m in metrics:
                est = reference_estimate(reference, summary.comparisons[m.name], settings)
                if est is not None:
                    summary.reference[m.name] = est
        out.append(summary)
    return out


def bitrate_band(kbps: Optional[float]) -> str:
    """Octave band of a declared bitrate, e.g. ``4–8 kbps`` for 6; conditions without one share a band."""
    if kbps is None or not math.isfinite(kbps) or kbps <= 0:
        return "no declared bitrate"
    lo = 2.0 ** math.floor(math.log2(kbps))
    return f"{lo:g}–{2 * lo:g} kbps"


def _mark_best(conditions: list[Condition], metrics: list[MetricMeta]) -> list[tuple[str, list[str]]]:
    """Best paired mean per metric within each bitrate band that has two or more scored conditions."""
    bands: dict[str, list[Condition]] = {}
    for c in conditions:
        c.band = bitrate_band(c.bitrate)
        bands.setdefault(c.band, []).append(c)
    for m in metrics:
        for members in bands.values():
            means = [c.estimates[m.name].mean for c in members]
            finite = [v for v in means if math.isfinite(v)]
            target = (max(finite) if m.higher_is_better else min(finite)) if len(finite) >= 2 else math.nan
            for c, v in zip(members, means):
                c.best[m.name] = math.isfinite(target) and v == target
    return [(band, [c.label for c in members]) for band, members in bands.items()]


def _summarize_dataset(dataset: str, sub: pd.DataFrame, keys: list[tuple[str, Optional[float]]],
                       metrics: list[MetricMeta], opts: ReportOptions, anchor_codec: Optional[str],
                       anchor_rate: Optional[float]) -> DatasetSummary:
    settings = CISettings(opts.bootstrap, opts.ci_level, opts.seed)
    all_items = bool(getattr(opts, "all_items", False))
    sub = with_labels(sub)
    comparisons = {m.name: compare(sub, m.name, settings, all_items) for m in metrics}
    conditions = []
    for codec, bitrate in keys:
        mask = (sub["codec"] == codec) & (sub["bitrate"].isna() if bitrate is None else sub["bitrate"] == bitrate)
        rows = sub[mask]
        ok = rows[rows["status"] == "ok"]
        measured = ok["measured_kbps"].to_numpy(dtype=np.float64)
        cond = Condition(codec, bitrate, condition_label(codec, bitrate), int(len(ok)),
                         int((rows["status"] == "failed").sum()), int((rows["status"] == "skipped").sum()),
                         math.nan if bitrate is None else bitrate,
                         float(np.nanmean(measured)) if np.isfinite(measured).any() else math.nan)
        for m in metrics:
            comp = comparisons[m.name]
            cond.estimates[m.name] = comp.paired[cond.label]
            cond.n_lost[m.name] = comp.n_failed[cond.label]
            if all_items:
                cond.unpaired[m.name] = comp.unpaired[cond.label]
        conditions.append(cond)
    bands = _mark_best(conditions, metrics)
    _anchor_tests(conditions, comparisons, metrics, anchor_codec, anchor_rate)
    rate_source = "measured" if all(math.isfinite(c.measured_kbps) for c in conditions) else "declared"
    summary = DatasetSummary(dataset, conditions, metrics, anchor_codec, rate_source, comparisons=comparisons,
                             ci_method=settings.method, all_items=all_items, bands=bands,
                             duplicates=duplicate_conditions(sub), nominal_rate=nominal_rate_conditions(sub))
    summary.failures = {c.label: c.n_failed + c.n_skipped for c in conditions if c.n_failed + c.n_skipped}
    summary.bd = _bd_table(summary, opts)
    return summary


def _anchor_tests(conditions: list[Condition], comparisons: dict[str, Comparison], metrics: list[MetricMeta],
                  anchor_codec: Optional[str], anchor_rate: Optional[float]) -> None:
    """Pair every non-anchor condition with the anchor point at the nearest declared bitrate.

    The test runs on the dataset's shared utterances (the same set the means use).
    """
    anchors = [c for c in conditions if c.codec == anchor_codec]
    if anchor_rate is not None:
        anchors = [c for c in anchors if c.bitrate == anchor_rate]
    if not anchors:
        return
    pairs: list[tuple[Condition, Condition]] = []
    for cond in conditions:
        if cond.codec == anchor_codec and (anchor_rate is None or cond.bitrate == anchor_rate):
            cond.anchor_label = cond.label
            continue
        rate = cond.declared_kbps
        ref = min(anchors, key=lambda a: (abs(a.declared_kbps - rate) if math.isfinite(rate)
                                          and math.isfinite(a.declared_kbps) else 0.0, a.declared_kbps))
        cond.anchor_label = ref.label
        pairs.append((cond, ref))
    for m in metrics:
        values = comparisons[m.name].values
        empty = np.array([], dtype=np.float64)
        # A condition left out of the comparison (it scored nothing) has no paired values to test.
        family = [(values[c.label], values[r.label]) if values[c.label].size == values[r.label].size
                  else (empty, empty) for c, r in pairs]
        for (cond, _), result in zip(pairs, paired_tests(family)):
            cond.tests[m.name] = result


def _bd_table(summary: DatasetSummary, opts: ReportOptions) -> dict[str, dict[str, tuple[BDResult, BDResult]]]:
    if summary.anchor_codec is None:
        return {}
    by_codec: dict[str, list[Condition]] = {}
    for c in summary.conditions:
        by_codec.setdefault(c.codec, []).append(c)
    anchor = by_codec.get(summary.anchor_codec, [])
    table: dict[str, dict[str, tuple[BDResult, BDResult]]] = {}

    def rates(conds: list[Condition]) -> list[float]:
        return [c.measured_kbps if summary.rate_source == "measured" else c.declared_kbps for c in conds]

    for codec, conds in by_codec.items():
        if codec == summary.anchor_codec:
            continue
        table[codec] = {}
        for m in summary.metrics:
            args = (rates(anchor), [c.estimates[m.name].mean for c in anchor],
                    rates(conds), [c.estimates[m.name].mean for c in conds])
            table[codec][m.name] = (bd_rate(*args, method=opts.bd_method), bd_metric(*args, method=opts.bd_method))
    return table
