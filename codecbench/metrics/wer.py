"""Intelligibility: word and character error rates of Whisper transcripts (jiwer edit distance).

* ``wer`` / ``cer``: the decoded signal's transcript against the dataset's transcript
  (``Utterance.metadata["transcript"]``: VCTK, Expresso, the builtin clips). Non-intrusive: they
  never look at the reference audio, so the reference's own WER (the ASR's error on clean
  speech) is the ceiling the report shows.
* ``dwer`` / ``dcer``: the decoded signal's transcript against the transcript of the reference
  audio by the same model, so datasets without transcripts work too (0 = the codec changed
  nothing the recogniser hears).

Both texts go through the same normaliser before the edit distance (option ``normalizer``):

* ``whisper_english`` (default): transformers' ``EnglishTextNormalizer``, the normaliser of the
  Whisper paper (lower case; bracketed and parenthesised spans dropped; filler words such as
  "hmm" removed; contractions and titles expanded, e.g. "Mr." -> "mister", "aren't" -> "are
  not"; numbers and currencies written as digits; punctuation and symbols removed; British
  spellings mapped to American ones with the ``normalizer.json`` list that ships with the
  Whisper checkpoint, when the model folder has it). English only.
* ``basic``: transformers' ``BasicTextNormalizer`` for other languages: lower case, bracketed
  and parenthesised spans dropped, punctuation and symbols replaced by spaces, whitespace
  collapsed.

WER is jiwer's (substitutions + deletions + insertions) / reference words of one utterance; CER
the same over characters of the normalised text, spaces between words included. Tables average
the per-utterance rates (each utterance weighs the same), which differs from a corpus WER pooled
over all words. Values are fractions (0.05 = 5 %); lower is better; they can exceed 1 when the
transcript has many insertions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from codecbench.metrics.asr import ASR_RATE, transcribe
from codecbench.metrics.base import Metric, MetricInfo, MetricUnavailable, ModelWeights, PairContext
from codecbench.metrics.checks import model_weights, package_version, require_pair

DEFAULT_MODEL = "whisper_small"  # name in codecbench.weights.KNOWN_WEIGHTS
NORMALIZERS = ("whisper_english", "basic")
UNITS = ("word", "char")
WHISPER_WEIGHTS = (ModelWeights("Whisper (openai/whisper-small by default; option model: whisper_tiny, whisper_base, "
                                "whisper_medium, whisper_large_v3)",
                                f"local HF cache (codecbench weights fetch {DEFAULT_MODEL})", "Apache-2.0"),)

_NORMALIZERS: dict[tuple[str, str], Callable[[str], str]] = {}


def normalizer(kind: str, folder: Optional[Path] = None) -> Callable[[str], str]:
    """The text normaliser ``kind`` (see the module docstring); the spelling list comes from ``folder``."""
    if kind not in NORMALIZERS:
        raise ValueError(f"normalizer must be one of {', '.join(NORMALIZERS)}, got {kind!r}")
    key = (kind, str(folder))
    if key not in _NORMALIZERS:
        from transformers.models.whisper.english_normalizer import BasicTextNormalizer, EnglishTextNormalizer

        base: Callable[[str], str]
        if kind == "basic":
            base = BasicTextNormalizer()
        else:
            spelling = folder / "normalizer.json" if folder is not None else None
            mapping = json.loads(spelling.read_text(encoding="utf-8")) if spelling and spelling.is_file() else {}
            base = EnglishTextNormalizer(mapping)
        _NORMALIZERS[key] = lambda text: " ".join(base(text).split())  # whitespace collapsed, ends stripped
    return _NORMALIZERS[key]


def error_rate(reference: str, hypothesis: str, unit: str = "word",
               normalize: Optional[Callable[[str], str]] = None) -> float:
    """jiwer WER (``unit="word"``) or CER (``"char"``) of ``hypothesis`` against ``reference``.

    Both are normalised with ``normalize`` first (default: whitespace collapsed only).

    Raises:
        MetricUnavailable: the reference is empty after normalisation (the rate is undefined).
    """
    import jiwer

    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    clean = normalize or (lambda text: text)
    ref, hyp = " ".join(clean(reference).split()), " ".join(clean(hypothesis).split())
    if not ref:
        raise MetricUnavailable(f"reference text {reference[:40]!r} is empty after normalisation; the error rate is "
                                "undefined")
    return float(jiwer.wer(ref, hyp) if unit == "word" else jiwer.cer(ref, hyp))


class _AsrErrorRate(Metric):
    """Shared options of the four error rates.

    Args:
        model: known Whisper weights (``whisper_small``, ``whisper_large_v3``, ...; see
            ``codecbench weights list``), looked up in the local HF cache.
        weights: a local model folder instead of the HF cache.
        language: Whisper language code the decoder is forced to, or ``None`` to detect it.
        normalizer: ``whisper_english`` or ``basic`` (module docstring).
    """

    unit_kind = "word"

    def __init__(self, model: str = DEFAULT_MODEL, weights: Optional[str] = None, language: Optional[str] = "en",
                 normalizer: str = "whisper_english") -> None:
        from codecbench.weights import KNOWN_WEIGHTS

        if not model.startswith("whisper_") or model not in KNOWN_WEIGHTS:
            known = ", ".join(k for k in KNOWN_WEIGHTS if k.startswith("whisper_"))
            raise ValueError(f"{self.name} option model must be one of {known}, got {model!r}")
        if normalizer not in NORMALIZERS:
            raise ValueError(f"{self.name} option normalizer must be one of {', '.join(NORMALIZERS)}, got {normalizer!r}")
        self.model, self.weights, self.language, self.normalizer_kind = model, weights, language, normalizer
        self._implementation: Optional[str] = None

    def options(self) -> dict:
        return {"model": self.model, "language": self.language, "normalizer": self.normalizer_kind,
                **({"weights": self.weights} if self.weights else {})}

    def _folder(self) -> Path:
        return model_weights(self.model, self.weights)

    def implementation(self) -> str:
        """transformers, torch and jiwer versions, and the model's HF revision (or file digests)."""
        if self._implementation is None:
            from codecbench import weights

            revision = weights.weights_revision(weights.resolve(self.model, self.weights))
            self._implementation = (f"{package_version('transformers')}+{package_version('torch')}"
                                    f"+{package_version('jiwer')}+{self.model}@{revision}")
        return self._implementation

    def _rate(self, truth: str, hypothesis: str, folder: Path) -> float:
        return error_rate(truth, hypothesis, self.unit_kind, normalizer(self.normalizer_kind, folder))

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        return self.score(reference, degraded, sample_rate, PairContext())

    def _check(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int, **kwargs: Any) -> Path:
        if sample_rate != ASR_RATE:
            raise ValueError(f"{self.name} needs {ASR_RATE} Hz input, got {sample_rate} Hz")
        require_pair(reference, degraded, sample_rate, self.info.min_seconds, degraded_may_be_silent=True, **kwargs)
        return self._folder()


