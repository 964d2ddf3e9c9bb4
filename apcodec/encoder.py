"""APCodec encoder: parallel amplitude and phase branches, downsampled and merged into a latent.

Attribute names equal the official ``Encoder`` (``embed_logamp``, ``convnext_pha.3.grn.gamma``,
``AMP_Encoder_downsample_output_conv``, ``quantizer.quantizers.0.in_proj`` ...) so official
state dicts load after the weight-norm key translation in :mod:`apcodec.checkpoint`.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from apcodec.config import ModelConfig
from apcodec.modules import ConvNeXtBlock, conv1d, init_convnext_, run_pair, weight_norm
from apcodec.quantizer import ResidualVectorQuantizer


def _blocks(cfg: ModelConfig) -> nn.ModuleList:
    return nn.ModuleList([ConvNeXtBlock(cfg.channels, cfg.intermediate, cfg.dwconv_kernel, cfg.causal,
                                        cfg.layer_norm_eps) for _ in range(cfg.num_layers)])


def run_branch(embed: nn.Module, norm: nn.Module, blocks: nn.ModuleList, final_norm: nn.Module,
               out: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Conv embed -> LN -> ConvNeXt blocks -> LN -> Linear: [B, C_in, N] -> [B, N, C_out] (channels-last)."""
    h = norm(embed(x).transpose(1, 2))
    for block in blocks:
        h = block(h)
    return out(final_norm(h))


class APCodecEncoder(nn.Module):
    """Log amplitude and phase [B, F, N] -> latent before quantization [B, latent_dim, N / ratio].

    The residual quantizer lives here as ``.quantizer`` (official layout) but :meth:`forward`
    stops before it; :class:`apcodec.model.APCodec` calls it separately.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        #: the folded inference graph of a centred model (set by :func:`apcodec.inference.prepare_for_inference`)
        self.prepared: Optional[nn.Module] = None
        c, causal = cfg.channels, cfg.causal
        self.embed_logamp = conv1d(causal, cfg.n_bins, c, cfg.embed_kernel)
        self.embed_pha = conv1d(causal, cfg.n_bins, c, cfg.embed_kernel)
        self.norm_logamp = nn.LayerNorm(c, eps=cfg.layer_norm_eps)
        self.norm_pha = nn.LayerNorm(c, eps=cfg.layer_norm_eps)
        self.convnext_logamp = _blocks(cfg)
        self.convnext_pha = _blocks(cfg)
        self.final_layer_norm_logamp = nn.LayerNorm(c, eps=cfg.layer_norm_eps)
        self.final_layer_norm_pha = nn.LayerNorm(c, eps=cfg.layer_norm_eps)
        init_convnext_(self)  # official: applied before the layers below are created
        b = cfg.branch_channels
        self.out_logamp = nn.Linear(c, b)
        self.out_pha = nn.Linear(c, b)
        self.AMP_Encoder_downsample_output_conv = weight_norm(conv1d(causal, b, b // 2, cfg.downsample_kernel, cfg.ratio))
        self.PHA_Encoder_downsample_output_conv = weight_norm(conv1d(causal, b, b // 2, cfg.downsample_kernel, cfg.ratio))
        self.latent_output_conv = weight_norm(conv1d(causal, b, cfg.latent_dim, cfg.latent_output_kernel))
        self.quantizer = ResidualVectorQuantizer(cfg.latent_dim, cfg.n_codebooks, cfg.codebook_size, cfg.codebook_dim)

    #: run the two branches concurrently (set by :func:`apcodec.inference.prepare_for_inference`).
    parallel_branches: bool = False

    def forward(self, logamp: torch.Tensor, pha: torch.Tensor) -> torch.Tensor:
        """[B, F, N] x 2 -> latent [B, D, N'] (N' = ceil(N / ratio) centred, N // ratio causal)."""
        def amp_branch() -> torch.Tensor:
            amp = run_branch(self.embed_logamp, self.norm_logamp, self.convnext_logamp,
                             self.final_layer_norm_logamp, self.out_logamp, logamp)
            return self.AMP_Encoder_downsample_output_conv(amp.transpose(1, 2))

        def pha_branch() -> torch.Tensor:
            ph = run_branch(self.embed_pha, self.norm_pha, self.convnext_pha,
                            self.final_layer_norm_pha, self.out_pha, pha)
            return self.PHA_Encoder_downsample_output_conv(ph.transpose(1, 2))

        amp, ph = run_pair(amp_branch, pha_branch, self.parallel_branches and logamp.device.type == "cpu")
        return self.latent_output_conv(torch.cat([amp, ph], dim=1))
