"""The run summary: per dataset x condition x metric paired means with CIs, as text, CSV or JSON.

Metric means are paired (see :func:`codecbench.stats.compare`): only the utterances every
condition scored count, so the numbers of two conditions are comparable; ``all_items`` adds
each condition's mean over all its own scored items, labelled unpaired. Bitrate and real-time
factors are properties of a condition, not comparisons, and are averaged over its ok rows.
Non-intrusive metrics scored on the references form a first ``reference`` row per dataset (the
ceiling; see :func:`codecbench.stats.reference_estimate`), cells with codec ``reference``.
Codecs whose payloads are code arrays also get a codebook section (:mod:`codecbench.codebooks`):
dataset-level utilisation, entropy, perplexity and ``entropy_kbps`` per condition, without CIs.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import pandas as pd

from codecbench.codebooks import ConditionCodebooks, records as codebook_records
from codecbench.results import NOMINAL_RATE_NOTE, REFERENCE_LABEL, nominal_rate_conditions
from codecbench.stats import (CISettings, Comparison, DuplicateGroup, Estimate, compare, duplicate_conditions,
                              estimate, format_estimate, reference_estimate, with_labels)

SUMMARY_FORMAT = "codecbench-summary"
SUMMARY_VERSION = 1
RATE_COLUMNS = ["measured_kbps", "encode_rtf", "decode_rtf"]
CODEBOOK_CI = "none (dataset-level)"
NOMINAL_NOTE = ("measured_kbps of code-array payloads is the nominal payload rate: codes x log2(codebook size) "
                "/ duration, here over the counted rows")
FIELDS = ["dataset", "codec", "bitrate", "condition", "metric", "mean", "ci_low", "ci_high", "n", "n_failed",
          "paired", "ci_method"]


@dataclass(frozen=True)
class SummaryCell:
    """One dataset x condition x metric value of the machine-readable summary."""

    dataset: str
    codec: str
    bitrate: Optional[float]
    condition: str
    metric: str
    mean: float
    ci_low: float
    ci_high: float
    n: int
    n_failed: int
    paired: bool
    ci_method: str


@dataclass
class RunSummary:
    """Everything ``codecbench summary`` prints, in every format."""

    metrics: list[str]
    settings: CISettings
    all_items: bool
    cells: list[SummaryCell] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    duplicates: list[DuplicateGroup] = field(default_factory=list)
    status: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    codebooks: list[ConditionCodebooks] = field(default_factory=list)
    # (dataset, condition) whose measured kbps is the nominal payload rate of a code array
    nominal_rate: list[tuple[str, str]] = field(default_factory=list)


def _cell(key: tuple[str, str, Optional[float], str], metric: str, est: Estimate, n_failed: int, paired: bool,
          method: str) -> SummaryCell:
    dataset, codec, bitrate, label = key
    return SummaryCell(dataset, codec, bitrate, label, metric, est.mean, est.lo, est.hi, est.n, n_failed, paired,
                       method)


def _bitrate(value: Any) -> Optional[float]:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def summarize(df: pd.DataFrame, metrics: list[str], settings: Optional[CISettings] = None,
              all_items: bool = False, codebooks: Optional[list[ConditionCodebooks]] = None,
              reference: Optional[pd.DataFrame] = None) -> RunSummary:
    """Paired metric cells (plus unpaired ones with ``all_items``), rate/RTF cells, duplicates.

    ``codebooks``: the run's :func:`codecbench.results.load_codebooks`, shown as their own section.
    ``reference``: the references' non-intrusive scores (:func:`codecbench.results.load_reference`);
    each dataset then starts with a ``reference`` row of those metrics.
    """
    settings = settings or CISettings()
    out = RunSummary(list(metrics), settings, all_items, codebooks=list(codebooks or []))
    if df.empty:
        return out
    frame = with_labels(df)
    for dataset, sub in frame.groupby("dataset", sort=False):
        first = len(out.cells)
        out.nominal_rate += [(str(dataset), label) for label in nominal_rate_conditions(sub)]
        keys: dict[str, tuple[str, str, Optional[float], str]] = {}
        for (codec, bitrate, label), rows in sub.groupby(["codec", "bitrate", "condition"], sort=False, dropna=False):
            keys[str(label)] = (str(dataset), str(codec), _bitrate(bitrate), str(label))
            out.status[(str(dataset), str(label))] = rows["status"].value_counts().to_dict()
            ok = rows[rows["status"] == "ok"]
            for column in RATE_COLUMNS:
                est = estimate(ok[column].to_numpy(dtype=float), settings)
                out.cells.append(_cell(keys[str(label)], column, est, int(len(rows) - est.n), False,
                                       settings.method))
        ceiling: list[SummaryCell] = []
        for metric in metrics:
            comp = compare(sub, metric, settings, all_items)
            out.comparisons.append(comp)
            ref = reference_estimate(reference, comp, settings) if reference is not None else None
            if ref is not None:
                ceiling.append(_cell((str(dataset), REFERENCE_LABEL, None, REFERENCE_LABEL), metric, ref, 0, True,
                                     comp.ci_method))
            for label in comp.conditions:
                out.cells.append(_cell(keys[label], metric, comp.paired[label], comp.n_failed[label], True,
                                       comp.ci_method))
                if all_items:
                    out.cells.append(_cell(keys[label], metric, comp.unpaired[label], comp.n_failed[label], False,
                                           comp.ci_method))
        out.cells[first:first] = ceiling  # the reference row leads its dataset
    out.duplicates = duplicate_conditions(df)
    return out


def _json_value(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def to_records(summary: RunSummary) -> list[dict[str, Any]]:
    """One dict per cell with the :data:`FIELDS` keys (NaN as None)."""
    return [{k: _json_value(v) for k, v in asdict(cell).items()} for cell in summary.cells]


def codebook_cells(summary: RunSummary) -> list[SummaryCell]:
    """The codebook section as cells of the :data:`FIELDS` layout (CSV): dataset-level, no CI.

    Metrics ``entropy_kbps`` and the means over codebooks ``codebook_utilisation``,
    ``codebook_entropy_bits``, ``codebook_perplexity``, then the same per codebook ``#qK``.
    ``n`` is the number of rows counted, ``n_failed`` the condition's rows that were not ok.
    """
    out = []
    for s in summary.codebooks:
        counts = summary.status.get((s.dataset, s.condition), {})
        failed = sum(v for k, v in counts.items() if k != "ok")
        values = [("entropy_kbps", s.entropy_kbps), ("codebook_utilisation", s.mean_utilisation),
                  ("codebook_entropy_bits", s.mean_entropy_bits), ("codebook_perplexity", s.mean_perplexity)]
        for b in s.books:
            values += [(f"codebook_utilisation#q{b.index}", b.utilisation),
                       (f"codebook_entropy_bits#q{b.index}", b.entropy_bits),
                       (f"codebook_perplexity#q{b.index}", b.perplexity)]
        out += [SummaryCell(s.dataset, s.codec, s.bitrate, s.condition, name, value, math.nan, math.nan, s.n_rows,
                            failed, False, CODEBOOK_CI) for name, value in values]
    return out


def codebook_json(summary: RunSummary) -> list[dict[str, Any]]:
    """The codebook section of the JSON summary: one object per condition with its codebooks."""
    out = []
    for s in summary.codebooks:
        books = [{k: v for k, v in rec.items() if k in ("codebook", "codebook_size", "used", "utilisation",
                                                          "entropy_bits", "perplexity", "codes")}
                 for rec in codebook_records([s])]
        out.append({"dataset": s.dataset, "codec": s.codec, "bitrate": s.bitrate, "condition": s.condition,
                    "n_rows": s.n_rows, "seconds": s.seconds, "codebook_size": s.codebook_size,
                    "entropy_kbps": _json_value(s.entropy_kbps), "measured_kbps": _json_value(s.measured_kbps),
                    "utilisation": _json_value(s.mean_utilisation), "entropy_bits": _json_value(s.mean_entropy_bits),
                    "perplexity": _json_value(s.mean_perplexity), "codebooks": books})
    return out


def format_json(summary: RunSummary) -> str:
    """The machine-readable summary: cells, lost items per dataset x metric, duplicate groups."""
    lost = [{"dataset": c.dataset, "metric": c.metric, "n_shared": len(c.utterances), "excluded": list(c.excluded),
             "losses": [{"condition": loss.condition, "utterances": list(loss.utterances),
                         "reasons": list(loss.reasons)} for loss in c.losses]}
            for c in summary.comparisons if c.losses]
    doc = {"format": SUMMARY_FORMAT, "version": SUMMARY_VERSION, "ci_method": summary.settings.method,
           "paired_selection": "metric means use only the utterances every condition of the dataset scored",
           "cells": to_records(summary), "lost": lost,
           "duplicates": [{"dataset": g.dataset, "conditions": list(g.conditions), "n_items": g.n_items}
                          for g in summary.duplicates],
           "nominal_rate": {"note": f"measured_kbps of these conditions is the {NOMINAL_RATE_NOTE}",
                            "conditions": [{"dataset": d, "condition": c} for d, c in summary.nominal_rate]}}
    if summary.codebooks:
        doc["codebooks"] = codebook_json(summary)
        doc["codebooks_note"] = NOMINAL_NOTE + "; utilisation, entropy_bits and perplexity are means over codebooks"
    return json.dumps(doc, indent=1, allow_nan=False) + "\n"


def format_csv(summary: RunSummary) -> str:
    """The cells as CSV with a header of :data:`FIELDS` (NaN as an empty field)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    cells = to_records(summary) + [{k: _json_value(v) for k, v in asdict(c).items()} for c in codebook_cells(summary)]
    for rec in cells:
        writer.writerow({k: "" if v is None else v for k, v in rec.items()})
    return buf.getvalue()


