"""The demo page: which utterances to show and, per utterance, a player for every condition.

Column order is the table order (suite codec order, then bitrate), so the same system is always
in the same column across pages and reruns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from codecbench.report.assets import AudioCopier, safe_name
from codecbench.report.options import ReportOptions
from codecbench.report.plots import spectrogram_thumbnail
from codecbench.report.tables import DatasetSummary, MetricMeta


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
    utterance: str
    reference: DemoCell
    cells: list[DemoCell]


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
    """Copy the audio of the selected utterances and describe one table row per utterance."""
    ds = safe_name(summary.name)
    rows = []
    for utt in utterances:
        sub = frame[frame["utterance"].astype(str) == utt]
        refs = [p for p in sub["reference_path"].tolist() if isinstance(p, str) and p]
        ref_stem = safe_name(utt)
        ref_audio = copier.add(refs[0] if refs else None, f"audio/{ds}/reference", ref_stem)
        reference = DemoCell("reference", ref_audio, _thumb(refs[0] if refs else None, copier.root,
                                                            f"spec/{ds}/reference/{ref_stem}.png", opts),
                             "ok" if ref_audio else "missing", "" if ref_audio else "reference audio not found")
        cells = []
        for cond in summary.conditions:
            match = sub[(sub["codec"] == cond.codec) & ((sub["bitrate"].isna()) if cond.bitrate is None
                                                       else (sub["bitrate"] == cond.bitrate))]
            if match.empty:
                cells.append(DemoCell(cond.label, None, None, "absent", "not in this run"))
                continue
            item = match.iloc[0]
            cstem = safe_name(cond.label)
            path = item["decoded_path"] if isinstance(item["decoded_path"], str) else None
            audio = copier.add(path, f"audio/{ds}/{cstem}", ref_stem) if item["status"] == "ok" else None
            note = ""
            if item["status"] != "ok":
                note = str(item["error"] or item["status"])
            elif audio is None:
                note = "decoded audio not found"
            values = [(m.name, float(item[m.name])) for m in summary.metrics]
            cells.append(DemoCell(cond.label, audio,
                                  _thumb(path if audio else None, copier.root, f"spec/{ds}/{cstem}/{ref_stem}.png",
                                         opts), str(item["status"]), note, values))
        rows.append(DemoRow(utt, reference, cells))
    return rows


def _thumb(source: Optional[str], root: Path, rel: str, opts: ReportOptions) -> Optional[str]:
    if not opts.spectrograms or not source or not Path(source).is_file():
        return None
    import soundfile as sf

    data, rate = sf.read(source, dtype="float32", always_2d=True)
    spectrogram_thumbnail(data.mean(axis=1), rate, root / rel)
    return rel


def fmt(value: float, digits: int = 3) -> str:
    """Compact number for tables: 3 significant decimals, '—' for NaN."""
    if value is None or not math.isfinite(value):
        return "—"
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.2f}"
