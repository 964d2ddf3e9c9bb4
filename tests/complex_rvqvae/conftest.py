"""Fixtures of the complex RVQ-VAE tests: one torch thread (small tensors gain nothing from
intra-op threads and oversubscribed CI cores lose a lot), a fixed seed, a tiny trained-ish model."""

from __future__ import annotations

from pathlib import Path

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
    """A tiny random model with random (shrinking per stage) codebooks, saved in tmp_path."""
    from complex_rvqvae.checkpoint import save_checkpoint
    from complex_rvqvae.model import ComplexRVQVAE

    model = ComplexRVQVAE.from_config(tiny_cfg[0])
    with torch.no_grad():
        for stage, book in enumerate(model.quantizer.codebooks):
            book.embed.copy_(torch.randn_like(book.embed) * 0.5 / (stage + 1))
            book.initialized.fill_(True)
    return save_checkpoint(model.eval(), tmp_path / "tiny.pt", step=1)
