"""The complex-valued RVQ-VAE: complex STFT -> complex encoder -> RVQ -> complex decoder -> iSTFT.

Shapes for a batch of ``B`` signals of ``T`` samples (padded to a multiple of
``samples_per_frame = hop * prod(time_strides)``), with ``F = n_fft / 2`` bins and ``N = T / hop``
STFT frames::

    audio [B, T] -> spectrum (compressed, complex) [B, 1, F, N]
    encoder: stem -> 4 x (dilated residual blocks, downsample F/2, N/s_i) -> axial attention
             [B, C4, F/16, N'] -> flatten (C4 * F/16) -> complex conv -> latent [B, D, N']
    RVQ (EMA codebooks over the 2D-real view of the latent) -> quantised latent [B, D, N']
    decoder: mirror image -> spectrum [B, 1, F, N] -> decompress -> iSTFT -> [B, T]

Encoder and decoder take and return complex tensors; inside they run on the stacked
channels-last layout ``[B, F, T, 2C]`` (see :mod:`complex_rvqvae.layers`). ``forward_complex``
runs the same network one complex module at a time (the reference the tests compare against).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from complex_rvqvae.blocks import AxialAttentionBlock, Downsample, Upsample, residual_stack, run_cl
from complex_rvqvae.config import ModelConfig
from complex_rvqvae.layers import ComplexConv1d, ComplexConv2d, ComplexNorm, from_cl, make_activation, to_cl
from complex_rvqvae.quantizer import QuantizerOutput, ResidualVQ
from complex_rvqvae.stft import ComplexSTFT


class ComplexEncoder(nn.Module):
    """Compressed complex spectrum ``[B, 1, F, N]`` -> complex latent ``[B, D, N']``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        ch, n_freq = cfg.channels, cfg.n_fft // 2 // 16
        self.stem = ComplexConv2d(1, ch[0], 5, padding=2)
        self.stages = nn.ModuleList(
            nn.Sequential(residual_stack(ch[i], cfg.dilations, cfg.activation),
                          Downsample(ch[i], ch[i + 1], cfg.time_strides[i], cfg.activation))
            for i in range(4))
        self.attention = nn.Sequential(*(AxialAttentionBlock(ch[4], n_freq, cfg.attention_heads,
                                                             cfg.attention_window, cfg.activation)
                                         for _ in range(cfg.attention_blocks)))
        self.norm = ComplexNorm(ch[4])
        self.proj = ComplexConv1d(ch[4] * n_freq, cfg.latent_dim, 3, padding=1)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """Complex ``[B, 1, F, N]`` -> complex ``[B, D, N']`` (stacked channels-last inside)."""
        x = self.stem.forward_cl(to_cl(spec))
        for stage in self.stages:
            x = run_cl(stage, x)
        x = self.norm.forward_cl(run_cl(self.attention, x))
        b, f, t, c2 = x.shape
        # complex channel index c * F + f, real parts then imaginary parts (as forward_complex)
        x = x.view(b, f, t, 2, c2 // 2).permute(0, 2, 3, 4, 1).reshape(b, t, c2 * f)
        return from_cl(self.proj.forward_cl(x))

    def forward_complex(self, spec: torch.Tensor) -> torch.Tensor:
        """Reference path: the same network, one complex module call at a time."""
        x = self.stem(spec)
        for stage in self.stages:
            x = stage(x)
        x = self.norm(self.attention(x))
        b, c, f, t = x.shape
        return self.proj(x.reshape(b, c * f, t))


class ComplexDecoder(nn.Module):
    """Complex latent ``[B, D, N']`` -> compressed complex spectrum ``[B, 1, F, N]``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        ch, self.n_freq = cfg.channels, cfg.n_fft // 2 // 16
        self.proj = ComplexConv1d(cfg.latent_dim, ch[4] * self.n_freq, 3, padding=1)
        self.attention = nn.Sequential(*(AxialAttentionBlock(ch[4], self.n_freq, cfg.attention_heads,
                                                             cfg.attention_window, cfg.activation)
                                         for _ in range(cfg.attention_blocks)))
        self.stages = nn.ModuleList(
            nn.Sequential(Upsample(ch[i + 1], ch[i], cfg.time_strides[i], cfg.activation),
                          residual_stack(ch[i], cfg.dilations, cfg.activation))
            for i in reversed(range(4)))
        self.norm = ComplexNorm(ch[0])
        self.act = make_activation(cfg.activation, ch[0])
        self.head = ComplexConv2d(ch[0], 1, 5, padding=2)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Complex ``[B, D, N']`` -> complex ``[B, 1, F, N]`` (stacked channels-last inside)."""
        b, _, t = latent.shape
        x = self.proj.forward_cl(to_cl(latent))  # [B, N', 2 * C * F]: (re | im) x channel x bin
        x = x.view(b, t, 2, -1, self.n_freq).permute(0, 4, 1, 2, 3).reshape(b, self.n_freq, t, -1).contiguous()
        x = run_cl(self.attention, x)
        for stage in self.stages:
            x = run_cl(stage, x)
        return from_cl(self.head.forward_cl(self.act.forward_cl(self.norm.forward_cl(x), inplace=True)))

    def forward_complex(self, latent: torch.Tensor) -> torch.Tensor:
        """Reference path: the same network, one complex module call at a time."""
        b, _, t = latent.shape
        x = self.proj(latent).view(b, -1, self.n_freq, t)
        x = self.attention(x)
        for stage in self.stages:
            x = stage(x)
        return self.head(self.act(self.norm(x)))


@dataclass
class CodecOutput:
    """One training/validation pass.

    Attributes:
        audio: decoded audio ``[B, T]`` (padded length).
        spec: compressed complex spectrum predicted by the decoder ``[B, F, N]``.
        target_spec: compressed complex spectrum of the (padded) input ``[B, F, N]``.
        target_audio: the padded input ``[B, T]``.
        vq: the quantiser result (codes, commitment, perplexity, usage).
    """

    audio: torch.Tensor
    spec: torch.Tensor
    target_spec: torch.Tensor
    target_audio: torch.Tensor
    vq: QuantizerOutput


class ComplexRVQVAE(nn.Module):
    """Complex-valued RVQ-VAE codec built from its parts (see the module docstring for shapes)."""

    def __init__(self, cfg: ModelConfig, stft: ComplexSTFT, encoder: ComplexEncoder,
                 quantizer: ResidualVQ, decoder: ComplexDecoder) -> None:
        super().__init__()
        self.cfg, self.stft, self.encoder, self.quantizer, self.decoder = cfg, stft, encoder, quantizer, decoder

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> "ComplexRVQVAE":
        """Build every part from a :class:`ModelConfig`."""
        quantizer = ResidualVQ(cfg.latent_dim, cfg.n_stages, cfg.codebook_size, cfg.ema_decay,
                               cfg.dead_threshold, cfg.quantizer_dropout, cfg.dropout_stages)
        return cls(cfg, ComplexSTFT(cfg.n_fft, cfg.hop, cfg.compress), ComplexEncoder(cfg), quantizer,
                   ComplexDecoder(cfg))

    def pad(self, audio: torch.Tensor) -> torch.Tensor:
        """Zero-pad ``[B, T]`` on the right to a whole number of latent frames."""
        hop = self.cfg.samples_per_frame
        return F.pad(audio, (0, (-audio.shape[-1]) % hop))

    def analyze(self, audio: torch.Tensor) -> torch.Tensor:
        """Padded audio ``[B, T]`` -> compressed complex spectrum ``[B, F, N]``."""
        return self.stft.compress_spec(self.stft.analyze(audio))

    def synthesize(self, spec: torch.Tensor) -> torch.Tensor:
        """Compressed complex spectrum ``[B, F, N]`` -> audio ``[B, N * hop]``."""
        return self.stft.synthesize(self.stft.decompress_spec(spec))

    def _quantize(self, latent: torch.Tensor, n_stages: Optional[int]) -> QuantizerOutput:
        # Distances and EMA statistics in float32 whatever the autocast state.
        with torch.autocast(device_type=latent.device.type, enabled=False):
            return self.quantizer(latent.to(torch.cfloat), n_stages)

    def forward(self, audio: torch.Tensor, n_stages: Optional[int] = None) -> CodecOutput:
        """Round trip for training: ``[B, T]`` or ``[B, 1, T]`` audio -> :class:`CodecOutput`.

        ``n_stages`` fixes the RVQ stage count; ``None`` lets quantiser dropout choose (training)
        or uses all stages (eval).
        """
        if audio.dim() == 3:
            audio = audio.squeeze(1)
        audio = self.pad(audio.float())
        target = self.analyze(audio)
        vq = self._quantize(self.encoder(target.unsqueeze(1)), n_stages)
        spec = self.decoder(vq.quantized).squeeze(1)
        return CodecOutput(audio=self.synthesize(spec), spec=spec, target_spec=target, target_audio=audio, vq=vq)

    @torch.no_grad()
    def encode(self, audio: torch.Tensor, n_stages: int) -> torch.Tensor:
        """``[B, T]`` audio -> codes ``[B, n_stages, ceil(T / samples_per_frame)]`` (int64)."""
        audio = self.pad(audio.float())
        latent = self.encoder(self.analyze(audio).unsqueeze(1))
        return self._quantize(latent, n_stages).codes

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, n, N']`` -> audio ``[B, N' * samples_per_frame]``."""
        latent = self.quantizer.decode(codes.long())
        return self.synthesize(self.decoder(latent).squeeze(1))

    def describe(self) -> dict:
        """Parameter counts (``params``: a complex entry counts once; ``real_params``: twice) and rates."""
        def count(module: nn.Module) -> dict:
            params = list(module.parameters())
            return {"params": sum(p.numel() for p in params),
                    "real_params": sum(p.numel() * (2 if p.is_complex() else 1) for p in params)}

        return {"encoder": count(self.encoder), "decoder": count(self.decoder), "total": count(self),
                "codebook_floats": sum(b.numel() for n, b in self.quantizer.named_buffers() if n.endswith("embed")),
                "frame_rate_hz": self.cfg.frame_rate, "kbps_per_stage": self.cfg.kbps_per_stage,
                "samples_per_frame": self.cfg.samples_per_frame}
