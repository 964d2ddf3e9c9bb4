"""Frame-aligned complex STFT / inverse STFT and the phase-preserving magnitude compression.

Framing: the signal (a multiple of ``hop`` samples long) is padded by ``(n_fft - hop) / 2`` on each
side (reflection), so frame ``k`` is centred on samples ``[k*hop, (k+1)*hop)`` and a signal of
``N * hop`` samples gives exactly ``N`` frames: the latent frame rate is then exactly
``sample_rate / (hop * time_downsampling)``. The Nyquist bin is dropped (``n_fft / 2`` bins), so the
frequency axis halves cleanly four times; the inverse puts a zero there. The inverse is a windowed
overlap-add divided by the summed squared window (least-squares iSTFT), written with ``fold`` so it
has no edge-of-signal window-envelope check (``torch.istft`` with ``center=False`` has one).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ComplexSTFT(nn.Module):
    """Analysis/synthesis pair ``[B, T] <-> [B, n_fft/2, N]`` complex.

    Args:
        n_fft: FFT size (even; ``n_fft >= 2 * hop`` keeps the overlap-add well conditioned).
        hop: hop size in samples.
        compress: magnitude exponent ``c`` of ``z -> z * |z|^(c-1)`` (1 disables it). The map keeps
            the phase and is applied to the complex spectrum as a whole, so the network still sees
            one coupled complex value per bin; it evens out the dynamic range of speech spectra.
        scale: spectra are multiplied by ``scale`` before compression (keeps values near unit size).
    """

    window: torch.Tensor  # [n_fft] periodic Hann buffer

    def __init__(self, n_fft: int, hop: int, compress: float = 0.3, scale: float = 1.0) -> None:
        super().__init__()
        if n_fft % 2 or (n_fft - hop) % 2 or hop <= 0 or hop > n_fft:
            raise ValueError(f"ComplexSTFT: need even n_fft >= hop with even n_fft - hop, got {n_fft}, {hop}")
        self.n_fft, self.hop, self.compress, self.scale = n_fft, hop, float(compress), float(scale)
        self.pad = (n_fft - hop) // 2
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    @property
    def n_bins(self) -> int:
        """Frequency bins kept (the Nyquist bin is dropped)."""
        return self.n_fft // 2

    def analyze(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` (``T`` a multiple of ``hop``) -> complex spectrum ``[B, n_fft/2, T/hop]``."""
        if audio.shape[-1] % self.hop:
            raise ValueError(f"ComplexSTFT: length {audio.shape[-1]} is not a multiple of hop {self.hop}")
        audio = audio.float()
        padded = F.pad(audio.unsqueeze(1), (self.pad, self.pad), mode="reflect").squeeze(1)
        frames = padded.unfold(-1, self.n_fft, self.hop) * self.window  # [B, N, n_fft]
        spec = torch.fft.rfft(frames, dim=-1)[..., : self.n_bins]
        return spec.transpose(1, 2) * self.scale

    def synthesize(self, spec: torch.Tensor) -> torch.Tensor:
        """Complex ``[B, n_fft/2, N]`` -> ``[B, N*hop]`` audio (least-squares overlap-add)."""
        spec = spec / self.scale
        batch, _, n_frames = spec.shape
        full = F.pad(spec.transpose(1, 2), (0, 1))  # Nyquist bin = 0 -> [B, N, n_fft/2 + 1]
        frames = torch.fft.irfft(full, n=self.n_fft, dim=-1) * self.window  # [B, N, n_fft]
        length = (n_frames - 1) * self.hop + self.n_fft
        audio = F.fold(frames.transpose(1, 2), (1, length), (1, self.n_fft), stride=(1, self.hop))
        envelope = F.fold(self.window.pow(2).view(1, -1, 1).expand(1, -1, n_frames), (1, length),
                          (1, self.n_fft), stride=(1, self.hop))
        audio = audio / envelope.clamp(min=1e-6)
        return audio.view(batch, length)[:, self.pad: self.pad + n_frames * self.hop]

    def compress_spec(self, spec: torch.Tensor) -> torch.Tensor:
        """``z -> z * |z|^(c - 1)`` (magnitude to the power c, phase unchanged)."""
        if self.compress == 1.0:
            return spec
        magnitude = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-12)
        return spec * magnitude.pow(self.compress - 1.0)

    def decompress_spec(self, spec: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`compress_spec`: ``z -> z * |z|^(1/c - 1)``."""
        if self.compress == 1.0:
            return spec
        magnitude = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-12)
        return spec * magnitude.pow(1.0 / self.compress - 1.0)
