"""Model inspection: parameter counts and a summary, also ``python -m apcodec.info --config C``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

import torch
from torch import nn

from apcodec.config import ModelConfig, load_config


def count_parameters(module: nn.Module) -> int:
    """Number of parameter elements of ``module``."""
    return sum(p.numel() for p in module.parameters())


def parameter_counts(cfg: ModelConfig) -> dict[str, int]:
    """Parameters of encoder (incl. quantizer), decoder, MPD and MRD for ``cfg``.

    Built on the meta device, so no memory is allocated and it is fast at any size.
    """
    from apcodec.decoder import APCodecDecoder
    from apcodec.discriminators import MultiPeriodDiscriminator, MultiResolutionDiscriminator
    from apcodec.encoder import APCodecEncoder

    with torch.device("meta"):
        modules = {"encoder": APCodecEncoder(cfg), "decoder": APCodecDecoder(cfg),
                   "mpd": MultiPeriodDiscriminator(), "mrd": MultiResolutionDiscriminator()}
    return {name: count_parameters(m) for name, m in modules.items()}


def summary(cfg: ModelConfig) -> dict[str, object]:
    """Parameter counts plus the derived rates of ``cfg`` (what ``--print-model`` shows)."""
    out: dict[str, object] = dict(parameter_counts(cfg))
    out.update(bitrate_kbps=cfg.bitrate, frame_rate_hz=cfg.frame_rate, n_codebooks=cfg.n_codebooks,
               causal=cfg.causal)
    if cfg.causal:
        latency = cfg.samples_per_frame + cfg.win_size - cfg.hop_size
        out.update(latency_samples=latency, latency_ms=1000.0 * latency / cfg.sample_rate)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    """CLI: print the summary of a config as JSON."""
    parser = argparse.ArgumentParser(prog="python -m apcodec.info", description=__doc__)
    parser.add_argument("--config", required=True, help="YAML path or bundled config name (e.g. 48k_6kbps)")
    args = parser.parse_args(argv)
    cfg = load_config(args.config).model
    json.dump(summary(cfg), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
