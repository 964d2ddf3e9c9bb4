"""Share ViSQOL's reference-only work between the pairs of one reference (visqol-python internals).

Scoring one pair, visqol-python builds the gammatone spectrogram and the Hilbert upper envelope
of the whole reference, then, for every matched patch, the envelope of the reference slice and
the spectrogram of the finely aligned reference slice. All of these depend on reference samples
only, so against ten codec points of one utterance the same results are computed ten times.

:class:`ReferenceMemo` remembers them with a copy of the exact samples they were computed from
(found by a cheap fingerprint, then compared sample by sample, plus the rate and window): a
result is reused only for bit-identical input, so a score equals the library's own
``measure_from_arrays`` call. A reference that another codec's output trimmed a few samples
shorter shares the longer one's spectrogram columns (frames are independent, see
:meth:`_MemoBuilder.build`). What the
degraded signal makes different (its spectrograms, a reference slice truncated by another fine
lag) simply misses and is computed as usual. Entries that no later call reused are dropped
after the next call, so the degraded signals' results do not pile up.

The memo is wired into the library's own pipeline, never a copy of it: for the duration of one
call, the manager's spectrogram builder is wrapped and ``visqol.alignment.upper_envelope`` (the
only caller of the envelope) is replaced by a memoised one, both restored afterwards. This
relies on visqol-python's module layout, so the supported versions are pinned in
``pyproject.toml`` (:data:`SUPPORTED_VERSIONS`) and ``tests/metrics/test_metrics_visqol_reuse.py``
checks the scores against the public API over real pairs: an upgrade that moves a number fails
there. Cached arrays are made read-only, so a library version that starts writing into them
fails loudly instead of corrupting the next score.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import numpy as np


#: visqol-python versions whose internals (``VisqolApi._manager.spect_builder``,
#: ``visqol.alignment.upper_envelope``) this module was checked against; same range as pyproject.
SUPPORTED_VERSIONS = ">=3.8,<3.9"


def _freeze(value: Any) -> Any:
    array = getattr(value, "data", value)
    if isinstance(array, np.ndarray):
        array.setflags(write=False)
    return value


def _fingerprint(samples: np.ndarray) -> tuple:
    """Cheap bucket key; equality is then decided by comparing every sample."""
    n = len(samples)
    return samples.dtype.str, n, float(samples[0]), float(samples[n // 2]), float(samples[-1])


class ReferenceMemo:
    """Results of reference-only steps of one reference, reused for bit-identical inputs.

    Each distinct input signal is kept once (a read-only copy) with the results computed from it
    (``{(kind, config): value}``); a lookup finds its signal by a cheap fingerprint and then
    compares every sample, so a result is reused only for exactly the same samples.
    """

    def __init__(self) -> None:
        self._signals: dict[tuple, list[list[Any]]] = {}  # fingerprint -> [[copy, call made, reuses, results]]
        self._call = 0
        self.hits = 0
        self.misses = 0

    def _reused(self, entry: list[Any]) -> None:
        # Only reuse by a later call keeps a signal: within one call the degraded signal is found
        # again for its own patches, and must still be forgotten afterwards.
        if entry[1] != self._call:
            entry[2] += 1

    def _entry(self, samples: np.ndarray) -> list[Any]:
        bucket = self._signals.setdefault(_fingerprint(samples), [])
        for entry in bucket:
            if np.array_equal(entry[0], samples):
                self._reused(entry)
                return entry
        entry = [_freeze(np.array(samples)), self._call, 0, {}]
        bucket.append(entry)
        return entry

    def get(self, kind: tuple, samples: np.ndarray, compute: Callable[[], Any]) -> Any:
        """The remembered ``kind`` result for exactly ``samples``, or ``compute()`` (kept read-only)."""
        results = self._entry(samples)[3]
        if kind in results:
            self.hits += 1
            return results[kind]
        self.misses += 1
        results[kind] = value = _freeze(compute())
        return value

    def enclosing(self, samples: np.ndarray, step: int, kind: tuple) -> Optional[tuple[np.ndarray, int]]:
        """``(signal, offset)``: a remembered longer signal with ``signal[offset:offset + len(samples)]``
        equal to ``samples`` sample for sample, ``offset`` a multiple of ``step``; one that already
        has a ``kind`` result is preferred."""
        n, fallback = len(samples), None
        for bucket in self._signals.values():
            for entry in bucket:
                source = entry[0]
                if len(source) <= n or source.dtype != samples.dtype:
                    continue
                starts = np.arange(0, len(source) - n + 1, step)
                for offset in starts[(source[starts] == samples[0]) & (source[starts + n - 1] == samples[-1])]:
                    if np.array_equal(source[offset:offset + n], samples):
                        if kind in entry[3]:
                            self._reused(entry)
                            return source, int(offset)
                        fallback = fallback or (entry, int(offset))
                        break
        if fallback is None:
            return None
        self._reused(fallback[0])
        return fallback[0][0], fallback[1]

    def end_call(self) -> None:
        """Forget signals (and their results) made before this call that no later call reused."""
        for key in list(self._signals):
            kept = [entry for entry in self._signals[key] if entry[2] > 0 or entry[1] == self._call]
            if kept:
                self._signals[key] = kept
            else:
                del self._signals[key]
        self._call += 1

    def __len__(self) -> int:
        return sum(len(entry[3]) for bucket in self._signals.values() for entry in bucket)


class _MemoBuilder:
    """A ``GammatoneSpectrogramBuilder`` whose ``build`` goes through a :class:`ReferenceMemo`."""

    def __init__(self, builder: Any, memo: ReferenceMemo) -> None:
        self._builder, self._memo = builder, memo

    def build(self, signal: Any, window: Any) -> Any:
        """The spectrogram of ``signal``: remembered, or columns of a longer signal's.

        Gammatone frames are independent (each frame's filter state starts from zero; frame
        ``j`` reads samples ``[j * hop, j * hop + window.size)``), so the spectrogram of a
        stretch of a longer signal that starts ``k * hop`` samples in is exactly that signal's
        columns ``k .. k + num_cols``. This is how a reference trimmed a few samples shorter by
        another codec's length, and the patch slices of fine realignment (which start on the
        frame grid), share spectrograms already built.
        """
        from visqol.audio_utils import AudioSignal
        from visqol.gammatone import Spectrogram

        kind = ("spectrogram", int(signal.sample_rate), int(window.size), float(window.overlap))
        hop = int(window.size * window.overlap)  # GammatoneSpectrogramBuilder.build's frame grid

        def compute() -> Any:
            found = self._memo.enclosing(signal.data, hop, kind) if len(signal.data) > window.size else None
            if found is None:
                return self._builder.build(signal, window)
            source, offset = found
            longer = self.build(AudioSignal(source, signal.sample_rate), window)
            first = offset // hop
            num_cols = 1 + int(np.floor((len(signal.data) - window.size) / hop))
            return Spectrogram(longer.data[:, first:first + num_cols], center_freq_bands=longer.center_freq_bands)

        return self._memo.get(kind, signal.data, compute)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._builder, name)


@contextmanager
def memoised(api: Any, memo: ReferenceMemo) -> Iterator[None]:
    """Within the block, ``api`` (a created ``visqol.VisqolApi``) reuses ``memo``'s results."""
    import visqol.alignment as alignment

    manager = api._manager
    builder, envelope = manager.spect_builder, alignment.upper_envelope

    def upper_envelope(sig: np.ndarray) -> np.ndarray:
        # kept as a signal too: a patch slice whose finely aligned part may be a prefix of it
        return memo.get(("envelope",), sig, lambda: envelope(sig))

    manager.spect_builder = _MemoBuilder(builder, memo)
    alignment.upper_envelope = upper_envelope
    try:
        yield
    finally:
        manager.spect_builder, alignment.upper_envelope = builder, envelope
        memo.end_call()
