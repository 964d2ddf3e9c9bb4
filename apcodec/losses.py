"""APCodec training losses (Ai et al. 2024, section III-D) with typed, overridable weights.

Generator objective (paper defaults in :class:`LossConfig`)::

    45*L_A + 100*(IP + GD + IAF) + 20*(L_C + 2.25*(L_R + L_I))
      + 45*mel_L1 + 45*mel_L2 + (GAN_mpd + 0.1*GAN_mrd) + (FM_mpd + 0.1*FM_mrd)
      + 10*L_codebook + 2.5*L_commitment

Discriminator objective: hinge(MPD) + 0.1*hinge(MRD). The terms themselves (phase,
consistency, hinge, feature matching) are codec-neutral and live in
:mod:`codecbench.training.losses`; this module holds APCodec's weights and how it combines them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Mapping, Optional, Sequence, Union

import torch

from codecbench.errors import ConfigError
from codecbench.configfile import Locator, bind
from codecbench.training.losses import hinge_discriminator_loss


@dataclass(frozen=True)
class LossConfig:
    """Loss weights and mel settings; every field can be overridden from the YAML ``loss:`` section.

    Attributes:
        amplitude: weight of the log-amplitude MSE ``L_A``.
        phase: weight of ``IP + GD + IAF`` (anti-wrapping phase losses).
        stft: weight of ``L_S = L_C + real_imag * (L_R + L_I)``.
        real_imag: weight of the real/imaginary L1 terms inside ``L_S``.
        mel_l1, mel_l2: weights of the log-mel L1 and L2 (MSE) terms.
        gan, feature_matching: weights of the adversarial and feature-matching terms.
        mrd_weight: MRD's factor relative to MPD in the GAN, feature-matching and discriminator losses.
        codebook, commitment: weights of the VQ losses (0 disables them, e.g. APCodec+ stage 2).
        adversarial: False trains without discriminators at all (no MPD/MRD built, no D step).
        n_mels, mel_fmin, mel_fmax, mel_clamp: mel loss settings (fmax None = Nyquist).
    """

    amplitude: float = 45.0
    phase: float = 100.0
    stft: float = 20.0
    real_imag: float = 2.25
    mel_l1: float = 45.0
    mel_l2: float = 45.0
    gan: float = 1.0
    feature_matching: float = 1.0
    mrd_weight: float = 0.1
    codebook: float = 10.0
    commitment: float = 2.5
    adversarial: bool = True
    n_mels: int = 80
    mel_fmin: float = 0.0
    mel_fmax: Optional[float] = None
    mel_clamp: float = 1e-5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "adversarial" and value is not None and value < 0:
                raise ConfigError(f"loss.{f.name} must be >= 0, got {value!r}")

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, object]], source: Union[str, Locator] = "config") -> "LossConfig":
        """Build from the YAML ``loss:`` mapping; unknown keys are an error naming the key."""
        return bind(cls, data, "loss", source)

    def to_dict(self) -> dict:
        """Plain dict (for checkpoints and logs)."""
        return asdict(self)


# ----------------------------------------------------------------------------- combination
def weighted_total(terms: Mapping[str, torch.Tensor], cfg: LossConfig) -> torch.Tensor:
    """Combine named generator terms with the paper's weights; absent terms count as zero.

    Recognised names: amplitude, ip, gd, iaf, consistency, real, imag, mel_l1, mel_l2,
    gan_mpd, gan_mrd, fm_mpd, fm_mrd, codebook, commitment. Any other name is added with
    weight 1 (callers pre-weight extra terms, e.g. distillation).
    """
    zero = next(iter(terms.values())).new_zeros(())

    def t(name: str) -> torch.Tensor:
        return terms.get(name, zero)

    total = (cfg.amplitude * t("amplitude")
             + cfg.phase * (t("ip") + t("gd") + t("iaf"))
             + cfg.stft * (t("consistency") + cfg.real_imag * (t("real") + t("imag")))
             + cfg.mel_l1 * t("mel_l1") + cfg.mel_l2 * t("mel_l2")
             + cfg.gan * (t("gan_mpd") + cfg.mrd_weight * t("gan_mrd"))
             + cfg.feature_matching * (t("fm_mpd") + cfg.mrd_weight * t("fm_mrd"))
             + cfg.codebook * t("codebook") + cfg.commitment * t("commitment"))
    for name, value in terms.items():
        if name not in KNOWN_TERMS:
            total = total + value
    return total


KNOWN_TERMS = frozenset({"amplitude", "ip", "gd", "iaf", "consistency", "real", "imag", "mel_l1", "mel_l2",
                         "gan_mpd", "gan_mrd", "fm_mpd", "fm_mrd", "codebook", "commitment"})


def discriminator_total(mpd_real: Sequence[torch.Tensor], mpd_fake: Sequence[torch.Tensor],
                        mrd_real: Sequence[torch.Tensor], mrd_fake: Sequence[torch.Tensor],
                        cfg: LossConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Discriminator objective ``hinge(MPD) + mrd_weight * hinge(MRD)`` and its parts."""
    d_mpd = hinge_discriminator_loss(mpd_real, mpd_fake)
    d_mrd = hinge_discriminator_loss(mrd_real, mrd_fake)
    return d_mpd + cfg.mrd_weight * d_mrd, {"d_mpd": d_mpd, "d_mrd": d_mrd}
