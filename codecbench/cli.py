"""The ``codecbench`` command line.

Every expected failure ends as one ``codecbench: error: ...`` line and a documented exit status
(see :mod:`codecbench.errors`): 0 success, 1 a bug (traceback), 2 bad suite/options/data,
3 a run that scored nothing, 4 run directory locked by another process, 5 cluster tasks of a
``--launcher`` run kept failing, 130 interrupted with
everything finished already stored.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from codecbench import __version__
from codecbench.errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USAGE, CodecbenchError, NothingScoredError


if TYPE_CHECKING:
    from codecbench.suite import Suite


class CliError(CodecbenchError):
    """A one-line error for the user."""


def _fail(message: str) -> int:
    print(f"codecbench: error: {message}", file=sys.stderr)
    return EXIT_USAGE


# -- commands -------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    from codecbench.plan import Shard
    from codecbench.runner import run_suite
    from codecbench.suite import load_suite

    suite = load_suite(args.suite)
    if args.launcher:
        return _run_launched(suite, args)
    if args.tasks or args.detach:
        raise CliError("--tasks and --detach need --launcher slurm|local; for one process drop them")
    shard = Shard.parse(args.shard) if args.shard else None
    print(f"run dir: {suite.output_dir(args.out)}", file=sys.stderr)
    summary = run_suite(suite, out=args.out, jobs=args.jobs, device=args.device, shard=shard,
                        progress=not args.no_progress, wait=args.wait, retry_crashed=args.retry_crashed)
    added = f"  metrics added to: {summary.metrics_added}" if summary.metrics_added else ""
    added += f"  references scored: {summary.references}" if summary.references else ""
    print(f"run dir: {summary.run_dir}  planned rows: {summary.planned}  already done: {summary.already_done}  "
          f"new ok: {summary.ok}  failed: {summary.failed}  skipped: {summary.skipped}{added}", file=sys.stderr)
    if summary.stored_ok == 0 and summary.planned:
        raise NothingScoredError(f"nothing was scored in {summary.run_dir}: {summary.failed} rows failed and "
                                 f"{summary.skipped} were skipped (see the lines above); fix the first error and "
                                 "rerun the same command")
    if shard is not None:
        print(f"shard {shard.tag} done; after all shards finish run `codecbench merge {summary.run_dir}`",
              file=sys.stderr)
        return 0
    return _print_summary(summary.run_dir)


def _run_launched(suite: "Suite", args: argparse.Namespace) -> int:
    from codecbench.launcher import launch
    from codecbench.store import ResultStore

    if args.shard:
        raise CliError("--shard and --launcher do not mix: the launcher cuts the shards itself (--tasks N)")
    result = launch(suite, args.launcher, tasks=args.tasks, out=args.out, jobs=args.jobs, device=args.device,
                    detach=args.detach, progress=not args.no_progress, retry_crashed=args.retry_crashed)
    if result.detached:
        return 0
    with ResultStore.open_existing(result.run_dir) as store:
        states = [status for status, _, _ in store.row_states().values()]
    print(f"run dir: {result.run_dir}  planned rows: {result.planned}  tasks: {result.record.tasks if result.record else '?'}"
          f"  merged: {result.merged_rows} rows in {result.merge_s:.2f} s  ok: {states.count('ok')}  "
          f"failed: {states.count('failed')}  skipped: {states.count('skipped')}", file=sys.stderr)
    if states.count("ok") == 0 and result.planned:
        raise NothingScoredError(f"nothing was scored in {result.run_dir}: see the task logs under "
                                 f"{result.run_dir / 'tasks'}; fix the first error and rerun the same command")
    return _print_summary(result.run_dir)


def cmd_status(args: argparse.Namespace) -> int:
    from codecbench.cluster import format_status, run_status

    print(format_status(run_status(Path(args.run_dir))))
    return 0


def _print_summary(run_dir: Path, fmt: str = "text", all_items: bool = False) -> int:
    """Print the summary table; an unchanged run's table comes from its cache (see summary_cache)."""
    from codecbench.summary_cache import cached_summary, remember_summary, summary_key

    key = summary_key(run_dir, fmt, all_items)
    text = cached_summary(run_dir, key) if key else None
    if text is None:
        from codecbench.results import load_codebooks, load_manifest, load_reference, load_results, metric_names
        from codecbench.stats import CISettings
        from codecbench.summary import FORMATTERS, summarize

        df = load_results(run_dir)
        settings = CISettings.from_manifest(load_manifest(run_dir))
        names = metric_names(run_dir)
        text = FORMATTERS[fmt](summarize(df, names, settings, all_items=all_items, codebooks=load_codebooks(run_dir),
                                         reference=load_reference(run_dir, names)))
        if key:
            remember_summary(run_dir, f"{fmt}-all-items" if all_items else fmt, key, text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    return _print_summary(Path(args.run_dir), args.format, args.all_items)


def cmd_export(args: argparse.Namespace) -> int:
    from codecbench.export import codebooks_path, export_results

    path = export_results(Path(args.run_dir), args.format, Path(args.output) if args.output else None)
    print(path)
    if args.format in ("csv", "parquet") and codebooks_path(path).is_file():
        print(codebooks_path(path))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from codecbench.export import merge_runs

    total, sources = merge_runs(Path(args.run_dir), [Path(p) for p in args.sources], force=args.force)
    print(f"merged {total} rows from {len(sources)} source(s) into {Path(args.run_dir) / 'results.sqlite'}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from codecbench.codecs import CODECS
    from codecbench.datasets import DATASETS
    from codecbench.metrics import METRICS
    from codecbench.registry import RegistryError

    registry = {"codecs": CODECS, "metrics": METRICS, "datasets": DATASETS}[args.what]
    for name in registry.names():
        try:
            cls = registry.get(name)
        except RegistryError as exc:
            print(f"{name:16s} unavailable: {exc}")
            continue
        if args.what == "codecs":
            detail = cls.summary()
            rules = getattr(cls, "coding_rules", None)
            if args.verbose and callable(rules):  # third-party adapters may not derive from Codec
                labels = {"bitrate": "bitrate", "sample_rate": "coding rate", "channels": "channels"}
                detail += "".join(f"\n{'':16s} {labels.get(key, key)}: {text}" for key, text in rules().items())
        elif args.what == "metrics":
            info = cls.info
            rate = f"{info.sample_rate // 1000 if info.sample_rate % 1000 == 0 else info.sample_rate / 1000:g} kHz" \
                if info.sample_rate else "native rate"
            kind = "full-reference" if info.intrusive else "non-intrusive (degraded signal only)"
            kind += ", needs the dataset's transcript" if info.needs_transcript else ""
            device = f"{info.device}, batched" if info.batchable else info.device
            detail = (f"{rate}; {'higher' if info.higher_is_better else 'lower'} is better; {kind}; {device}; "
                      f"{info.description}")
            for item in info.weights:
                when = f" [{item.when}]" if item.when else ""
                detail += f"\n{'':16s} weights{when}: {item.name}; {item.source}; licence {item.licence}"
        else:
            detail = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name:16s} {detail}")
    return 0


def cmd_roundtrip(args: argparse.Namespace) -> int:
    import math

    from codecbench.audio import load_audio, save_audio
    from codecbench.codecs import CODECS
    from codecbench.plan import resolve_device
    from codecbench.results import NOMINAL_RATE_NOTE
    from codecbench.transcode import check_decoded

    from codecbench.suite import load_codec_entry

    entry = load_codec_entry(args.codec)
    if len(entry.bitrates) != 1:
        raise CliError(f"{args.codec}: give one 'bitrate' for roundtrip, not a sweep of {len(entry.bitrates)}")
    codec = CODECS.get(entry.adapter)(bitrate=entry.bitrates[0], device=resolve_device(args.device),
                                      **entry.options)
    reason = codec.unavailable_reason()
    if reason:
        raise CliError(f"{entry.name}: {reason}")
    if not Path(args.input).is_file():
        raise CliError(f"{args.input}: input file not found; check the path")
    subtype = args.subtype or _default_subtype(Path(args.output))
    audio, rate = load_audio(args.input)
    prepared = codec.prepare(audio, rate)
    duration = prepared.shape[1] / codec.sample_rate
    start = time.perf_counter()
    payload = codec.encode(prepared, None)
    mid = time.perf_counter()
    decoded = check_decoded(codec.decode(payload), prepared.shape[1], codec.sample_rate, entry.name)
    end = time.perf_counter()
    try:
        save_audio(args.output, decoded, codec.sample_rate, subtype=subtype)
    except (OSError, ValueError, RuntimeError) as exc:
        raise CliError(f"{args.output}: cannot write audio with subtype {subtype} ({str(exc).splitlines()[0]}); "
                       "use a .wav or .flac name, or pass --subtype") from None
    kbps = payload.kbps(duration) if codec.has_payload else math.nan
    basis = (None if not codec.has_payload else NOMINAL_RATE_NOTE if payload.kind == "codes"
             else "size of the encoded byte stream")
    print(json.dumps({"codec": entry.name, "declared_kbps": entry.bitrates[0], "measured_kbps": kbps,
                      "measured_kbps_is": basis,
                      "encode_rtf": (mid - start) / duration, "decode_rtf": (end - mid) / duration,
                      "sample_rate": codec.sample_rate, "seconds": duration, "output": str(args.output)}))
    return 0


def _default_subtype(path: Path) -> str:
    """FLOAT for WAV (lossless for any codec output); what the container supports otherwise."""
    return {".flac": "PCM_24", ".ogg": "VORBIS", ".opus": "OPUS", ".mp3": "MPEG_LAYER_III"}.get(
        path.suffix.lower(), "FLOAT")


def cmd_train(args: argparse.Namespace) -> int:
    import importlib

    module = {"apcodec": "apcodec.train", "complex_rvqvae": "complex_rvqvae.train"}[args.model]
    return int(importlib.import_module(module).main(args.rest) or 0)


def cmd_weights(args: argparse.Namespace) -> int:
    from codecbench import weights

    if args.action == "list":
        statuses = weights.list_weights()
        width = max(len(s.name) for s in statuses)
        for status in statuses:
            where = str(status.path) if status.present else f"missing (hub: {status.repo_id})"
            print(f"{status.name:{width}s}  {'present' if status.present else 'absent ':7s}  "
                  f"{status.description}\n{'':{width}s}  {where}")
        return 0
    if not args.name:
        raise CliError("weights fetch needs a NAME; see `codecbench weights list`")
    print(weights.fetch_weights(args.name))
    return 0


# -- parser ---------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codecbench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"codecbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a suite (resumes an interrupted run)")
    run.add_argument("suite", help="suite YAML file")
    run.add_argument("--out", type=Path, help="run directory (default: the suite's `out` or reports/<name>)")
    run.add_argument("--jobs", type=int, help="metric worker processes (default: all cores)")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], help="device for neural codecs")
    run.add_argument("--shard", help="run slice K of N of the plan, e.g. 2/8; then `codecbench merge`")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--wait", action="store_true", help="wait for another run on the same run dir to finish")
    run.add_argument("--retry-crashed", action="store_true",
                     help="also retry items that crashed their codec worker twice")
    run.add_argument("--launcher", choices=["local", "slurm"],
                     help="run as --tasks shards: a Slurm job array, or local subprocesses; then merge")
    run.add_argument("--tasks", type=int, help="number of launcher tasks (default: the suite's launcher.tasks)")
    run.add_argument("--detach", action="store_true",
                     help="with --launcher slurm: return after submitting (follow with the same command)")
    run.set_defaults(func=cmd_run)

    st = sub.add_parser("status", help="shards of a --launcher run: rows, failures, task states, next step")
    st.add_argument("run_dir")
    st.set_defaults(func=cmd_status)

    lst = sub.add_parser("list", help="list registered codecs, metrics or datasets")
    lst.add_argument("what", choices=["codecs", "metrics", "datasets"])
    lst.add_argument("-v", "--verbose", action="store_true", help="codecs: also the bitrate range, coding-rate rule and channel policy")
    lst.set_defaults(func=cmd_list)

    rt = sub.add_parser("roundtrip", help="encode + decode one file with one codec entry")
    rt.add_argument("codec", help="YAML file holding one codec entry (adapter, bitrate, options)")
    rt.add_argument("input")
    rt.add_argument("output")
    rt.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    rt.add_argument("--subtype", help="soundfile subtype of the output (default: FLOAT for .wav, PCM_24 for .flac)")
    rt.set_defaults(func=cmd_roundtrip)

    exp = sub.add_parser("export", help="write one row per utterance x codec x bitrate")
    exp.add_argument("run_dir")
    exp.add_argument("--format", choices=["csv", "parquet", "json", "jsonl"], default="csv",
                     help="csv (default), parquet, json, or jsonl: one object per row keyed by utterance "
                          "id, in the layout VERSA writes")
    exp.add_argument("-o", "--output", help="output file (default: RUN_DIR/results.<format>)")
    exp.set_defaults(func=cmd_export)

    summ = sub.add_parser("summary", help="paired mean ± 95%% CI per codec x bitrate x metric")
    summ.add_argument("run_dir")
    summ.add_argument("--format", choices=["text", "csv", "json"], default="text",
                      help="text table (default), or one CSV/JSON record per dataset x condition x metric")
    summ.add_argument("--all-items", action="store_true",
                      help="also show each condition's mean over all its own scored items (unpaired)")
    summ.set_defaults(func=cmd_summary)

    merge = sub.add_parser("merge", help="combine shard results (or other run dirs) into RUN_DIR")
    merge.add_argument("run_dir")
    merge.add_argument("sources", nargs="*", help="run dirs or .sqlite files (default: RUN_DIR's shard files)")
    merge.add_argument("--force", action="store_true", help="merge even when suites or metric versions differ")
    merge.set_defaults(func=cmd_merge)

    train = sub.add_parser("train", help="train a codec (arguments go to `python -m <model>.train`)")
    train.add_argument("model", choices=["apcodec", "complex_rvqvae"])
    train.add_argument("rest", nargs=argparse.REMAINDER)
    train.set_defaults(func=cmd_train)

    wts = sub.add_parser("weights", help="list or fetch pretrained weights of the neural adapters")
    wts.add_argument("action", choices=["list", "fetch"])
    wts.add_argument("name", nargs="?")
    wts.set_defaults(func=cmd_weights)

    try:
        from codecbench.report.cli import register
    except ImportError:
        pass
    else:
        register(sub)
    return parser


