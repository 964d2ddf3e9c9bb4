"""Residual vector quantizer, DAC style (as used by APCodec).

Each stage projects the residual with a weight-normed 1x1 conv, picks the nearest codebook
entry by cosine similarity (L2-normalised vectors), passes gradients straight through, and
projects back with another weight-normed 1x1 conv. No EMA, no k-means init, no dropout.
Losses per stage are MSE (per item, then batch mean) and are summed over stages, as officially.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, cast

import torch
import torch.nn.functional as F
from torch import nn

from apcodec.modules import weight_norm


@dataclass
class QuantizerOutput:
    """Result of :meth:`ResidualVectorQuantizer.forward`.

    Attributes:
        latent: quantized latent [B, D, T'] (straight-through while gradients are on).
        codes: code indices [B, n_q, T'] (int64).
        codebook_loss: sum over stages of MSE(z_q, sg(z_e)) (scalar).
        commitment_loss: sum over stages of MSE(z_e, sg(z_q)) (scalar).
    """

    latent: torch.Tensor
    codes: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor


class VectorQuantize(nn.Module):
    """One stage: in_proj -> cosine nearest neighbour -> out_proj (official key names)."""

    def __init__(self, input_dim: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.codebook_dim = codebook_dim
        self.in_proj = weight_norm(nn.Conv1d(input_dim, codebook_dim, kernel_size=1))
        self.out_proj = weight_norm(nn.Conv1d(codebook_dim, input_dim, kernel_size=1))
        self.codebook = nn.Embedding(codebook_size, codebook_dim)

    def nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """Indices [B, T] of the nearest (cosine) codebook entries to ``z_e`` [B, D, T]."""
        enc = F.normalize(z_e.transpose(1, 2).reshape(-1, z_e.shape[1]))
        book = F.normalize(self.codebook.weight)
        # Same expression as the official code so near-ties resolve identically.
        dist = enc.pow(2).sum(1, keepdim=True) - 2 * enc @ book.t() + book.pow(2).sum(1, keepdim=True).t()
        return (-dist).max(1)[1].reshape(z_e.shape[0], z_e.shape[2])

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codebook vectors [B, D, T] for ``indices`` [B, T] (before out_proj)."""
        return F.embedding(indices, self.codebook.weight).transpose(1, 2)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantize ``z`` [B, D, T] -> (z_q [B, D, T], indices [B, T], commitment [B], codebook [B])."""
        z_e = self.in_proj(z)
        indices = self.nearest(z_e)
        z_q = self.lookup(indices)
        if torch.is_grad_enabled():
            commitment = F.mse_loss(z_e, z_q.detach(), reduction="none").mean([1, 2])
            codebook = F.mse_loss(z_q, z_e.detach(), reduction="none").mean([1, 2])
            z_q = z_e + (z_q - z_e).detach()
        else:
            commitment = (z_e - z_q).pow(2).mean([1, 2])
            codebook = commitment
        return self.out_proj(z_q), indices, commitment, codebook


class ResidualVectorQuantizer(nn.Module):
    """``n_codebooks`` residual stages; ``quantizers.{i}`` matches the official state dict."""

    def __init__(self, input_dim: int, n_codebooks: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.n_codebooks = n_codebooks
        self.codebook_size = codebook_size
        self.quantizers = nn.ModuleList(
            [VectorQuantize(input_dim, codebook_size, codebook_dim) for _ in range(n_codebooks)])

    def _check_n(self, n_codebooks: Optional[int]) -> int:
        n = self.n_codebooks if n_codebooks is None else int(n_codebooks)
        if not 1 <= n <= self.n_codebooks:
            raise ValueError(f"n_codebooks must be in 1..{self.n_codebooks}, got {n_codebooks}")
        return n

    def forward(self, z: torch.Tensor, n_codebooks: Optional[int] = None) -> QuantizerOutput:
        """Quantize ``z`` [B, D, T'] with the first ``n_codebooks`` stages (all when None)."""
        n = self._check_n(n_codebooks)
        residual = z
        z_q = torch.zeros_like(z)
        commitment = z.new_zeros(())
        codebook = z.new_zeros(())
        codes = []
        for quantizer in self.quantizers[:n]:
            z_q_i, idx, com_i, cb_i = quantizer(residual)
            z_q = z_q + z_q_i
            residual = residual - z_q_i
            commitment = commitment + com_i.mean()
            codebook = codebook + cb_i.mean()
            codes.append(idx)
        return QuantizerOutput(latent=z_q, codes=torch.stack(codes, dim=1),
                               codebook_loss=codebook, commitment_loss=commitment)

    def from_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Quantized latent [B, D, T'] from ``codes`` [B, n_q, T'] (n_q <= n_codebooks)."""
        self._check_n(codes.shape[1])
        z_q: Optional[torch.Tensor] = None
        for i in range(codes.shape[1]):
            quantizer = cast(VectorQuantize, self.quantizers[i])
            part = quantizer.out_proj(quantizer.lookup(codes[:, i, :]))
            z_q = part if z_q is None else z_q + part
        assert z_q is not None
        return z_q
