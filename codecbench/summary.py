"""Per codec x bitrate x metric means with 95% confidence intervals and failure counts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from codecbench.results import condition_label


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, int]:
    """Mean and half-width of the Student-t confidence interval over the finite values."""
    finite = values[np.isfinite(values)]
    n = finite.size
    if n == 0:
        return math.nan, math.nan, 0
    mean = float(finite.mean())
    if n == 1:
        return mean, math.nan, 1
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * finite.std(ddof=1) / math.sqrt(n))
    return mean, half, n


def summarize(df: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Long table: dataset, codec, bitrate, condition, metric, mean, ci95, n, failures.

    ``metric`` also covers ``measured_kbps``, ``encode_rtf`` and ``decode_rtf``. ``failures``
    counts rows where that value is missing (failed/skipped rows or a NaN metric).
    """
    records = []
    columns = ["measured_kbps", *metrics, "encode_rtf", "decode_rtf"]
    for (dataset, codec, bitrate), group in df.groupby(["dataset", "codec", "bitrate"], sort=False, dropna=False):
        for column in columns:
            values = group[column].to_numpy(dtype=float)
            mean, half, n = mean_ci(values)
            records.append({"dataset": dataset, "codec": codec, "bitrate": bitrate,
                            "condition": condition_label(codec, bitrate), "metric": column,
                            "mean": mean, "ci95": half, "n": n, "failures": int(len(values) - n)})
    return pd.DataFrame.from_records(records)


def format_summary(long: pd.DataFrame, metrics: list[str], status_counts: dict[str, dict[str, int]]) -> str:
    """A fixed-width text table per dataset: one row per condition, ``mean ± ci`` per column."""
    if long.empty:
        return "no results yet"
    lines: list[str] = []
    columns = ["measured_kbps", *metrics, "encode_rtf", "decode_rtf"]
    for dataset, part in long.groupby("dataset", sort=False):
        table: list[list[str]] = []
        for condition, rows in part.groupby("condition", sort=False):
            by_metric = rows.set_index("metric")
            cells = [str(condition)]
            for column in columns:
                row = by_metric.loc[column]
                cells.append(_cell(row["mean"], row["ci95"], column))
            counts = status_counts.get(f"{dataset}\0{condition}", {})
            metric_failures = int(by_metric.loc[metrics, "failures"].sum()) if metrics else 0
            cells.append(f"{counts.get('ok', 0)}/{counts.get('failed', 0)}/{counts.get('skipped', 0)}"
                         f" ({metric_failures})")
            table.append(cells)
        header = ["condition", "kbps", *metrics, "enc RTF", "dec RTF", "ok/fail/skip (metric NaN)"]
        widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
        lines.append(f"dataset: {dataset}")
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        lines.append("  ".join("-" * w for w in widths))
        lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in table)
        lines.append("")
    lines.append("values: mean ± 95% CI (Student t) over utterances; kbps is measured from payloads")
    return "\n".join(lines)


def _cell(mean: float, half: float, column: str) -> str:
    if math.isnan(mean):
        return "n/a"
    digits = 3 if column.endswith("rtf") else 2
    return f"{mean:.{digits}f}" if math.isnan(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"


def status_counts(df: pd.DataFrame) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for (dataset, codec, bitrate, status), n in df.groupby(
            ["dataset", "codec", "bitrate", "status"], dropna=False).size().items():
        counts.setdefault(f"{dataset}\0{condition_label(codec, bitrate)}", {})[status] = int(n)
    return counts
