"""DNSMOS (Reddy et al. 2021/2022): non-intrusive MOS predictors, through the ``speechmos`` package.

``speechmos`` ships Microsoft's ONNX models (DNS Challenge ``sig_bak_ovr.onnx`` for P.835 and
``model_v8.onnx`` for P.808) inside its wheel and runs them with onnxruntime and librosa (which it
does not declare: ``codecbench[modern]`` installs them). It scores 9.01 s windows hopped by 1 s,
looping shorter clips, and averages the windows.

One model call yields four numbers, stored as four metrics so that every stored score stays one
value with one identity: ``dnsmos_sig``, ``dnsmos_bak``, ``dnsmos_ovrl`` (P.835 signal,
background, overall) and ``dnsmos_p808``. Listing several of them costs one model call per pair:
the last result is kept per process, keyed by the degraded samples. The metrics are
non-intrusive: they score the aligned degraded signal at 16 kHz and ignore the reference.

speechmos rejects samples beyond ±1; codec output that overshoots after resampling is clipped to
±1 first (what writing it to a 16-bit WAV would do). The onnxruntime sessions are built once per
process, with :func:`worker_threads` intra-op threads in a metric worker.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Optional

import numpy as np

from codecbench.metrics.base import Metric, MetricInfo, MetricUnavailable, ModelWeights
from codecbench.metrics.checks import package_version, require_pair, worker_threads

DNSMOS_RATE = 16000
#: speechmos result key of each metric.
KEYS = {"dnsmos_sig": "sig_mos", "dnsmos_bak": "bak_mos", "dnsmos_ovrl": "ovrl_mos", "dnsmos_p808": "p808_mos"}
WEIGHTS = (ModelWeights("DNSMOS P.835 sig_bak_ovr.onnx + P.808 model_v8.onnx (Microsoft DNS Challenge)",
                        "inside the speechmos wheel", "MIT"),)
INSTALL_HINT = "pip install 'codecbench[modern]' (speechmos, onnxruntime, librosa)"

_MODEL: Optional[Any] = None
_LAST: Optional[tuple[str, dict[str, float]]] = None


def dnsmos_model() -> Any:
    """The per-process ``speechmos.dnsmos.DNSMOS`` (both ONNX sessions built once)."""
    global _MODEL
    if _MODEL is None:
        try:
            import onnxruntime as ort
            from speechmos import dnsmos
        except ImportError as exc:
            raise MetricUnavailable(f"DNSMOS needs speechmos, onnxruntime and librosa ({exc}); {INSTALL_HINT}") from exc
        folder = os.path.join(os.path.dirname(os.path.abspath(dnsmos.__file__)), "dnsmos_models")
        model = dnsmos.DNSMOS(os.path.join(folder, "sig_bak_ovr.onnx"), os.path.join(folder, "model_v8.onnx"))
        threads = worker_threads()
        if threads:  # speechmos builds its sessions with every core; a metric worker gets its share
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            model.onnx_sess = ort.InferenceSession(os.path.join(folder, "sig_bak_ovr.onnx"), options)
            model.p808_onnx_sess = ort.InferenceSession(os.path.join(folder, "model_v8.onnx"), options)
        _MODEL = model
    return _MODEL


def dnsmos_scores(degraded: np.ndarray) -> dict[str, float]:
    """speechmos' four scores of a 16 kHz mono ``[T]`` signal (the last signal's are reused)."""
    global _LAST
    audio = np.clip(np.asarray(degraded, dtype=np.float32), -1.0, 1.0)
    key = hashlib.sha1(audio.tobytes()).hexdigest()
    if _LAST is None or _LAST[0] != key:
        raw = dnsmos_model()(audio, DNSMOS_RATE, False)
        _LAST = (key, {name: float(value) for name, value in raw.items() if name in KEYS.values()})
    return _LAST[1]


class _Dnsmos(Metric):

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        if sample_rate != DNSMOS_RATE:
            raise ValueError(f"{self.name} needs {DNSMOS_RATE} Hz input, got {sample_rate} Hz")
        require_pair(reference, degraded, sample_rate, self.info.min_seconds, reference_may_be_silent=True)
        return dnsmos_scores(degraded)[KEYS[self.name]]

    def implementation(self) -> str:
        """speechmos (which carries the ONNX models) and the onnxruntime that runs them."""
        return f"{package_version('speechmos')}+{package_version('onnxruntime')}+{package_version('librosa')}"


def _info(what: str) -> MetricInfo:
    return MetricInfo(sample_rate=DNSMOS_RATE, higher_is_better=True, unit="MOS", min_seconds=1.0,
                      description=f"DNSMOS {what} (speechmos), 16 kHz, degraded signal only", intrusive=False,
                      weights=WEIGHTS)


class DnsmosSig(_Dnsmos):
    """DNSMOS P.835 speech-signal quality (SIG), about 1..5."""

    name = "dnsmos_sig"
    info = _info("P.835 SIG (speech signal)")


class DnsmosBak(_Dnsmos):
    """DNSMOS P.835 background-noise quality (BAK), about 1..5."""

    name = "dnsmos_bak"
    info = _info("P.835 BAK (background)")


class DnsmosOvrl(_Dnsmos):
    """DNSMOS P.835 overall quality (OVRL), about 1..5."""

    name = "dnsmos_ovrl"
    info = _info("P.835 OVRL (overall)")


class DnsmosP808(_Dnsmos):
    """DNSMOS P.808 overall MOS, about 1..5."""

    name = "dnsmos_p808"
    info = _info("P.808 MOS")
