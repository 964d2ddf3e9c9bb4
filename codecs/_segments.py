"""Chunking and length bucketing for the batched encode/decode of the PyTorch adapters.

Two things keep a neural adapter's memory bounded and its GPU busy (see :class:`TorchCodec`):

* **Chunking**: an input longer than ``chunk_seconds`` is cut into chunks of a whole number of
  code frames (hard cuts, no overlap); each chunk is encoded as if it were an utterance of its
  own, so a 10-minute file never holds more than one chunk's activations per batch row.
* **Bucketing**: segments (chunks or short utterances) are batched only with segments that the
  model provably treats identically when they share a forward pass. For non-causal models that
  means the same (padded) input length: zero padding beyond an item's end changes the hidden
  activations near that end (biases, nonlinearities, reflect padding of centred STFTs), so
  padding a short item up to a longer one would change its last codes. Equal keys therefore
  give bit-identical inputs to what single-item encode sees, and batching is exact.

This module is pure bookkeeping (no torch).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any, Optional

DEFAULT_CHUNK_SECONDS = 30.0


def chunk_seconds_option(name: str, value: Any) -> Optional[float]:
    """The validated ``chunk_seconds`` option: seconds > 0, or None (``0`` / ``None`` disable chunking)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} option 'chunk_seconds': expected seconds (0 disables), got {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} option 'chunk_seconds': expected seconds >= 0 (0 disables), got {value!r}")
    return seconds or None


def chunk_length(seconds: Optional[float], sample_rate: int, frame_samples: int) -> Optional[int]:
    """Samples per chunk: ``seconds`` rounded down to whole code frames (at least one); None when off."""
    if not seconds:
        return None
    frames = max(1, int(seconds * sample_rate) // frame_samples)
    return frames * frame_samples


def split_bounds(length: int, chunk: Optional[int]) -> list[tuple[int, int]]:
    """``(start, stop)`` of the chunks of ``length`` samples: one span when ``chunk`` is None or not exceeded."""
    if chunk is None or length <= chunk:
        return [(0, length)]
    return [(start, min(start + chunk, length)) for start in range(0, length, chunk)]


def buckets(keys: Sequence[Hashable], limit: int) -> list[list[int]]:
    """Indices of equal ``keys``, in order of first appearance, in slices of at most ``limit`` indices."""
    groups: dict[Hashable, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return [members[i: i + limit] for members in groups.values() for i in range(0, len(members), max(1, limit))]


def split_counts(total: int, counts: Sequence[int], what: str) -> list[tuple[int, int]]:
    """``(start, stop)`` spans of consecutive ``counts`` that must add up to ``total``; ValueError otherwise."""
    if sum(counts) != total or any(c <= 0 for c in counts):
        raise ValueError(f"{what} {list(counts)} do not add up to {total}")
    spans, start = [], 0
    for count in counts:
        spans.append((start, start + count))
        start += count
    return spans
