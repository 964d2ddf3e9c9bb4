"""Codec-neutral training machinery that every trainable model package uses as a peer.

A codec plugs in by implementing :class:`~codecbench.training.task.TrainTask` (the per-iteration
contract is in that module's docstring); :class:`~codecbench.training.trainer.Trainer` owns
everything else. ``apcodec.task`` and ``complex_rvqvae.task`` are the two implementations; their
recipes (APCodec+ staging, APCodec-S distillation, the GAN-free complex objective) stay in their
packages.

The public names below load lazily, so ``import codecbench.training`` costs no torch import; the
modules of this package import each other directly, never the package, so there is no cycle.

Modules:

- :mod:`~codecbench.training.config`: ``TrainConfig``, the YAML ``train:`` section.
- :mod:`~codecbench.training.task`: ``TrainTask`` and ``StepContext``.
- :mod:`~codecbench.training.trainer`: ``Trainer`` and ``TrainSummary``.
- :mod:`~codecbench.training.data`: audio sources, crops, the resumable batch sampler.
- :mod:`~codecbench.training.state`: state files, RNG capture, atomic writes.
- :mod:`~codecbench.training.distributed`, :mod:`~codecbench.training.logger`,
  :mod:`~codecbench.training.validation`: torchrun setup, scalar logs, periodic validation.
- :mod:`~codecbench.training.mel`, :mod:`~codecbench.training.losses`: the log-mel spectrogram
  and the losses more than one codec trains with (phase, consistency, GAN terms).
- :mod:`~codecbench.training.cli`: flags and the run helper every ``<model>.train`` shares.

Loggers are named after these modules, so ``logging.getLogger("codecbench.training")`` holds them all.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "TrainConfig": "codecbench.training.config",
    "StepContext": "codecbench.training.task",
    "TrainTask": "codecbench.training.task",
    "Trainer": "codecbench.training.trainer",
    "TrainSummary": "codecbench.training.trainer",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'codecbench.training' has no attribute {name!r}")
