"""APCodec-S: knowledge distillation of a causal (streamable) student from a non-causal teacher.

The paper gives no recipe beyond "knowledge distillation"; ours (weights in :class:`DistillConfig`):

* The student is trained with the full APCodec objective against the ground truth (all of
  :mod:`apcodec.losses`), plus
* ``latent``: MSE between the student's and the frozen teacher's pre-VQ latents (frames
  trimmed to the shorter; the causal analysis lags the centred one by (win/2 - hop)/hop STFT
  frames, under half a latent frame). It keeps the student's encoder in the teacher's latent
  space, which is why the student starts from the teacher's weights where shapes agree
  (``init_from_teacher``; the quantizer and most blocks have identical shapes);
* ``mel``: L1 between the log-mels of the student's and the teacher's decoded waveforms (both
  are time-aligned with the input, so no frame-offset issue), teaching the student what a good
  decoder achieves from this latent space;
* ``amplitude``: MSE between the log amplitudes of both decoded waveforms, analysed with the
  student's STFT.

The teacher runs in eval mode under ``no_grad`` and is not checkpointed (it is reloaded from
its path, stored in the run config, on resume).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch
from torch import nn

from apcodec.config import ModelConfig
from apcodec.losses import LossConfig
from apcodec.task import APCodecTask, DiscriminatorConfig, GeneratorPass, generator_of, load_generator
from codecbench.configfile import Locator, bind
from codecbench.errors import ConfigError
from codecbench.training.losses import match_frames
from codecbench.training.task import StepContext


@dataclass(frozen=True)
class DistillConfig:
    """Distillation weights (our choice; the paper publishes none) and options.

    Attributes:
        latent: weight of the pre-VQ latent MSE.
        mel: weight of the student-vs-teacher decoded log-mel L1.
        amplitude: weight of the student-vs-teacher decoded log-amplitude MSE.
        init_from_teacher: copy every teacher tensor whose name and shape match into the student.
    """

    latent: float = 10.0
    mel: float = 15.0
    amplitude: float = 15.0
    init_from_teacher: bool = True

    def __post_init__(self) -> None:
        for name in ("latent", "mel", "amplitude"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.extra.distill.{name} must be >= 0, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]], source: Union[str, Locator] = "config") -> "DistillConfig":
        """Build from ``train.extra.distill``; unknown keys and bad types are located one-line errors."""
        return bind(cls, data, ("train", "extra", "distill"), source)


@dataclass
class DistillPass(GeneratorPass):
    """Student pass plus the teacher's output on the same crops."""

    teacher: Any = None


def copy_matching(student: nn.Module, teacher: nn.Module) -> int:
    """Copy teacher tensors into same-named, same-shaped student tensors; returns how many."""
    target = student.state_dict()
    copied = {k: v for k, v in teacher.state_dict().items() if k in target and target[k].shape == v.shape}
    target.update(copied)
    student.load_state_dict(target)
    return len(copied)


class DistillationTask(APCodecTask):
    """Train a causal APCodec-S student against a frozen non-causal teacher.

    Args:
        model_cfg: the student's config (``causal: true``).
        loss_cfg: the normal APCodec loss weights.
        teacher: path of the teacher checkpoint (see :func:`apcodec.task.load_generator`).
        teacher_cfg: teacher config (needed for official-format teacher files only).
        distill_cfg: distillation weights.
        disc_cfg: discriminator widths.
    """

    def __init__(self, model_cfg: ModelConfig, loss_cfg: Optional[LossConfig], teacher: Union[str, Path],
                 teacher_cfg: Optional[ModelConfig] = None, distill_cfg: Optional[DistillConfig] = None,
                 disc_cfg: Optional[DiscriminatorConfig] = None) -> None:
        if not model_cfg.causal:
            raise ValueError("distillation: the student config must set model.causal: true (APCodec-S)")
        super().__init__(model_cfg, loss_cfg, disc_cfg)
        self.distill_cfg = distill_cfg or DistillConfig()
        self.teacher_path = Path(teacher)
        self.teacher = load_generator(self.teacher_path, teacher_cfg)
        tcfg = self.teacher.cfg
        if tcfg.causal:
            raise ValueError(f"distillation: teacher {self.teacher_path} is causal; use a non-causal APCodec")
        for key in ("sample_rate", "hop_size", "ratio", "latent_dim"):
            if getattr(tcfg, key) != getattr(model_cfg, key):
                raise ValueError(f"distillation: teacher model.{key}={getattr(tcfg, key)} differs from the "
                                 f"student's {getattr(model_cfg, key)}")
        for param in self.teacher.parameters():
            param.requires_grad_(False)
        self.teacher.eval()

    def build_generator(self) -> nn.Module:
        student = super().build_generator()
        if self.distill_cfg.init_from_teacher:
            copy_matching(student, self.teacher)
        return student

    def setup(self, modules: Mapping[str, nn.Module], device: torch.device) -> None:
        super().setup(modules, device)
        self.teacher.to(device)

    def forward(self, run: StepContext, batch: torch.Tensor) -> DistillPass:
        student = super().forward(run, batch)
        with torch.no_grad():
            teacher = self.teacher(batch)
        return DistillPass(audio=student.audio, output=student.output, decoded=student.decoded, teacher=teacher)

    def generator_terms(self, run: StepContext, state: GeneratorPass) -> dict[str, torch.Tensor]:
        terms = super().generator_terms(run, state)
        assert isinstance(state, DistillPass)
        cfg = self.distill_cfg
        student_latent, teacher_latent = match_frames(state.output.latent_pre_vq.float(),
                                                      state.teacher.latent_pre_vq.float())
        terms["distill_latent"] = cfg.latent * torch.mean((student_latent - teacher_latent) ** 2)
        student_audio, teacher_audio = match_frames(state.decoded.float(), state.teacher.decoded.audio.float())
        assert self.mel is not None  # built by prepare()
        terms["distill_mel"] = cfg.mel * torch.mean(torch.abs(self.mel(student_audio) - self.mel(teacher_audio)))
        with torch.autocast(device_type=student_audio.device.type, enabled=False):
            analyze = generator_of(run.raw).analyze
            s_logamp, t_logamp = match_frames(analyze(student_audio.squeeze(1)).logamp,
                                              analyze(teacher_audio.squeeze(1)).logamp)
        terms["distill_amplitude"] = cfg.amplitude * torch.mean((s_logamp - t_logamp) ** 2)
        return terms

    def describe(self) -> dict:
        return {**super().describe(), "teacher": str(self.teacher_path), "distill": asdict(self.distill_cfg)}
