"""UTMOS (Saeki et al. 2022, UTMOS22 strong learner): a non-intrusive MOS predictor, through ``utmos-pytorch``.

``utmos-pytorch`` re-implements the UTMOS22 strong learner (wav2vec 2.0 Base SSL features, a
domain and a listener embedding, a BLSTM and a projection) without fairseq, on torch alone (no
torchaudio), and scores with the original's conventions: domain 0, listener 288, frame scores
averaged, ``2 x + 3``. Its converted weights (``utmos_state_dict.pt``, ~400 MB) are resolved like
codec weights (:mod:`codecbench.weights`, name ``utmos22_strong``): the ``weights`` option (a
local file), else the local Hugging Face cache; nothing is downloaded during a run (the package
itself would download on first use: it is never given the chance). When they are absent every
pair is NaN with one line naming ``codecbench weights fetch utmos22_strong``, and the run goes on.

The package loads its state dict with ``strict=False``, which would turn a wrong file into a
silently random model; the keys are therefore checked against the architecture first (built on
torch's meta device, no memory). The model loads once per process (per file) and scores one
signal per call (the package advises batch size 1: padding shifts scores). Inference in eval
mode has no sampling, so scores repeat bit for bit on CPU. Non-intrusive: the aligned decoded
signal at 16 kHz is scored and the reference ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from codecbench.metrics.base import Metric, MetricInfo, MetricUnavailable, ModelWeights
from codecbench.metrics.checks import model_weights, package_version, require_pair, worker_threads

UTMOS_RATE = 16000
UTMOS_WEIGHTS = "utmos22_strong"  # name in codecbench.weights.KNOWN_WEIGHTS
INSTALL_HINT = "pip install 'codecbench[modern]' (utmos-pytorch)"

_MODELS: dict[str, Any] = {}


def utmos_model(checkpoint: Path) -> Any:
    """The per-process ``utmos_pytorch.UTMOSScoreTorch`` loaded from a local state-dict file."""
    key = str(checkpoint)
    if key not in _MODELS:
        try:
            import torch
            from utmos_pytorch import UTMOSScoreTorch
            from utmos_pytorch.utmos_torch import UTMOSModel
        except ImportError as exc:
            raise MetricUnavailable(f"utmos needs utmos-pytorch and torch ({exc}); {INSTALL_HINT}") from exc
        threads = worker_threads()
        if threads:
            torch.set_num_threads(threads)
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        with torch.device("meta"):
            expected = set(UTMOSModel().state_dict())
        missing = sorted(expected - set(state)) if isinstance(state, dict) else ["(not a state dict)"]
        if missing:
            raise MetricUnavailable(f"{checkpoint}: not a UTMOS22 state dict ({len(missing)} weights missing, first "
                                    f"{missing[0]}); fetch it again with `codecbench weights fetch {UTMOS_WEIGHTS}`")
        del state
        _MODELS[key] = UTMOSScoreTorch(ckpt_path=str(checkpoint), device="cpu")
    return _MODELS[key]


class Utmos(Metric):
    """UTMOS22 strong learner's predicted MOS of the decoded signal, about 1..5.

    Args:
        weights: a local ``utmos_state_dict.pt`` instead of the HF cache.
    """

    name = "utmos"
    info = MetricInfo(
        sample_rate=UTMOS_RATE, higher_is_better=True, unit="MOS", min_seconds=0.5,
        description="UTMOS22 strong learner (utmos-pytorch), 16 kHz, degraded signal only", intrusive=False,
        weights=(ModelWeights("UTMOS22 strong learner, utmos_state_dict.pt (Blinorot/UTMOS-PyTorch)",
                              f"local HF cache (codecbench weights fetch {UTMOS_WEIGHTS})",
                              "MIT (UTMOS22, sarulab-speech; utmos-pytorch)"),))

    def __init__(self, weights: Optional[str] = None) -> None:
        self.weights = weights
        self._implementation: Optional[str] = None

    def options(self) -> dict:
        return {"weights": self.weights} if self.weights else {}

    def _checkpoint(self) -> Optional[Path]:
        from codecbench import weights

        return weights.resolve(UTMOS_WEIGHTS, self.weights)

    def implementation(self) -> str:
        """utmos-pytorch and torch versions, and the checkpoint's HF revision (or its digest)."""
        if self._implementation is None:
            from codecbench.weights import weights_revision

            self._implementation = (f"{package_version('utmos-pytorch')}+{package_version('torch')}"
                                    f"+{UTMOS_WEIGHTS}@{weights_revision(self._checkpoint())}")
        return self._implementation

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        if sample_rate != UTMOS_RATE:
            raise ValueError(f"{self.name} needs {UTMOS_RATE} Hz input, got {sample_rate} Hz")
        require_pair(reference, degraded, sample_rate, self.info.min_seconds, reference_may_be_silent=True)
        import torch

        model = utmos_model(model_weights(UTMOS_WEIGHTS, self.weights))
        with torch.inference_mode():
            return float(model.score(torch.from_numpy(np.ascontiguousarray(degraded, dtype=np.float32)))[0])
