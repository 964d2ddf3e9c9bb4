"""Group-residual vector quantizer (GRVQ) of HiFi-Codec.

The latent ``[B, C, T]`` is quantized in ``n_residual_layers`` residual passes; in each pass it is
split along channels into ``n_code_groups`` slices of ``C / n_code_groups`` and each slice is
replaced by its nearest (squared L2) entry of that group's codebook. Plain nearest neighbour, no
projections, no EMA; straight-through gradients; loss ``lambda_cb * codebook + lambda_c *
commitment``, averaged over layers. Codes come out ``[B, T, groups * layers]`` ordered
layer0-group0, layer0-group1, layer1-group0, ... (the official ``VQVAE.encode`` order).

Checkpoint keys: layer 0 is ``quantizer_modules.{g}.embedding.weight``, layer 1
``quantizer_modules2.{g}...`` (layer k >= 1: ``quantizer_modules{k + 1}``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hificodec.config import HiFiCodecConfig


@dataclass(frozen=True)
class GRVQOutput:
    """Result of :meth:`GRVQ.forward`.

    Attributes:
        quantized: ``[B, C, T]`` sum of the selected entries (straight-through in training).
        codes: ``[B, T, n_codebooks]`` int64 indices.
        loss: scalar codebook + commitment loss.
    """

    quantized: torch.Tensor
    codes: torch.Tensor
    loss: torch.Tensor


class Codebook(nn.Module):
    """One codebook ``[n_codes, dim]`` (module named like the official ``Quantizer_module``)."""

    def __init__(self, n_codes: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_codes, dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / n_codes, 1.0 / n_codes)

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Indices ``[N]`` of the nearest entries of rows ``x`` ``[N, dim]`` (squared L2)."""
        weight = self.embedding.weight
        dist = x.pow(2).sum(1, keepdim=True) + weight.pow(2).sum(1) - 2 * x @ weight.t()
        return dist.argmin(1)


def _layer_name(layer: int) -> str:
    return "quantizer_modules" if layer == 0 else f"quantizer_modules{layer + 1}"


class GRVQ(nn.Module):
    """Group-residual VQ over ``[B, latent_dim, T]``."""

    def __init__(self, config: HiFiCodecConfig) -> None:
        super().__init__()
        self.n_groups = config.n_code_groups
        self.n_layers = config.n_residual_layers
        self.dim = config.latent_dim
        self.codebook_loss_lambda = config.codebook_loss_lambda
        self.commitment_loss_lambda = config.commitment_loss_lambda
        sub_dim = config.latent_dim // config.n_code_groups
        for layer in range(self.n_layers):
            self.add_module(_layer_name(layer), nn.ModuleList(
                Codebook(config.n_codes, sub_dim) for _ in range(self.n_groups)))

    def layer(self, index: int) -> list[Codebook]:
        """The ``n_groups`` codebooks of residual layer ``index``."""
        return list(getattr(self, _layer_name(index)))

    def forward(self, latent: torch.Tensor) -> GRVQOutput:
        batch, channels, frames = latent.shape
        if channels != self.dim:
            raise ValueError(f"GRVQ expects {self.dim} latent channels, got {channels}")
        residual = latent
        quantized_out = torch.zeros_like(latent)
        codes: list[torch.Tensor] = []
        losses: list[torch.Tensor] = []
        for index in range(self.n_layers):
            rows = residual.transpose(1, 2).reshape(-1, channels)         # [B*T, C]
            parts, picked = [], []
            for codebook, chunk in zip(self.layer(index), rows.split(channels // self.n_groups, dim=-1)):
                idx = codebook.nearest(chunk)
                picked.append(idx)
                parts.append(codebook.embedding(idx))
            z_q = torch.cat(parts, dim=-1)
            losses.append(self.codebook_loss_lambda * torch.mean((z_q - rows.detach()) ** 2)
                          + self.commitment_loss_lambda * torch.mean((z_q.detach() - rows) ** 2))
            z_q = rows + (z_q - rows).detach()                               # straight-through
            z_q = z_q.reshape(batch, frames, channels).transpose(1, 2)
            residual = residual - z_q
            quantized_out = quantized_out + z_q
            codes.extend(i.reshape(batch, frames) for i in picked)
        return GRVQOutput(quantized_out, torch.stack(codes, dim=-1), torch.stack(losses).mean())

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, T, n_codebooks]`` -> quantized latent ``[B, C, T]``."""
        expected = self.n_groups * self.n_layers
        if codes.dim() != 3 or codes.shape[-1] != expected:
            raise ValueError(f"codes must be [B, T, {expected}], got {tuple(codes.shape)}")
        out = None
        for index in range(self.n_layers):
            parts = [codebook.embedding(codes[..., index * self.n_groups + g])
                     for g, codebook in enumerate(self.layer(index))]
            layer_sum = torch.cat(parts, dim=-1)
            out = layer_sum if out is None else out + layer_sum
        assert out is not None
        return out.transpose(1, 2)