def format_text(summary: RunSummary) -> str:
    """A fixed-width table per dataset: ``mean ± half-width (n)`` per cell, then who lost items."""
    if not summary.cells:
        return "no results yet"
    lines: list[str] = []
    by_key = {(c.dataset, c.condition, c.metric, c.paired): c for c in summary.cells}
    datasets = list(dict.fromkeys(c.dataset for c in summary.cells))
    for dataset in datasets:
        conditions = list(dict.fromkeys(c.condition for c in summary.cells if c.dataset == dataset))
        table: list[list[str]] = []
        variants = [(True, "")] + ([(False, " (all items, unpaired)")] if summary.all_items else [])
        for label in conditions:
            for paired, suffix in variants:
                if not paired and (not summary.metrics or label == REFERENCE_LABEL):
                    continue
                cells = [label + suffix]
                for column in ["measured_kbps", *summary.metrics, "encode_rtf", "decode_rtf"]:
                    if not paired and column in RATE_COLUMNS:  # shown once, on the paired row
                        cells.append("")
                        continue
                    cell = by_key.get((dataset, label, column, paired and column not in RATE_COLUMNS))
                    if cell is None and label == REFERENCE_LABEL and (dataset, label) not in summary.status:
                        cells.append("")  # intrusive metrics, bitrate and RTF have no reference value
                        continue
                    cells.append(_text(cell, with_n=column not in RATE_COLUMNS))
                counts = summary.status.get((dataset, label))
                cells.append(f"{counts.get('ok', 0)}/{counts.get('failed', 0)}/{counts.get('skipped', 0)}"
                             if paired and counts is not None else "")
                table.append(cells)
        header = ["condition", "kbps", *summary.metrics, "enc RTF", "dec RTF", "ok/fail/skip"]
        widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
        lines.append(f"dataset: {dataset}")
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        lines.append("  ".join("-" * w for w in widths))
        lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table)
        nominal = [c for d, c in summary.nominal_rate if d == dataset]
        if nominal:
            lines.append(f"kbps of {', '.join(nominal)}: {NOMINAL_RATE_NOTE}")
        for comp in summary.comparisons:
            if comp.dataset != dataset:
                continue
            if comp.losses:
                lines.append(f"{comp.metric}: paired over the {len(comp.utterances)} utterances every condition "
                             f"scored; " + "; ".join(loss.describe() for loss in comp.losses))
            if comp.excluded:
                lines.append(f"{comp.metric}: left out of the comparison (scored no utterance): "
                             + ", ".join(comp.excluded))
        for group in summary.duplicates:
            if group.dataset == dataset:
                lines.append(f"duplicate outputs: {group.describe()}")
        lines.extend(_codebook_text(summary, dataset))
        lines.append("")
    lines.append(f"values: mean ± half-width of the {summary.settings.method}; (n) = utterances in the mean. "
                 "Metric means are paired over the utterances every condition scored; kbps (measured from "
                 "payloads) and RTF are over each condition's ok rows"
                 + ("; the reference row scores the reference audio with the non-intrusive metrics (the "
                    "ceiling), over the same utterances" if any(c.codec == REFERENCE_LABEL for c in summary.cells)
                    else ""))
    return "\n".join(lines)


