"""ViSQOL v3 via ``visqol-python`` (pure-Python port of Google's C++ tool).

Audio mode scores 48 kHz signals with the bundled SVR model (MOS-LQO 1..5); speech mode scores
16 kHz signals with voice-activity patches. Speech mode maps similarity to MOS with the TFLite
lattice model by default, as Google's C++ tool does since v3.3 (conformance v333), so scores
compare with published ViSQOL speech numbers; the lattice needs the ``ai-edge-litert`` runtime
(``pip install 'visqol-python[lattice]'``, pulled by ``codecbench[all]``). The polynomial
mapper (about 0.07 MOS higher on the same speech) stays available as ``mapper: polynomial``.
The port would silently fall back to the polynomial mapper when the runtime is missing; here
the mapper is always passed explicitly and a lattice that cannot load is one clear error,
never a fallback. The mapper is part of the metric identity (and of the column label when it
is not the default).

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
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from codecbench.metrics.base import Metric, MetricInfo, MetricUnavailable, ModelWeights
from codecbench.metrics.checks import package_version, require_pair
from codecbench.metrics.visqol_kernels import banded_kernel, compile_kernels
from codecbench.metrics.visqol_reuse import ReferenceMemo, memoised

_APIS: dict[tuple, Any] = {}
_SHORT_INPUT_MARKERS = ("Too few samples", "smaller than minimum patch size")


#: Speech-mode mappers: the C++ tool's default first.
MAPPERS = ("lattice", "polynomial")
LATTICE_HINT = "pip install 'visqol-python[lattice]' (or codecbench[all]), or set the option mapper: polynomial"


def lattice_runtime_missing() -> bool:
    """Whether the ``ai-edge-litert`` runtime is absent (a cheap check, no import)."""
    import importlib.util

    try:
        return importlib.util.find_spec("ai_edge_litert") is None
    except (ImportError, ValueError):
        return True


def visqol_api(mode: str, lattice: bool = False) -> Any:
    """The per-process, per-configuration ``visqol.VisqolApi`` (created and warmed on first use).

    Speech mode always gets ``use_lattice_model`` as an explicit bool, so the port never picks
    a mapper by what is installed; a lattice that cannot load raises one line with the fix.
    """
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
        compile_kernels()
        api = VisqolApi()
        try:
            api.create(mode=mode, use_lattice_model=bool(lattice) if mode == "speech" else None)
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            if not lattice:
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MetricUnavailable(f"ViSQOL speech: the lattice mapper cannot load ({first}); {LATTICE_HINT}") from exc
        _APIS[key] = api
    return _APIS[key]


def _kernel_caches() -> list[tuple[Path, str]]:
    """Where numba keeps the compiled ViSQOL kernels (visqol-python's and codecbench's banded
    gammatone), as ``(folder, index file pattern)``: ``NUMBA_CACHE_DIR`` when set, else each
    package's own ``__pycache__`` (numba's default for an importable, writable package)."""
    import visqol

    from codecbench.metrics import visqol_kernels

    custom = os.environ.get("NUMBA_CACHE_DIR")
    return [(Path(custom) if custom else Path(str(module.__file__)).parent / "__pycache__", pattern)
            for module, pattern in ((visqol, "numba_accel*.nbi"), (visqol_kernels, "visqol_kernels*.nbi"))]


def prepare_kernels(log: Callable[[str], None]) -> None:
    """Compile ViSQOL's numba kernels in this process before the metric workers start, saying so.

    A first run otherwise sits at 0 % for tens of seconds while every worker compiles the same
    kernels. Once compiled they load from numba's on-disk cache (docs/metrics.md), so this is silent.
    """
    try:
        from visqol.numba_accel import has_numba, warmup
    except ImportError:
        return
    if not has_numba():
        return
    caches = _kernel_caches()
    if all(folder.is_dir() and next(folder.rglob(pattern), None) is not None for folder, pattern in caches):
        return
    log(f"compiling ViSQOL kernels, once (~30-60 s); cached in {caches[0][0]}"
        + (f" and {caches[1][0]}" if caches[1][0] != caches[0][0] else ""))
    start = time.monotonic()
    warmup()
    compile_kernels()
    log(f"ViSQOL kernels compiled in {time.monotonic() - start:.0f} s")


@dataclass
class VisqolReference:
    """A prepared ViSQOL reference: the float64 samples and the memo of its reference-only work."""

    samples: np.ndarray
    memo: ReferenceMemo = field(default_factory=ReferenceMemo)


class _Visqol(Metric):
    mode: ClassVar[str] = "audio"
    shares_reference = True

    def __init__(self) -> None:
        self.lattice = False

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        return self.compute_prepared(self.prepare_reference(reference, sample_rate), degraded, sample_rate)

    def prepare_reference(self, reference: np.ndarray, sample_rate: int) -> VisqolReference:
        """The reference as ViSQOL reads it (float64) with an empty memo (see :mod:`.visqol_reuse`)."""
        return VisqolReference(reference.astype(np.float64))

    def prepare_related(self, state: VisqolReference, reference: np.ndarray, sample_rate: int) -> VisqolReference:
        """Shares ``state``'s memo: the patch slices inside both segments are the same samples."""
        return VisqolReference(reference.astype(np.float64), state.memo)

    def compute_prepared(self, state: VisqolReference, degraded: np.ndarray, sample_rate: int) -> float:
        if sample_rate != self.info.sample_rate:
            raise ValueError(f"{self.name} needs {self.info.sample_rate} Hz input, got {sample_rate} Hz")
        require_pair(state.samples, degraded, sample_rate, self.info.min_seconds)
        api = visqol_api(self.mode, self.lattice)
        try:
            with memoised(api, state.memo), banded_kernel():
                result = api.measure_from_arrays(state.samples, degraded.astype(np.float64), sample_rate)
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
                      description="ViSQOL v3 audio mode (visqol-python), 48 kHz",
                      weights=(ModelWeights("ViSQOL SVR model libsvm_nu_svr_model.txt", "inside the visqol-python wheel",
                                            "Apache-2.0"),))


class VisqolSpeech(_Visqol):
    """ViSQOL speech mode at 16 kHz.

    Args:
        mapper: ``"lattice"`` (default; the C++ tool's default since v3.3, needs
            ``ai-edge-litert``) or ``"polynomial"`` (the older mapping, available everywhere).
    """

    name = "visqol_speech"
    mode = "speech"
    info = MetricInfo(sample_rate=16000, higher_is_better=True, unit="MOS", min_seconds=1.0,
                      description="ViSQOL v3 speech mode (visqol-python), 16 kHz, lattice mapper by default",
                      weights=(ModelWeights("ViSQOL lattice mapper (TFLite)", "inside the visqol-python wheel",
                                            "Apache-2.0", when="mapper: lattice"),))

    def __init__(self, mapper: str = "lattice") -> None:
        super().__init__()
        if mapper not in MAPPERS:
            raise ValueError(f"visqol_speech option mapper must be one of {', '.join(MAPPERS)}, got {mapper!r}")
        self.mapper = mapper
        self.lattice = mapper == "lattice"
        if self.lattice and lattice_runtime_missing():
            raise ValueError(f"visqol_speech uses the lattice mapper (ViSQOL v3.3+ default), which needs the "
                             f"ai-edge-litert runtime; {LATTICE_HINT}")

    def options(self) -> dict:
        return {"mapper": self.mapper}

    def implementation(self) -> str:
        """visqol-python's version, plus the TFLite runtime's when the lattice maps the scores."""
        base = super().implementation()
        return f"{base}+{package_version('ai-edge-litert')}" if self.lattice else base
