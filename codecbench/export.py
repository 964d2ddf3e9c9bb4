"""Export a run's table to CSV / Parquet / JSON, and merge shard results."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

from codecbench.results import load_results
from codecbench.store import DB_NAME, ResultStore, StoreError


def export_results(run_dir: Path, fmt: str, output: Optional[Path] = None) -> Path:
    """Write ``load_results(run_dir)`` as ``fmt``; NaN stays NaN (empty in CSV, null in JSON)."""
    df = load_results(run_dir)
    output = output or run_dir / f"results.{fmt}"
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        df.to_csv(output, index=False)
    elif fmt == "parquet":
        try:
            df.to_parquet(output, index=False)
        except ImportError as exc:
            raise StoreError(f"{output}: parquet export needs pyarrow; pip install 'codecbench[parquet]'") from exc
    elif fmt == "json":
        records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}
                   for rec in df.to_dict(orient="records")]
        output.write_text(json.dumps({"rows": records, "n_rows": len(records),
                                      "n_failures": int(df["n_failures"].sum()) if len(df) else 0},
                                     indent=1, default=str) + "\n")
    else:
        raise StoreError(f"unknown export format '{fmt}'; choose csv, parquet or json")
    return output


def _shard_files(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("results.shard-*.sqlite"))


def merge_runs(run_dir: Path, sources: list[Path]) -> tuple[int, list[Path]]:
    """Copy every row of ``sources`` (shard databases or other run dirs) into ``run_dir``.

    Rows are keyed by plan identity, so merging twice, or merging overlapping shards, never
    duplicates a row. Decoded-audio paths of other run dirs are made absolute so they stay valid.
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
    with ResultStore.open(run_dir) as target:
        for path in files:
            if path.resolve() == target.path.resolve():
                continue
            source_store = ResultStore(path)
            try:
                base = path.parent.resolve()
                total += target.merge_from(source_store, None if base == run_dir.resolve() else base)
            finally:
                source_store.close()
    return total, files

