"""Share ViSQOL's reference-only work between the pairs of one reference (visqol-python internals).

Scoring one pair, visqol-python builds the gammatone spectrogram and the Hilbert upper envelope
of the whole reference, then, for every matched patch, the envelope of the reference slice and
the spectrogram of the finely aligned reference slice. All of these depend on reference samples
only, so against ten codec points of one utterance the same results are computed ten times.

:class:`ReferenceMemo` remembers them, keyed by the exact bytes they were computed from (a
BLAKE2 digest of the samples, their dtype, length and rate): a result is reused only for
bit-identical input, so a score equals the library's own ``measure_from_arrays`` call. What the
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

from codecbench.audio import array_digest

#: visqol-python versions whose internals (``VisqolApi._manager.spect_builder``,
#: ``visqol.alignment.upper_envelope``) this module was checked against; same range as pyproject.
SUPPORTED_VERSIONS = ">=3.8,<3.9"


def _freeze(value: Any) -> Any:
    array = getattr(value, "data", value)
    if isinstance(array, np.ndarray):
        array.setflags(write=False)
    return value


class ReferenceMemo:
    """Results of reference-only steps of one reference, reused for bit-identical inputs."""

    def __init__(self) -> None:
        self._entries: dict[tuple, list[Any]] = {}  # key -> [value, call it was made in, reuses]
        self._call = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """The remembered value for ``key``, or ``compute()`` (remembered, read-only)."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            value = _freeze(compute())
            self._entries[key] = [value, self._call, 0]
            return value
        self.hits += 1
        entry[2] += 1
        return entry[0]

    def remember(self, digest: bytes, samples: np.ndarray) -> None:
        """Keep a copy of an input signal, so a later input that is a prefix of it can be found."""
        self.get(("signal", digest), lambda: np.array(samples, dtype=np.float64))

    def prefix_source(self, samples: np.ndarray) -> Optional[np.ndarray]:
        """A remembered signal, longer than ``samples``, that starts with exactly ``samples``."""
        n = len(samples)
        for key, entry in self._entries.items():
            source = entry[0]
            if (key[0] == "signal" and len(source) > n and source[0] == samples[0] and source[n - 1] == samples[-1]
                    and np.array_equal(source[:n], samples)):
                entry[2] += 1
                return source
        return None

    def end_call(self) -> None:
        """Forget entries made before this call that nothing reused (the degraded side's)."""
        self._entries = {key: entry for key, entry in self._entries.items()
                         if entry[2] > 0 or entry[1] == self._call}
        self._call += 1

    def __len__(self) -> int:
        return len(self._entries)


class _MemoBuilder:
    """A ``GammatoneSpectrogramBuilder`` whose ``build`` goes through a :class:`ReferenceMemo`."""

    def __init__(self, builder: Any, memo: ReferenceMemo) -> None:
        self._builder, self._memo = builder, memo

    def build(self, signal: Any, window: Any) -> Any:
        """The spectrogram of ``signal``: remembered, or the first columns of a longer signal's.

        Gammatone frames are independent (each frame's filter state starts from zero, frame
        ``j`` reads samples ``[j * hop, j * hop + window.size)``), so the spectrogram of a
        prefix is exactly the first ``num_cols`` columns of the longer signal's; a reference
        trimmed a few samples shorter by another codec's length shares it this way.
        """
        from visqol.audio_utils import AudioSignal
        from visqol.gammatone import Spectrogram

        digest = array_digest(signal.data)
        key = ("spectrogram", int(signal.sample_rate), int(window.size), float(window.overlap), digest)

        def compute() -> Any:
            source = self._memo.prefix_source(signal.data) if len(signal.data) > window.size else None
            if source is None:
                return self._builder.build(signal, window)
            longer = self.build(AudioSignal(source, signal.sample_rate), window)
            hop = int(window.size * window.overlap)  # GammatoneSpectrogramBuilder.build's columns
            num_cols = 1 + int(np.floor((len(signal.data) - window.size) / hop))
            return Spectrogram(longer.data[:, :num_cols], center_freq_bands=longer.center_freq_bands)

        result = self._memo.get(key, compute)
        self._memo.remember(digest, signal.data)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._builder, name)


@contextmanager
def memoised(api: Any, memo: ReferenceMemo) -> Iterator[None]:
    """Within the block, ``api`` (a created ``visqol.VisqolApi``) reuses ``memo``'s results."""
    import visqol.alignment as alignment

    manager = api._manager
    builder, envelope = manager.spect_builder, alignment.upper_envelope

    def upper_envelope(sig: np.ndarray) -> np.ndarray:
        digest = array_digest(sig)
        memo.remember(digest, sig)  # a patch slice whose finely aligned part may be a prefix of it
        return memo.get(("envelope", digest), lambda: envelope(sig))

    manager.spect_builder = _MemoBuilder(builder, memo)
    alignment.upper_envelope = upper_envelope
    try:
        yield
    finally:
        manager.spect_builder, alignment.upper_envelope = builder, envelope
        memo.end_call()
