"""``build_report``: render a run directory into a static, offline, relative-links-only site.

Pages: ``index.html`` (overview, winners, provenance), ``metrics_<dataset>.html`` (table with
CIs, anchor tests, BD deltas, RD plots), ``demo_<dataset>_<page>.html`` (players), and
``listening.html`` when ``RUN_DIR/listening/summary.json`` exists. Every value from the run is
rendered through Jinja2 autoescaping; the only scripts are the package's own static files.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import jinja2

from codecbench import __version__
from codecbench.paths import AllowedRoots, OwnedOutputDir, safe_component
from codecbench.report.assets import AudioCopier, folder_size, human_size
from codecbench.report.demo import build_demo_rows, fmt, fmt_ci, fmt_kbps, fmt_p, select_utterances
from codecbench.report.options import ReportOptions
from codecbench.report.plots import rd_plot
from codecbench.report.tables import DatasetSummary, metric_meta, resolve_anchor, summarize_datasets
from codecbench.results import load_manifest, load_reference, load_results, metric_names
from codecbench.store import ResultStore

HERE = Path(__file__).resolve().parent
LISTENING_SUMMARY = Path("listening") / "summary.json"
STATUSES = ("ok", "failed", "skipped")  # always shown, each on its own, zeros included
_PLOT_SUFFIXES = (".png", ".svg")


@dataclass(frozen=True)
class ReportSummary:
    """What a build produced (for the size line printed at the end)."""

    out_dir: Path
    pages: int
    audio_files: int
    audio_bytes: int
    source_bytes: int
    total_bytes: int

    def line(self) -> str:
        return (f"report: {self.out_dir / 'index.html'} - {self.pages} pages, {self.audio_files} audio files "
                f"{human_size(self.audio_bytes)} (sources {human_size(self.source_bytes)}), "
                f"total {human_size(self.total_bytes)}")


def environment() -> jinja2.Environment:
    """The Jinja2 environment: autoescape on for every template, undefined names are errors."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    env.filters["fmt_ci"] = fmt_ci
    env.filters["kbps"] = fmt_kbps
    env.filters["pval"] = fmt_p
    env.filters["g"] = lambda v: f"{v:.3g}"
    env.filters["finite"] = lambda v: v is not None and isinstance(v, (int, float)) and math.isfinite(v)
    env.filters["sortkey"] = lambda v: "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else v
    return env


def resolve_options(manifest: dict[str, Any], anchor: Optional[str], options: Optional[ReportOptions]) -> ReportOptions:
    """Explicit options win; else the suite's ``report:`` section; then ``anchor`` overrides."""
    if options is None:
        raw = manifest.get("suite", {}).get("report") or {}
        try:
            options = ReportOptions.model_validate(raw)
        except Exception as exc:  # pydantic.ValidationError: keep it to one line
            raise ValueError(f"manifest.json suite.report: invalid report options "
                             f"({str(exc).splitlines()[0]}); fix the suite's report: section") from exc
    if anchor:
        options = options.model_copy(update={"anchor": anchor})
    return options


def build_report_summary(run_dir: Path | str, out_dir: Path | str | None = None, anchor: Optional[str] = None,
                         options: Optional[ReportOptions] = None) -> ReportSummary:
    """Build the site and return what was written (see :func:`build_report`)."""
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    manifest = load_manifest(run_dir)
    frame = load_results(run_dir, include_paths=True)
    if frame.empty:
        raise ValueError(f"{run_dir}: the run has no results yet; run `codecbench run` first")
    opts = resolve_options(manifest, anchor, options)
    with ResultStore.open_existing(run_dir) as store:
        names = metric_names(run_dir, store.rows())
    metrics = metric_meta(manifest, names)
    summaries = summarize_datasets(frame, manifest, metrics, opts, opts.anchor, load_reference(run_dir, names))

    site = OwnedOutputDir.claim(out, "report")
    try:
        summary = _render(site, run_dir, manifest, frame, metrics, summaries, opts)
    except BaseException:
        site.abandon()
        raise
    site.commit()
    return summary


