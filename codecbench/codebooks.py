"""Codebook analysis of code-array payloads: how much of each codebook a codec really uses.

Neural codecs transmit integer codes (``Payload.codes``, ``[n_codebooks, frames]``); their
measured bitrate is the *nominal* payload rate, ``codes x log2(codebook size) / duration``,
whatever the codes are. This module counts, per stored row, how often each entry of each
codebook occurs (:class:`CodeCounts`, kept in the results store so that resume and merge keep
it exact), and turns the summed counts of one condition (dataset x codec point) into
dataset-level statistics (:func:`condition_stats`):

- utilisation: fraction of a codebook's entries that occur at least once;
- entropy (bits) of the observed code distribution of each codebook, and perplexity ``2**H``;
- ``entropy_kbps``: the rate an ideal entropy coder would need for the observed distribution,
  ``sum_k H_k * codes_k / seconds / 1000`` (``codes_k / seconds`` is codebook ``k``'s frame rate).
  It models each codebook's codes as independent draws from its dataset-wide histogram (a
  zeroth-order model; the cost of sending the model itself is not counted), so it is a lower
  bound for a memoryless entropy coder, not for one that exploits context between codes.

These are statistics of the whole condition, not means of per-utterance values: the entropy of
summed histograms is not the mean of per-utterance entropies.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import zlib
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import numpy as np

COUNTS_VERSION = 1


@dataclass(frozen=True, eq=False)
class CodeCounts:
    """Histogram of one payload's codes.

    Attributes:
        codebook_size: entries per codebook (``2 ** bits_per_code``, rounded).
        seconds: duration of the coded input (``num_samples / codec sample rate``).
        counts: int64 ``[n_codebooks, codebook_size]``; ``counts[k, c]`` is how often code ``c``
            occurs in codebook ``k``.
    """

    codebook_size: int
    seconds: float
    counts: np.ndarray

    def to_json(self) -> str:
        """Compact exact JSON: the counts as zlib-compressed little-endian uint32, base64 (see :meth:`from_json`).

        Dense and compressed rather than sparse lists: a 10 s Encodec row (32 codebooks x 1024
        entries) takes about 14 kB instead of 100 kB of decimal lists.
        """
        packed = zlib.compress(np.ascontiguousarray(self.counts, dtype="<u4").tobytes(), 6)
        return json.dumps({"version": COUNTS_VERSION, "codebook_size": self.codebook_size,
                           "codebooks": int(self.counts.shape[0]), "seconds": self.seconds,
                           "counts": base64.b64encode(packed).decode("ascii")}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "CodeCounts":
        """Inverse of :meth:`to_json`; ``ValueError`` on text it did not write."""
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("version") != COUNTS_VERSION:
            raise ValueError(f"unknown code-count record (version {doc.get('version') if isinstance(doc, dict) else '?'})")
        size, books = int(doc["codebook_size"]), int(doc["codebooks"])
        try:
            raw = zlib.decompress(base64.b64decode(doc["counts"], validate=True))
        except (zlib.error, binascii.Error) as exc:
            raise ValueError(f"damaged code counts ({exc})") from None
        if len(raw) != 4 * size * books:
            raise ValueError(f"code counts hold {len(raw)} bytes, expected {4 * size * books}")
        counts = np.frombuffer(raw, dtype="<u4").reshape(books, size).astype(np.int64)
        return cls(size, float(doc["seconds"]), counts)


def count_codes(codes: np.ndarray, bits_per_code: float, seconds: float, label: str = "codec") -> CodeCounts:
    """Count the codes of a payload.

    Args:
        codes: integer codes ``[n_codebooks, frames]`` (``[frames]`` is one codebook; more axes
            are flattened into codebooks, the last axis being time).
        bits_per_code: ``Payload.bits_per_code``; the codebook size is ``round(2 ** bits)``.
        seconds: duration of the coded input.
        label: names the codec point in the error.

    Raises:
        ValueError: a code outside ``[0, codebook size)``: the payload's bit count would be wrong.
    """
    size = int(round(2.0 ** float(bits_per_code)))
    array = np.asarray(codes)
    array = array.reshape(1, -1) if array.ndim <= 1 else array.reshape(-1, array.shape[-1])
    if array.size and (array.min() < 0 or array.max() >= size):
        raise ValueError(f"{label}: payload codes span {int(array.min())}..{int(array.max())} but "
                         f"{bits_per_code:g} bits per code allow 0..{size - 1}; the adapter's bits_per_code is wrong")
    counts = np.stack([np.bincount(row.astype(np.int64), minlength=size) for row in array]) if len(array) \
        else np.zeros((0, size), dtype=np.int64)
    return CodeCounts(size, float(seconds), counts.astype(np.int64))


@dataclass(frozen=True)
class CodebookStat:
    """Dataset-level statistics of one codebook of one condition."""

    index: int
    size: int
    used: int
    utilisation: float
    entropy_bits: float
    perplexity: float
    codes: int


@dataclass(frozen=True)
class ConditionCodebooks:
    """The codebook section of one dataset x codec point.

    ``measured_kbps`` is the nominal payload rate of the counted rows (every code costs
    ``log2(size)`` bits), which is what the run's measured kbps is for code-array payloads.
    """

    dataset: str
    codec: str
    bitrate: Optional[float]
    condition: str
    n_rows: int
    seconds: float
    codebook_size: int
    books: tuple[CodebookStat, ...]
    entropy_kbps: float
    measured_kbps: float

    @property
    def mean_utilisation(self) -> float:
        return float(np.mean([b.utilisation for b in self.books])) if self.books else math.nan

    @property
    def mean_entropy_bits(self) -> float:
        return float(np.mean([b.entropy_bits for b in self.books])) if self.books else math.nan

    @property
    def mean_perplexity(self) -> float:
        return float(np.mean([b.perplexity for b in self.books])) if self.books else math.nan


def _sum_counts(rows: list[CodeCounts]) -> np.ndarray:
    """Element-wise sum, padding rows with fewer codebooks (or a smaller size) with zeros."""
    books = max(r.counts.shape[0] for r in rows)
    size = max(r.codebook_size for r in rows)
    total = np.zeros((books, size), dtype=np.int64)
    for r in rows:
        total[: r.counts.shape[0], : r.counts.shape[1]] += r.counts
    return total


def condition_stats(dataset: str, codec: str, bitrate: Optional[float], condition: str,
                    rows: Iterable[CodeCounts]) -> Optional[ConditionCodebooks]:
    """Statistics of the summed counts of one condition's rows (None when no row has counts)."""
    rows = list(rows)
    if not rows:
        return None
    from scipy.stats import entropy  # here: results imports this module on every run, scipy.stats is slow to load

    total = _sum_counts(rows)
    size = total.shape[1]
    seconds = float(sum(r.seconds for r in rows))
    bits = math.log2(size) if size > 1 else 0.0
    books = []
    for k, hist in enumerate(total):
        n = int(hist.sum())
        h = float(entropy(hist, base=2)) if n else math.nan
        books.append(CodebookStat(k, size, int(np.count_nonzero(hist)), np.count_nonzero(hist) / size, h,
                                  2.0 ** h, n))
    if seconds > 0:
        entropy_kbps = sum(b.entropy_bits * b.codes for b in books if b.codes) / seconds / 1000.0
        measured_kbps = sum(bits * b.codes for b in books) / seconds / 1000.0
    else:
        entropy_kbps = measured_kbps = math.nan
    return ConditionCodebooks(dataset, codec, bitrate, condition, len(rows), seconds, size, tuple(books),
                              entropy_kbps, measured_kbps)


def records(stats: list[ConditionCodebooks]) -> list[dict[str, Any]]:
    """One flat dict per condition x codebook (CSV / Parquet export and the JSON summary)."""
    out = []
    for s in stats:
        for b in s.books:
            out.append({"dataset": s.dataset, "codec": s.codec, "bitrate": s.bitrate, "condition": s.condition,
                        "codebook": b.index, "codebook_size": b.size, "used": b.used,
                        "utilisation": b.utilisation, "entropy_bits": _finite(b.entropy_bits),
                        "perplexity": _finite(b.perplexity), "codes": b.codes, "n_rows": s.n_rows,
                        "seconds": s.seconds, "entropy_kbps": _finite(s.entropy_kbps),
                        "measured_kbps": _finite(s.measured_kbps)})
    return out


def _finite(value: float) -> Optional[float]:
    return value if math.isfinite(value) else None
