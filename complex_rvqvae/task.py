"""The complex RVQ-VAE as a :class:`~codecbench.training.task.TrainTask` of the shared trainer.

The generic :class:`~codecbench.training.trainer.Trainer` (data, DDP/torchrun, bf16 autocast,
checkpoints and exact resume, logging, validation with codecbench metrics) runs this task; only
the model and the losses differ from APCodec. There is one module (``codec``) and one optimizer
phase (``g``): no discriminator, no adversarial step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

import torch
from torch import nn

from codecbench.training.task import StepContext, TrainTask
from complex_rvqvae.checkpoint import save_checkpoint
from complex_rvqvae.config import LossConfig, ModelConfig, to_dict
from complex_rvqvae.losses import ComplexRVQVAELoss
from complex_rvqvae.model import CodecOutput, ComplexRVQVAE

EXPORT_NAME = "complex_rvqvae.pt"


class ComplexRVQVAETask(TrainTask):
    """Train the complex RVQ-VAE with reconstruction + commitment losses.

    Args:
        model_cfg: architecture.
        loss_cfg: loss weights.
        valid_kbps: bitrate validation decodes at (default: the highest of ``model_cfg.bitrates``).
    """

    def __init__(self, model_cfg: ModelConfig, loss_cfg: Optional[LossConfig] = None,
                 valid_kbps: Optional[float] = None) -> None:
        self.model_cfg = model_cfg
        self.loss_cfg = loss_cfg or LossConfig()
        self.sample_rate = model_cfg.sample_rate
        self.valid_stages = model_cfg.stages_for(valid_kbps if valid_kbps is not None else max(model_cfg.bitrates))
        self.loss_fn: Optional[ComplexRVQVAELoss] = None

    def build_modules(self) -> dict[str, nn.Module]:
        return {"codec": ComplexRVQVAE.from_config(self.model_cfg)}

    def optimizer_groups(self) -> dict[str, list[str]]:
        return {"g": ["codec"]}

    def setup(self, modules: Mapping[str, nn.Module], device: torch.device) -> None:
        self.loss_fn = ComplexRVQVAELoss(self.loss_cfg, self.sample_rate).to(device)

    def forward(self, run: StepContext, batch: torch.Tensor) -> CodecOutput:
        return run.modules["codec"](batch)

    def phase_loss(self, phase: str, run: StepContext, batch: torch.Tensor,
                   state: CodecOutput) -> tuple[torch.Tensor, dict[str, float]]:
        if phase != "g":
            raise KeyError(f"ComplexRVQVAETask has no phase '{phase}'")
        assert self.loss_fn is not None, "setup() was not called"
        total, terms = self.loss_fn(state)
        logs = {k: float(v.detach()) for k, v in terms.items()}
        logs["total"] = float(total.detach())
        vq = state.vq
        logs["perplexity_first"] = float(vq.perplexity[0])
        logs["perplexity_mean"] = float(vq.perplexity.mean())
        logs["codebook_usage"] = float(vq.usage.mean())
        logs["codes_revived"] = float(vq.replaced)
        return total, logs

    @torch.no_grad()
    def reconstruct(self, raw: Mapping[str, nn.Module], audio: torch.Tensor) -> torch.Tensor:
        """``[1, 1, T]`` -> ``[1, 1, T]`` at the validation bitrate."""
        model: ComplexRVQVAE = raw["codec"]  # type: ignore[assignment]
        out = model(audio.reshape(1, -1), n_stages=self.valid_stages)
        return out.audio[:, : audio.shape[-1]].reshape(1, 1, -1)

    def export(self, raw: Mapping[str, nn.Module], out_dir: Path, step: int) -> Optional[list[Path]]:
        """Write ``<out_dir>/complex_rvqvae.pt`` (the adapter's ``checkpoint`` format)."""
        return [save_checkpoint(raw["codec"], Path(out_dir) / EXPORT_NAME, step)]  # type: ignore[arg-type]

    def state_dict(self) -> dict:
        """The model settings, so trainer states are self-describing (see :func:`load_model`)."""
        return {"model_config": to_dict(self.model_cfg)}

    def describe(self) -> dict[str, Any]:
        with torch.device("meta"):
            model = ComplexRVQVAE.from_config(self.model_cfg)
        return model.describe()
