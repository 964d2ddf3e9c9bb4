"""Per-dataset summaries of a run: condition rows, metric means with CIs, anchor tests, BD deltas.

The results table (one row per utterance x codec x bitrate) is reduced here to what the pages
and plots show, so templates only format numbers and never compute anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd

from codecbench.report.options import ReportOptions
from codecbench.report.stats import BDResult, Estimate, PairedTest, bd_metric, bd_rate, bootstrap_ci, paired_tests
from codecbench.results import condition_label


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
    estimates: dict[str, Estimate] = field(default_factory=dict)
    best: dict[str, bool] = field(default_factory=dict)
    tests: dict[str, PairedTest] = field(default_factory=dict)
    anchor_label: Optional[str] = None


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


def summarise(frame: pd.DataFrame, manifest: dict[str, Any], metrics: list[MetricMeta], opts: ReportOptions,
              anchor: Optional[str]) -> list[DatasetSummary]:
    """One :class:`DatasetSummary` per dataset, in order of first appearance."""
    codecs = codec_order(manifest, frame)
    out = []
    for dataset in list(dict.fromkeys(frame["dataset"].tolist())):
        sub = frame[frame["dataset"] == dataset]
        keys = sorted({(c, _bitrate(b)) for c, b in zip(sub["codec"], sub["bitrate"])},
                      key=lambda k: (codecs.index(k[0]), -1.0 if k[1] is None else k[1]))
        anchor_codec, anchor_rate, _ = resolve_anchor(anchor, codecs, manifest, keys)
        out.append(_summarise_dataset(dataset, sub, keys, metrics, opts, anchor_codec, anchor_rate))
    return out


def _per_utt(rows: pd.DataFrame, metric: str) -> pd.Series:
    ok = rows[rows["status"] == "ok"]
    return ok.groupby("utterance")[metric].mean()


def _summarise_dataset(dataset: str, sub: pd.DataFrame, keys: list[tuple[str, Optional[float]]],
                       metrics: list[MetricMeta], opts: ReportOptions, anchor_codec: Optional[str],
                       anchor_rate: Optional[float]) -> DatasetSummary:
    groups: dict[tuple[str, Optional[float]], pd.DataFrame] = {}
    conditions = []
    for codec, bitrate in keys:
        mask = (sub["codec"] == codec) & (sub["bitrate"].isna() if bitrate is None else sub["bitrate"] == bitrate)
        rows = sub[mask]
        groups[(codec, bitrate)] = rows
        ok = rows[rows["status"] == "ok"]
        measured = ok["measured_kbps"].to_numpy(dtype=np.float64)
        cond = Condition(codec, bitrate, condition_label(codec, bitrate), int(len(ok)),
                         int((rows["status"] == "failed").sum()), int((rows["status"] == "skipped").sum()),
                         math.nan if bitrate is None else bitrate,
                         float(np.nanmean(measured)) if np.isfinite(measured).any() else math.nan)
        for m in metrics:
            cond.estimates[m.name] = bootstrap_ci(ok[m.name].to_numpy(dtype=np.float64), opts.bootstrap,
                                                  opts.ci_level, opts.seed)
        conditions.append(cond)
    for m in metrics:
        means = [c.estimates[m.name].mean for c in conditions]
        finite = [v for v in means if math.isfinite(v)]
        target = (max(finite) if m.higher_is_better else min(finite)) if finite else math.nan
        for c, v in zip(conditions, means):
            c.best[m.name] = math.isfinite(v) and v == target
    _anchor_tests(conditions, groups, metrics, anchor_codec, anchor_rate)
    rate_source = "measured" if all(math.isfinite(c.measured_kbps) for c in conditions) else "declared"
    summary = DatasetSummary(dataset, conditions, metrics, anchor_codec, rate_source)
    summary.failures = {c.label: c.n_failed + c.n_skipped for c in conditions if c.n_failed + c.n_skipped}
    summary.bd = _bd_table(summary, opts)
    return summary


def _anchor_tests(conditions: list[Condition], groups: dict, metrics: list[MetricMeta],
                  anchor_codec: Optional[str], anchor_rate: Optional[float]) -> None:
    """Pair every non-anchor condition with the anchor point at the nearest declared bitrate."""
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
        family = []
        for cond, ref in pairs:
            t = _per_utt(groups[(cond.codec, cond.bitrate)], m.name)
            a = _per_utt(groups[(ref.codec, ref.bitrate)], m.name)
            common = t.index.intersection(a.index)
            family.append((t[common].to_numpy(), a[common].to_numpy()))
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
