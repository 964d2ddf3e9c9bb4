"""APCodec as a :class:`~codecbench.training.task.TrainTask`: modules, losses and export.

One iteration is the official one: the generator runs once, the discriminators (MPD + MRD) take
a hinge step on the detached output, then the generator takes a step on the full objective of
:mod:`apcodec.losses` (terms from :mod:`codecbench.training.losses`). With ``loss.adversarial: false`` no discriminator is built and only the
generator step runs (used for quick overfit checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Union, cast

import torch
from torch import nn

from apcodec.config import ModelConfig
from apcodec.losses import LossConfig, discriminator_total, weighted_total
from codecbench.configfile import Locator, bind
from codecbench.errors import ConfigError
from codecbench.training.losses import (consistency_loss, feature_matching_loss, hinge_generator_loss,
                                        match_frames, phase_losses)
from codecbench.training.mel import LogMelSpectrogram
from codecbench.training.task import StepContext, TrainTask

if TYPE_CHECKING:
    from apcodec.model import APCodec



def generator_of(modules: Mapping[str, nn.Module]) -> "APCodec":
    """The ``generator`` entry of a task's modules, typed (the engine keeps them as plain modules)."""
    return cast("APCodec", modules["generator"])

@dataclass
class GeneratorPass:
    """The shared forward pass: target audio and the codec output.

    Attributes:
        audio: target crops as the model analysed them [B, 1, T].
        output: the model's ``CodecOutput``.
        decoded: decoded audio [B, 1, T'].
    """

    audio: torch.Tensor
    output: Any
    decoded: torch.Tensor


