"""Residual vector quantiser over the complex latent, with EMA codebooks and dead-code revival.

The complex latent ``[B, D, T']`` is viewed as real vectors of ``2D`` numbers (real parts, then
imaginary parts) for the nearest-neighbour search: Euclidean distance on that view equals the
complex distance ``||z - e||^2``. Codebooks (2048 entries = 11 bits each) are updated by
exponential moving averages of the assigned vectors (k-means style, as in SoundStream/Encodec)
rather than by a codebook loss; a code whose EMA usage count falls below ``dead_threshold`` is
replaced by a random latent vector of the current batch (its residual at that stage), which
keeps all 2048 entries in play. Under ``torch.distributed`` the EMA statistics are summed over
ranks and replacements are broadcast from rank 0, so every rank keeps identical codebooks.

Quantiser dropout (SoundStream): during training each batch item keeps only its first ``n_q``
stages, ``n_q`` drawn from ``dropout_stages`` with probability ``dropout``; one model then serves
every stage count, i.e. every bitrate that is a multiple of the per-stage rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, cast

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@dataclass
class QuantizerOutput:
    """Result of one quantiser pass.

    Attributes:
        quantized: complex ``[B, D, T']`` latent after quantisation (straight-through gradient).
        codes: ``[B, n_max, T']`` int64 indices (stages an item did not use hold -1).
        commitment: scalar, mean over used stages of ``||residual - code||^2`` (per element).
        perplexity: ``[n_max]`` exp(entropy) of each stage's code histogram in this batch.
        usage: ``[n_max]`` fraction of the codebook hit in this batch, per stage.
        replaced: number of dead codes revived in this pass (all stages).
    """

    quantized: torch.Tensor
    codes: torch.Tensor
    commitment: torch.Tensor
    perplexity: torch.Tensor
    usage: torch.Tensor
    replaced: int


class EMACodebook(nn.Module):
    """One codebook ``[K, d]`` updated by EMA of the vectors assigned to each entry."""

    embed: torch.Tensor  # [K, d] entries
    embed_sum: torch.Tensor  # [K, d] EMA of the vectors assigned to each entry
    cluster_size: torch.Tensor  # [K] EMA assignment counts
    initialized: torch.Tensor  # [] bool: entries seeded from data yet

    def __init__(self, dim: int, size: int, decay: float, dead_threshold: float, eps: float = 1e-5) -> None:
        super().__init__()
        self.size, self.decay, self.dead_threshold, self.eps = size, decay, dead_threshold, eps
        self.register_buffer("embed", torch.zeros(size, dim))
        self.register_buffer("embed_sum", torch.zeros(size, dim))
        self.register_buffer("cluster_size", torch.zeros(size))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, d]`` -> ``[N]`` index of the closest entry (squared Euclidean distance)."""
        dist_ = x.pow(2).sum(1, keepdim=True) - 2.0 * x @ self.embed.t() + self.embed.pow(2).sum(1)[None]
        return dist_.argmin(dim=1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Indices ``[...]`` -> vectors ``[..., d]``."""
        return F.embedding(codes, self.embed)

    @torch.no_grad()
    def _sample(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """``n`` random rows of ``x`` (with replacement), identical on every rank."""
        rows = x[torch.randint(0, x.shape[0], (n,), device=x.device)]
        if _distributed():
            dist.broadcast(rows, 0)
        return rows

    @torch.no_grad()
    def update(self, x: torch.Tensor, codes: torch.Tensor) -> int:
        """EMA update from the active vectors ``x`` ``[N, d]`` and their codes; returns #revived."""
        if not bool(self.initialized):
            start = self._sample(x, self.size)
            self.embed.copy_(start)
            self.embed_sum.copy_(start)
            self.cluster_size.fill_(1.0)
            self.initialized.fill_(True)
            return 0
        onehot = F.one_hot(codes, self.size).to(x.dtype)  # [N, K]
        counts, sums = onehot.sum(0), onehot.t() @ x
        if _distributed():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1.0 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1.0 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (total + self.size * self.eps) * total  # Laplace
        self.embed.copy_(self.embed_sum / smoothed.unsqueeze(1))
        dead = self.cluster_size < self.dead_threshold
        n_dead = int(dead.sum())
        if n_dead:
            fresh = self._sample(x, n_dead)
            self.embed[dead] = fresh
            self.embed_sum[dead] = fresh * self.dead_threshold
            self.cluster_size[dead] = self.dead_threshold
        return n_dead


class ResidualVQ(nn.Module):
    """Residual VQ over complex ``[B, D, T']`` latents with ``n_stages`` EMA codebooks.

    Args:
        dim: complex latent width ``D`` (codebooks hold real vectors of ``2D``).
        n_stages: maximum number of stages.
        codebook_size: entries per codebook (2048 = 11 bits).
        decay: EMA decay of the codebook statistics.
        dead_threshold: EMA usage count below which an entry is revived.
        dropout: probability that a training item uses fewer than all stages.
        dropout_stages: stage counts drawn for such items (empty = all of 1..n_stages).
    """

    def __init__(self, dim: int, n_stages: int, codebook_size: int = 2048, decay: float = 0.99,
                 dead_threshold: float = 0.02, dropout: float = 0.5,
                 dropout_stages: Sequence[int] = ()) -> None:
        super().__init__()
        self.dim, self.n_stages, self.codebook_size, self.dropout = dim, n_stages, codebook_size, dropout
        self.dropout_stages = tuple(dropout_stages) or tuple(range(1, n_stages + 1))
        self.codebooks = nn.ModuleList(EMACodebook(2 * dim, codebook_size, decay, dead_threshold)
                                       for _ in range(n_stages))

    def _stage_counts(self, batch: int, n_stages: Optional[int]) -> list[int]:
        if n_stages is not None:
            if not 1 <= n_stages <= self.n_stages:
                raise ValueError(f"n_stages must be in 1..{self.n_stages}, got {n_stages}")
            return [n_stages] * batch
        if not self.training or self.dropout <= 0:
            return [self.n_stages] * batch
        # Drawn from torch's global CPU generator, which checkpoints save, so resume is exact.
        drop = torch.rand(batch) < self.dropout
        choice = torch.randint(0, len(self.dropout_stages), (batch,))
        return [self.dropout_stages[int(c)] if bool(dr) else self.n_stages for dr, c in zip(drop, choice)]

    def forward(self, latent: torch.Tensor, n_stages: Optional[int] = None) -> QuantizerOutput:
        """Quantise complex ``[B, D, T']``; ``n_stages`` fixes the stage count (else dropout decides).

        In training every stage quantises every vector (codebooks learn from all data and every
        rank runs the same collectives); an item's later stages are just left out of the sum the
        decoder sees and out of the commitment loss.
        """
        b, d, t = latent.shape
        counts = self._stage_counts(b, n_stages)
        n_max = max(counts)
        n_loop = self.n_stages if self.training else n_max
        z = torch.cat([latent.real, latent.imag], dim=1).float().transpose(1, 2).reshape(b * t, 2 * d)
        item_stages = torch.tensor(counts, device=z.device).repeat_interleave(t)  # [B*T']
        residual, total = z, torch.zeros_like(z)
        codes = torch.full((b * t, n_max), -1, dtype=torch.long, device=z.device)
        commit, perplexity, usage, replaced = z.new_zeros(()), z.new_zeros(n_max), z.new_zeros(n_max), 0
        for stage in range(n_loop):
            book = cast(EMACodebook, self.codebooks[stage])
            if self.training and not bool(book.initialized):
                book.update(residual.detach(), torch.zeros(0, dtype=torch.long, device=z.device))
            idx = book.nearest(residual.detach())
            q = book.lookup(idx)
            if self.training:
                replaced += book.update(residual.detach(), idx)
            if stage < n_max:
                active = (item_stages > stage).float().unsqueeze(1)  # [B*T', 1]
                err = (residual - q.detach()).pow(2).mean(dim=1, keepdim=True)
                commit = commit + (err * active).sum() / active.sum().clamp(min=1.0)
                hist = torch.bincount(idx, minlength=self.codebook_size).float()
                prob = hist / hist.sum().clamp(min=1.0)
                perplexity[stage] = torch.exp(-(prob * torch.log(prob.clamp(min=1e-10))).sum())
                usage[stage] = (hist > 0).float().mean()
                codes[:, stage] = torch.where(active.squeeze(1) > 0, idx, -1)
                total = total + q * active
            residual = residual - q
        quantized = z + (total - z).detach()  # straight-through estimator
        quantized = quantized.view(b, t, 2 * d).transpose(1, 2)
        return QuantizerOutput(
            quantized=torch.complex(quantized[:, :d].contiguous(), quantized[:, d:].contiguous()),
            codes=codes.view(b, t, n_max).transpose(1, 2), commitment=commit / n_max,
            perplexity=perplexity.detach(), usage=usage.detach(), replaced=replaced)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``[B, n, T']`` codes (n <= n_stages, no -1) -> complex ``[B, D, T']`` latent."""
        if codes.shape[1] > self.n_stages:
            raise ValueError(f"got {codes.shape[1]} code stages; this model has {self.n_stages}")
        books = [cast(EMACodebook, self.codebooks[s]) for s in range(codes.shape[1])]
        total = cast(torch.Tensor, sum(book.lookup(codes[:, s]) for s, book in enumerate(books)))  # [B, T', 2D]
        total = total.transpose(1, 2)
        return torch.complex(total[:, : self.dim].contiguous(), total[:, self.dim:].contiguous())
