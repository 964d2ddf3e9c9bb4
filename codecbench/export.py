"""Export a run's table to CSV / Parquet / JSON / JSONL, and merge shard results.

Codebook statistics (dataset-level, :func:`codecbench.results.load_codebooks`) go into the JSON
document's ``codebooks`` list, and for CSV / Parquet into a second file beside the table,
``<name>.codebooks.<ext>`` (one row per condition x codebook), written only when the run has any.

JSONL writes one JSON object per line in the layout of VERSA's utterance scorer: ``"key"`` (the
utterance id) first, then one flat entry per metric (``null`` when it could not be computed),
then the codec point (``dataset, codec, bitrate, condition, measured_kbps``) and the row's
``status`` and ``error``, since one codecbench run holds many systems where a VERSA file holds one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from codecbench.codebooks import records as codebook_records
from codecbench.manifest import write_json_atomic
from codecbench.results import (KEY_COLUMNS, MANIFEST_NAME, TAIL_COLUMNS, condition_label, load_codebooks,
                                load_manifest, load_results)
from codecbench.store import DB_NAME, ResultStore, StoreError


INTEGER_COLUMNS = ["lag_samples", "trimmed_reference_samples", "trimmed_degraded_samples", "coding_sample_rate",
                   "coding_channels", "input_channels", "decoded_channels"]
BOOLEAN_COLUMNS = ["lag_at_bound"]


def typed_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Alignment and coding columns as nullable integers / booleans.

    Failed rows have no alignment, and a column of ints with missing values would otherwise
    become float (``12.0`` samples) or, for ``lag_at_bound``, an untyped object column.
    """
    df = df.copy()
    for col in INTEGER_COLUMNS:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce").round().astype("Int64")
    for col in BOOLEAN_COLUMNS:
        if col in df.columns:
            df[col] = df[col].astype("boolean")
    return df


def export_results(run_dir: Path, fmt: str, output: Optional[Path] = None) -> Path:
    """Write ``load_results(run_dir)`` as ``fmt``, one row per utterance x codec x bitrate.

    Besides scores and timings the rows carry the alignment (``lag_samples, lag_at_bound,
    trimmed_reference_samples, trimmed_degraded_samples``) and what was coded
    (``coding_sample_rate, coding_channels``, ...). NaN / missing stay missing (empty in CSV,
    null in JSON).
    """
    df = typed_columns(load_results(run_dir))
    output = output or run_dir / f"results.{fmt}"
    if output.is_dir():
        raise StoreError(f"{output}: is a directory; give -o a file name such as {output / f'results.{fmt}'}")
    books = codebook_records(load_codebooks(run_dir))
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        return _write_table(df, fmt, output, books)
    except OSError as exc:
        raise StoreError(f"{output}: cannot write the export ({exc.strerror}); choose another -o") from None


def codebooks_path(output: Path) -> Path:
    """Where the CSV / Parquet export of ``output`` puts its codebook table."""
    return output.with_name(f"{output.stem}.codebooks{output.suffix}")


def _write_table(df: "pd.DataFrame", fmt: str, output: Path, books: list[dict[str, Any]]) -> Path:
    if fmt in ("csv", "parquet"):
        _write_frame(df, fmt, output)
        side = codebooks_path(output)
        if books:
            _write_frame(pd.DataFrame.from_records(books), fmt, side)
        elif side.is_file():
            side.unlink()  # left by an earlier export of this path: never keep stale numbers beside the table
    elif fmt == "jsonl":
        with open(output, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(rec, allow_nan=False) + "\n" for rec in versa_records(df))
    elif fmt == "json":
        records = [{k: _json_value(v) for k, v in rec.items()} for rec in df.to_dict(orient="records")]
        doc: dict[str, Any] = {"rows": records, "n_rows": len(records),
                               "n_failures": int(df["n_failures"].sum()) if len(df) else 0}
        if books:
            doc["codebooks"] = books
        output.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    else:
        raise StoreError(f"unknown export format '{fmt}'; choose csv, parquet, json or jsonl")
    return output


