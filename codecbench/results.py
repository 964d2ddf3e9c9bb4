"""Reading a run directory back: the per-utterance table, the manifest and the suite.

This is the one read path shared by ``export``, ``summary``, ``report`` and the Python API.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from codecbench.codebooks import CodeCounts, ConditionCodebooks, condition_stats
from codecbench.store import ResultStore

if TYPE_CHECKING:  # pandas loads only when a table is built: a rerun with nothing to do never needs it
    import pandas as pd

MANIFEST_NAME = "manifest.json"
KEY_COLUMNS = ["dataset", "utterance", "codec", "bitrate"]
TAIL_COLUMNS = ["encode_rtf", "decode_rtf", "duration_s", "status", "error", "n_failures", "failure_reasons"]
ALIGNMENT_COLUMNS = ["lag_samples", "lag_at_bound", "trimmed_reference_samples", "trimmed_degraded_samples"]
CODING_COLUMNS = ["coding_sample_rate", "coding_channels", "input_channels", "decoded_channels", "decoded_sha256",
                  "payload_kind"]
PATH_COLUMNS = ["reference_path", "decoded_path", "decoded_sample_rate", "adapter"]
#: Condition label of the non-intrusive metrics scored on the references (a reserved codec name).
REFERENCE_LABEL = "reference"


def condition_label(codec: str, bitrate: Optional[float]) -> str:
    """Column label of one codec operating point, e.g. ``APCodec_6`` or ``APCodec_4.5``."""
    if bitrate is None or (isinstance(bitrate, float) and math.isnan(bitrate)):
        return codec
    return f"{codec}_{bitrate:g}"


#: What ``measured_kbps`` is for a row whose payload was a code array (``payload_kind == "codes"``:
#: the PyTorch adapters, the README's mu-law example): the size of the codes, not of a coded
#: bitstream. Byte-stream codecs (Opus, MP3, AAC) are measured from the bytes they emit.
NOMINAL_RATE_NOTE = ("nominal payload rate of the code array (codes x log2(codebook size) / duration; "
                     "no entropy coding, container or side information)")


def nominal_rate_conditions(frame: pd.DataFrame) -> list[str]:
    """Condition labels (``EnCodec_6``) of ``frame`` whose ``measured_kbps`` is a nominal payload rate."""
    if "payload_kind" not in frame or frame.empty:
        return []
    codes = frame[frame["payload_kind"] == "codes"]
    labels = [condition_label(str(c), b) for c, b in zip(codes["codec"], codes["bitrate"])]
    return list(dict.fromkeys(labels))


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
    (``coding_sample_rate, coding_channels, input_channels, decoded_channels, decoded_sha256``,
    ``payload_kind``: ``"codes"`` where ``measured_kbps`` is the nominal payload rate of a code
    array, see :data:`NOMINAL_RATE_NOTE`; ``"bytes"`` for a byte stream).
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
def load_codebooks(run_dir: Path | str) -> list[ConditionCodebooks]:
    """Codebook statistics per dataset x codec point, summed over its ok rows that carry code counts.

    Each stored row holds its own histogram once (keyed like the row), so resumed and merged
    runs aggregate every utterance exactly once. Conditions come in the suite's order; codecs
    without code-array payloads (classic codecs, identity) have none.
    """
    run_dir = Path(run_dir)
    with ResultStore.open_existing(run_dir) as store:
        rows = store.rows(codebooks=True)
    groups: dict[tuple[str, str, Optional[float]], list[CodeCounts]] = {}
    for row in rows:
        if row["status"] == "ok" and row["codebooks"] is not None:
            groups.setdefault((row["dataset"], row["codec"], row["bitrate"]), []).append(row["codebooks"])
    suite = load_manifest(run_dir).get("suite", {})
    datasets = {d["name"]: i for i, d in enumerate(suite.get("datasets", []))}
    codecs = {c["name"]: i for i, c in enumerate(suite.get("codecs", []))}
    order = sorted(groups, key=lambda k: (datasets.get(k[0], len(datasets)), codecs.get(k[1], len(codecs)),
                                          -1.0 if k[2] is None else k[2]))
    out = []
    for dataset, codec, bitrate in order:
        stats = condition_stats(dataset, codec, bitrate, condition_label(codec, bitrate), groups[(dataset, codec, bitrate)])
        if stats is not None:
            out.append(stats)
    return out


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
