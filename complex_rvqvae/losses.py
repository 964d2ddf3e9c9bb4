"""Training objective of the complex RVQ-VAE: reconstruction + VQ terms, no adversarial terms.

``total = complex * MSE(S_hat, S) + magnitude * MSE(|S_hat|, |S|) + phase * (IP + GD + IAF)
          + mel * mean_r L1(logmel_r(y_hat), logmel_r(y)) + commitment * VQ commitment``

``S`` are magnitude-compressed complex spectra (the model's own input/output domain), ``y`` the
waveforms. The phase losses come from :mod:`codecbench.training.losses` and the log-mel
spectrogram from :mod:`codecbench.training.mel` (both shared with APCodec's recipe and the
trainer's validation distance). With ``phase_weighted`` each bin's phase error counts in
proportion to the target's compressed magnitude: the phase of near-silent bins is noise, and the
gradient of ``angle(z)`` grows like ``1 / |z|`` there.
"""

from __future__ import annotations

import torch
from torch import nn

from codecbench.training.losses import phase_losses
from codecbench.training.mel import LogMelSpectrogram
from complex_rvqvae.config import LossConfig
from complex_rvqvae.model import CodecOutput


class MultiResolutionMelLoss(nn.Module):
    """Mean over resolutions of the L1 distance between log-mel spectrograms of two waveforms."""

    def __init__(self, sample_rate: int, resolutions: tuple[tuple[int, int, int], ...]) -> None:
        super().__init__()
        self.mels = nn.ModuleList(LogMelSpectrogram(sample_rate, n_fft, hop, n_fft, n_mels)
                                  for n_fft, hop, n_mels in resolutions)

    def forward(self, audio_hat: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` pair -> scalar."""
        return sum((mel(audio_hat) - mel(audio)).abs().mean() for mel in self.mels) / len(self.mels)


class ComplexRVQVAELoss(nn.Module):
    """Computes the weighted objective and its named terms from a :class:`CodecOutput`."""

    def __init__(self, cfg: LossConfig, sample_rate: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.mel = MultiResolutionMelLoss(sample_rate, cfg.mel_resolutions)

    def forward(self, out: CodecOutput) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Returns ``(total, terms)``; terms are unweighted scalars (for logging)."""
        cfg = self.cfg
        with torch.autocast(device_type=out.spec.device.type, enabled=False):
            spec, target = out.spec.to(torch.cfloat), out.target_spec.to(torch.cfloat)
            mag_hat = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)
            mag = torch.sqrt(target.real.pow(2) + target.imag.pow(2) + 1e-9)
            diff = spec - target
            terms = {"complex": (diff.real.pow(2) + diff.imag.pow(2)).mean(),
                     "magnitude": (mag_hat - mag).pow(2).mean()}
            phase_hat, phase = torch.atan2(spec.imag, spec.real), torch.atan2(target.imag, target.real)
            ip, gd, iaf = phase_losses(phase, phase_hat, mag.detach() if cfg.phase_weighted else None)
            terms.update(ip=ip, gd=gd, iaf=iaf)
            terms["mel"] = self.mel(out.audio.float(), out.target_audio.float())
            terms["commitment"] = out.vq.commitment.float()
            total = (cfg.complex * terms["complex"] + cfg.magnitude * terms["magnitude"]
                     + cfg.phase * (ip + gd + iaf) + cfg.mel * terms["mel"] + cfg.commitment * terms["commitment"])
        return total, terms
