"""Per-process store of prepared reference states, so one reference is prepared once per metric.

In a suite every reference is scored against every codec point, and metrics such as ViSQOL,
STOI and the spectral distances spend much of each pair on the reference alone (see
``Metric.prepare_reference``). :class:`ReferenceStates` keeps those states in the worker that
scores the pairs.

What is shared, exactly: a state is keyed by the metric's identity, the metric rate, a digest of
the *source* reference (the ``[C, T]`` array the runner passed, with its rate) and a digest of
the *aligned* reference segment the metric receives. Alignment trims or pads per pair (another
codec's output is a few samples shorter, or early), so the aligned segment can differ between
the points of one utterance; a state is reused only for a bit-identical segment. A different
segment of the same source gets ``Metric.prepare_related(previous_state, ...)``, which a metric
may use to share the parts that stay identical (ViSQOL's per-patch work); by default it is
prepared afresh. Nothing here changes a value: the metrics' ``compute_prepared`` equals their
``compute``.

Budget: states are kept up to :data:`DEFAULT_BUDGET_MB` per process (override with the
``CODECBENCH_REFERENCE_CACHE_MB`` environment variable; 0 disables reuse). The runner sends jobs
point-major, so a worker meets its references in the same cyclic order once per codec point.
Least-recently-used eviction would keep none of them when they do not all fit, so states that
were never reused go first (oldest first), then the most recently used one: the states that
stay are hit on every later cycle.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from typing import Any, Optional

import numpy as np

from codecbench.audio import array_digest
from codecbench.metrics import Metric

DEFAULT_BUDGET_MB = 512
_BUDGET_ENV = "CODECBENCH_REFERENCE_CACHE_MB"


def state_bytes(state: Any, _depth: int = 0) -> int:
    """Rough size of a state: numpy buffers found in it (dataclasses, dicts, lists) plus overhead."""
    if isinstance(state, np.ndarray):
        return int(state.nbytes)
    if _depth > 8:
        return sys.getsizeof(state)
    if isinstance(state, dict):
        return sum(state_bytes(v, _depth + 1) for v in state.values())
    if isinstance(state, (list, tuple)):
        return sum(state_bytes(v, _depth + 1) for v in state)
    inner = getattr(state, "__dict__", None)
    if inner is None and hasattr(state, "__slots__"):
        inner = {name: getattr(state, name, None) for name in state.__slots__}
    if inner is not None:
        return sum(state_bytes(v, _depth + 1) for v in inner.values()) + 64
    return sys.getsizeof(state)


def budget_bytes() -> int:
    """The per-process budget in bytes (``CODECBENCH_REFERENCE_CACHE_MB``, default 512)."""
    raw = os.environ.get(_BUDGET_ENV)
    try:
        megabytes = float(raw) if raw is not None else float(DEFAULT_BUDGET_MB)
    except ValueError:
        megabytes = float(DEFAULT_BUDGET_MB)
    return int(max(0.0, megabytes) * 2 ** 20)


class ReferenceStates:
    """Prepared reference states of one process, within a byte budget (see the module docstring)."""

    def __init__(self, budget: Optional[int] = None) -> None:
        self.budget = budget_bytes() if budget is None else budget
        self._states: OrderedDict[tuple, list[Any]] = OrderedDict()  # key -> [state, bytes, hits]
        self._latest: dict[tuple, tuple] = {}  # (metric, rate, source) -> key of its newest state
        self.used = 0
        self.hits = 0
        self.misses = 0

    def state(self, metric: Metric, metric_key: tuple, rate: int, source: bytes, reference: np.ndarray,
              segment: Optional[bytes] = None) -> Any:
        """The state of ``metric`` for the aligned ``reference`` ``[T]`` at ``rate`` from ``source``.

        ``segment`` is ``array_digest(reference)`` when the caller has it already.

        Raises whatever ``prepare_reference`` raises (e.g. ``MetricUnavailable``); failures are
        not kept, so the next pair reports the same reason.
        """
        family = (metric_key, rate, source)
        key = (*family, array_digest(reference) if segment is None else segment)
        entry = self._states.get(key)
        if entry is not None:
            self.hits += 1
            entry[2] += 1
            self._states.move_to_end(key)
            size = state_bytes(entry[0])  # a state may grow as it is used (ViSQOL's memo)
            self.used += size - entry[1]
            entry[1] = size
            self._evict(keep=key)
            return entry[0]
        self.misses += 1
        related = self._states.get(self._latest.get(family, ()))
        state = (metric.prepare_related(related[0], reference, rate) if related is not None
                 else metric.prepare_reference(reference, rate))
        if self.budget > 0:
            size = state_bytes(state)
            self._states[key] = [state, size, 0]
            self._latest[family] = key
            self.used += size
            self._evict(keep=key)
        return state

    def _evict(self, keep: tuple) -> None:
        while self.used > self.budget and len(self._states) > 1:
            unused = [key for key, entry in self._states.items() if entry[2] == 0 and key != keep]
            victim = unused[0] if unused else next(key for key in reversed(self._states) if key != keep)
            self.used -= self._states.pop(victim)[1]
            family = victim[:3]
            if self._latest.get(family) == victim:
                del self._latest[family]
        if self.used > self.budget:  # the new state alone exceeds the budget
            self.used -= self._states.pop(keep)[1]
            self._latest.pop(keep[:3], None)

    def clear(self) -> None:
        self._states.clear()
        self._latest.clear()
        self.used = 0

    def __len__(self) -> int:
        return len(self._states)
