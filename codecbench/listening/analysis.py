"""``analyze``: listening-test result files -> per-condition statistics, screening, plots.

MUSHRA post-screening follows ITU-R BS.1534-3: a listener is excluded when they rate the
hidden reference below 90 for more than 15 % of the items they judged, or rate the mid-range
anchor (7 kHz low-pass) above 90 for more than 15 % of the items. Means come with Student-t
95 % CIs over all kept ratings of a condition. AB tests report preference counts with a
two-sided binomial test (ties excluded); MOS tests report means with t CIs.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from scipy import stats

from codecbench.paths import OwnedOutputDir, safe_component
from codecbench.stats import t_ci

RESULTS_FORMAT = "codecbench-listening-results"
SUMMARY_FORMAT = "codecbench-listening-summary"
REF_RULE = ("reference", 90.0, 0.15)        # excluded if rated < 90 in > 15 % of items
ANCHOR_RULE = ("anchor_lp7000", 90.0, 0.15)  # excluded if rated > 90 in > 15 % of items


@dataclass(frozen=True)
class AnalysisResult:
    """Where the summary went and what it says (``tests``: one dict per test id, as in summary.json)."""

    out_dir: Path
    summary_path: Path
    tests: list[dict[str, Any]]


def load_result_file(path: Path) -> dict[str, Any]:
    """Read and validate one downloaded results file (one-line errors naming the file)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON results file ({exc}); pass the file the test page downloaded") from exc
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        raise ValueError(f"{path}: not a codecbench listening results file (format must be {RESULTS_FORMAT!r})")
    if data.get("version") != 1:
        raise ValueError(f"{path}: results version {data.get('version')!r} is not supported (expected 1)")
    for key in ("test_id", "test", "listener", "trials"):
        if key not in data:
            raise ValueError(f"{path}: missing field {key!r}; the file is truncated or edited")
    if data["test"] not in ("mushra", "ab", "mos"):
        raise ValueError(f"{path}: unknown test type {data['test']!r}")
    return data


def screen_mushra(trials: list[dict[str, Any]]) -> Optional[str]:
    """Reason to exclude a MUSHRA listener per BS.1534 post-screening, or None to keep them."""
    n = len(trials)
    if n == 0:
        return "no completed trials"
    name, limit, share = REF_RULE
    low = sum(1 for t in trials if name in t["ratings"] and t["ratings"][name] < limit)
    if low / n > share:
        return f"hidden reference rated < {limit:g} in {low} of {n} items (> {share:.0%})"
    name, limit, share = ANCHOR_RULE
    high = sum(1 for t in trials if name in t["ratings"] and t["ratings"][name] > limit)
    if high / n > share:
        return f"7 kHz anchor rated > {limit:g} in {high} of {n} items (> {share:.0%})"
    return None


