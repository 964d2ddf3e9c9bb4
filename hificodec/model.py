"""The HiFi-Codec model: encoder -> GRVQ -> HiFi-GAN generator, and checkpoint loading.

Checkpoints are the AcademiCodec format: a ``torch.save`` dict without file extension holding
``{"generator": sd, "encoder": sd, "quantizer": sd}`` (e.g. ``HiFi-Codec-16k-320d`` on the Hugging
Face repo ``Dongchao/AcademiCodec``). The official loader calls ``torch.load`` without
``map_location`` and ``.cuda()``; here loading is ``weights_only=True`` onto any device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

import torch
import torch.nn.functional as F
from torch import nn

from hificodec.config import HiFiCodecConfig
from hificodec.encoder import Encoder
from hificodec.generator import Generator
from hificodec.quantizer import GRVQ

CHECKPOINT_PARTS = ("encoder", "quantizer", "generator")


class CheckpointError(RuntimeError):
    """A checkpoint that does not fit the config. One line naming the file, part and fix."""


@dataclass(frozen=True)
class EncodedAudio:
    """Output of :meth:`HiFiCodec.encode`.

    Attributes:
        codes: ``[B, F, n_codebooks]`` int64 (official order, see :mod:`hificodec.quantizer`).
        num_samples: input length before padding to a multiple of the hop length.
    """

    codes: torch.Tensor
    num_samples: int


class HiFiCodec(nn.Module):
    """HiFi-Codec built from its parts (see :meth:`from_config` / :meth:`from_checkpoint`)."""

    def __init__(self, config: HiFiCodecConfig, encoder: Encoder, quantizer: GRVQ, generator: Generator) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.quantizer = quantizer
        self.generator = generator

    @classmethod
    def from_config(cls, config: HiFiCodecConfig) -> "HiFiCodec":
        """Randomly initialised model of the given architecture."""
        return cls(config, Encoder(config), GRVQ(config), Generator(config))

    @classmethod
    def from_checkpoint(cls, path: Union[str, Path], config: HiFiCodecConfig,
                        device: Union[str, torch.device] = "cpu") -> "HiFiCodec":
        """Load an AcademiCodec checkpoint onto ``device`` (CPU or GPU) in eval mode."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: HiFi-Codec checkpoint not found")
        try:
            state = torch.load(path, map_location=device, weights_only=True)
        except Exception as exc:  # unpickling errors have many types; report them in one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"{path}: cannot load as a weights-only torch checkpoint ({first})") from None
        if not isinstance(state, dict) or any(part not in state for part in CHECKPOINT_PARTS):
            have = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"{path}: expected keys {list(CHECKPOINT_PARTS)} (AcademiCodec format), got {have}")
        model = cls.from_config(config)
        for part in CHECKPOINT_PARTS:
            try:
                getattr(model, part).load_state_dict(state[part], strict=True)
            except RuntimeError as exc:
                detail = " ".join(str(exc).split())[:300]
                raise CheckpointError(f"{path}: '{part}' does not match the config "
                                      f"(sampling_rate {config.sampling_rate}, latent_dim {config.latent_dim}): "
                                      f"{detail}") from None
        return model.to(device).eval()

    # -- inference ----------------------------------------------------------------------------
    def encode(self, audio: torch.Tensor) -> EncodedAudio:
        """Audio ``[B, T]`` or ``[B, 1, T]`` -> codes ``[B, ceil(T / hop), n_codebooks]``.

        The input is zero-padded on the right to a whole number of frames (the encoder's strided
        convolutions would otherwise drop the tail).
        """
        if audio.dim() == 2:
            audio = audio.unsqueeze(1)
        if audio.dim() != 3 or audio.shape[1] != 1:
            raise ValueError(f"HiFi-Codec encodes mono audio [B, T] or [B, 1, T], got {tuple(audio.shape)}")
        num_samples = audio.shape[-1]
        hop = self.config.hop_length
        pad = (-num_samples) % hop
        if pad:
            audio = F.pad(audio, (0, pad))
        latent = self.encoder(audio)
        return EncodedAudio(self.quantizer(latent).codes, num_samples)

    def decode(self, codes: torch.Tensor, num_samples: int = 0) -> torch.Tensor:
        """Codes ``[B, F, n_codebooks]`` -> audio ``[B, 1, F * hop]`` (cut to ``num_samples`` if > 0)."""
        audio = self.generator(self.quantizer.embed(codes))
        return audio[..., :num_samples] if num_samples > 0 else audio

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters per part (weight-norm ``g`` and ``v`` both count, as officially)."""
        return {part: sum(p.numel() for p in getattr(self, part).parameters()) for part in CHECKPOINT_PARTS}