def _render(site: OwnedOutputDir, run_dir: Path, manifest: dict[str, Any], frame: Any, metrics: list,
            summaries: list[DatasetSummary], opts: ReportOptions) -> ReportSummary:
    """Write every page, plot and audio file through ``site`` (which records them as ours)."""
    out = site.root
    for src in sorted((HERE / "static").rglob("*")):
        if src.is_file():
            shutil.copyfile(src, site.path(Path("static") / src.relative_to(HERE / "static")))
    copier = AudioCopier(site, AllowedRoots.for_run(run_dir, manifest), opts.audio_format)
    env = environment()
    suite = manifest.get("suite", {}) or {}
    title = opts.title or suite.get("name") or run_dir.name
    nav = _nav(summaries, opts, frame, out, run_dir)
    common = dict(title=title, nav=nav, version=__version__, options=opts)
    pages = 0

    datasets = []
    for summary in summaries:
        ds = safe_component(summary.name)
        plots = []
        for m in metrics:
            rel = f"plots/{ds}/{safe_component(m.name)}"
            for ext in (".png", ".svg"):
                site.path(rel + ext)  # claimed (and checked) before matplotlib writes them
            png, svg = rd_plot(summary, m, out / rel)
            plots.append({"metric": m.name, "png": png.relative_to(out).as_posix(),
                          "svg": svg.relative_to(out).as_posix()})
        sub = frame[frame["dataset"] == summary.name]
        utts = select_utterances(sub, opts, metrics)
        n_total = int(sub["utterance"].nunique())
        rows = build_demo_rows(sub, summary, utts, copier, opts)
        chunks = [rows[i:i + opts.page_size] for i in range(0, len(rows), opts.page_size)] or [[]]
        demo_pages = [f"demo_{ds}_{i + 1}.html" for i in range(len(chunks))]
        for i, chunk in enumerate(chunks):
            _write(site, demo_pages[i], env.get_template("demo.html").render(
                **common, page_id=demo_pages[i], summary=summary, rows=chunk, page=i + 1, pages=demo_pages,
                selection=selection_text(opts, len(utts), n_total)))
            pages += 1
        metrics_page = f"metrics_{ds}.html"
        _write(site, metrics_page, env.get_template("metrics.html").render(
            **common, page_id=metrics_page, summary=summary, plots=plots, alpha=opts.alpha,
            ci=int(round(opts.ci_level * 100))))
        pages += 1
        datasets.append({"summary": summary, "metrics_page": metrics_page, "demo_page": demo_pages[0],
                         "n_utterances": n_total, "n_shown": len(utts), "winners": _winners(summary)})

    listening = _listening(run_dir, site)
    if listening is not None:
        _write(site, "listening.html", env.get_template("listening.html").render(
            **common, page_id="listening.html", listening=listening))
        pages += 1

    counts = frame["status"].value_counts().to_dict()
    status_counts = {k: int(counts.get(k, 0)) for k in STATUSES} | \
        {str(k): int(v) for k, v in counts.items() if k not in STATUSES}
    _write(site, "index.html", env.get_template("index.html").render(
        **common, page_id="index.html", suite=suite, manifest=manifest, datasets=datasets,
        manifest_json=json.dumps(manifest, indent=2, sort_keys=True, default=str),
        status_counts=status_counts, n_rows=len(frame),
        failures=_failure_rows(frame), listening=listening))
    pages += 1
    for line in copier.warnings:
        print(line, file=sys.stderr)
    if copier.clipped_files:
        print(f"warning: {len(copier.clipped_files)} float files exceeded full scale and were clipped to 24-bit "
              f"{opts.audio_format.upper()}", file=sys.stderr)
    return ReportSummary(out, pages, copier.n_files, copier.written_bytes, copier.source_bytes, folder_size(out))