def _analyze_test(files: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    test = files[0][1]["test"]
    listeners = []
    kept_trials: list[dict[str, Any]] = []
    items: set[str] = set()
    for path, data in files:
        trials = data["trials"]
        reason = screen_mushra(trials) if test == "mushra" else (None if trials else "no completed trials")
        listeners.append({"listener": str(data["listener"]), "file": path.name, "trials": len(trials),
                          "completed": bool(data.get("completed")), "excluded": reason is not None,
                          "reason": reason or ""})
        if reason is None:
            kept_trials.extend(trials)
            items.update(str(t.get("item")) for t in trials)
    summary: dict[str, Any] = {"test_id": files[0][1]["test_id"], "test": test, "n_listeners": len(files),
                               "n_listeners_kept": sum(not l["excluded"] for l in listeners),
                               "n_items": len(items), "listeners": listeners, "conditions": [], "pairs": []}
    if test == "mushra":
        summary["screening"] = ("BS.1534 post-screening: exclude a listener who rates the hidden reference < 90 "
                                "for > 15% of items or the 7 kHz anchor > 90 for > 15% of items.")
        scores: dict[str, list[float]] = {}
        for t in kept_trials:
            for cond, value in t["ratings"].items():
                scores.setdefault(cond, []).append(float(value))
        summary["conditions"] = _condition_stats(scores)
    elif test == "mos":
        scores = {}
        for t in kept_trials:
            scores.setdefault(t["condition"], []).append(float(t["rating"]))
        summary["conditions"] = _condition_stats(scores)
    else:
        counts: dict[tuple[str, str], list[int]] = {}
        for t in kept_trials:
            a, b = sorted([t["a"], t["b"]])
            c = counts.setdefault((a, b), [0, 0, 0])
            pref = t.get("preferred")
            c[0 if pref == a else 1 if pref == b else 2] += 1
        for (a, b), (na, nb, nn) in sorted(counts.items()):
            p = float(stats.binomtest(na, na + nb).pvalue) if na + nb else math.nan
            summary["pairs"].append({"a": a, "b": b, "prefer_a": na, "prefer_b": nb, "none": nn, "p": p})
    return summary


def _condition_stats(scores: dict[str, list[float]]) -> list[dict[str, Any]]:
    rows = []
    for cond, values in scores.items():
        e = t_ci(values, 0.95)
        rows.append({"condition": cond, "mean": e.mean, "lo": e.lo, "hi": e.hi, "n": e.n})
    return sorted(rows, key=lambda r: -r["mean"] if math.isfinite(r["mean"]) else math.inf)


def _plot(summary: dict[str, Any], site: OwnedOutputDir) -> list[str]:
    from codecbench.report.plots import bar_plot

    stem = safe_component(f"{summary['test']}_{summary['test_id']}")  # the test id comes from a results file
    for ext in (".png", ".svg"):
        site.path(stem + ext)
    base = site.root / stem
    if summary["conditions"]:
        rows = summary["conditions"]
        ylim = (0.0, 100.0) if summary["test"] == "mushra" else (1.0, 5.0)
        paths = bar_plot([r["condition"] for r in rows], [r["mean"] for r in rows], [r["lo"] for r in rows],
                         [r["hi"] for r in rows], f"{summary['test'].upper()}: mean and 95% CI "
                         f"({summary['n_listeners_kept']} listeners)", "score", base, ylim)
    elif summary["pairs"]:
        rows = summary["pairs"]
        share = [100.0 * r["prefer_a"] / max(1, r["prefer_a"] + r["prefer_b"]) for r in rows]
        paths = bar_plot([f"{r['a']} vs {r['b']}" for r in rows], share, share, share,
                         "AB: % preferring the first of each pair (ties excluded)", "% preferred", base, (0.0, 100.0))
    else:
        return []
    return [p.name for p in paths]


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def _write_outputs(tests: list[dict[str, Any]], out_dir: Path) -> Path:
    """Write the summary, CSVs and plots into ``out_dir``; files there that codecbench did not write
    (the results JSONs, a user's notes) are never replaced, and plots of tests no longer in the
    summary are not deleted (the summary merges earlier tests)."""
    site = OwnedOutputDir.claim(out_dir, "listen-analysis", exclusive=False)
    site.written |= set(site.previous)  # merged summaries keep referring to earlier tests' plots
    for summary in tests:
        summary["plots"] = _plot(summary, site)
    path = site.path("summary.json")
    merged = tests
    if path.is_file():  # keep other tests already analysed into this folder
        try:
            old = json.loads(path.read_text(encoding="utf-8")).get("tests", [])
        except (json.JSONDecodeError, AttributeError):
            old = []
        ids = {t["test_id"] for t in tests}
        merged = [t for t in old if t.get("test_id") not in ids] + tests
    path.write_text(json.dumps(_nan_to_none({"format": SUMMARY_FORMAT, "version": 1, "tests": merged}), indent=2),
                    encoding="utf-8")
    with open(site.path("conditions.csv"), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["test", "test_id", "condition", "mean", "ci_lo", "ci_hi", "n"])
        for s in merged:
            for r in s.get("conditions", []):
                w.writerow([s["test"], s["test_id"], r["condition"], r["mean"], r["lo"], r["hi"], r["n"]])
    with open(site.path("listeners.csv"), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["test", "test_id", "listener", "file", "trials", "completed", "excluded", "reason"])
        for s in merged:
            for l in s.get("listeners", []):
                w.writerow([s["test"], s["test_id"], l["listener"], l["file"], l["trials"], l["completed"],
                            l["excluded"], l["reason"]])
    site.commit()
    return path


def analyze(results_paths: Sequence[Path | str], out_dir: Path | str | None = None,
            run_dir: Path | str | None = None) -> AnalysisResult:
    """Analyse downloaded listening-test results; one summary per test id.

    Writes ``summary.json``, ``conditions.csv``, ``listeners.csv`` and PNG/SVG plots to
    ``out_dir`` (default ``RUN_DIR/listening`` or ``./listening_analysis``). With ``run_dir``
    the same files also go to ``RUN_DIR/listening/``, where ``codecbench report`` picks them up.
    """
    if not results_paths:
        raise ValueError("listen analyze: pass at least one results JSON file")
    groups: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for p in results_paths:
        data = load_result_file(Path(p))
        groups.setdefault(data["test_id"], []).append((Path(p), data))
    for test_id, files in groups.items():
        if len({d["test"] for _, d in files}) > 1:
            raise ValueError(f"results of test id {test_id} disagree on the test type; check the files")
        seen: dict[str, Path] = {}
        for path, data in files:
            if str(data["listener"]) in seen:
                raise ValueError(f"{path}: listener {data['listener']!r} already given by {seen[str(data['listener'])]}; "
                                 "pass each listener's file once")
            seen[str(data["listener"])] = path
    tests = [_analyze_test(files) for files in groups.values()]
    target = Path(out_dir) if out_dir is not None else (Path(run_dir) / "listening" if run_dir else Path("listening_analysis"))
    summary_path = _write_outputs(tests, target)
    if run_dir is not None and target.resolve() != (Path(run_dir) / "listening").resolve():
        _write_outputs([dict(t) for t in tests], Path(run_dir) / "listening")
    return AnalysisResult(target, summary_path, tests)
