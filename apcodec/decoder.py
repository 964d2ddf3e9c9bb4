"""APCodec decoder: latent -> upsampled amplitude and phase branches -> spectrum -> iSTFT.

Phase is estimated "in parallel": two convolutions give pseudo real and imaginary parts R, I and
the phase is ``atan2(I, R)``. Attribute names equal the official ``Decoder``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from apcodec.config import ModelConfig
from apcodec.encoder import _blocks, run_branch
from apcodec.modules import CausalConvTranspose1d, conv1d, init_convnext_, run_pair, weight_norm
from apcodec.stft import causal_istft_audio, istft_audio


@dataclass
class DecoderOutput:
    """Decoded spectra [B, F, N] and waveform [B, 1, T]."""

    logamp: torch.Tensor
    pha: torch.Tensor
    rea: torch.Tensor
    imag: torch.Tensor
    audio: torch.Tensor


def _upsampler(cfg: ModelConfig, channels_in: int, channels_out: int) -> nn.Module:
    if cfg.causal:
        return CausalConvTranspose1d(channels_in, channels_out, cfg.upsample_kernel, cfg.ratio)
    return nn.ConvTranspose1d(channels_in, channels_out, cfg.upsample_kernel, cfg.ratio,
                              padding=(cfg.upsample_kernel - cfg.ratio) // 2)


class APCodecDecoder(nn.Module):
    """Quantized latent [B, D, N'] -> :class:`DecoderOutput` with N = N' * ratio frames."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        #: the folded inference graph of a centred model (set by :func:`apcodec.inference.prepare_for_inference`)
        self.prepared: Optional[nn.Module] = None
        c, b, causal = cfg.channels, cfg.branch_channels, cfg.causal
        self.latent_input_conv = weight_norm(conv1d(causal, cfg.latent_dim, b, cfg.latent_input_kernel))
        self.AMP_Decoder_upsample_input_conv = weight_norm(_upsampler(cfg, b, b))
        self.PHA_Decoder_upsample_input_conv = weight_norm(_upsampler(cfg, b, b))
        self.embed_logamp = conv1d(causal, b, c, cfg.embed_kernel)
        self.embed_pha = conv1d(causal, b, c, cfg.embed_kernel)
        self.norm_logamp = nn.LayerNorm(c, eps=cfg.layer_norm_eps)
        self.norm_pha = nn.LayerNorm(c, eps=cfg.layer_norm_eps)
        self.convnext_logamp = _blocks(cfg)
        self.convnext_pha = _blocks(cfg)
        self.final_layer_norm_logamp = nn.LayerNorm(c, eps=cfg.layer_norm_eps)
        self.final_layer_norm_pha = nn.LayerNorm(c, eps=cfg.layer_norm_eps)
        init_convnext_(self)  # official: applied before the layers below are created
        self.out_logamp = nn.Linear(c, b)
        self.out_pha = nn.Linear(c, b)
        self.AMP_Decoder_output_conv = weight_norm(conv1d(causal, b, cfg.n_bins, cfg.output_kernel))
        self.PHA_Decoder_output_R_conv = weight_norm(conv1d(causal, b, cfg.n_bins, cfg.output_kernel))
        self.PHA_Decoder_output_I_conv = weight_norm(conv1d(causal, b, cfg.n_bins, cfg.output_kernel))

    #: run the two branches concurrently (set by :func:`apcodec.inference.prepare_for_inference`).
    parallel_branches: bool = False

    def spectra(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Latent [B, D, N'] -> (logamp, pha, rea, imag), each [B, F, N]."""
        h = self.latent_input_conv(latent)

        def amp_branch() -> torch.Tensor:
            amp = run_branch(self.embed_logamp, self.norm_logamp, self.convnext_logamp,
                             self.final_layer_norm_logamp, self.out_logamp, self.AMP_Decoder_upsample_input_conv(h))
            return self.AMP_Decoder_output_conv(amp.transpose(1, 2))

        def pha_branch() -> torch.Tensor:
            ph = run_branch(self.embed_pha, self.norm_pha, self.convnext_pha, self.final_layer_norm_pha,
                            self.out_pha, self.PHA_Decoder_upsample_input_conv(h)).transpose(1, 2)
            return torch.atan2(self.PHA_Decoder_output_I_conv(ph), self.PHA_Decoder_output_R_conv(ph))

        logamp, pha = run_pair(amp_branch, pha_branch, self.parallel_branches and h.device.type == "cpu")
        mag = torch.exp(logamp)
        return logamp, pha, mag * torch.cos(pha), mag * torch.sin(pha)

    def synthesize(self, rea: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        """Real/imaginary parts [B, F, N] -> audio [B, T] (centred or causal iSTFT)."""
        synth = causal_istft_audio if self.cfg.causal else istft_audio
        return synth(rea, imag, self.cfg)

    def forward(self, latent: torch.Tensor) -> DecoderOutput:
        """Latent [B, D, N'] -> spectra [B, F, N] and audio [B, 1, T]."""
        logamp, pha, rea, imag = self.spectra(latent)
        return DecoderOutput(logamp, pha, rea, imag, self.synthesize(rea, imag).unsqueeze(1))