def split_output(output: Any) -> tuple[tuple[torch.Tensor, ...], Any, Any, torch.Tensor]:
    """``CodecOutput`` -> (input spectra (logamp, pha, rea, imag), quantizer output, decoder output, pre-VQ latent)."""
    spectra = (output.logamp, output.pha, output.rea, output.imag)
    return spectra, output.quantized, output.decoded, output.latent_pre_vq


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Discriminator widths (``train.extra.discriminator``); defaults are the paper's.

    Attributes:
        mpd_channels: per-layer channels of every MPD period discriminator.
        mrd_channels: channels of every MRD resolution discriminator.
    """

    mpd_channels: tuple[int, ...] = (32, 128, 512, 1024, 1024)
    mrd_channels: int = 64

    def __post_init__(self) -> None:
        if not self.mpd_channels or min(self.mpd_channels) < 1:
            raise ConfigError(f"train.extra.discriminator.mpd_channels must be positive widths (one per layer), "
                              f"got {list(self.mpd_channels)}")
        if self.mrd_channels < 1:
            raise ConfigError(f"train.extra.discriminator.mrd_channels must be >= 1, got {self.mrd_channels}")

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]], source: Union[str, Locator] = "config") -> "DiscriminatorConfig":
        """Build from ``train.extra.discriminator``; unknown keys and bad types are located one-line errors."""
        return bind(cls, data, ("train", "extra", "discriminator"), source)

    def build(self) -> dict[str, nn.Module]:
        """Fresh ``{"mpd": ..., "mrd": ...}``."""
        from apcodec.discriminators import (MultiPeriodDiscriminator, MultiResolutionDiscriminator,
                                            PeriodDiscriminator)

        mpd = MultiPeriodDiscriminator()
        if self.mpd_channels != DiscriminatorConfig.mpd_channels:
            # MultiPeriodDiscriminator takes no width; rebuild its period discriminators narrower.
            mpd.discriminators = nn.ModuleList(
                [PeriodDiscriminator(cast(PeriodDiscriminator, d).period, channels=self.mpd_channels)
                 for d in mpd.discriminators])
        return {"mpd": mpd, "mrd": MultiResolutionDiscriminator(channels=self.mrd_channels)}


class APCodecTask(TrainTask):
    """Train APCodec (joint training, the paper's recipe).

    Args:
        model_cfg: model sizes.
        loss_cfg: loss weights.
    """

    def __init__(self, model_cfg: ModelConfig, loss_cfg: Optional[LossConfig] = None,
                 disc_cfg: Optional[DiscriminatorConfig] = None) -> None:
        self.model_cfg = model_cfg
        self.loss_cfg = loss_cfg or LossConfig()
        self.disc_cfg = disc_cfg or DiscriminatorConfig()
        self.sample_rate = model_cfg.sample_rate
        self.mel: Optional[LogMelSpectrogram] = None

    # -------------------------------------------------------------- structure
    def build_generator(self) -> nn.Module:
        """A freshly initialised APCodec."""
        from apcodec.model import APCodec

        return APCodec.from_config(self.model_cfg)

    def build_discriminators(self) -> dict[str, nn.Module]:
        """Fresh MPD and MRD (empty without adversarial training)."""
        if not self.loss_cfg.adversarial:
            return {}
        return self.disc_cfg.build()

    def build_modules(self) -> dict[str, nn.Module]:
        return {"generator": self.build_generator(), **self.build_discriminators()}

    def optimizer_groups(self) -> dict[str, list[str]]:
        groups = {"d": ["mpd", "mrd"]} if self.loss_cfg.adversarial else {}
        groups["g"] = ["generator"]
        return groups

    def setup(self, modules: Mapping[str, nn.Module], device: torch.device) -> None:
        cfg, loss = self.model_cfg, self.loss_cfg
        self.mel = LogMelSpectrogram(cfg.sample_rate, cfg.n_fft, cfg.hop_size, cfg.win_size, n_mels=loss.n_mels,
                                     fmin=loss.mel_fmin, fmax=loss.mel_fmax, clamp=loss.mel_clamp).to(device)

    # -------------------------------------------------------------- steps
    def forward(self, run: StepContext, batch: torch.Tensor) -> GeneratorPass:
        output = run.modules["generator"](batch)
        # output.audio is the input as analysed (causal models pad it to whole latent frames).
        return GeneratorPass(audio=output.audio, output=output, decoded=output.decoded.audio)

    def phase_loss(self, phase: str, run: StepContext, batch: torch.Tensor,
                   state: GeneratorPass) -> tuple[torch.Tensor, dict[str, float]]:
        if phase == "d":
            return self.discriminator_loss(run, state)
        if phase == "g":
            terms = self.generator_terms(run, state)
            total = weighted_total(terms, self.loss_cfg)
            logs = {k: float(v.detach()) for k, v in terms.items()}
            logs["g_total"] = float(total.detach())
            return total, logs
        raise KeyError(f"APCodecTask has no phase '{phase}'")

    def discriminator_loss(self, run: StepContext, state: GeneratorPass) -> tuple[torch.Tensor, dict[str, float]]:
        """Hinge loss of MPD + mrd_weight * MRD on real crops vs detached decoded audio."""
        real, fake = match_frames(state.audio, state.decoded.detach())
        mpd_real, mpd_fake, _, _ = run.modules["mpd"](real, fake)
        mrd_real, mrd_fake, _, _ = run.modules["mrd"](real, fake)
        total, parts = discriminator_total(mpd_real, mpd_fake, mrd_real, mrd_fake, self.loss_cfg)
        logs = {k: float(v.detach()) for k, v in parts.items()}
        logs["d_total"] = float(total.detach())
        return total, logs

    def generator_terms(self, run: StepContext, state: GeneratorPass) -> dict[str, torch.Tensor]:
        """Unweighted generator terms (names as :func:`apcodec.losses.weighted_total` expects)."""
        cfg = self.loss_cfg
        (logamp, pha, rea, imag), quant, dec, _ = split_output(state.output)
        terms: dict[str, torch.Tensor] = {}
        f32 = [t.float() for t in (logamp, pha, rea, imag, dec.logamp, dec.pha, dec.rea, dec.imag)]
        logamp, pha, rea, imag, g_logamp, g_pha, g_rea, g_imag = match_frames(*f32)
        terms["amplitude"] = torch.mean((logamp - g_logamp) ** 2)
        terms["ip"], terms["gd"], terms["iaf"] = phase_losses(pha, g_pha)
        with torch.autocast(device_type=state.decoded.device.type, enabled=False):
            resynth = generator_of(run.raw).analyze(state.decoded.float().squeeze(1))
        r_rea, r_imag, c_rea, c_imag = match_frames(resynth[2], resynth[3], g_rea, g_imag)
        terms["consistency"] = consistency_loss(c_rea, c_imag, r_rea, r_imag)
        terms["real"] = torch.mean(torch.abs(rea - g_rea))
        terms["imag"] = torch.mean(torch.abs(imag - g_imag))
        real, fake = match_frames(state.audio, state.decoded)
        assert self.mel is not None  # built by prepare()
        mel_real, mel_fake = self.mel(real), self.mel(fake)
        terms["mel_l1"] = torch.mean(torch.abs(mel_real - mel_fake))
        terms["mel_l2"] = torch.mean((mel_real - mel_fake) ** 2)
        if cfg.adversarial:
            # Discriminators run un-wrapped here: their gradients from this step are discarded.
            _, mpd_fake, mpd_fr, mpd_ff = run.local["mpd"](real, fake)
            _, mrd_fake, mrd_fr, mrd_ff = run.local["mrd"](real, fake)
            terms["gan_mpd"], terms["gan_mrd"] = hinge_generator_loss(mpd_fake), hinge_generator_loss(mrd_fake)
            terms["fm_mpd"] = feature_matching_loss(mpd_fr, mpd_ff)
            terms["fm_mrd"] = feature_matching_loss(mrd_fr, mrd_ff)
        if cfg.codebook > 0 or cfg.commitment > 0:
            terms["codebook"] = quant.codebook_loss.float()
            terms["commitment"] = quant.commitment_loss.float()
        return terms

    # -------------------------------------------------------------- validation / export
    def valid_length(self, length: int) -> int:
        """Longest length <= ``length`` the codec round-trips without padding (official validation trim)."""
        cfg = self.model_cfg
        block = cfg.hop_size * cfg.ratio
        if cfg.causal:
            return max(block, length // block * block)
        frames = (length // cfg.hop_size + 1) // cfg.ratio * cfg.ratio
        return max(block - cfg.hop_size, (frames - 1) * cfg.hop_size)

    @torch.no_grad()
    def reconstruct(self, raw: Mapping[str, nn.Module], audio: torch.Tensor) -> torch.Tensor:
        audio = audio[..., : self.valid_length(audio.shape[-1])]
        _, _, dec, _ = split_output(raw["generator"](audio))
        return dec.audio

    def export(self, raw: Mapping[str, nn.Module], out_dir: Path, step: int) -> Optional[list[Path]]:
        """Write the generator as official-format ``encoder_XXXXXXXX`` / ``decoder_XXXXXXXX`` files
        plus the single-file ``apcodec_XXXXXXXX.pt`` (config + weights) the codec adapter loads."""
        from apcodec.checkpoint import save_checkpoint, save_official_checkpoint

        generator = generator_of(raw)
        paths = list(save_official_checkpoint(generator, out_dir, step))
        paths.append(save_checkpoint(generator, Path(out_dir) / f"apcodec_{step:08d}.pt", extra={"step": step}))
        return paths

    def describe(self) -> dict:
        return {"model": self.model_cfg.to_dict(), "loss": self.loss_cfg.to_dict(),
                "discriminator": {"mpd_channels": list(self.disc_cfg.mpd_channels),
                                  "mrd_channels": self.disc_cfg.mrd_channels}}


def load_generator(path: "str | Path", cfg: Optional[ModelConfig] = None) -> "APCodec":
    """Load an APCodec generator from any checkpoint this project writes or reads.

    Accepts: a training state (``state_XXXXXXXX.pt`` / ``best.pt``) or a run folder (its newest
    state), our single-file export (``apcodec_XXXXXXXX.pt``), or an official ``encoder_XXXXXXXX``
    file (its ``decoder_`` sibling is loaded when present; ``cfg`` is then required).

    Args:
        path: checkpoint file or run folder.
        cfg: model config; checked against (or required by) the checkpoint.
    """
    from apcodec.checkpoint import load_checkpoint, load_official_checkpoint
    from codecbench.training import state as state_io

    path = Path(path)
    if path.is_dir():
        found = state_io.latest_state(path / "checkpoints") or state_io.latest_state(path)
        if found is None:
            raise FileNotFoundError(f"{path}: no state_XXXXXXXX.pt in it or in its checkpoints/ folder")
        path = found
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if path.name.startswith("encoder_"):
        if cfg is None:
            raise ValueError(f"{path}: official checkpoints carry no config; pass the model config")
        decoder = path.with_name("decoder_" + path.name[len("encoder_"):])
        return load_official_checkpoint(cfg, path, decoder if decoder.is_file() else None)
    return load_checkpoint(path, cfg)
