"""``codecbench report`` and ``codecbench listen`` subcommands.

``register(subparsers)`` adds both to the main CLI's argparse subparsers; each sets
``func(args) -> int``. ``listen`` has two forms sharing one parser (argparse cannot mix an
optional sub-command with a positional): ``listen RUN_DIR --test ...`` and
``listen analyze RESULTS... [--run-dir RUN_DIR]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence


def _one_line_errors(func):
    """User errors (bad anchor, missing run, foreign --out folder) end as one line and their exit code."""
    def wrapped(args: argparse.Namespace) -> int:
        from codecbench.errors import EXIT_USAGE, CodecbenchError
        from codecbench.store import StoreError

        try:
            return func(args)
        except CodecbenchError as exc:
            print(f"codecbench: error: {exc}", file=sys.stderr)
            return exc.exit_code
        except (ValueError, OSError, StoreError) as exc:
            print(f"codecbench: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    wrapped.__name__ = func.__name__
    wrapped.__doc__ = func.__doc__
    return wrapped


@_one_line_errors
def _report(args: argparse.Namespace) -> int:
    from codecbench.report.build import build_report_summary, resolve_options
    from codecbench.results import load_manifest

    options = None
    overrides = {k: v for k, v in (("demo_items", args.demo_items), ("demo_selection", args.demo_selection),
                                   ("demo_metric", args.demo_metric), ("audio_format", args.audio_format),
                                   ("page_size", args.page_size)) if v is not None}
    if args.no_spectrograms:
        overrides["spectrograms"] = False
    if overrides:
        base = resolve_options(load_manifest(args.run_dir), None, None)
        options = type(base).model_validate({**base.model_dump(), **overrides})
    summary = build_report_summary(args.run_dir, args.out, anchor=args.anchor, options=options)
    print(summary.line())
    return 0


@_one_line_errors
def _listen(args: argparse.Namespace) -> int:
    if args.target == "analyze":
        from codecbench.listening.analysis import analyze

        if not args.results:
            print("error: listen analyze needs one or more results JSON files", file=sys.stderr)
            return 2
        result = analyze(args.results, args.out, args.run_dir)
        for test in result.tests:
            print(f"{test['test']} {test['test_id']}: {test['n_listeners_kept']}/{test['n_listeners']} listeners kept, "
                  f"{test['n_items']} items")
            for row in test["conditions"]:
                print(f"  {row['condition']:<28} {row['mean']:7.2f}  [{row['lo']:.2f}, {row['hi']:.2f}]  n={row['n']}")
            for row in test["pairs"]:
                print(f"  {row['a']} vs {row['b']}: {row['prefer_a']}-{row['prefer_b']} (ties {row['none']}), p={row['p']:.3g}")
        print(f"summary: {result.summary_path}")
        return 0
    if args.results:
        print(f"error: unexpected arguments {args.results}; did you mean `listen analyze ...`?", file=sys.stderr)
        return 2
    from codecbench.listening.generate import build_listening_test

    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()] if args.conditions else None
    out = build_listening_test(args.target, args.test, args.items, args.out, args.seed, conditions=conditions,
                               dataset=args.dataset, max_seconds=args.max_seconds or None)
    print(f"listening test: {out / 'index.html'} (open it in a browser; answers download as JSON)")
    return 0


def register(subparsers: "argparse._SubParsersAction") -> None:
    """Add the ``report`` and ``listen`` subcommands to the main CLI."""
    rep = subparsers.add_parser("report", help="render a run directory into a static HTML report",
                                description="Render RUN_DIR into a static site (open index.html from disk).")
    rep.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    rep.add_argument("--out", type=Path, default=None,
                     help="output folder (default RUN_DIR/report): new, empty, or an earlier report")
    rep.add_argument("--anchor", default=None, help="codec label, adapter or operating point (e.g. APCodec_6) "
                                                    "for BD deltas and significance tests")
    rep.add_argument("--demo-items", type=int, default=None, help="utterances on the demo page")
    rep.add_argument("--demo-selection", choices=["first", "random", "worst", "best"], default=None)
    rep.add_argument("--demo-metric", default=None, help="metric ranking utterances for worst/best")
    rep.add_argument("--audio-format", choices=["flac", "wav", "copy"], default=None,
                     help="players' audio: lossless 24-bit FLAC (default), 24-bit WAV, or the files as they are")
    rep.add_argument("--page-size", type=int, default=None, help="demo rows per page")
    rep.add_argument("--no-spectrograms", action="store_true", help="skip spectrogram thumbnails")
    rep.set_defaults(func=_report)

    lis = subparsers.add_parser(
        "listen", help="generate a listening test, or analyze its results",
        description="Generate:  codecbench listen RUN_DIR --test mushra|ab|mos [--items N] [--out DIR]\n"
                    "Analyse:   codecbench listen analyze RESULTS.json... [--out DIR] [--run-dir RUN_DIR]",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    lis.add_argument("target", metavar="RUN_DIR|analyze")
    lis.add_argument("results", nargs="*", metavar="RESULTS", help="(analyze) downloaded results JSON files")
    lis.add_argument("--test", choices=["mushra", "ab", "mos"], default="mushra")
    lis.add_argument("--items", type=int, default=None, help="number of utterances (default all)")
    lis.add_argument("--out", type=Path, default=None, help="output folder: new, empty, or an earlier test")
    lis.add_argument("--seed", type=int, default=0)
    lis.add_argument("--conditions", default=None, help="comma-separated condition labels, e.g. APCodec_6,Opus_6")
    lis.add_argument("--dataset", default=None)
    lis.add_argument("--max-seconds", type=float, default=10.0, help="cut stimuli to this length (0 = full)")
    lis.add_argument("--run-dir", type=Path, default=None,
                     help="(analyze) also write the summary to RUN_DIR/listening/ for `codecbench report`")
    lis.set_defaults(func=_listen)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Stand-alone entry point (the main ``codecbench`` CLI normally dispatches here)."""
    parser = argparse.ArgumentParser(prog="codecbench")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
