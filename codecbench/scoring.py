"""Score one (reference, degraded) pair with a list of metrics: align once, score per rate.

:func:`score_pair` is what the runner calls inside a process pool. It is a module-level
function taking plain arrays and either :class:`Metric` objects or ``(name, options)`` specs;
specs are resolved through a per-process cache, so a worker builds each metric (and ViSQOL's
model) once, and only small tuples cross the process boundary. :func:`init_worker` is the pool
initializer: it pins numeric libraries to one thread per worker (process-level parallelism is
what scales; numba's own threads would only compete with the other workers) and warms the
metrics up before the first task.

A metric never aborts a pair: :class:`MetricUnavailable` and any other exception become
``MetricResult(nan, reason)``, the reason being one line.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from codecbench.errors import MetricStageError
from codecbench.alignment import AlignmentInfo, AlignmentPolicy, align_pair
from codecbench.metrics import METRICS, Metric, MetricUnavailable, PairContext
from codecbench.metrics.checks import THREADS_VARIABLE, too_short
from codecbench.audio import array_digest
from codecbench.reference_states import ReferenceStates

MetricSpec = tuple[str, Mapping[str, Any]]


class MetricConfigError(MetricStageError):
    """Unknown metric or option. ``str()`` is one line listing the allowed values."""


@dataclass(frozen=True)
class MetricResult:
    """One score: ``value`` is NaN exactly when ``reason`` says why."""

    value: float
    reason: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class PairScores:
    """Scores of one pair, keyed by metric label, with the alignment that preceded them.

    Attributes:
        results: ``{metric label: MetricResult}`` in the order the metrics were given.
        alignment: what the alignment did (``None`` when the pair could not be aligned).
        seconds: wall seconds spent per metric label, plus ``"alignment"``.
        error: one-line reason when the whole pair failed (e.g. unusable audio).
    """

    results: dict[str, MetricResult]
    alignment: Optional[AlignmentInfo]
    seconds: dict[str, float] = field(default_factory=dict)
    error: Optional[str] = None

    def values(self) -> dict[str, float]:
        """``{label: value}`` (NaN for unavailable scores)."""
        return {label: result.value for label, result in self.results.items()}


def summarize_exception(exc: BaseException) -> str:
    """``TypeName: first line of the message`` (the pesq package's bytes messages decoded)."""
    arg = exc.args[0] if len(exc.args) == 1 else str(exc)
    text = arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def metric_options(name: str) -> list[str]:
    """Keyword options accepted by the metric registered as ``name``."""
    params = inspect.signature(METRICS.get(name).__init__).parameters  # type: ignore[misc]
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [key for key, param in params.items() if key != "self" and param.kind in kinds]


def build_metrics(specs: Sequence[Union[str, MetricSpec]]) -> list[Metric]:
    """Instantiate metrics from ``name`` or ``(name, options)`` specs via the METRICS registry.

    Raises:
        MetricConfigError: unknown name, unknown option, bad option value, or two specs
            producing the same result label.
    """
    metrics: list[Metric] = []
    for spec in specs:
        name, options = (spec, {}) if isinstance(spec, str) else (spec[0], dict(spec[1] or {}))
        try:
            cls = METRICS.get(name)
        except KeyError as exc:
            raise MetricConfigError(str(exc)) from exc
        allowed = metric_options(name)
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise MetricConfigError(f"metric '{name}' has no option {', '.join(map(repr, unknown))}; "
                                    f"allowed: {', '.join(allowed) or '(none)'}")
        try:
            metrics.append(cls(**options))
        except (TypeError, ValueError) as exc:
            raise MetricConfigError(f"metric '{name}': {summarize_exception(exc)}") from exc
    labels = [metric.label() for metric in metrics]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise MetricConfigError(f"metric {', '.join(duplicates)} is listed twice with the same options; list it once")
    return metrics


_METRIC_CACHE: dict[tuple[str, tuple], Metric] = {}


def release_metrics() -> None:
    """Drop this process's metric instances (and so their models); later calls build them again."""
    import gc

    _METRIC_CACHE.clear()
    gc.collect()


def cached_metric(name: str, options: Optional[Mapping[str, Any]] = None) -> Metric:
    """The per-process instance of ``(name, options)`` (built on first use)."""
    options = dict(options or {})
    key = (METRICS.canonical(name), tuple(sorted((k, repr(v)) for k, v in options.items())))
    if key not in _METRIC_CACHE:
        _METRIC_CACHE[key] = build_metrics([(name, options)])[0]
    return _METRIC_CACHE[key]


def _resolve(metrics: Sequence[Union[Metric, str, MetricSpec]]) -> list[Metric]:
    return [m if isinstance(m, Metric) else cached_metric(m) if isinstance(m, str) else cached_metric(m[0], m[1])
            for m in metrics]


def score_pair(reference: np.ndarray, ref_sr: int, degraded: np.ndarray, deg_sr: int,
               metrics: Sequence[Union[Metric, str, MetricSpec]],
               policy: Optional[AlignmentPolicy] = None, context: Optional[PairContext] = None) -> PairScores:
    """Align a pair once (see :mod:`codecbench.alignment`) and score it with every metric.

    Args:
        reference: ``[C, T]`` float reference audio at ``ref_sr``.
        degraded: ``[C, T]`` float codec output at ``deg_sr`` (any channel count and length).
        metrics: metric objects, or ``name`` / ``(name, options)`` specs resolved per process.
        policy: alignment policy (default :class:`AlignmentPolicy()`).
        context: what else is known about the pair (the utterance's transcript), passed to
            :meth:`Metric.score`; default: nothing.

    Returns:
        :class:`PairScores`; every metric has a result (NaN + reason when unavailable).

    Raises:
        MetricConfigError: a spec names an unknown metric or option, or a metric is listed twice
            (configuration errors, unlike per-pair failures, stop the run).
    """
    resolved = _resolve(metrics)
    labels = [metric.label() for metric in resolved]
    if len(set(labels)) != len(labels):
        raise MetricConfigError(f"score_pair got the same metric twice ({', '.join(labels)}); pass each once")
    start = time.perf_counter()
    try:
        minimum: dict[Optional[int], float] = {}
        for metric in resolved:
            minimum[metric.info.sample_rate] = max(minimum.get(metric.info.sample_rate, 0.0), metric.info.min_seconds)
        prepared, info = align_pair(reference, ref_sr, degraded, deg_sr,
                                    [metric.info.sample_rate for metric in resolved], policy, minimum)
    except Exception as exc:  # unusable audio: every metric fails with the same reason
        reason = f"alignment failed: {summarize_exception(exc)}"
        return PairScores({label: MetricResult(math.nan, reason) for label in labels}, None, error=reason)
    states = reference_states() if any(metric.shares_reference for metric in resolved) else None
    source = (array_digest(np.asarray(reference)) + str(int(ref_sr)).encode()
              if states is not None and states.budget > 0 else None)
    seconds = {"alignment": time.perf_counter() - start}
    results: dict[str, MetricResult] = {}
    segments: dict[int, bytes] = {}  # digest of the aligned reference per rate, shared by its metrics
    context = context or PairContext()
    for metric, label in zip(resolved, labels, strict=False):
        rate = int(metric.info.sample_rate or ref_sr)
        ref, deg = prepared[rate]
        start = time.perf_counter()
        results[label] = _score_one(metric, ref, deg, rate, context, source, segments)
        seconds[label] = time.perf_counter() - start
    return PairScores(results, info, seconds)


_REFERENCE_STATES: Optional[ReferenceStates] = None
_METRIC_KEYS: "weakref.WeakKeyDictionary[Metric, tuple]" = weakref.WeakKeyDictionary()


def reference_states() -> ReferenceStates:
    """This process's store of prepared reference states (created on first use)."""
    global _REFERENCE_STATES
    if _REFERENCE_STATES is None:
        _REFERENCE_STATES = ReferenceStates()
    return _REFERENCE_STATES


def _metric_key(metric: Metric) -> tuple:
    if metric not in _METRIC_KEYS:
        _METRIC_KEYS[metric] = (type(metric).__module__, type(metric).__qualname__,
                                repr(sorted(metric.identity().items())))
    return _METRIC_KEYS[metric]


def _score_one(metric: Metric, reference: np.ndarray, degraded: np.ndarray, rate: int, context: PairContext,
               source: Optional[bytes] = None, segments: Optional[dict[int, bytes]] = None) -> MetricResult:
    try:
        if len(reference) < metric.info.min_seconds * rate:
            raise MetricUnavailable(too_short(len(reference), rate, metric.info.min_seconds))
        if metric.shares_reference and source is not None:
            segments = {} if segments is None else segments
            if rate not in segments:
                segments[rate] = array_digest(reference)
            state = reference_states().state(metric, _metric_key(metric), rate, source, reference, segments[rate])
            value = float(metric.compute_prepared(state, degraded, rate))
        else:
            value = float(metric.score(reference, degraded, rate, context))
    except MetricUnavailable as exc:
        return MetricResult(math.nan, str(exc).strip().splitlines()[0] if str(exc).strip() else "unavailable")
    except Exception as exc:  # a metric bug or library failure must not abort the run
        return MetricResult(math.nan, summarize_exception(exc))
    if not math.isfinite(value):
        return MetricResult(math.nan, f"{metric.name} returned {value}")
    return MetricResult(value, None)


def init_worker(specs: Sequence[Union[str, MetricSpec]] = (), threads: Optional[int] = 1,
                warm_up: bool = True) -> None:
    """Process-pool initializer: limit library threads, build and warm the metrics once.

    Args:
        specs: metrics the worker will score (built into the per-process cache).
        threads: threads per worker for numba (ViSQOL's kernels), onnxruntime (DNSMOS) and torch
            (speaker embeddings); ``None`` leaves the libraries' defaults.
        warm_up: score one short synthetic pair so compilation and model loading happen now.
    """
    if threads is not None:
        # Model backends: onnxruntime reads worker_threads(); torch reads OMP_NUM_THREADS when it
        # is first imported (after this, in a spawned worker) and set_num_threads when already loaded.
        os.environ[THREADS_VARIABLE] = str(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        # Before numba's first import the variable is enough; after it (a forked worker, or an
        # initializer that imported visqol) only set_num_threads works, so do both. BLAS pools
        # are sized when numpy loads, i.e. before this runs: set OMP_NUM_THREADS in the parent
        # to pin them too (the metrics here barely use BLAS).
        os.environ["NUMBA_NUM_THREADS"] = str(threads)
        try:
            import numba

            numba.set_num_threads(min(threads, getattr(numba.config, "NUMBA_NUM_THREADS")))
        except ImportError:
            pass
    metrics = [cached_metric(s) if isinstance(s, str) else cached_metric(s[0], s[1]) for s in specs]
    if warm_up and metrics:
        rng = np.random.default_rng(0)
        rate = 16000
        t = np.arange(int(1.5 * rate)) / rate
        tone = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
        noisy = (tone + 0.01 * rng.standard_normal(len(tone))).astype(np.float32)
        score_pair(tone[None], rate, noisy[None], rate, metrics)