#: Loggers whose INFO notes (e.g. "official config.json: ignoring keys ...") the CLI shows.
NOTE_LOGGERS = ("apcodec", "complex_rvqvae", "hificodec")


class _StderrNow(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record (it may be replaced after
    the handler is attached: a captured or redirected stream, a test harness)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _show_notes() -> None:
    """Print the model packages' INFO notes as ``codecbench: note: ...`` lines on stderr (once)."""
    for name in NOTE_LOGGERS:
        logger = logging.getLogger(name)
        if any(getattr(h, "codecbench_notes", False) for h in logger.handlers):
            continue
        handler = _StderrNow()
        handler.setFormatter(logging.Formatter("codecbench: note: %(message)s"))
        handler.codecbench_notes = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    if func is not cmd_train:  # the train commands set up their own (timestamped) logging
        _show_notes()
    from codecbench.runner import RunInterrupted

    try:
        return func(args)
    except BrokenPipeError:  # `codecbench summary RUN | head`
        sys.stdout = open(os.devnull, "w")
        return 0
    except RunInterrupted as exc:
        print(f"codecbench: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("codecbench: interrupted; finished rows are stored, rerun the same command to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except CodecbenchError as exc:
        print(f"codecbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except FileNotFoundError as exc:
        return _fail(f"{exc.filename or exc}: no such file or directory; check the path")
    except Exception:  # a genuine bug: show it and ask for a report
        import traceback

        traceback.print_exc()
        print("codecbench: internal error (a bug in codecbench or an adapter); please report it with the "
              "traceback above", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
