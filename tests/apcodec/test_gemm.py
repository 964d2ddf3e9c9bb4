"""apcodec.gemm: both GEMM libraries give the float32 product, and the faster one is chosen."""

from __future__ import annotations

import math

import pytest
import torch

from apcodec import gemm


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and float((a.double() - b).abs().max()) <= 1e-5 * max(1.0, float(b.abs().max()))


def test_products_match_float64(gemm_backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    x, weight, bias = torch.randn(37, 24), torch.randn(10, 24), torch.randn(10)
    x64, w64 = x.double(), weight.double()
    assert _close(gemm.linear(x, weight), x64 @ w64.t())
    assert _close(gemm.linear(x, weight, bias), x64 @ w64.t() + bias.double())
    strided = torch.randn(24, 37).t()   # a transposed view, as the callers' window views can be
    assert _close(gemm.linear(strided, weight), strided.double() @ w64.t())

    monkeypatch.setattr(gemm, "K_BLOCK", 10)          # oneDNN's summation blocks: 10, 10 and 4 terms
    assert _close(gemm.linear(x, weight, bias), x64 @ w64.t() + bias.double())
    monkeypatch.setattr(gemm, "ACCUMULATE_ROWS", 8)   # oneDNN's row blocks: 4 full ones and a remainder of 5
    out = torch.randn(37, 10)
    expected = out.double() + x64 @ w64.t()
    assert gemm.linear_accumulate_(out, x, weight) is out
    assert _close(out, expected)

    xs, ws = torch.randn(3, 11, 24), torch.randn(3, 10, 24)
    assert _close(gemm.linear_batched(xs, ws), torch.bmm(xs.double(), ws.double().transpose(1, 2)))


def test_long_sums_keep_mkls_accuracy(gemm_backend: str) -> None:
    """Relative rms error of a K = 3072 product: MKL 2.6e-7, oneDNN in blocks 2.2e-7, in one chain 5.7e-7."""
    torch.manual_seed(2)
    x, weight = torch.randn(256, 3072), torch.randn(256, 3072)
    exact = x.double() @ weight.double().t()
    error = (gemm.linear(x, weight).double() - exact).pow(2).mean().sqrt() / exact.pow(2).mean().sqrt()
    assert float(error) < 4e-7


def test_float64_and_gradients_keep_torch_mm() -> None:
    """Only inference in float32 on CPU may go to oneDNN (its op has no autograd formula)."""
    torch.manual_seed(1)
    x, weight = torch.randn(5, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    with gemm.use_backend(gemm.available()[-1]):
        assert torch.equal(gemm.linear(x, weight), torch.mm(x, weight.t()))
        leaf = torch.randn(5, 4, requires_grad=True)
        w32 = weight.float()
        gemm.linear(leaf, w32).sum().backward()
        assert leaf.grad is not None
        assert torch.allclose(leaf.grad, w32.sum(0).expand(5, 4))


@pytest.mark.parametrize(("seconds", "chosen"), [
    ({"mkl": 1.0, "onednn": 0.5}, "onednn"),
    ({"mkl": 1.0, "onednn": 0.95}, "mkl"),      # within the margin: torch's own choice stays
    ({"mkl": 0.5, "onednn": 1.0}, "mkl"),
    ({"mkl": 1.0}, "mkl"),                      # no oneDNN in this build
])
def test_backend_is_the_measured_faster_library(seconds: dict[str, float], chosen: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(gemm, "_chosen", None)
    monkeypatch.setattr(gemm, "measure", lambda: calls.append(1) or seconds)
    assert gemm.backend() == chosen
    assert gemm.backend() == chosen
    assert len(calls) == 1   # measured once per process


def test_measure_times_every_available_library() -> None:
    seconds = gemm.measure(rows=16, inner=8, outer=8, repeats=1)
    assert set(seconds) == set(gemm.available())
    assert all(0.0 < s < 10.0 and math.isfinite(s) for s in seconds.values())


def test_use_backend_restores_the_choice_and_rejects_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gemm, "_chosen", "mkl")
    with gemm.use_backend(gemm.available()[-1]):
        assert gemm.backend() == gemm.available()[-1]
    assert gemm.backend() == "mkl"
    with pytest.raises(ValueError, match="unknown GEMM backend 'blas'"):
        with gemm.use_backend("blas"):
            pass
