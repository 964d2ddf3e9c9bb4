"""Speaker similarity: cosine of speaker embeddings of the reference and the decoded signal.

Two backends, both at 16 kHz:

* ``resemblyzer`` (default): the GE2E LSTM encoder of Resemblyzer (Wan et al. 2018; 256-d
  embeddings), whose weights ship inside the wheel. Each signal goes through the package's own
  ``preprocess_wav`` (volume normalised to -30 dBFS, long silences cut by webrtcvad) and
  ``embed_utterance`` (mean of 1.6 s partial embeddings, unit norm), exactly as one would call it.
* ``wavlm_sv``: WavLM Base+ fine-tuned for speaker verification (``microsoft/wavlm-base-plus-sv``,
  x-vector head, 512-d) through transformers, as recent codec papers report. Its weights are
  resolved like codec weights (:mod:`codecbench.weights`): the ``weights`` option (a local folder),
  else the local Hugging Face cache; nothing is downloaded. When they are absent every pair is
  NaN with one line naming ``codecbench weights fetch wavlm_base_plus_sv``, and the run goes on.

Models load once per process (per weights folder). Both backends are deterministic on CPU
(inference mode, no sampling).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np

from codecbench.metrics.base import Metric, MetricInfo, MetricUnavailable, ModelWeights
from codecbench.metrics.checks import model_weights, package_version, require_pair, worker_threads

SPEAKER_RATE = 16000
BACKENDS = ("resemblyzer", "wavlm_sv")
WAVLM_WEIGHTS = "wavlm_base_plus_sv"  # name in codecbench.weights.KNOWN_WEIGHTS
RESEMBLYZER_HINT = ("pip install 'codecbench[modern]' and then pip install --no-deps resemblyzer==0.1.4 "
                    "(its metadata pins the sdist-only webrtcvad and the obsolete typing backport)")

_MODELS: dict[str, Any] = {}


def _pin_torch_threads() -> None:
    threads = worker_threads()
    if threads:
        import torch

        torch.set_num_threads(threads)


def resemblyzer_encoder() -> Any:
    """The per-process ``resemblyzer.VoiceEncoder`` on CPU (weights from the wheel)."""
    if "resemblyzer" not in _MODELS:
        try:
            with warnings.catch_warnings():  # resemblyzer imports scipy.ndimage.morphology (deprecated)
                warnings.simplefilter("ignore", DeprecationWarning)
                from resemblyzer import VoiceEncoder
        except ImportError as exc:
            raise MetricUnavailable(f"speaker_sim backend resemblyzer is not installed ({exc}); "
                                    f"{RESEMBLYZER_HINT}") from exc
        _pin_torch_threads()
        _MODELS["resemblyzer"] = VoiceEncoder("cpu", verbose=False)
    return _MODELS["resemblyzer"]


def resemblyzer_embedding(signal: np.ndarray) -> np.ndarray:
    """GE2E embedding ``[256]`` of a 16 kHz mono ``[T]`` signal, through resemblyzer's own preprocessing."""
    encoder = resemblyzer_encoder()
    from resemblyzer import preprocess_wav

    wav = preprocess_wav(np.asarray(signal, dtype=np.float32), source_sr=SPEAKER_RATE)
    if len(wav) == 0:
        raise MetricUnavailable("speaker_sim: resemblyzer's voice activity detector found no speech")
    return np.asarray(encoder.embed_utterance(wav), dtype=np.float64)


def wavlm_model(folder: Path) -> tuple[Any, Any]:
    """The per-process ``(feature extractor, WavLMForXVector)`` loaded from a local folder."""
    key = f"wavlm_sv:{folder}"
    if key not in _MODELS:
        try:
            from transformers import AutoFeatureExtractor, WavLMForXVector
        except ImportError as exc:
            raise MetricUnavailable(f"speaker_sim backend wavlm_sv needs transformers ({exc}); "
                                    "pip install 'codecbench[neural]'") from exc
        _pin_torch_threads()
        extractor = AutoFeatureExtractor.from_pretrained(str(folder), local_files_only=True)
        model = WavLMForXVector.from_pretrained(str(folder), local_files_only=True).eval()
        _MODELS[key] = (extractor, model)
    return _MODELS[key]


