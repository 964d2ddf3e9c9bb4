"""Streaming APCodec-S: push audio (or codes) in chunks of any size, get the offline result.

Only causal models (``ModelConfig.causal``) stream. Every causal layer keeps the context it
needs between calls (see :mod:`apcodec.modules`); the state lives in the stream object, so
several streams can share one model (not concurrently from several threads).

Algorithmic latency (48 kHz paper settings: 600 samples = 12.5 ms): a latent frame needs a
whole block of ``hop * ratio`` samples (320) and the causal overlap-add synthesis holds back
``win - hop`` samples (280) until every overlapping frame has arrived, so output sample ``t``
is final once input sample ``t + latency - 1`` has been pushed. Feeding samples one at a
time works; it only costs more calls.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from apcodec.model import APCodec
from apcodec.modules import Streamable
from apcodec.stft import causal_frames, causal_stft_spectra, normalize_envelope, overlap_add


def algorithmic_latency(model: APCodec) -> int:
    """Latency of a causal model in samples: ``hop * ratio + win - hop``."""
    return model.latency_samples


class _StateSwap:
    """Give each streamable submodule of ``root`` this stream's own state while active."""

    def __init__(self, root: nn.Module) -> None:
        self.modules = [m for m in root.modules() if isinstance(m, Streamable)]
        self.states: list[dict[str, Any]] = [{} for _ in self.modules]

    def __enter__(self) -> None:
        for module, state in zip(self.modules, self.states):
            module._stream = state

    def __exit__(self, *exc: object) -> None:
        for module in self.modules:
            module._stream = None


def _require_causal(model: APCodec) -> None:
    if not model.cfg.causal:
        raise ValueError("streaming needs a causal (APCodec-S) model: set model.causal: true in the config")


class StreamingEncoder:
    """Audio chunks [B, t] -> code chunks [B, n_q, k]; equal to :meth:`APCodec.encode` overall."""

    def __init__(self, model: APCodec, n_codebooks: Optional[int] = None) -> None:
        _require_causal(model)
        self.model, self.cfg, self.n_codebooks = model, model.cfg, n_codebooks
        self._swap = _StateSwap(model.encoder)
        self._pending: Optional[torch.Tensor] = None   # < hop samples not yet framed
        self._history: Optional[torch.Tensor] = None   # last win - hop framed samples
        self._pushed = 0

    def push(self, audio: torch.Tensor) -> torch.Tensor:
        """Feed audio [B, t] (any t >= 0); returns the codes completed so far [B, n_q, k]."""
        if audio.dim() != 2:
            raise ValueError(f"StreamingEncoder.push expects audio [B, t], got shape {tuple(audio.shape)}")
        self._pushed += audio.shape[-1]
        buf = audio if self._pending is None else torch.cat([self._pending, audio], dim=-1)
        usable = buf.shape[-1] // self.cfg.hop_size * self.cfg.hop_size
        new, self._pending = buf[:, :usable], buf[:, usable:]
        with torch.inference_mode(), self._swap:
            spectra = causal_stft_spectra(new, self.cfg, self._history)
            lead = self.cfg.win_size - self.cfg.hop_size
            hist = new if self._history is None else torch.cat([self._history, new], dim=-1)
            self._history = torch.nn.functional.pad(hist, (max(0, lead - hist.shape[-1]), 0))[:, -lead:] if lead else hist[:, :0]
            latent = self.model.encoder(spectra.logamp, spectra.pha)
            if latent.shape[-1] == 0:
                n = self.n_codebooks or self.cfg.n_codebooks
                return torch.zeros(audio.shape[0], n, 0, dtype=torch.long, device=audio.device)
            return self.model.encoder.quantizer(latent, self.n_codebooks).codes

    def flush(self, batch: int = 1, device: Optional[torch.device] = None) -> torch.Tensor:
        """End the stream: pad like :meth:`APCodec.encode` (``win - hop`` zeros, then to a block)."""
        cfg = self.cfg
        extra = cfg.win_size - cfg.hop_size
        extra += (-(self._pushed + extra)) % cfg.samples_per_frame
        ref = self._pending
        zeros = torch.zeros(ref.shape[0] if ref is not None else batch, extra,
                            device=ref.device if ref is not None else device)
        return self.push(zeros)


class StreamingDecoder:
    """Code chunks [B, n_q, k] -> audio chunks [B, t]; equal to :meth:`APCodec.decode` overall."""

    def __init__(self, model: APCodec) -> None:
        _require_causal(model)
        self.model, self.cfg = model, model.cfg
        self._swap = _StateSwap(model.decoder)
        self._tail: Optional[torch.Tensor] = None
        self._raw = 0  # OLA samples produced so far, counted from absolute time -(win - hop)

    def _emit(self, raw: torch.Tensor) -> torch.Tensor:
        lead = self.cfg.win_size - self.cfg.hop_size
        skip = max(0, min(raw.shape[-1], lead - self._raw))
        start = self._raw + skip - lead  # absolute time of the first emitted sample
        self._raw += raw.shape[-1]
        out = raw[:, skip:]
        return normalize_envelope(out, self.cfg, offset=start) if out.shape[-1] else out

    def push(self, codes: torch.Tensor) -> torch.Tensor:
        """Feed codes [B, n_q, k]; returns the audio samples that are final [B, t]."""
        with torch.inference_mode(), self._swap:
            if codes.shape[-1] == 0:
                return torch.zeros(codes.shape[0], 0, device=codes.device)
            latent = self.model.encoder.quantizer.from_codes(codes)
            _, _, rea, imag = self.model.decoder.spectra(latent)
            final, self._tail = overlap_add(causal_frames(rea, imag, self.cfg), self.cfg, self._tail)
            return self._emit(final)

    def flush(self) -> torch.Tensor:
        """End the stream: the last ``win - hop`` samples (faded, partial overlap)."""
        if self._tail is None:
            return torch.zeros(1, 0)
        tail, self._tail = self._tail, None
        return self._emit(tail)


class APCodecStream:
    """Audio in, audio out through codes: ``push(chunk)`` and ``flush()``.

    The concatenated outputs equal ``model.decode(model.encode(audio))`` of the whole input
    (length: input + ``win - hop`` rounded up to a block); trim to the input length.
    """

    def __init__(self, model: APCodec, n_codebooks: Optional[int] = None) -> None:
        self.encoder = StreamingEncoder(model, n_codebooks)
        self.decoder = StreamingDecoder(model)
        self.cfg = model.cfg

    @property
    def latency_samples(self) -> int:
        """Algorithmic latency in samples (``hop * ratio + win - hop``)."""
        return self.cfg.samples_per_frame + self.cfg.win_size - self.cfg.hop_size

    @property
    def latency_ms(self) -> float:
        """Algorithmic latency in milliseconds."""
        return 1000.0 * self.latency_samples / self.cfg.sample_rate

    def push(self, audio: torch.Tensor) -> torch.Tensor:
        """Feed audio [B, t]; returns the decoded samples that are final [B, t']."""
        return self.decoder.push(self.encoder.push(audio))

    def flush(self) -> torch.Tensor:
        """End the stream and return the remaining decoded samples."""
        last = self.decoder.push(self.encoder.flush())
        return torch.cat([last, self.decoder.flush()], dim=-1)
