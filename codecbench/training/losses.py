"""Losses more than one codec trains with: anti-wrapping phase losses, STFT consistency and the
GAN terms, as functions of plain tensors and lists so any model and discriminator can use them.

Reductions follow the official APCodec code, whose values the APCodec recipe must reproduce:
hinge and feature-matching terms are summed over sub-discriminators (and over layers for feature
matching) of per-tensor means; the group-delay and instantaneous-angular-frequency differences
include the boundary bin/frame differenced against zero, as the official difference matrices do.
How a codec weights and combines these terms is its own recipe (``apcodec.losses``,
``complex_rvqvae.losses``).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

TWO_PI = 2.0 * math.pi


# ----------------------------------------------------------------------------- spectral terms
def anti_wrapping(x: torch.Tensor) -> torch.Tensor:
    """``|x - 2*pi*round(x / 2*pi)|``: distance to the nearest multiple of 2*pi, in [0, pi]."""
    return torch.abs(x - TWO_PI * torch.round(x / TWO_PI))


def diff_from_zero(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Finite difference along ``dim`` with the first element differenced against zero."""
    return torch.diff(x, dim=dim, prepend=torch.zeros_like(x.narrow(dim, 0, 1)))


def phase_losses(phase_ref: torch.Tensor, phase_gen: torch.Tensor, weight: Optional[torch.Tensor] = None,
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Instantaneous-phase, group-delay and instantaneous-angular-frequency losses.

    Args:
        phase_ref, phase_gen: wrapped phase ``[B, F, N]`` (radians).
        weight: optional non-negative ``[B, F, N]`` bin weights (e.g. the target magnitude, so the
            phase of near-silent bins, which is noise, counts little); ``None`` is a plain mean.

    Returns:
        ``(IP, GD, IAF)``: (weighted) means of the anti-wrapped differences of the phase, of its
        difference along frequency, and of its difference along time.
    """
    ip = anti_wrapping(phase_ref - phase_gen)
    gd = anti_wrapping(diff_from_zero(phase_ref, 1) - diff_from_zero(phase_gen, 1))
    iaf = anti_wrapping(diff_from_zero(phase_ref, 2) - diff_from_zero(phase_gen, 2))
    if weight is None:
        return ip.mean(), gd.mean(), iaf.mean()
    norm = weight.sum().clamp(min=1e-8)
    return (weight * ip).sum() / norm, (weight * gd).sum() / norm, (weight * iaf).sum() / norm


def consistency_loss(rea_pred: torch.Tensor, imag_pred: torch.Tensor,
                     rea_resynth: torch.Tensor, imag_resynth: torch.Tensor) -> torch.Tensor:
    """STFT consistency: mean squared distance between the predicted spectrum ``[B, F, N]`` and
    the STFT of the waveform decoded from it (a spectrum that no signal has is penalised)."""
    return ((rea_pred - rea_resynth).pow(2) + (imag_pred - imag_resynth).pow(2)).mean()


def match_frames(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """Trim ``[..., N]`` tensors to their shortest last dimension (codec padding can differ)."""
    n = min(t.shape[-1] for t in tensors)
    return [t[..., :n] for t in tensors]


# ----------------------------------------------------------------------------- GAN terms
def hinge_discriminator_loss(real_logits: Sequence[torch.Tensor], fake_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """Hinge loss summed over sub-discriminators: ``mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))``."""
    total = real_logits[0].new_zeros(())
    for real, fake in zip(real_logits, fake_logits):
        total = total + F.relu(1.0 - real.float()).mean() + F.relu(1.0 + fake.float()).mean()
    return total


def hinge_generator_loss(fake_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """Generator hinge loss summed over sub-discriminators: ``mean(relu(1 - D(G(z))))``."""
    total = fake_logits[0].new_zeros(())
    for fake in fake_logits:
        total = total + F.relu(1.0 - fake.float()).mean()
    return total


def feature_matching_loss(real_fmaps: Sequence[Sequence[torch.Tensor]],
                          fake_fmaps: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
    """L1 feature matching: sum over sub-discriminators and layers of ``mean(|f_real - f_fake|)``.

    Real feature maps are detached: the generator must move towards them, never the reverse.
    """
    total = fake_fmaps[0][0].new_zeros(())
    for real_layers, fake_layers in zip(real_fmaps, fake_fmaps):
        for real, fake in zip(real_layers, fake_layers):
            total = total + (real.detach().float() - fake.float()).abs().mean()
    return total
