"""Reading a run directory back: the per-utterance table, the manifest and the suite.

This is the one read path shared by ``export``, ``summary``, ``report`` and the Python API.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from codecbench.store import ResultStore

if TYPE_CHECKING:  # pandas loads only when a table is built: a rerun with nothing to do never needs it
    import pandas as pd

MANIFEST_NAME = "manifest.json"
KEY_COLUMNS = ["dataset", "utterance", "codec", "bitrate"]
TAIL_COLUMNS = ["encode_rtf", "decode_rtf", "duration_s", "status", "error", "n_failures", "failure_reasons"]
ALIGNMENT_COLUMNS = ["lag_samples", "lag_at_bound", "trimmed_reference_samples", "trimmed_degraded_samples"]
CODING_COLUMNS = ["coding_sample_rate", "coding_channels", "input_channels", "decoded_channels", "decoded_sha256"]
PATH_COLUMNS = ["reference_path", "decoded_path", "decoded_sample_rate", "adapter"]
#: Condition label of the non-intrusive metrics scored on the references (a reserved codec name).
REFERENCE_LABEL = "reference"


def condition_label(codec: str, bitrate: Optional[float]) -> str:
    """Column label of one codec operating point, e.g. ``APCodec_6`` or ``APCodec_4.5``."""
    if bitrate is None or (isinstance(bitrate, float) and math.isnan(bitrate)):
        return codec
    return f"{codec}_{bitrate:g}"


def load_manifest(run_dir: Path | str) -> dict[str, Any]:
    """The provenance manifest written at the start of a run (empty dict if absent)."""
    path = Path(run_dir) / MANIFEST_NAME
    return json.loads(path.read_text()) if path.is_file() else {}


def metric_names(run_dir: Path | str, rows: Optional[list[dict[str, Any]]] = None) -> list[str]:
    """Metric columns in suite order; without a manifest, whatever scores are stored.

    A metric removed from the suite disappears from tables (its stored values are kept).
    """
    names = list(load_manifest(run_dir).get("metrics", {}))  # column labels, in suite order
    if names:
        return names
    for row in rows or []:
        for name in row["scores"]:
            if name not in names and "#" not in name:  # '#chK' per-channel values stay out of the table
                names.append(name)
    return names


def load_results(run_dir: Path | str, include_paths: bool = False) -> "pd.DataFrame":
    """One row per utterance x codec x bitrate.

    Columns: ``dataset, utterance, codec, bitrate`` (declared kbps), ``measured_kbps``, one
    column per metric named as in the registry (NaN where it could not be computed), then
    ``encode_rtf, decode_rtf, duration_s, status, error, n_failures`` (metrics that are NaN
    for this row, plus one if the row itself failed or was skipped), ``failure_reasons``
    (JSON object metric -> reason), the alignment columns (``lag_samples, lag_at_bound,
    trimmed_reference_samples, trimmed_degraded_samples``) and what was coded
    (``coding_sample_rate, coding_channels, input_channels, decoded_channels, decoded_sha256``).
    Metrics stored but no longer in the suite are kept in the store and left out here.
    With ``include_paths`` the absolute reference and decoded audio paths, decoded sample rate
    and adapter name are added.
    """
    run_dir = Path(run_dir)
    with ResultStore.open_existing(run_dir) as store:
        rows = store.rows()
    metrics = metric_names(run_dir, rows)
    records = []
    for row in rows:
        record: dict[str, Any] = {k: row[k] for k in KEY_COLUMNS}
        record["measured_kbps"] = _float(row["measured_kbps"])
        reasons: dict[str, str] = {}
        for name in metrics:
            value, reason = row["scores"].get(name, (math.nan, None))
            record[name] = _float(value)
            if math.isnan(record[name]):
                reasons[name] = reason or f"not computed (row {row['status']})"
        record.update(encode_rtf=_float(row["encode_rtf"]), decode_rtf=_float(row["decode_rtf"]),
                      duration_s=_float(row["duration_s"]), status=row["status"], error=row["error"])
        record["n_failures"] = len(reasons) + (row["status"] != "ok")
        record["failure_reasons"] = json.dumps(reasons, sort_keys=True)
        for col in ALIGNMENT_COLUMNS + CODING_COLUMNS:
            record[col] = row.get(col)
        if include_paths:
            for col in PATH_COLUMNS:
                record[col] = row[col]
            for col in ("reference_path", "decoded_path"):
                if record[col] and not Path(record[col]).is_absolute():
                    record[col] = str((run_dir / record[col]).resolve())
            record["metadata"] = json.dumps(row["metadata"], sort_keys=True)
        records.append(record)
    columns = KEY_COLUMNS + ["measured_kbps"] + metrics + TAIL_COLUMNS + ALIGNMENT_COLUMNS + CODING_COLUMNS
    if include_paths:
        columns += PATH_COLUMNS + ["metadata"]
    import pandas as pd

    df = pd.DataFrame.from_records(records, columns=columns)
    return _suite_order(df, load_manifest(run_dir).get("suite", {}))


def load_reference(run_dir: Path | str, metrics: Optional[list[str]] = None) -> "pd.DataFrame":
    """Non-intrusive metrics scored on the references: one row per dataset x utterance.

    Columns: ``dataset, utterance``, then one column per metric of ``metrics`` (default: the
    run's metric columns) that has any stored reference score, NaN where it could not be
    computed. Empty (with just the key columns) for runs without non-intrusive metrics.
    """
    import pandas as pd

    run_dir = Path(run_dir)
    with ResultStore.open_existing(run_dir) as store:
        refs = store.reference_rows()
    wanted = metrics if metrics is not None else metric_names(run_dir)
    stored = {r["metric"] for r in refs}
    columns = [m for m in wanted if m in stored]
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for ref in refs:
        if ref["metric"] in columns:
            record = records.setdefault((ref["dataset"], ref["utterance"]),
                                        {"dataset": ref["dataset"], "utterance": ref["utterance"]})
            record[ref["metric"]] = ref["value"]
    return pd.DataFrame.from_records(list(records.values()), columns=["dataset", "utterance", *columns])


def _suite_order(df: "pd.DataFrame", suite: dict[str, Any]) -> "pd.DataFrame":
    """Rows in the suite's dataset and codec order, then by bitrate and utterance."""
    import pandas as pd

    if df.empty:
        return df
    datasets = {d["name"]: i for i, d in enumerate(suite.get("datasets", []))}
    codecs = {c["name"]: i for i, c in enumerate(suite.get("codecs", []))}
    order = pd.DataFrame({"d": df.dataset.map(datasets).fillna(len(datasets)),
                          "c": df.codec.map(codecs).fillna(len(codecs)),
                          "b": df.bitrate.fillna(-1.0), "u": df.utterance}, index=df.index)
    return df.loc[order.sort_values(["d", "c", "b", "u"], kind="stable").index].reset_index(drop=True)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)
