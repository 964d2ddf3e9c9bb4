"""Fixtures of the complex RVQ-VAE tests: one torch thread (small tensors gain nothing from
intra-op threads and oversubscribed CI cores lose a lot), a fixed seed, a tiny trained-ish model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread_seeded():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_cfg():
    from complex_rvqvae.config import load_config

    return load_config("tiny")


@pytest.fixture
def tiny_checkpoint(tmp_path: Path, tiny_cfg) -> Path:
    """A tiny model whose codebooks were initialised by one training pass, saved in tmp_path."""
    from complex_rvqvae.checkpoint import save_checkpoint
    from complex_rvqvae.model import ComplexRVQVAE

    model = ComplexRVQVAE.from_config(tiny_cfg[0]).train()
    t = np.arange(8000) / tiny_cfg[0].sample_rate
    audio = torch.from_numpy((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))[None] + 0.01 * torch.randn(1, 8000)
    with torch.no_grad():
        model(audio)
    return save_checkpoint(model.eval(), tmp_path / "tiny.pt", step=1)
