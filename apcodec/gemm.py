"""Float32 CPU GEMMs of the prepared APCodec graph, through the faster of the two libraries torch links.

torch's float32 ``mm`` on CPU always calls MKL's sgemm, and MKL runs its AVX2 code on AMD CPUs
even where they have AVX-512. oneDNN (also inside torch, behind ``torch.ops.mkldnn``) picks its
code by the CPU's features instead. Measured on the benchmark machines (docs/benchmarks.md):
on a 2-core Zen 5 (AVX-512) oneDNN runs the ConvNeXt block's GEMMs at ~245 GFLOP/s against MKL's
~108; on Zen 3 (AVX2 only) oneDNN's linear was the slower one. So the library is chosen by timing
both once per process on a block-shaped product (:func:`backend`), and every product of the
prepared graph goes through :func:`linear`, :func:`linear_accumulate_` or :func:`linear_batched`.

Both are exact float32 GEMMs; they differ only in summation order (rounding). oneDNN sums each
output over the whole inner dimension in one chain, so its rounding error grows with it (relative
rms error of a K = 1536 product: 5.2e-7, MKL 2.6e-7); here it sums blocks of :data:`K_BLOCK` terms
and adds them (2.1e-7), which costs ~12 % of its speed. That matters for the decoder: near bins
where the predicted ``R + jI`` is ~0 the phase follows the rounding of R and I, and with one chain
the audio of 8 random 10 s inputs moved up to 9.9e-6 from the official output (MKL: 3.3e-6).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator, Optional

import torch

#: the libraries :func:`backend` chooses between
BACKENDS = ("mkl", "onednn")

#: rows of a product whose output is added to an accumulator per oneDNN call (output ~1-2 MB, in cache)
ACCUMULATE_ROWS = 1024

#: oneDNN is chosen only when it beats MKL by this factor (MKL is torch's own choice)
MARGIN = 1.1

#: terms per oneDNN summation chain (see the module docstring)
K_BLOCK = 128

_chosen: Optional[str] = None
_lock = threading.Lock()


def available() -> tuple[str, ...]:
    """The libraries this torch build offers (MKL's ``mm`` always; oneDNN when torch has it)."""
    onednn = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    return BACKENDS if onednn else BACKENDS[:1]


def _weight_blocks(weight: torch.Tensor) -> list[torch.Tensor]:
    """``weight`` [N, K] cut into contiguous column blocks of :data:`K_BLOCK` (oneDNN runs a strided
    weight ~100x slower; a strided input is fine)."""
    return [weight[:, k:k + K_BLOCK].contiguous() for k in range(0, weight.shape[1], K_BLOCK)]


def _onednn_linear(x: torch.Tensor, blocks: list[torch.Tensor], bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``x @ W.T (+ bias)`` for W given as :func:`_weight_blocks`: one oneDNN product per block, summed."""
    out: Optional[torch.Tensor] = None
    start = 0
    for block in blocks:
        stop = start + block.shape[1]
        y = torch.ops.mkldnn._linear_pointwise(x[:, start:stop], block, bias if out is None else None, "none", [], "")
        out = y if out is None else out.add_(y)
        start = stop
    assert out is not None
    return out


def measure(rows: int = 1024, inner: int = 512, outer: int = 1536, repeats: int = 3) -> dict[str, float]:
    """Seconds per ``[rows, inner] x [inner, outer]`` float32 product of each available library (best of ``repeats``).

    The default shape is one chunk of a ConvNeXt block's first GEMM (~1.6 GFLOP).
    """
    x = torch.randn(rows, inner)
    weight = torch.randn(outer, inner)
    candidates = {"mkl": lambda: torch.mm(x, weight.t())}
    if "onednn" in available():
        candidates["onednn"] = lambda: _onednn_linear(x, _weight_blocks(weight))
    best = {name: float("inf") for name in candidates}
    with torch.no_grad():
        for run in candidates.values():   # warm-up: oneDNN builds and caches its kernel on the first call
            run()
        for _ in range(repeats):          # interleaved, so a busy moment does not favour one library
            for name, run in candidates.items():
                start = time.perf_counter()
                run()
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def backend() -> str:
    """The library this process uses for float32 CPU GEMMs: measured on first use (~0.1 s), then fixed."""
    global _chosen
    if _chosen is None:
        with _lock:
            if _chosen is None:
                seconds = measure()
                _chosen = "onednn" if seconds.get("onednn", float("inf")) * MARGIN < seconds["mkl"] else "mkl"
    return _chosen


@contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Run the body with the given library (tests and A/B timings); the previous choice is restored."""
    global _chosen
    if name not in BACKENDS:
        raise ValueError(f"unknown GEMM backend {name!r}: expected one of {', '.join(BACKENDS)}")
    if name not in available():
        raise RuntimeError(f"this torch build has no {name} GEMM (torch.backends.mkldnn is not available)")
    previous, _chosen = _chosen, name
    try:
        yield
    finally:
        _chosen = previous


def _uses_onednn(*tensors: torch.Tensor) -> bool:
    first = tensors[0]
    if first.device.type != "cpu" or first.dtype != torch.float32:
        return False
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return False   # oneDNN's op has no autograd formula; training never takes this path anyway
    return backend() == "onednn"


def linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``x @ weight.T (+ bias)``: x [M, K], weight [N, K] (a Linear's layout), bias [N] -> [M, N]."""
    if _uses_onednn(x, weight):
        return _onednn_linear(x, _weight_blocks(weight), bias)
    if bias is None:
        return torch.mm(x, weight.t())
    return torch.addmm(bias, x, weight.t())


def linear_accumulate_(out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``out += x @ weight.T`` in place: out [M, N], x [M, K], weight [N, K]. Returns ``out``.

    MKL adds into ``out`` inside the GEMM; oneDNN's op returns a new tensor, so it runs in row
    blocks of :data:`ACCUMULATE_ROWS` whose products are added while still in cache.
    """
    if not _uses_onednn(out, x, weight):
        return out.addmm_(x, weight.t())
    blocks = _weight_blocks(weight)
    for start in range(0, x.shape[0], ACCUMULATE_ROWS):
        stop = start + ACCUMULATE_ROWS
        out[start:stop].add_(_onednn_linear(x[start:stop], blocks))
    return out


def linear_batched(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x[p] @ weight[p].T`` for each p: x [P, M, K], weight [P, N, K] -> [P, M, N]."""
    if not _uses_onednn(x, weight):
        return torch.bmm(x, weight.transpose(1, 2))
    out = x.new_empty(x.shape[0], x.shape[1], weight.shape[1])
    for p in range(x.shape[0]):
        out[p] = _onednn_linear(x[p], _weight_blocks(weight[p]))
    return out
