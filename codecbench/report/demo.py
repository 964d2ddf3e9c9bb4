"""The demo page: which utterances to show and, per utterance, a player for every condition.

Column order is the table order (suite codec order, then bitrate), so the same system is always
in the same column across pages and reruns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd
import soundfile as sf

from codecbench.paths import safe_component
from codecbench.report.assets import AUDIO_READ_ERRORS, AudioCopier
from codecbench.report.options import ReportOptions
from codecbench.report.plots import RowScale, row_spectrograms
from codecbench.report.tables import DatasetSummary, MetricMeta
from codecbench.stats import format_half_width, format_number


@dataclass
class DemoCell:
    """One player: its audio URL (None when missing/failed), thumbnail and metric values."""

    label: str
    audio: Optional[str]
    spectrogram: Optional[str]
    status: str
    note: str = ""
    values: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class DemoRow:
    """One utterance: its players and the shared axes of its spectrogram thumbnails (None without)."""

    utterance: str
    reference: DemoCell
    cells: list[DemoCell]
    scale: Optional[RowScale] = None


def select_utterances(frame: pd.DataFrame, opts: ReportOptions, metrics: list[MetricMeta]) -> list[str]:
    """Pick ``opts.demo_items`` utterances of one dataset's rows per ``opts.demo_selection``."""
    utts = sorted(set(frame["utterance"].astype(str)))
    n = min(opts.demo_items, len(utts))
    if opts.demo_selection == "first":
        return utts[:n]
    if opts.demo_selection == "random":
        rng = np.random.default_rng(opts.seed)
        picked = set(rng.choice(len(utts), size=n, replace=False).tolist())
        return [u for i, u in enumerate(utts) if i in picked]
    names = {m.name: m for m in metrics}
    if opts.demo_metric not in names:
        raise ValueError(f"report.demo_metric {opts.demo_metric!r} is not a metric of this run; "
                         f"use one of: {', '.join(names) or '(none)'}")
    meta = names[opts.demo_metric]
    ok = frame[frame["status"] == "ok"]
    means = ok.groupby("utterance")[meta.name].mean().reindex(utts)
    # Worst = lowest mean for higher-is-better metrics; unscored utterances go last either way.
    ascending = (opts.demo_selection == "worst") == meta.higher_is_better
    ranked = means.sort_values(ascending=ascending, na_position="last")
    return [str(u) for u in ranked.index[:n]]


def build_demo_rows(frame: pd.DataFrame, summary: DatasetSummary, utterances: list[str], copier: AudioCopier,
                    opts: ReportOptions) -> list[DemoRow]:
    """Copy the audio of the selected utterances and describe one table row per utterance.

    Layout: ``audio/<dataset>/reference/<utt>`` and ``audio/<dataset>/codecs/<label>/<utt>`` (the
    same under ``spec/``), every component a safe name, so no suite or data name can steer a
    write (a codec called ``reference`` or a dataset called ``../../x`` included).
    """
    ds = safe_component(summary.name)
    rows = []
    for utt in utterances:
        sub = frame[frame["utterance"].astype(str) == utt]
        refs = [p for p in sub["reference_path"].tolist() if isinstance(p, str) and p]
        ref_path = refs[0] if refs else None
        ustem = safe_component(utt)
        ref_audio = copier.add(ref_path, f"audio/{ds}/reference", ustem)
        reference = DemoCell("reference", ref_audio, None, "ok" if ref_audio else "missing",
                             "" if ref_audio else f"reference {copier.reason(ref_path)}")
        sources: list[tuple[DemoCell, Optional[str], str]] = [(reference, ref_path if ref_audio else None,
                                                                f"spec/{ds}/reference/{ustem}.png")]
        cells = []
        for cond in summary.conditions:
            match = sub[(sub["codec"] == cond.codec) & ((sub["bitrate"].isna()) if cond.bitrate is None
                                                       else (sub["bitrate"] == cond.bitrate))]
            if match.empty:
                cells.append(DemoCell(cond.label, None, None, "absent", "not in this run"))
                continue
            item = match.iloc[0]
            cstem = safe_component(cond.label)
            path = item["decoded_path"] if isinstance(item["decoded_path"], str) else None
            ok = item["status"] == "ok"
            audio = copier.add(path, f"audio/{ds}/codecs/{cstem}", ustem) if ok else None
            note = ""
            if not ok:
                note = str(item["error"] or item["status"])
            elif audio is None:
                note = f"decoded {copier.reason(path)}"
            values = [(m.name, float(item[m.name])) for m in summary.metrics]
            cell = DemoCell(cond.label, audio, None, str(item["status"]), note, values)
            cells.append(cell)
            sources.append((cell, path if audio else None, f"spec/{ds}/codecs/{cstem}/{ustem}.png"))
        scale = _row_thumbnails(sources, copier) if opts.spectrograms else None
        rows.append(DemoRow(utt, reference, cells, scale))
    return rows


def _row_thumbnails(sources: list[tuple[DemoCell, Optional[str], str]], copier: AudioCopier) -> Optional[RowScale]:
    """Thumbnails of one row on shared axes (the reference's band); sets each cell's ``spectrogram``."""
    loaded: list[tuple[DemoCell, np.ndarray, int, str]] = []
    for cell, source, rel in sources:
        if not source:
            continue
        try:
            data, rate = sf.read(source, dtype="float32", always_2d=True)
        except AUDIO_READ_ERRORS as exc:
            copier.warnings.append(f"warning: {source}: cannot read the audio for its spectrogram "
                                   f"({str(exc).splitlines()[0] if str(exc) else exc!r}); thumbnail left out")
            continue
        loaded.append((cell, data.mean(axis=1), int(rate), rel))
    if not loaded:
        return None
    ref_rate = loaded[0][2] if loaded[0][0].label == "reference" and sources[0][1] else max(r for _, _, r, _ in loaded)
    paths = [copier.site.path(rel) for _, _, _, rel in loaded]
    scale = row_spectrograms([(audio, rate) for _, audio, rate, _ in loaded], ref_rate, paths)
    for cell, _, _, rel in loaded:
        cell.spectrogram = rel
    return scale


fmt = format_number  # report templates' name for the shared number rule
fmt_ci = format_half_width


def fmt_kbps(value: Optional[float]) -> str:
    """A bitrate as declared (``6``, ``4.5``, ``12``), or measured to 3 significant digits."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:g}" if float(value).is_integer() or len(f"{value:g}") <= 4 else fmt(value)


def fmt_p(value: Optional[float]) -> str:
    """A p-value with two significant digits, ``< 0.001`` below that."""
    if value is None or not math.isfinite(value):
        return "—"
    return "< 0.001" if value < 0.001 else fmt(value, 2)
