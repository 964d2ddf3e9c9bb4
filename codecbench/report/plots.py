"""Figures of the report: rate-distortion curves (PNG + SVG) and spectrogram thumbnails.

Matplotlib runs on the Agg backend (no display). Thumbnails bypass figures entirely and write a
colour-mapped log spectrogram with ``imsave``, which is ~50x faster than a figure per player;
the axis labels and colour scale of a row are written once per row in the HTML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import signal  # noqa: E402

from codecbench.report.tables import DatasetSummary, MetricMeta  # noqa: E402

_MARKERS = "osD^v<>phP*X"


def rd_plot(summary: DatasetSummary, metric: MetricMeta, out_base: Path) -> list[Path]:
    """Plot ``metric`` against kbps, one line per codec with CI bars; returns the PNG and SVG paths.

    The x axis is the measured bitrate, or the declared one (said so in the axis label) when any
    condition has no measured bitrate (precomputed codecs). A non-intrusive metric's score of the
    references is drawn as a dashed horizontal line (the ceiling), with its CI as a band.
    """
    fig, ax = plt.subplots(figsize=(7.0, 4.2), dpi=110)
    cmap = plt.get_cmap("tab20" if len({c.codec for c in summary.conditions}) > 10 else "tab10")
    codecs = list(dict.fromkeys(c.codec for c in summary.conditions))
    for i, codec in enumerate(codecs):
        conds = [c for c in summary.conditions if c.codec == codec]
        xs = [c.measured_kbps if summary.rate_source == "measured" else c.declared_kbps for c in conds]
        est = [c.estimates[metric.name] for c in conds]
        pts = sorted((x, e) for x, e in zip(xs, est) if math.isfinite(x) and math.isfinite(e.mean))
        if not pts:
            continue
        x = np.array([p[0] for p in pts])
        y = np.array([p[1].mean for p in pts])
        lo = np.array([p[1].lo if math.isfinite(p[1].lo) else p[1].mean for p in pts])
        hi = np.array([p[1].hi if math.isfinite(p[1].hi) else p[1].mean for p in pts])
        width = 2.4 if codec == summary.anchor_codec else 1.4
        label = f"{codec} (anchor)" if codec == summary.anchor_codec else codec
        ax.errorbar(x, y, yerr=[y - lo, hi - y], color=cmap(i % cmap.N), marker=_MARKERS[i % len(_MARKERS)],
                    linewidth=width, markersize=5, capsize=3, label=label)
    ceiling = summary.reference.get(metric.name)
    if ceiling is not None and math.isfinite(ceiling.mean):
        ax.axhline(ceiling.mean, color="black", linestyle="--", linewidth=1.2, label="reference")
        if math.isfinite(ceiling.lo) and math.isfinite(ceiling.hi):
            ax.axhspan(ceiling.lo, ceiling.hi, color="black", alpha=0.08, linewidth=0)
    source = "measured kbps" if summary.rate_source == "measured" else \
        "declared kbps (measured bitrate unavailable)"
    ax.set_xlabel(source)
    unit = f" [{metric.unit}]" if metric.unit else ""
    arrow = "higher is better" if metric.higher_is_better else "lower is better"
    ax.set_ylabel(f"{metric.name}{unit} ({arrow})")
    ax.set_title(f"{summary.name}: {metric.name} vs bitrate")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    paths = [Path(f"{out_base}.png"), Path(f"{out_base}.svg")]
    out_base.parent.mkdir(parents=True, exist_ok=True)
    for path in paths:
        fig.savefig(path, bbox_inches="tight", metadata={"Date": None} if path.suffix == ".svg" else None)
    plt.close(fig)
    return paths


@dataclass(frozen=True)
class RowScale:
    """The shared axes of one demo row's thumbnails: 0..``max_hz`` upwards, 0..``seconds`` across,
    colours from ``db_floor`` to ``db_top`` (dB re full scale)."""

    max_hz: float
    seconds: float
    db_top: float
    db_floor: float


def _spectrum_db(audio: np.ndarray, sample_rate: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequencies [F], frame times [N], level [F, N] in dB re full scale) of mono ``audio``."""
    audio = np.asarray(audio, dtype=np.float64)
    nfft = int(2 ** math.ceil(math.log2(max(64.0, 0.032 * sample_rate))))  # ~32 ms at every rate
    if audio.size < nfft:
        audio = np.pad(audio, (0, nfft - audio.size))
    hop = max(nfft // 4, int(math.ceil(audio.size / (width * 2))))
    freqs, times, spec = signal.stft(audio, fs=sample_rate, nperseg=nfft, noverlap=max(0, nfft - hop),
                                     boundary=None, padded=False)
    # stft divides by the window sum: a full-scale sine peaks at 0.5, so x2 reads 0 dBFS.
    return freqs, times, 20.0 * np.log10(2.0 * np.abs(spec) + 1e-9)


def row_spectrograms(signals: list[tuple[np.ndarray, int]], reference_rate: int, paths: list[Path],
                     width: int = 240, height: int = 72, range_db: float = 80.0) -> RowScale:
    """Write one thumbnail PNG per signal, all on the same axes and the same colour scale.

    ``signals`` are (mono audio [T], sample rate) pairs of one utterance (reference first). The
    frequency axis runs from 0 to the reference's Nyquist frequency and the time axis to the
    longest signal, so a codec that drops the top band or decodes at a lower rate shows an empty
    (grey) band instead of being stretched to fill the image; one dB scale across the row means a
    quieter or noisier output looks quieter or noisier than its neighbours.
    """
    spectra = [_spectrum_db(audio, rate, width) for audio, rate in signals]
    durations = [np.asarray(audio).size / rate for audio, rate in signals]
    seconds = max(durations, default=0.0) or 1.0
    max_hz = reference_rate / 2.0
    top = max((float(db.max()) for _, _, db in spectra if db.size), default=0.0)
    top = math.ceil(top / 10.0) * 10.0
    floor = top - range_db
    grid_f = np.linspace(0.0, max_hz, height)
    grid_t = np.linspace(0.0, seconds, width)
    cmap = matplotlib.colormaps["magma"].with_extremes(bad="#d9dee3")
    norm = matplotlib.colors.Normalize(vmin=floor, vmax=top, clip=True)
    for (freqs, times, db), (_, rate), duration, path in zip(spectra, signals, durations, paths):
        rows = np.clip(np.rint(grid_f / (freqs[1] - freqs[0])).astype(int), 0, freqs.size - 1)
        cols = np.clip(np.searchsorted(times, grid_t), 0, times.size - 1)
        image = np.ma.masked_invalid(db[np.ix_(rows, cols)])
        image[grid_f > rate / 2.0 + 1e-6, :] = np.ma.masked  # above this signal's Nyquist: no content
        image[:, grid_t > duration + 1e-9] = np.ma.masked  # after its end
        plt.imsave(path, cmap(norm(image[::-1])), format="png")
    return RowScale(max_hz, seconds, top, floor)


def bar_plot(labels: list[str], means: list[float], lo: list[float], hi: list[float], title: str,
             ylabel: str, out_base: Path, ylim: tuple[float, float] | None = None) -> list[Path]:
    """Horizontal-free vertical bar chart with CI whiskers (listening-test results); PNG + SVG."""
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(labels) + 2.0), 4.0), dpi=110)
    x = np.arange(len(labels))
    m = np.array(means, dtype=float)
    err = np.array([[max(0.0, a - b) if math.isfinite(b) else 0.0 for a, b in zip(m, lo)],
                    [max(0.0, b - a) if math.isfinite(b) else 0.0 for a, b in zip(m, hi)]])
    ax.bar(x, m, color="#4c78a8", alpha=0.85)
    ax.errorbar(x, m, yerr=err, fmt="none", ecolor="black", capsize=4)
    ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    paths = [Path(f"{out_base}.png"), Path(f"{out_base}.svg")]
    out_base.parent.mkdir(parents=True, exist_ok=True)
    for path in paths:
        fig.savefig(path, metadata={"Date": None} if path.suffix == ".svg" else None)
    plt.close(fig)
    return paths
