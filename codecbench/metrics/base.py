"""The metric protocol: metadata declared up front, scores computed on aligned mono pairs."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import numpy as np


class MetricUnavailable(Exception):
    """The metric cannot be computed for this pair (silence, too short...). Stored as NaN + reason."""


@dataclass(frozen=True)
class ModelWeights:
    """Pretrained weights a metric needs (shown by ``codecbench list metrics``).

    Attributes:
        name: what the weights are (``"DNSMOS P.835 sig_bak_ovr.onnx"``).
        source: where they come from (``"inside the speechmos wheel"``, ``"HF cache: org/repo"``).
        licence: licence of the weights (SPDX id where one applies).
        when: the option value that uses them (``"backend: wavlm_sv"``); empty when always used.
    """

    name: str
    source: str
    licence: str
    when: str = ""


@dataclass(frozen=True)
class MetricInfo:
    """What the harness must know before running a metric.

    Attributes:
        sample_rate: rate (Hz) both signals are resampled to before ``compute``; ``None`` means
            the pair is scored at the reference's native rate.
        higher_is_better: direction, used for "best" markers and significance tests.
        unit: short unit label for tables ("", "dB", "MOS"...).
        min_seconds: shorter pairs are reported unavailable instead of scored.
        description: one line for ``codecbench list metrics``.
        intrusive: ``True`` for full-reference metrics; a non-intrusive metric scores the
            degraded signal alone (``compute`` still receives the aligned pair and ignores the
            reference), so it can also score a reference on its own.
        weights: pretrained models behind the score (empty for DSP metrics).
        device: where ``compute`` runs (``"cpu"``; ``"cuda"`` for metrics that need a GPU).
        batchable: whether the backend can score several signals in one call.
        needs_transcript: the metric reads the utterance's transcript (``PairContext.transcript``).
    """

    sample_rate: Optional[int]
    higher_is_better: bool
    unit: str = ""
    min_seconds: float = 0.0
    description: str = ""
    intrusive: bool = True
    weights: tuple[ModelWeights, ...] = ()
    device: str = "cpu"
    batchable: bool = False
    needs_transcript: bool = False


@dataclass(frozen=True)
class PairContext:
    """What the harness knows about a pair beyond its audio, for metrics that ask for it.

    Attributes:
        transcript: the dataset's transcript of the utterance (``Utterance.metadata["transcript"]``),
            ``None`` when the dataset has none.
    """

    transcript: Optional[str] = None


class Metric(ABC):
    """A full-reference audio quality metric.

    Subclasses set ``name`` and ``info`` and take their options as ``__init__`` keywords.
    ``compute`` receives the aligned reference and degraded signals as float32 mono ``[T]``
    arrays of equal length at ``info.sample_rate`` (or the native rate when that is ``None``)
    and returns one float. It raises :class:`MetricUnavailable` with a reason when the value
    is undefined; it never returns a placeholder.
    """

    name: ClassVar[str] = ""
    info: ClassVar[MetricInfo]
    #: ``True`` when :meth:`prepare_reference` does real work that several pairs with the same
    #: aligned reference can share (the harness then keeps the state; see ``scoring.py``).
    shares_reference: ClassVar[bool] = False

    @abstractmethod
    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        """Score one aligned pair."""

    def prepare_reference(self, reference: np.ndarray, sample_rate: int) -> Any:
        """Work that depends on the aligned reference ``[T]`` alone, done once for many pairs.

        The default keeps the reference itself; metrics with ``shares_reference`` return a state
        that :meth:`compute_prepared` scores any degraded signal of the same length against.
        It may raise :class:`MetricUnavailable` (e.g. a silent reference).
        """
        return reference

    def prepare_related(self, state: Any, reference: np.ndarray, sample_rate: int) -> Any:
        """A state for another aligned segment of the same source reference (another codec's output
        was a few samples shorter or differently delayed); may reuse ``state``'s work where it is
        provably identical. The default prepares ``reference`` afresh."""
        return self.prepare_reference(reference, sample_rate)

    def compute_prepared(self, state: Any, degraded: np.ndarray, sample_rate: int) -> float:
        """Score ``degraded`` ``[T]`` against a :meth:`prepare_reference` state.

        Must equal ``compute(reference, degraded, sample_rate)`` exactly; the default is that call.
        """
        return self.compute(state, degraded, sample_rate)

    def score(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int, context: PairContext) -> float:
        """Score one aligned pair knowing its :class:`PairContext`; what the harness calls.

        The default ignores the context and calls :meth:`compute`; metrics that declare
        ``info.needs_transcript`` override this to read ``context.transcript``.
        """
        return self.compute(reference, degraded, sample_rate)

    def options(self) -> dict:
        """Constructor options that change the score (none by default)."""
        return {}

    def implementation(self) -> str:
        """Library (``name==version``) or code version behind the score; part of the identity."""
        return ""

    def identity(self) -> dict:
        """Name, options and implementation that change the score (part of the result key)."""
        ident = {"metric": self.name, **self.options()}
        if self.implementation():
            ident["implementation"] = self.implementation()
        return ident

    def label(self) -> str:
        """Column name for results: the metric name, plus the options that differ from defaults."""
        defaults = {key: param.default for key, param in inspect.signature(type(self).__init__).parameters.items()}
        changed = {key: value for key, value in self.options().items() if defaults.get(key, object()) != value}
        if not changed:
            return self.name
        return f"{self.name}[{','.join(f'{key}={value}' for key, value in sorted(changed.items()))}]"
