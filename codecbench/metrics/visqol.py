"""ViSQOL v3 via ``visqol-python`` (pure-Python port of Google's C++ tool).

Audio mode scores 48 kHz signals with the bundled SVR model (MOS-LQO 1..5); speech mode scores
16 kHz signals with voice-activity patches. Speech mode's default mapper in the C++ tool is a
TFLite lattice model that needs the optional ``ai-edge-litert`` runtime; the port silently
falls back to a polynomial mapper when the runtime is missing. To keep scores independent of
what happens to be installed, ``visqol_speech`` uses the polynomial mapper unless
``lattice=True`` is asked for explicitly (then a missing runtime is an error, never a fallback).

The :class:`VisqolApi` object is built once per process and per configuration (building it
loads the model; numba kernels are compiled or loaded from numba's cache on first use), so a
process-pool worker pays that cost once. Numba acceleration is used whenever numba is
installed (``visqol-python[accel]``).

ViSQOL needs about one second of audio (audio mode: 45 spectrogram frames); shorter pairs,
silent references and speech input without enough voice-active patches are reported as
:class:`MetricUnavailable`.
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar

import numpy as np

from codecbench.metrics.base import Metric, MetricInfo, MetricUnavailable
from codecbench.metrics.checks import package_version, require_pair

_APIS: dict[tuple, Any] = {}
_SHORT_INPUT_MARKERS = ("Too few samples", "smaller than minimum patch size")


def visqol_api(mode: str, lattice: bool = False) -> Any:
    """The per-process, per-configuration ``visqol.VisqolApi`` (created and warmed on first use)."""
    key = (mode, lattice)
    if key not in _APIS:
        try:
            from visqol import VisqolApi
            from visqol.numba_accel import warmup
        except ImportError as exc:
            raise MetricUnavailable(f"visqol-python is not installed ({exc}); "
                                    "pip install 'visqol-python[accel]'") from exc
        # The port logs a warning per call for benign cases (e.g. speech input below 16 kHz).
        logging.getLogger("visqol").setLevel(logging.ERROR)
        warmup()
        api = VisqolApi()
        api.create(mode=mode, use_lattice_model=lattice if mode == "speech" else None)
        _APIS[key] = api
    return _APIS[key]


def numba_enabled() -> bool:
    """Whether visqol-python runs its numba-compiled kernels."""
    try:
        from visqol.numba_accel import has_numba
    except ImportError:
        return False
    return bool(has_numba())


class _Visqol(Metric):
    mode: ClassVar[str] = "audio"

    def __init__(self) -> None:
        self.lattice = False

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        if sample_rate != self.info.sample_rate:
            raise ValueError(f"{self.name} needs {self.info.sample_rate} Hz input, got {sample_rate} Hz")
        require_pair(reference, degraded, sample_rate, self.info.min_seconds)
        api = visqol_api(self.mode, self.lattice)
        try:
            result = api.measure_from_arrays(reference.astype(np.float64), degraded.astype(np.float64), sample_rate)
        except ValueError as exc:
            if any(marker in str(exc) for marker in _SHORT_INPUT_MARKERS):
                raise MetricUnavailable(f"ViSQOL: input too short ({exc})") from exc
            raise
        except IndexError as exc:  # speech mode: VAD found too few active patches
            raise MetricUnavailable("ViSQOL speech: too few voice-active patches to score") from exc
        value = float(result.moslqo)
        if not math.isfinite(value):
            raise MetricUnavailable("ViSQOL returned a non-finite MOS (no usable patches)")
        return value

    def implementation(self) -> str:
        return package_version("visqol-python")


class VisqolAudio(_Visqol):
    """ViSQOL audio mode at 48 kHz (SVR mapping, MOS-LQO up to ~4.75)."""

    name = "visqol_audio"
    mode = "audio"
    info = MetricInfo(sample_rate=48000, higher_is_better=True, unit="MOS", min_seconds=1.0,
                      description="ViSQOL v3 audio mode (visqol-python), 48 kHz")


class VisqolSpeech(_Visqol):
    """ViSQOL speech mode at 16 kHz.

    Args:
        lattice: use the C++ tool's default TFLite lattice mapper (needs ``ai-edge-litert``);
            default False = the polynomial mapper, available everywhere.
    """

    name = "visqol_speech"
    mode = "speech"
    info = MetricInfo(sample_rate=16000, higher_is_better=True, unit="MOS", min_seconds=1.0,
                      description="ViSQOL v3 speech mode (visqol-python), 16 kHz")

    def __init__(self, lattice: bool = False) -> None:
        super().__init__()
        self.lattice = bool(lattice)
        if self.lattice:
            import importlib.util

            if importlib.util.find_spec("ai_edge_litert") is None:
                raise ValueError("visqol_speech option lattice=True needs the ai-edge-litert runtime; "
                                 "pip install 'visqol-python[lattice]' or drop the option")

    def options(self) -> dict:
        return {"lattice": self.lattice}