def _info(what: str, intrusive: bool) -> MetricInfo:
    return MetricInfo(sample_rate=ASR_RATE, higher_is_better=False, unit="", min_seconds=0.1,
                      description=f"{what} of Whisper greedy transcripts (jiwer), 16 kHz, fraction",
                      intrusive=intrusive, weights=WHISPER_WEIGHTS, batchable=True, needs_transcript=not intrusive)


class WordErrorRate(_AsrErrorRate):
    """WER of the decoded signal's transcript against the dataset's transcript."""

    name = "wer"
    info = _info("WER against the dataset transcript", intrusive=False)

    def score(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int, context: PairContext) -> float:
        folder = self._check(reference, degraded, sample_rate, reference_may_be_silent=True)
        if context.transcript is None:
            raise MetricUnavailable(f"{self.name} needs the dataset's transcript (metadata 'transcript') and this "
                                    f"utterance has none; use d{self.name} (against the reference's ASR) instead")
        hypothesis, = transcribe(folder, [degraded], self.language)
        return self._rate(context.transcript, hypothesis, folder)


class CharacterErrorRate(WordErrorRate):
    """CER of the decoded signal's transcript against the dataset's transcript."""

    name = "cer"
    info = _info("CER against the dataset transcript", intrusive=False)
    unit_kind = "char"


class DifferentialWordErrorRate(_AsrErrorRate):
    """WER of the decoded signal's transcript against the transcript of the reference audio."""

    name = "dwer"
    info = _info("WER against the reference audio's transcript (dWER)", intrusive=True)

    def score(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int, context: PairContext) -> float:
        folder = self._check(reference, degraded, sample_rate)
        truth, hypothesis = transcribe(folder, [reference, degraded], self.language)
        if not " ".join(normalizer(self.normalizer_kind, folder)(truth).split()):
            raise MetricUnavailable(f"{self.name}: the ASR of the reference is empty after normalisation "
                                    f"({truth[:40]!r}); nothing to compare against")
        return self._rate(truth, hypothesis, folder)


class DifferentialCharacterErrorRate(DifferentialWordErrorRate):
    """CER of the decoded signal's transcript against the transcript of the reference audio."""

    name = "dcer"
    info = _info("CER against the reference audio's transcript (dCER)", intrusive=True)
    unit_kind = "char"
