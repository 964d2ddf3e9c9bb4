"""The APCodec model: STFT analysis, encoder, residual VQ, decoder and iSTFT, composed.

Training uses :meth:`APCodec.forward` (every intermediate in a :class:`CodecOutput`);
inference uses :meth:`APCodec.encode` / :meth:`APCodec.decode` (codes in, audio out), ideally
after :meth:`APCodec.prepare_for_inference`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from apcodec.config import ModelConfig
from apcodec.decoder import APCodecDecoder, DecoderOutput
from apcodec.encoder import APCodecEncoder
from apcodec.modules import half_threads
from apcodec.quantizer import QuantizerOutput
from apcodec.stft import Spectra, causal_stft_spectra, stft_spectra


@dataclass
class CodecOutput:
    """Everything a training step needs from one forward pass.

    Attributes:
        audio: the input as analysed [B, 1, T] (causal models pad T to a multiple of
            ``hop * ratio``; compare it with ``decoded.audio``).
        logamp, pha, rea, imag: input spectra [B, F, N].
        latent_pre_vq: encoder output [B, D, N'].
        quantized: :class:`QuantizerOutput` (latent, codes, losses).
        decoded: :class:`DecoderOutput` (spectra [B, F, N] and audio [B, 1, T]).
    """

    audio: torch.Tensor
    logamp: torch.Tensor
    pha: torch.Tensor
    rea: torch.Tensor
    imag: torch.Tensor
    latent_pre_vq: torch.Tensor
    quantized: QuantizerOutput
    decoded: DecoderOutput


class APCodec(nn.Module):
    """Amplitude-and-phase codec built from an encoder (with its quantizer) and a decoder."""

    def __init__(self, encoder: APCodecEncoder, decoder: APCodecDecoder) -> None:
        super().__init__()
        if encoder.cfg != decoder.cfg:
            raise ValueError("APCodec: encoder and decoder were built from different ModelConfigs")
        self.cfg = encoder.cfg
        self.encoder = encoder
        self.decoder = decoder

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> "APCodec":
        """A freshly initialised model for ``cfg``."""
        return cls(APCodecEncoder(cfg), APCodecDecoder(cfg))

    @property
    def quantizer(self) -> nn.Module:
        """The residual vector quantizer (``encoder.quantizer``)."""
        return self.encoder.quantizer

    # -- pieces ---------------------------------------------------------------------------------
    def pad_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """Causal models: right-pad [B, T] with zeros to a multiple of ``hop * ratio`` (else unchanged)."""
        if not self.cfg.causal:
            return audio
        block = self.cfg.samples_per_frame
        return F.pad(audio, (0, (-audio.shape[-1]) % block))

    def analyze(self, audio: torch.Tensor) -> Spectra:
        """Audio [B, T] -> (logamp, pha, rea, imag), each [B, F, N].

        Centred model: N = T // hop + 1. Causal model: the audio is padded first
        (:meth:`pad_audio`) and N = T_padded // hop.
        """
        if audio.dim() != 2:
            raise ValueError(f"APCodec.analyze expects audio [B, T], got shape {tuple(audio.shape)}")
        if self.cfg.causal:
            return causal_stft_spectra(self.pad_audio(audio), self.cfg)
        return stft_spectra(audio, self.cfg)

    def encode_latent(self, logamp: torch.Tensor, pha: torch.Tensor) -> torch.Tensor:
        """Spectra [B, F, N] -> latent before quantization [B, D, N']."""
        return self.encoder(logamp, pha)

    def quantize(self, latent: torch.Tensor, n_codebooks: Optional[int] = None) -> QuantizerOutput:
        """Residual VQ of ``latent`` [B, D, N'] with the first ``n_codebooks`` stages (all when None)."""
        return self.encoder.quantizer(latent, n_codebooks)

    def decode_latent(self, latent: torch.Tensor) -> DecoderOutput:
        """Quantized latent [B, D, N'] -> decoded spectra and audio [B, 1, T]."""
        return self.decoder(latent)

    def forward(self, audio: torch.Tensor, n_codebooks: Optional[int] = None) -> CodecOutput:
        """Full training pass on audio [B, T] (or [B, 1, T])."""
        if audio.dim() == 3:
            audio = audio.squeeze(1)
        audio = self.pad_audio(audio)
        spectra = self.analyze(audio)
        latent = self.encode_latent(spectra.logamp, spectra.pha)
        quantized = self.quantize(latent, n_codebooks)
        decoded = self.decode_latent(quantized.latent)
        return CodecOutput(audio.unsqueeze(1), spectra.logamp, spectra.pha, spectra.rea, spectra.imag,
                           latent, quantized, decoded)

    # -- inference --------------------------------------------------------------------------------
    def encode(self, audio: torch.Tensor, n_codebooks: Optional[int] = None) -> torch.Tensor:
        """Audio [B, T] -> codes [B, n_q, N'] (int64).

        Causal models first append ``win - hop`` zeros so that the last input samples are fully
        overlap-added by the decoder (what a stream's ``flush`` does).
        """
        if audio.dim() == 3:
            audio = audio.squeeze(1)
        if self.cfg.causal:
            audio = F.pad(audio, (0, self.cfg.win_size - self.cfg.hop_size))
        with torch.inference_mode():
            prepared = self.encoder.prepared
            if prepared is None:
                spectra = self.analyze(audio)
                return self.quantize(self.encode_latent(spectra.logamp, spectra.pha), n_codebooks).codes
            parallel = self.encoder.parallel_branches   # centred model after prepare_for_inference
            latent = prepared(audio, parallel)
            with half_threads(parallel and audio.device.type == "cpu"):
                return self.quantize(latent, n_codebooks).codes

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [B, n_q, N'] -> audio [B, T] (longer than the input: trim to the input length)."""
        with torch.inference_mode():
            prepared = self.decoder.prepared
            if prepared is not None:  # centred model after prepare_for_inference
                parallel = self.decoder.parallel_branches
                with half_threads(parallel and codes.device.type == "cpu"):
                    latent = self.encoder.quantizer.from_codes(codes)
                return prepared(latent, parallel)
            latent = self.encoder.quantizer.from_codes(codes)
            _, _, rea, imag = self.decoder.spectra(latent)
            return self.decoder.synthesize(rea, imag)

    # -- utilities --------------------------------------------------------------------------------
    def remove_weight_norm(self) -> "APCodec":
        """Fold weight norm into plain weights (irreversible; for inference)."""
        from apcodec.modules import remove_weight_norm

        remove_weight_norm(self)
        return self

    def prepare_for_inference(self) -> "APCodec":
        """Fold weight norm, switch to eval and freeze parameters; centred models also get the fast
        :meth:`encode` / :meth:`decode` graphs of :mod:`apcodec.inference`. Returns ``self``."""
        from apcodec.inference import prepare_for_inference

        return prepare_for_inference(self)

    @property
    def latency_samples(self) -> int:
        """Algorithmic latency of a causal model in samples (see :mod:`apcodec.streaming`)."""
        if not self.cfg.causal:
            raise ValueError("latency is defined for causal (APCodec-S) models only; set model.causal: true")
        return self.cfg.samples_per_frame + self.cfg.win_size - self.cfg.hop_size