def build_report(run_dir: Path | str, out_dir: Path | str | None = None, anchor: Optional[str] = None,
                 options: Optional[ReportOptions] = None) -> Path:
    """Render ``run_dir`` into a static site and return the report folder (default ``RUN_DIR/report``).

    Args:
        run_dir: a run directory (``results.sqlite`` + ``manifest.json``).
        out_dir: where to write the site: a new or empty folder, or one that holds an earlier
            codecbench report (its ``.codecbench-site`` marker lists the files that are ours;
            only those are replaced or removed). Any other non-empty folder is refused.
        anchor: codec label, adapter name or operating point (``APCodec_6``) to compare against;
            overrides the suite's ``report.anchor``.
        options: full report options; default: the suite's ``report:`` section from the manifest.
    """
    return build_report_summary(run_dir, out_dir, anchor, options).out_dir


def _write(site: OwnedOutputDir, rel: str, text: str) -> None:
    site.path(rel).write_text(text, encoding="utf-8")


def _nav(summaries: list[DatasetSummary], opts: ReportOptions, frame: Any, out: Path, run_dir: Path) -> list[dict]:
    links = [{"href": "index.html", "text": "Overview"}]
    for s in summaries:
        ds = safe_component(s.name)
        links.append({"href": f"metrics_{ds}.html", "text": f"Metrics: {s.name}"})
        links.append({"href": f"demo_{ds}_1.html", "text": f"Demo: {s.name}"})
    if (run_dir / LISTENING_SUMMARY).is_file():
        links.append({"href": "listening.html", "text": "Listening test"})
    return links


def selection_text(opts: ReportOptions, shown: int, total: int) -> str:
    """What the demo page shows, counted from the utterances actually shown (never the option alone)."""
    if shown >= total:
        return f"all {total} utterance{'s' if total != 1 else ''}"
    if opts.demo_selection == "first":
        return f"first {shown} of {total} utterances (sorted by id)"
    if opts.demo_selection == "random":
        return f"{shown} random of {total} utterances (seed {opts.seed})"
    return f"{shown} {opts.demo_selection} of {total} utterances by mean {opts.demo_metric}"


def _winners(summary: DatasetSummary) -> list[dict]:
    out = []
    for m in summary.metrics:
        best = [c for c in summary.conditions if c.best.get(m.name)]
        out.append({"metric": m, "labels": [c.label for c in best],
                    "value": best[0].estimates[m.name].mean if best else math.nan})
    return out


def _failure_rows(frame: Any) -> list[dict]:
    bad = frame[frame["n_failures"] > 0]
    rows = []
    for (dataset, codec, bitrate), grp in bad.groupby(["dataset", "codec", "bitrate"], dropna=False, sort=False):
        reasons: dict[str, int] = {}
        for _, item in grp.iterrows():
            for metric, reason in json.loads(item["failure_reasons"]).items():
                key = f"{metric}: {reason}"
                reasons[key] = reasons.get(key, 0) + 1
            if item["status"] != "ok":
                key = f"{item['status']}: {item['error'] or ''}"
                reasons[key] = reasons.get(key, 0) + 1
        rows.append({"dataset": dataset, "codec": codec, "bitrate": bitrate, "n": int(len(grp)),
                     "failed": int((grp["status"] == "failed").sum()),
                     "skipped": int((grp["status"] == "skipped").sum()),
                     "reasons": sorted(reasons.items(), key=lambda kv: -kv[1])[:5]})
    return rows


def _listening(run_dir: Path, site: OwnedOutputDir) -> Optional[dict]:
    """Load ``RUN_DIR/listening/summary.json`` (from ``codecbench listen analyze``) and copy its plots."""
    path = run_dir / LISTENING_SUMMARY
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); rerun `codecbench listen analyze`") from exc
    for test in data.get("tests", []):
        plots = []
        for rel in test.get("plots", []):
            src = path.parent / rel
            suffix = Path(rel).suffix.lower()
            if src.is_file() and "/" not in rel and "\\" not in rel and suffix in _PLOT_SUFFIXES:
                dest_rel = f"listening/{safe_component(Path(rel).stem)}{suffix}"
                shutil.copyfile(src, site.path(dest_rel))
                plots.append(dest_rel)
        test["plots"] = plots
    return data


__all__ = ["build_report", "build_report_summary", "ReportSummary", "resolve_anchor"]
