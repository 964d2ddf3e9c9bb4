"""Complex-valued RVQ-VAE codec (EuleroDec-style): complex STFT in and out, complex layers throughout.

Public names load lazily so ``import complex_rvqvae`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ComplexRVQVAE", "LossConfig", "ModelConfig", "load_config", "load_model", "save_checkpoint"]

_TARGETS = {
    "ComplexRVQVAE": "complex_rvqvae.model",
    "LossConfig": "complex_rvqvae.config",
    "ModelConfig": "complex_rvqvae.config",
    "load_config": "complex_rvqvae.config",
    "load_model": "complex_rvqvae.checkpoint",
    "save_checkpoint": "complex_rvqvae.checkpoint",
}


def __getattr__(name: str) -> Any:
    if name in _TARGETS:
        import importlib

        return getattr(importlib.import_module(_TARGETS[name]), name)
    raise AttributeError(f"module 'complex_rvqvae' has no attribute {name!r}")
