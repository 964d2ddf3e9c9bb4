"""ViSQOL's gammatone filterbank, vectorised across bands: the same numbers, about 3.5x faster.

visqol-python's spectrogram kernel (``visqol.numba_accel._gammatone_spectrogram_numba``) filters
every analysis frame through each band's 4-stage IIR cascade one band after another. Each band's
recursion is a chain of dependent multiply-adds, so a single band keeps the CPU waiting on
latency. The bands, however, are independent and read the same input sample, so
:func:`banded_gammatone_spectrogram` runs them side by side: band ``c`` is lane ``c`` of SIMD
registers. Every band still performs exactly the library's operations in the library's order
(no fused multiply-add, no reassociation: numba's default strict IEEE mode), so the spectrogram
is bit for bit the library's; ``tests/metrics/test_metrics_visqol_kernels.py`` checks that on
real audio in both modes, and the ViSQOL conformance tests check whole scores.

Why a flat buffer with fixed-width rows (:data:`LANES`): LLVM vectorises the band loop only when
it can prove that the coefficient, state and energy rows never overlap. Constant offsets into one
array prove it; separate arrays (whose addresses it cannot compare) keep the loop scalar.

The kernel is swapped into the library's builder only while codecbench scores
(:func:`banded_kernel`), the same way :mod:`codecbench.metrics.visqol_reuse` wires in its memo,
and relies on the same pinned visqol-python internals (the kernel's name and argument list).
Filterbanks wider than :data:`LANES` bands fall back to the library's kernel.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from numba import njit, prange  # required: visqol-python[accel]

#: Bands computed side by side (audio mode has 32, speech mode 21; unused lanes compute zeros).
LANES = 32
# Rows of the kernel's per-frame buffer, each LANES wide: 14 coefficient rows (a1, a2, then
# b0, b1, b2 of each of the 4 stages), 8 state rows (2 per stage), 1 energy row.
_A1, _A2, _B = 0, 1, 2
_STATE = _B + 12
_ENERGY = _STATE + 8
_ROWS = _ENERGY + 1


def _banded_gammatone(sig: np.ndarray, hann: np.ndarray, b_stages: np.ndarray, a_denom: np.ndarray,
                      window_size: int, hop_size: int, num_bands: int, num_cols: int) -> np.ndarray:
    """Same arguments and result as visqol-python's ``_gammatone_spectrogram_numba``."""
    out = np.zeros((num_bands, num_cols), dtype=np.float64)
    coefficients = np.zeros(_STATE * LANES, dtype=np.float64)
    for c in range(num_bands):
        coefficients[_A1 * LANES + c] = a_denom[c, 1]
        coefficients[_A2 * LANES + c] = a_denom[c, 2]
        for stage in range(4):
            for j in range(3):
                coefficients[(_B + 3 * stage + j) * LANES + c] = b_stages[stage, c, j]
    for i in prange(num_cols):  # frames are independent (filter state starts at zero in each)
        buf = np.zeros(_ROWS * LANES, dtype=np.float64)
        buf[:_STATE * LANES] = coefficients
        start = i * hop_size
        for k in range(window_size):
            x = sig[start + k] * hann[k]
            for c in range(LANES):
                a1 = buf[_A1 * LANES + c]
                a2 = buf[_A2 * LANES + c]
                # stage 1 (input x), then stages 2-4 (input: the previous stage's output)
                y0 = buf[(_B + 0) * LANES + c] * x + buf[(_STATE + 0) * LANES + c]
                buf[(_STATE + 0) * LANES + c] = (buf[(_B + 1) * LANES + c] * x - a1 * y0
                                                 + buf[(_STATE + 1) * LANES + c])
                buf[(_STATE + 1) * LANES + c] = buf[(_B + 2) * LANES + c] * x - a2 * y0
                y1 = buf[(_B + 3) * LANES + c] * y0 + buf[(_STATE + 2) * LANES + c]
                buf[(_STATE + 2) * LANES + c] = (buf[(_B + 4) * LANES + c] * y0 - a1 * y1
                                                 + buf[(_STATE + 3) * LANES + c])
                buf[(_STATE + 3) * LANES + c] = buf[(_B + 5) * LANES + c] * y0 - a2 * y1
                y2 = buf[(_B + 6) * LANES + c] * y1 + buf[(_STATE + 4) * LANES + c]
                buf[(_STATE + 4) * LANES + c] = (buf[(_B + 7) * LANES + c] * y1 - a1 * y2
                                                 + buf[(_STATE + 5) * LANES + c])
                buf[(_STATE + 5) * LANES + c] = buf[(_B + 8) * LANES + c] * y1 - a2 * y2
                y3 = buf[(_B + 9) * LANES + c] * y2 + buf[(_STATE + 6) * LANES + c]
                buf[(_STATE + 6) * LANES + c] = (buf[(_B + 10) * LANES + c] * y2 - a1 * y3
                                                 + buf[(_STATE + 7) * LANES + c])
                buf[(_STATE + 7) * LANES + c] = buf[(_B + 11) * LANES + c] * y2 - a2 * y3
                buf[_ENERGY * LANES + c] += y3 * y3
        for c in range(num_bands):
            out[c, i] = np.sqrt(buf[_ENERGY * LANES + c] / window_size)
    return out


banded_gammatone_spectrogram = njit(cache=True, parallel=True)(_banded_gammatone)


def _library_kernel_module() -> Any:
    import visqol.gammatone as gammatone

    return gammatone


def compile_kernels() -> None:
    """Compile (or load from numba's cache) the kernel now, on a tiny input."""
    ones = np.ones((4, 2, 3))
    banded_gammatone_spectrogram(np.zeros(64), np.ones(64), ones, ones[0], 64, 16, 2, 1)


@contextmanager
def banded_kernel() -> Iterator[None]:
    """Within the block, visqol-python's spectrogram builder uses :data:`banded_gammatone_spectrogram`."""
    gammatone = _library_kernel_module()
    library = gammatone._gammatone_spectrogram_numba

    def kernel(sig: np.ndarray, hann: np.ndarray, b_stages: np.ndarray, a_denom: np.ndarray, window_size: int,
               hop_size: int, num_bands: int, num_cols: int) -> np.ndarray:
        chosen = banded_gammatone_spectrogram if num_bands <= LANES else library
        return chosen(sig, hann, b_stages, a_denom, window_size, hop_size, num_bands, num_cols)

    gammatone._gammatone_spectrogram_numba = kernel
    try:
        yield
    finally:
        gammatone._gammatone_spectrogram_numba = library