def wavlm_embeddings(folder: Path, signals: list[np.ndarray]) -> np.ndarray:
    """x-vectors ``[N, D]`` of equal-length 16 kHz mono signals, scored in one batch."""
    import torch

    extractor, model = wavlm_model(folder)
    inputs = extractor([np.asarray(s, dtype=np.float32) for s in signals], sampling_rate=SPEAKER_RATE,
                       return_tensors="pt", padding=True)
    with torch.inference_mode():
        embeddings = model(**inputs).embeddings
    return embeddings.double().numpy()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (unavailable when either is all zero)."""
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norms == 0.0:
        raise MetricUnavailable("speaker_sim: an embedding is all zero, cosine undefined")
    return float(np.dot(a, b) / norms)


class SpeakerSimilarity(Metric):
    """Cosine similarity of speaker embeddings, reference vs decoded (-1..1, 1 = same embedding).

    Args:
        backend: ``"resemblyzer"`` (GE2E, weights in the wheel) or ``"wavlm_sv"``
            (``microsoft/wavlm-base-plus-sv`` from the local Hugging Face cache).
        weights: ``wavlm_sv`` only: a local model folder (``config.json``, weights,
            ``preprocessor_config.json``) instead of the HF cache.
    """

    name = "speaker_sim"
    info = MetricInfo(
        sample_rate=SPEAKER_RATE, higher_is_better=True, unit="", min_seconds=0.5,
        description="cosine of speaker embeddings (resemblyzer GE2E; backend wavlm_sv: WavLM Base+ SV), 16 kHz",
        weights=(ModelWeights("Resemblyzer GE2E pretrained.pt", "inside the resemblyzer wheel", "Apache-2.0",
                              when="backend: resemblyzer"),
                 ModelWeights("microsoft/wavlm-base-plus-sv", f"local HF cache (codecbench weights fetch {WAVLM_WEIGHTS})",
                              "none declared on the model card (microsoft/unilm, WavLM's code, is MIT)",
                              when="backend: wavlm_sv")))

    def __init__(self, backend: str = "resemblyzer", weights: Optional[str] = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"speaker_sim option backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if weights is not None and backend != "wavlm_sv":
            raise ValueError("speaker_sim option weights applies to backend wavlm_sv only")
        self.backend = backend
        self.weights = weights
        self._implementation: Optional[str] = None

    def options(self) -> dict:
        return {"backend": self.backend, **({"weights": self.weights} if self.weights else {})}

    def _wavlm_folder(self) -> Optional[Path]:
        from codecbench import weights

        return weights.resolve(WAVLM_WEIGHTS, self.weights)

    def implementation(self) -> str:
        """Package versions, and for wavlm_sv the model's HF revision (or its file digests)."""
        if self._implementation is None:
            if self.backend == "resemblyzer":
                self._implementation = f"{package_version('resemblyzer')}+{package_version('torch')}"
            else:
                from codecbench.weights import weights_revision

                model = weights_revision(self._wavlm_folder())
                self._implementation = (f"{package_version('transformers')}+{package_version('torch')}"
                                        f"+wavlm-base-plus-sv@{model}")
        return self._implementation

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        if sample_rate != SPEAKER_RATE:
            raise ValueError(f"{self.name} needs {SPEAKER_RATE} Hz input, got {sample_rate} Hz")
        require_pair(reference, degraded, sample_rate, self.info.min_seconds)
        if self.backend == "resemblyzer":
            return cosine(resemblyzer_embedding(reference), resemblyzer_embedding(degraded))
        ref, deg = wavlm_embeddings(model_weights(WAVLM_WEIGHTS, self.weights), [reference, degraded])
        return cosine(ref, deg)