def _codebook_text(summary: RunSummary, dataset: str) -> list[str]:
    """The dataset's codebook table: one line per condition, then one per codebook."""
    stats = [s for s in summary.codebooks if s.dataset == dataset]
    if not stats:
        return []
    header = ["codebooks", "entropy kbps", "nominal kbps", "used/size", "utilisation", "entropy bits",
              "perplexity", "rows"]
    table = []
    for s in stats:
        table.append([s.condition, f"{s.entropy_kbps:.4g}", f"{s.measured_kbps:.4g}", "", f"{s.mean_utilisation:.3f}",
                      f"{s.mean_entropy_bits:.3f}", f"{s.mean_perplexity:.4g}", str(s.n_rows)])
        for b in s.books:
            table.append([f"  q{b.index}", "", "", f"{b.used}/{b.size}", f"{b.utilisation:.3f}",
                          f"{b.entropy_bits:.3f}", f"{b.perplexity:.4g}", ""])
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    lines = ["", "  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
    lines.append("codebooks: dataset-level over each condition's ok rows (no CI); entropy kbps = what an ideal "
                 "entropy coder needs for the observed per-codebook code distribution; nominal kbps = the measured "
                 "payload rate, codes x log2(codebook size) / duration")
    return lines


def _text(cell: Optional[SummaryCell], with_n: bool) -> str:
    if cell is None:
        return "n/a"
    if not with_n:  # bitrate and RTF: a property of the condition, its CI is of no interest
        return format_estimate(Estimate(cell.mean, math.nan, math.nan, cell.n))
    text = format_estimate(Estimate(cell.mean, cell.ci_low, cell.ci_high, cell.n))
    return f"{text} ({cell.n})" if math.isfinite(cell.mean) else text


FORMATTERS = {"text": format_text, "csv": format_csv, "json": format_json}
