"""Training-state files: RNG capture/restore and atomic writes."""

from __future__ import annotations

import random

import numpy as np
import torch

from codecbench.training.state import atomic_save, capture_rng, restore_rng


def test_rng_capture_restore_roundtrip(tmp_path):
    state = capture_rng()
    expected = (random.random(), np.random.rand(), torch.rand(3))
    path = atomic_save({"rng": state}, tmp_path / "rng.pt")
    random.random(), np.random.rand(), torch.rand(3)
    restore_rng(torch.load(path, weights_only=True)["rng"])
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert expected[0] == again[0] and expected[1] == again[1] and torch.equal(expected[2], again[2])
    assert not (tmp_path / "rng.pt.tmp").exists()
