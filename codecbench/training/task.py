"""The model-specific half of training: what a codec must provide to the generic Trainer.

A task owns the model: it builds the named modules, says which optimizer trains which modules
and in which order the optimizer steps run, and computes each step's loss. The
:class:`~codecbench.training.trainer.Trainer` owns everything else: data, devices, DDP, autocast,
``torch.compile``, optimizers/schedulers, checkpoints, resume, logging and validation.

Per iteration the trainer does::

    with autocast: state = task.forward(run, batch)        # shared forward pass (e.g. generator)
    for phase in task.phases():                            # e.g. ["d", "g"]
        optimizer[phase].zero_grad()
        with autocast: loss, logs = task.phase_loss(phase, run, batch, state)
        loss.backward(); (clip); optimizer[phase].step()

``run`` is a :class:`StepContext`: ``run.modules[name]`` are the modules to CALL (possibly
DDP/compile-wrapped), ``run.raw[name]`` the plain modules (for attributes and helper methods).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import torch
from torch import nn


@dataclass
class StepContext:
    """What a task sees during a step.

    Attributes:
        modules: callables for forward passes (DDP/compiled wrappers when enabled).
        raw: the underlying ``nn.Module`` objects, by the same names.
        local: compiled (when enabled) but not DDP-wrapped modules (default: ``raw``): call these
            for forward passes whose gradients must NOT be all-reduced (e.g. discriminators inside
            the generator step, whose gradients are discarded anyway).
        step: iterations completed before this one.
        epoch: current epoch.
        device: the device batches live on.
    """

    modules: Mapping[str, nn.Module]
    raw: Mapping[str, nn.Module]
    step: int
    epoch: int
    device: torch.device
    local: Mapping[str, nn.Module] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.local:
            self.local = self.raw


class TrainTask(ABC):
    """Interface a codec implements to be trained by the generic Trainer.

    Required: :attr:`sample_rate`, :meth:`build_modules`, :meth:`optimizer_groups`,
    :meth:`forward`, :meth:`phase_loss`, :meth:`reconstruct`. The rest have working defaults.
    """

    #: Audio rate the data pipeline resamples to.
    sample_rate: int

    @abstractmethod
    def build_modules(self) -> dict[str, nn.Module]:
        """Create the named modules, freshly initialised (called after seeding).

        Returns e.g. ``{"generator": APCodec, "mpd": ..., "mrd": ...}``. All are moved to the
        device, saved in checkpoints and (when trainable) wrapped in DDP by the trainer.
        """

    @abstractmethod
    def optimizer_groups(self) -> dict[str, list[str]]:
        """Optimizer name -> names of the modules it trains, e.g. ``{"d": ["mpd", "mrd"], "g": ["generator"]}``.

        Parameters with ``requires_grad=False`` are left out. Each optimizer is AdamW with the
        TrainConfig settings and its own ExponentialLR (override :meth:`make_optimizer` to change).
        """

    def phases(self) -> list[str]:
        """Order of the optimizer steps in one iteration (default: ``optimizer_groups`` order)."""
        return list(self.optimizer_groups())

    def setup(self, modules: Mapping[str, nn.Module], device: torch.device) -> None:
        """Hook after modules are on the device (load initial weights, build loss modules...)."""

    def make_optimizer(self, name: str, params: list[nn.Parameter], cfg: Any) -> torch.optim.Optimizer:
        """AdamW from :class:`~codecbench.training.config.TrainConfig` (paper settings by default)."""
        return torch.optim.AdamW(params, lr=cfg.learning_rate, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)

    def train_mode(self, modules: Mapping[str, nn.Module]) -> None:
        """Put modules in training mode; override to keep frozen parts in eval mode."""
        for module in modules.values():
            module.train()

    @abstractmethod
    def forward(self, run: StepContext, batch: torch.Tensor) -> Any:
        """Shared forward pass for one batch ``[B, 1, T]``; the result goes to every phase."""

    @abstractmethod
    def phase_loss(self, phase: str, run: StepContext, batch: torch.Tensor,
                   state: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss for one optimizer phase and the scalars to log (plain floats)."""

    @abstractmethod
    def reconstruct(self, raw: Mapping[str, nn.Module], audio: torch.Tensor) -> torch.Tensor:
        """Codec round trip for validation: ``[1, 1, T]`` -> ``[1, 1, T']`` (called under no_grad, eval)."""

    def state_dict(self) -> dict:
        """Extra task state to checkpoint (plain types / tensors)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""

    def export(self, raw: Mapping[str, nn.Module], out_dir: Path, step: int) -> Optional[list[Path]]:
        """Write deployable weights (e.g. the official checkpoint format); default: nothing."""
        return None

    def describe(self) -> dict:
        """JSON-able facts for logs / --print-model (parameter counts...)."""
        return {}
