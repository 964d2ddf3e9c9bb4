"""UTMOS through utmos-pytorch: the real loading path on random weights in a temporary HF cache (offline)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from codecbench.alignment import align_pair
from codecbench.scoring import build_metrics, score_pair
from hub_layout import hub_snapshot

pytest.importorskip("utmos_pytorch", reason="utmos-pytorch is not installed (pip install 'codecbench[modern]')")

REVISION = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture
def hf_cache(hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The offline cache of tests/metrics/conftest.py, with loaded models forgotten."""
    from codecbench.metrics import utmos

    monkeypatch.setattr(utmos, "_MODELS", {})
    return hf_cache


def cache_random_utmos(cache: Path) -> Path:
    """A randomly initialised UTMOS22 state dict (float16 to halve the file) in the Hub layout."""
    import torch
    from utmos_pytorch.utmos_torch import UTMOSModel

    snapshot = hub_snapshot(cache, "Blinorot/UTMOS-PyTorch", REVISION)
    torch.manual_seed(0)
    torch.save({k: v.half() for k, v in UTMOSModel().state_dict().items()}, snapshot / "utmos_state_dict.pt")
    return snapshot / "utmos_state_dict.pt"


def speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * (140 + 60 * seed) * t) * (1 + np.sin(2 * np.pi * 4 * t))
            + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def test_utmos_loads_from_the_hf_cache_and_matches_the_package(hf_cache: Path) -> None:
    import torch
    from utmos_pytorch import UTMOSScoreTorch

    checkpoint = cache_random_utmos(hf_cache)
    ref, deg = speechlike(1.2, 0), speechlike(1.2, 1)
    result = score_pair(ref[None], 16000, deg[None], 16000, ["utmos"]).results["utmos"]
    assert result.ok, result.reason
    prepared, _ = align_pair(ref[None], 16000, deg[None], 16000, [16000])
    direct = UTMOSScoreTorch(ckpt_path=str(checkpoint), device="cpu")
    with torch.no_grad():
        expected = float(direct.score(torch.from_numpy(prepared[16000][1]))[0])
    assert result.value == pytest.approx(expected, abs=1e-6)
    again = score_pair(ref[None], 16000, deg[None], 16000, ["utmos"]).values()["utmos"]
    assert again == result.value  # deterministic
    other = score_pair(ref[None], 16000, ref[None], 16000, ["utmos"]).values()["utmos"]
    assert other != result.value  # it scores the degraded signal, not a constant
    assert build_metrics(["utmos"])[0].identity()["implementation"].endswith(f"utmos22_strong@{REVISION}")


def test_utmos_without_weights_or_with_a_wrong_file_is_nan_with_one_line(hf_cache: Path, tmp_path: Path) -> None:
    import torch

    ref, deg = speechlike(1.0, 0), speechlike(1.0, 1)
    absent = score_pair(ref[None], 16000, deg[None], 16000, ["utmos"]).results["utmos"]
    assert math.isnan(absent.value)
    assert absent.reason == (f"utmos22_strong weights not found in {hf_cache}; run `codecbench weights fetch "
                             "utmos22_strong` online or set `weights:` to a local copy")
    assert build_metrics(["utmos"])[0].identity()["implementation"].endswith("utmos22_strong@absent")
    wrong = tmp_path / "wrong.pt"
    torch.save({"feature_extractors.1.embedding.weight": torch.zeros(3, 128)}, wrong)
    bad = score_pair(ref[None], 16000, deg[None], 16000, [("utmos", {"weights": str(wrong)})]).results
    reason = next(iter(bad.values())).reason
    assert reason is not None and reason.startswith(f"{wrong}: not a UTMOS22 state dict")
