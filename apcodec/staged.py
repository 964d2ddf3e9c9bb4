"""APCodec+ staged training (Ai et al., arXiv 2410.22807).

Stage 1 ("joint") is plain APCodec training (:class:`apcodec.task.APCodecTask`).
Stage 2 ("individual"): the encoder and quantizer of a stage-1 model are frozen
(``requires_grad=False``, eval mode, never in an optimizer) and supply quantized latents; the
decoder and both discriminators are re-initialised and trained from scratch without the
quantization losses (codebook and commitment weights forced to 0).

Further rounds (``--rounds R``, the demo's ``Model_x_y`` with y = R - 1): our reading of "y
iterations" is that the individual stage is repeated on the same frozen encoder. Each round gets
fresh optimizers and a fresh learning-rate schedule; with ``round_mode="continue"`` (default)
the decoder and discriminators start from the previous round's weights (a warm restart), with
``round_mode="reinit"`` they are re-initialised again from a round-specific seed. Rounds are
written to ``<out>/round_<k>/``; round k >= 2 initialises from round k-1's final state.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional, Union

import torch
from torch import nn

from apcodec.config import ModelConfig
from apcodec.losses import LossConfig
from apcodec.task import APCodecTask, DiscriminatorConfig, generator_of, load_generator

if TYPE_CHECKING:
    from apcodec.model import APCodec

ROUND_MODES = ("continue", "reinit")


def freeze(module: nn.Module) -> nn.Module:
    """Stop gradients to every parameter of ``module`` and put it in eval mode."""
    for param in module.parameters():
        param.requires_grad_(False)
    return module.eval()


class IndividualTrainingTask(APCodecTask):
    """APCodec+ stage 2: frozen encoder + quantizer, decoder and discriminators trained alone.

    Args:
        model_cfg: model sizes (must match the stage-1 checkpoint).
        loss_cfg: loss weights; codebook/commitment weights are forced to 0.
        init_from: stage-1 checkpoint (any form :func:`apcodec.task.load_generator` accepts).
        continue_from: a previous stage-2 round's checkpoint whose decoder and discriminators
            are kept (``round_mode="continue"``); None re-initialises them.
    """

    def __init__(self, model_cfg: ModelConfig, loss_cfg: Optional[LossConfig], init_from: Union[str, Path],
                 continue_from: Optional[Union[str, Path]] = None,
                 disc_cfg: Optional[DiscriminatorConfig] = None) -> None:
        loss_cfg = dataclasses.replace(loss_cfg or LossConfig(), codebook=0.0, commitment=0.0)
        super().__init__(model_cfg, loss_cfg, disc_cfg)
        self.init_from = Path(init_from)
        self.continue_from = Path(continue_from) if continue_from is not None else None

    def build_modules(self) -> dict[str, nn.Module]:
        modules = super().build_modules()  # decoder + discriminators freshly initialised (seeded)
        generator = generator_of(modules)
        stage1 = load_generator(self.init_from, self.model_cfg)
        generator.encoder.load_state_dict(stage1.encoder.state_dict())
        if self.continue_from is not None:
            from codecbench.training import state as state_io

            previous = state_io.load_state(self.continue_from)["modules"]
            generator.decoder.load_state_dict(
                {k[len("decoder."):]: v for k, v in previous["generator"].items() if k.startswith("decoder.")})
            for name in ("mpd", "mrd"):
                if name in modules and name in previous:
                    modules[name].load_state_dict(previous[name])
        freeze(generator.encoder)  # the quantizer lives inside the encoder (official layout)
        return modules

    def train_mode(self, modules: Mapping[str, nn.Module]) -> None:
        super().train_mode(modules)
        generator_of(modules).encoder.eval()

    def describe(self) -> dict:
        return {**super().describe(), "stage": 2, "init_from": str(self.init_from),
                "continue_from": str(self.continue_from) if self.continue_from else None}


def run_stage2(model_cfg: ModelConfig, loss_cfg: LossConfig, train_cfg, out_dir: Union[str, Path],
               init_from: Union[str, Path], rounds: int = 1, round_mode: str = "continue",
               resume: bool = False, max_steps: Optional[int] = None, config_raw: Optional[dict] = None,
               disc_cfg: Optional[DiscriminatorConfig] = None, **trainer_kwargs) -> list:
    """Run ``rounds`` individual-training rounds; returns one TrainSummary per round.

    Every round trains ``max_steps`` iterations (default ``train_cfg.max_steps``) into
    ``<out_dir>/round_<k>`` (just ``<out_dir>`` when ``rounds == 1``). With ``resume``, finished
    rounds are skipped and an interrupted round continues from its newest checkpoint.
    """
    from codecbench.training import state as state_io
    from codecbench.training.trainer import Trainer

    if round_mode not in ROUND_MODES:
        raise ValueError(f"round_mode must be one of {list(ROUND_MODES)}, got {round_mode!r}")
    if rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {rounds}")
    out_dir = Path(out_dir)
    summaries = []
    previous: Optional[Path] = None
    steps = max_steps or train_cfg.max_steps
    for k in range(1, rounds + 1):
        round_dir = out_dir if rounds == 1 else out_dir / f"round_{k}"
        cfg_k = train_cfg if (k == 1 or round_mode == "continue") else dataclasses.replace(train_cfg, seed=train_cfg.seed + k - 1)
        continue_from = previous if round_mode == "continue" else None
        task = IndividualTrainingTask(model_cfg, loss_cfg, init_from, continue_from=continue_from, disc_cfg=disc_cfg)
        trainer = Trainer(task, cfg_k, round_dir, config_raw=config_raw, **trainer_kwargs)
        if resume:
            trainer.resume()
        summaries.append(trainer.fit(max_steps=steps) if trainer.step < steps else None)
        previous = state_io.latest_state(round_dir / "checkpoints")
    return summaries


def encoder_fingerprint(model: "APCodec") -> dict[str, torch.Tensor]:
    """Copy of the encoder+quantizer state dict (to prove it is unchanged after stage 2)."""
    return {k: v.detach().clone() for k, v in model.encoder.state_dict().items()}