def versa_records(df: "pd.DataFrame") -> list[dict[str, Any]]:
    """One VERSA-style dict per row of :func:`load_results`: ``key``, the metrics, then the codec point."""
    start = len(KEY_COLUMNS) + 1   # the metric columns sit between measured_kbps and the tail columns
    metrics = list(df.columns[start: list(df.columns).index(TAIL_COLUMNS[0])])
    out = []
    for rec in df.to_dict(orient="records"):
        line: dict[str, Any] = {"key": rec["utterance"]}
        line.update({name: _json_value(rec[name]) for name in metrics})
        bitrate = _json_value(rec["bitrate"])
        line.update(dataset=rec["dataset"], codec=rec["codec"], bitrate=bitrate,
                    condition=condition_label(rec["codec"], bitrate), measured_kbps=_json_value(rec["measured_kbps"]),
                    status=rec["status"], error=_json_value(rec["error"]))
        out.append(line)
    return out


def _write_frame(df: "pd.DataFrame", fmt: str, output: Path) -> None:
    if fmt == "csv":
        df.to_csv(output, index=False)
        return
    try:
        df.to_parquet(output, index=False)
    except ImportError as exc:
        raise StoreError(f"{output}: parquet export needs pyarrow; pip install 'codecbench[parquet]'") from exc


def _json_value(value: Any) -> Any:
    """JSON-safe cell: NaN and pandas' NA become null, numpy scalars plain Python numbers."""
    if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _shard_files(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("results.shard-*.sqlite"))


def _comparable(target: ResultStore, source: ResultStore, path: Path) -> Optional[str]:
    """Why ``source`` must not be merged into ``target`` (different suite or metric identities)."""
    theirs, ours = source.get_meta("suite_hash"), target.get_meta("suite_hash")
    if theirs and ours and theirs != ours:
        return f"{path} was made by a different suite (digest {theirs[:12]} vs {ours[:12]})"
    their_metrics, our_metrics = source.get_meta("metric_digests") or {}, target.get_meta("metric_digests") or {}
    changed = sorted(k for k in set(their_metrics) & set(our_metrics) if their_metrics[k] != our_metrics[k])
    if changed:
        return f"{path} scored {', '.join(changed)} with a different metric version or options"
    return None


def merge_runs(run_dir: Path, sources: list[Path], force: bool = False) -> tuple[int, list[Path]]:
    """Copy every row of ``sources`` (shard databases or other run dirs) into ``run_dir``.

    Rows are keyed by plan identity, so merging twice, or merging overlapping shards, never
    duplicates a row. Decoded-audio paths of other run dirs are made absolute so they stay valid.
    Sources made by another suite, or scored with other metric identities, are refused unless
    ``force``; the merged sources are recorded in the manifest.
    """
    files = []
    for source in sources or _shard_files(run_dir):
        path = source / DB_NAME if source.is_dir() else source
        if not path.is_file():
            raise StoreError(f"{source}: no results database to merge; pass a run dir or a results*.sqlite file")
        files.append(path)
    if not files:
        raise StoreError(f"{run_dir}: no results.shard-*.sqlite files to merge; run with --shard K/N first")
    total = 0
    from codecbench.lock import RunLock

    with ResultStore.open(run_dir) as target, RunLock(target.path):
        for path in files:
            if path.resolve() == target.path.resolve():
                continue
            source_store = ResultStore(path, readonly=True)
            try:
                problem = _comparable(target, source_store, path)
                if problem and not force:
                    raise StoreError(f"refusing to merge: {problem}; pass --force to merge anyway")
                if target.get_meta("suite_hash") is None and source_store.get_meta("suite_hash"):
                    target.set_meta("suite_hash", source_store.get_meta("suite_hash"))
                    target.set_meta("metric_digests", source_store.get_meta("metric_digests") or {})
                base = path.parent.resolve()
                total += target.merge_from(source_store, None if base == run_dir.resolve() else base)
            finally:
                source_store.close()
    manifest = load_manifest(run_dir)
    if manifest:
        manifest["merged_from"] = sorted({*manifest.get("merged_from", []), *(str(f.resolve()) for f in files)})
        write_json_atomic(run_dir / MANIFEST_NAME, manifest)
    return total, files

